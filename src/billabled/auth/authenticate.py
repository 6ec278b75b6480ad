"""Resolve an API key to a Principal: one indexed query (see key_lookup.py), no ORM objects.

Order of checks: header present → shape and checksum (no database) → known hash → creator still
a member (removing them revoked the key too; this says why) → revoked → expired. Each failure
has its own 401 code.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, String, and_, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from billabled.auth.key_lookup import KeyLookup, KeyRow
from billabled.auth.principal import Principal
from billabled.auth.scopes import Scope, ceiling
from billabled.errors import Unauthorized
from billabled.kit.apikeys import hash_key, is_well_formed
from billabled.kit.pagination import AnySelect
from billabled.kit.time import utcnow
from billabled.models.api_key import ApiKey
from billabled.models.membership import Membership, Role
from billabled.models.user import User
from billabled.models.workspace import Workspace

_REFUSED = 'Bearer realm="Billabled API", error="invalid_token"'


class ApiKeyMissing(Unauthorized):
    code = "api_key_missing"
    default_message = "No API key. Send it as `Authorization: Bearer blb_…` or `X-Api-Key: blb_…`."


class ApiKeyInvalid(Unauthorized):
    code = "api_key_invalid"
    default_message = "The API key is not valid."
    challenge = _REFUSED


class ApiKeyExpired(Unauthorized):
    code = "api_key_expired"
    default_message = "The API key has expired."
    challenge = _REFUSED


class ApiKeyRevoked(Unauthorized):
    code = "api_key_revoked"
    default_message = "The API key has been revoked."
    challenge = _REFUSED


def key_from_headers(authorizations: Sequence[str], x_api_keys: Sequence[str]) -> str:
    """The raw key from `Authorization: Bearer …` or `X-Api-Key` (each header as often as it was
    sent), or a 401 saying what is wrong. Two different keys are refused: they may be two
    workspaces', and acting for either would be a guess (the first one was taken)."""
    keys: set[str] = set()
    for authorization in authorizations:
        if not authorization.strip():
            continue  # an empty header is no key
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiKeyInvalid("The Authorization header must be `Bearer blb_…`.")
        keys.add(credentials.strip())
    keys.update(key.strip() for key in x_api_keys if key.strip())
    if not keys:
        raise ApiKeyMissing()
    if len(keys) > 1:
        raise ApiKeyInvalid("The request carries different keys: send one.")
    return keys.pop()


def _key_lookup(condition: ColumnElement[bool], *extra: Any) -> AnySelect:
    """The key, its workspace, its creator and the creator's membership (if still a member)."""
    return (
        select(
            ApiKey.id,
            ApiKey.workspace_id,
            ApiKey.name,
            ApiKey.prefix,
            ApiKey.scopes,
            ApiKey.expires_at,
            ApiKey.revoked_at,
            ApiKey.created_by_user_id,
            Workspace.name.label("workspace_name"),
            Workspace.plan,
            Workspace.currency,
            Workspace.time_zone,
            Workspace.week_start,
            Membership.role,
            User.name.label("user_name"),
            User.email,
            *extra,
        )
        .join(Workspace, Workspace.id == ApiKey.workspace_id)
        .join(User, User.id == ApiKey.created_by_user_id)
        .outerjoin(
            Membership,
            and_(
                Membership.workspace_id == ApiKey.workspace_id,
                Membership.user_id == ApiKey.created_by_user_id,
            ),
        )
        .where(condition)
    )


# One key, by its hash.
KEY_LOOKUP = _key_lookup(ApiKey.key_hash == bindparam("key_hash"))
# Several keys at once, each row ending with its hash (PostgreSQL: the hashes bound as one array).
KEYS_LOOKUP = _key_lookup(
    ApiKey.key_hash == any_(bindparam("key_hashes", type_=ARRAY(String))), ApiKey.key_hash
)


def key_hash_of(pepper: bytes, raw_key: str) -> str:
    """The stored hash of a key, after checking its shape and checksum (no database needed)."""
    if not is_well_formed(raw_key):
        raise ApiKeyInvalid()
    return hash_key(pepper, raw_key)


def _of_key(refusal: Unauthorized, row: KeyRow) -> Unauthorized:
    """The refusal, naming the key it refuses: a revoked integration still calling shows in
    the workspace's usage under its key (it was recorded as anonymous)."""
    refusal.refused_key = (row.workspace_id, row.id)
    return refusal


async def authenticate_key(lookup: KeyLookup, key_hash: str) -> Principal:
    row = await lookup.find(key_hash)
    if row is None:
        raise ApiKeyInvalid()
    if row.role is None:
        raise _of_key(
            ApiKeyRevoked("The API key's creator is no longer a member of this workspace."), row
        )
    if row.revoked_at is not None:
        raise _of_key(ApiKeyRevoked(), row)
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise _of_key(ApiKeyExpired(), row)
    granted, effective = _scopes_in_effect(tuple(row.scopes), row.role)
    return Principal(
        workspace_id=row.workspace_id,
        workspace_name=row.workspace_name,
        plan=row.plan,
        currency=row.currency,
        time_zone=row.time_zone,
        week_start=row.week_start,
        user_id=row.created_by_user_id,
        user_name=row.user_name,
        user_email=row.email,
        role=Role(row.role),
        key_id=row.id,
        key_name=row.name,
        key_prefix=row.prefix,
        key_expires_at=row.expires_at,
        granted_scopes=granted,
        effective_scopes=effective,
    )


@lru_cache(maxsize=1024)
def _scopes_in_effect(
    stored: tuple[str, ...], role: str
) -> tuple[frozenset[Scope], frozenset[Scope]]:
    """(granted, effective) for a key's stored scopes and its creator's role: the same few
    combinations on every request, so parsed once (a scope no longer known is dropped)."""
    granted = frozenset(Scope(name) for name in stored if name in Scope._value2member_map_)
    return granted, granted & ceiling(role)
