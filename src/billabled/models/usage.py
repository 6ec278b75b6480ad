"""Usage records: one per Integration API request, written in batches off the request path.

`workspace_id` and `api_key_id` are empty for requests without a valid key (401s and their 429s).
The client IP is kept only as an HMAC under a key rotated daily.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import Base, IdColumn


class UsageRecord(Base):
    __tablename__ = "usage_record"

    # Surrogate key: usage rows are never addressed one by one, so no prefixed id. 64 bits: one
    # row per request, and purged rows do not give their ids back (2^31 is a month at 800 r/s).
    # SQLite's rowid is 64 bits already, and autoincrements only as `INTEGER PRIMARY KEY`.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    workspace_id: Mapped[str | None] = mapped_column(
        IdColumn(), ForeignKey("workspace.id", ondelete="CASCADE"), default=None
    )
    api_key_id: Mapped[str | None] = mapped_column(
        IdColumn(), ForeignKey("api_key.id", ondelete="CASCADE"), default=None
    )
    endpoint: Mapped[str] = mapped_column(String(200))  # the route template
    method: Mapped[str] = mapped_column(String(10))
    status: Mapped[int] = mapped_column(SmallInteger)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    ip_hash: Mapped[str | None] = mapped_column(String(32), default=None)
    latency_us: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_usage_record_workspace_id_created_at", "workspace_id", "created_at"),
        Index("ix_usage_record_api_key_id_created_at", "api_key_id", "created_at"),
        Index("ix_usage_record_created_at", "created_at"),
    )
