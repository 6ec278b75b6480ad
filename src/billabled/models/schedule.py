"""Scheduled work: time planned for a person on a project (and task) on a day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    in_same_workspace,
)


class ScheduledWork(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "scheduled_work"
    id_prefix = "sch"

    user_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    project_id: Mapped[str] = mapped_column(IdColumn())
    task_id: Mapped[str | None] = mapped_column(IdColumn(), default=None)
    work_date: Mapped[date] = mapped_column(Date)
    planned_seconds: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        in_same_workspace("scheduled_work", "project_id", "project"),
        in_same_workspace("scheduled_work", "task_id", "task"),
        CheckConstraint(
            "planned_seconds > 0 AND planned_seconds <= 86400", name="planned_in_a_day"
        ),
        Index("ix_scheduled_work_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_scheduled_work_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_scheduled_work_workspace_id_work_date", "workspace_id", "work_date", "id"),
        Index(
            "ix_scheduled_work_workspace_id_user_id_work_date",
            "workspace_id",
            "user_id",
            "work_date",
        ),
        Index(
            "ix_scheduled_work_workspace_id_project_id_work_date",
            "workspace_id",
            "project_id",
            "work_date",
        ),
        Index("ix_scheduled_work_task_id", "task_id"),
    )
