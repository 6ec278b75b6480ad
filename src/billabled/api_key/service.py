"""API keys: create (raw key shown once), list, revoke.

Invariants:
- a key's scopes lie within its creator's role ceiling when it is created;
- the raw key leaves this module once, in the creation result, and is never stored or logged;
- every create and revoke writes an audit record (without the key) in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api_key import repository
from billabled.audit.service import Actor, record_audit
from billabled.auth.scopes import Scope, ceiling, sorted_scopes
from billabled.errors import NotFound, ValidationFailed
from billabled.kit.apikeys import display_prefix, generate_key, hash_key
from billabled.kit.text import checked_name
from billabled.kit.time import utcnow
from billabled.models.api_key import ApiKey

MAX_NAME_LENGTH = 100
_DURATION = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.ASCII)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class ScopeExceedsRole(ValidationFailed):
    code = "scope_exceeds_role"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    default_message = "No such API key."


@dataclass(frozen=True, slots=True)
class CreatedKey:
    api_key: ApiKey
    raw_key: str  # shown once


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"field": field, "in": "body", "message": message, "type": "value_error"}]
    )


def parse_duration(raw: str) -> timedelta:
    """`90m`, `12h`, `30d`, `2w`."""
    match = _DURATION.match(raw)
    if not match or int(match.group(1)) == 0:
        raise _invalid("expiresIn", f"Invalid duration {raw!r}; use e.g. 90m, 12h, 30d or 2w.")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def key_status(api_key: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if api_key.revoked_at is not None:
        return "revoked"
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return "expired"
    return "active"


def key_json(api_key: ApiKey) -> dict[str, Any]:
    """The public description of a key: never the key or its hash."""
    return {
        "id": api_key.id,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": api_key.scopes,
        "createdBy": api_key.created_by_user_id,
        "createdAt": api_key.created_at,
        "expiresAt": api_key.expires_at,
        "revokedAt": api_key.revoked_at,
        "lastUsedAt": api_key.last_used_at,
        "status": key_status(api_key),
    }


def _audit_json(api_key: ApiKey) -> dict[str, Any]:
    data = key_json(api_key)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


async def create_api_key(
    session: AsyncSession,
    *,
    pepper: bytes,
    workspace_id: str,
    creator_user_id: str,
    creator_role: str,
    name: str,
    scopes: frozenset[Scope],
    actor: Actor,
    expires_at: datetime | None = None,
) -> CreatedKey:
    name = checked_name(name, max_length=MAX_NAME_LENGTH)
    if not scopes:
        raise _invalid("scopes", "At least one scope is required.")
    beyond = scopes - ceiling(creator_role)
    if beyond:
        names = ", ".join(sorted_scopes(beyond))
        raise ScopeExceedsRole(
            f"A {creator_role} cannot grant: {names}.",
            errors=[
                {
                    "field": "scopes",
                    "in": "body",
                    "message": f"beyond the {creator_role} role: {names}",
                    "type": "scope_exceeds_role",
                }
            ],
        )
    if expires_at is not None and expires_at <= utcnow():
        raise _invalid("expiresAt", "The expiry must be in the future.")
    raw_key = generate_key()
    api_key = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=display_prefix(raw_key),
        key_hash=hash_key(pepper, raw_key),
        created_by_user_id=creator_user_id,
        scopes=sorted_scopes(scopes),
        expires_at=expires_at,
    )
    session.add(api_key)
    await session.flush()
    record_audit(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="api_key.created",
        entity_type="api_key",
        entity_id=api_key.id,
        after=_audit_json(api_key),
    )
    return CreatedKey(api_key=api_key, raw_key=raw_key)


async def revoke_keys_of(
    session: AsyncSession, *, workspace_id: str, creator_user_id: str, actor: Actor
) -> None:
    """Revoke every live key `creator_user_id` made in the workspace, as they leave it."""
    for key_id in await repository.live_key_ids_of(session, workspace_id, creator_user_id):
        await revoke_api_key(session, key_id=key_id, actor=actor, workspace_id=workspace_id)


async def revoke_api_key(
    session: AsyncSession, *, key_id: str, actor: Actor, workspace_id: str | None = None
) -> ApiKey:
    """Revoke a key (idempotent: revoking a revoked key changes nothing)."""
    api_key = await repository.get(session, key_id, workspace_id)
    if api_key is None:
        raise ApiKeyNotFound(f"No API key {key_id!r}.")
    if api_key.revoked_at is None:
        before = _audit_json(api_key)
        api_key.revoked_at = utcnow()
        await session.flush()
        record_audit(
            session,
            workspace_id=api_key.workspace_id,
            actor=actor,
            action="api_key.revoked",
            entity_type="api_key",
            entity_id=api_key.id,
            before=before,
            after=_audit_json(api_key),
        )
    return api_key
