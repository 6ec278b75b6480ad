"""The event outbox helper. Mutations of public resources call `record_event` in their own
transaction: an event exists exactly when its change was committed."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import Actor, record_audit
from billabled.models.event import Event


def record_event(
    session: AsyncSession, *, workspace_id: str, type: str, data: dict[str, Any]
) -> Event:
    """Append `{type, data}` to the outbox; `data` is the object's public JSON after the change."""
    event = Event(workspace_id=workspace_id, type=type, data=data)
    session.add(event)
    return event


def record_change(
    session: AsyncSession,
    *,
    workspace_id: str,
    actor: Actor,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """A change to a public resource: its event (`client.updated`, with the object after the
    change, or before it for a deletion) and its audit record, in the change's transaction."""
    event_type = f"{entity_type}.{action}"
    data = after if after is not None else before
    record_event(session, workspace_id=workspace_id, type=event_type, data=_jsonable(data or {}))
    record_audit(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action=event_type,
        entity_type=entity_type,
        entity_id=entity_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
    )


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a wire dict (timestamps as RFC 3339 text), as the event body stores it."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(data, option=orjson.OPT_UTC_Z))
    return loaded
