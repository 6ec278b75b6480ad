"""The event outbox: one row per change to a public resource, written in the change's transaction.

Webhook deliveries, the `/events` feed and integration pushes all start from this table, so nothing
rolled back is ever announced and nothing committed goes unannounced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import Base, IdMixin, JSONDocument, WorkspaceScopedMixin


class Event(IdMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "event"
    id_prefix = "evt"

    type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The public representation of the object after the change (before it, for deletions).
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument)

    __table_args__ = (
        Index("ix_event_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_event_workspace_id_type_created_at", "workspace_id", "type", "created_at"),
    )
