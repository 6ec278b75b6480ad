"""The audit trail helper. Every mutation of time, invoices, approvals, keys and memberships calls
`record_audit` in its own transaction, so the trail and the change commit or roll back together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.audit import AuditRecord

ActorType = Literal["user", "api_key", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user (web app, CLI on their behalf), an API key, or the system."""

    type: ActorType
    id: str | None = None


SYSTEM = Actor("system")


def record_audit(
    session: AsyncSession,
    *,
    workspace_id: str,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRecord:
    record = AuditRecord(
        workspace_id=workspace_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
    )
    session.add(record)
    return record
