"""Idempotency records: the first response to a POST with an `Idempotency-Key`, per API key.

A record is claimed (`in_progress`) in its own short transaction before the request runs, so two
racing requests with the same key cannot both run; the response is stored in the request's own
transaction, so a stored response exists exactly when the change was committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import Base, IdColumn, OptionalJSONDocument


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    api_key_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("workspace.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path, body
    state: Mapped[str] = mapped_column(String(16), default="in_progress")
    response_status: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    response_headers: Mapped[list[Any] | None] = mapped_column(OptionalJSONDocument, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The scopes (and role) the response relied on; replayed only while the key still holds
    # them (`auth.authority`). NULL on records stored before 0014: they relied on nothing known.
    relied_on: Mapped[list[str] | None] = mapped_column(OptionalJSONDocument, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_idempotency_record_created_at", "created_at"),)
