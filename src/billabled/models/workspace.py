"""A workspace: the tenant. Every other record belongs to exactly one."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import CheckConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import Base, IdMixin, JSONDocument, TimestampMixin


class Plan(enum.StrEnum):
    FREE = "free"
    STARTER = "starter"
    PROFESSIONAL = "professional"
    BUSINESS = "business"


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspace"
    id_prefix = "ws"

    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(20), default=Plan.FREE.value)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # ISO weekday the week starts on: 1 = Monday … 7 = Sunday.
    week_start: Mapped[int] = mapped_column(SmallInteger, default=1)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)

    __table_args__ = (
        CheckConstraint(
            "plan IN ('free', 'starter', 'professional', 'business')", name="plan_known"
        ),
        CheckConstraint("week_start BETWEEN 1 AND 7", name="week_start_iso_weekday"),
    )
