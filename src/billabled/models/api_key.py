"""API keys: bound to one workspace and its creator; stored only as a peppered HMAC.

Invariants:
- the raw key is never stored (only `key_hash` and the display `prefix`);
- a revoked key stays revoked (`revoked_at` is set once);
- scopes are stored as granted; the effective scopes are computed per request from the creator's
  current role.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    JSONDocument,
    TimestampMixin,
    WorkspaceScopedMixin,
)


class ApiKey(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "api_key"
    id_prefix = "key"

    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by_user_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("user_account.id", ondelete="CASCADE")
    )
    scopes: Mapped[list[str]] = mapped_column(JSONDocument)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        # Authentication looks keys up by hash before the workspace is known.
        Index("uq_api_key_key_hash", "key_hash", unique=True),
        Index("ix_api_key_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_api_key_created_by_user_id", "created_by_user_id"),
    )
