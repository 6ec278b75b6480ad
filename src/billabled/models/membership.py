"""A user's place in a workspace: role, weekly capacity and default rates."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    not_negative,
)


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"


DEFAULT_WEEKLY_CAPACITY_SECONDS = 40 * 3600


class Membership(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "membership"
    id_prefix = "mem"

    user_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("user_account.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(20))
    weekly_capacity_seconds: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_WEEKLY_CAPACITY_SECONDS
    )
    default_bill_rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    default_cost_rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)

    __table_args__ = (
        *not_negative("default_bill_rate_minor", "default_cost_rate_minor"),
        Index("uq_membership_workspace_id_user_id", "workspace_id", "user_id", unique=True),
        Index("ix_membership_user_id", "user_id"),
        CheckConstraint("role IN ('owner', 'admin', 'manager', 'member')", name="role_known"),
        CheckConstraint("weekly_capacity_seconds >= 0", name="capacity_not_negative"),
    )
