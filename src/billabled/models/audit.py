"""The audit trail: who changed what, when, with the record before and after.

Rows are append-only and written in the same transaction as the change they describe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    OptionalJSONDocument,
    WorkspaceScopedMixin,
)


class AuditRecord(IdMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "audit_record"
    id_prefix = "aud"

    # "user", "api_key" or "system"; actor_id is the usr_/key_ id (None for the system).
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(IdColumn(), default=None)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "time_entry.updated"
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(IdColumn())
    # None before a creation and after a deletion (SQL NULL since migration 0012).
    before: Mapped[dict[str, Any] | None] = mapped_column(OptionalJSONDocument, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(OptionalJSONDocument, default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(
            "ix_audit_record_workspace_id_entity",
            "workspace_id",
            "entity_type",
            "entity_id",
            "created_at",
        ),
        Index("ix_audit_record_workspace_id_created_at", "workspace_id", "created_at"),
    )
