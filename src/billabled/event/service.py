"""The event outbox helper. Mutations of public resources call `record_event` in their own
transaction: an event exists exactly when its change was committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.event import Event


def record_event(
    session: AsyncSession, *, workspace_id: str, type: str, data: dict[str, Any]
) -> Event:
    """Append `{type, data}` to the outbox; `data` is the object's public JSON after the change."""
    event = Event(workspace_id=workspace_id, type=type, data=data)
    session.add(event)
    return event
