"""Time entries: completed work, the record invoices stand on.

Invariants:
- an entry keeps the rate in force when it was logged (`rate_minor`, `currency`): changing a
  project's rate never reprices logged work;
- submitted, approved or invoiced entries are locked;
- `client_id` repeats the project's client so client filters and sums need no join.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    in_same_workspace,
    not_negative,
)


class TimeEntryStatus(enum.StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    APPROVED = "approved"


class TimeEntry(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "time_entry"
    id_prefix = "te"

    user_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    client_id: Mapped[str] = mapped_column(IdColumn())
    project_id: Mapped[str] = mapped_column(IdColumn())
    task_id: Mapped[str | None] = mapped_column(IdColumn(), default=None)
    subtask_id: Mapped[str | None] = mapped_column(IdColumn(), default=None)
    start_at: Mapped[datetime | None] = mapped_column(default=None)
    end_at: Mapped[datetime | None] = mapped_column(default=None)
    work_date: Mapped[date] = mapped_column(Date)  # in the workspace's time zone
    duration_seconds: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    billable: Mapped[bool] = mapped_column(Boolean)
    rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    # What set the rate snapshot (`rates.RateSource`); NULL on entries logged before 0011.
    rate_source: Mapped[str | None] = mapped_column(String(8), default=None)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=TimeEntryStatus.OPEN.value)
    invoice_id: Mapped[str | None] = mapped_column(IdColumn(), default=None)

    __table_args__ = (
        *not_negative("rate_minor"),
        in_same_workspace("time_entry", "client_id", "client"),
        in_same_workspace("time_entry", "project_id", "project"),
        in_same_workspace("time_entry", "task_id", "task"),
        in_same_workspace("time_entry", "subtask_id", "subtask"),
        CheckConstraint(
            "duration_seconds > 0 AND duration_seconds <= 86400", name="duration_in_a_day"
        ),
        CheckConstraint("status IN ('open', 'submitted', 'approved')", name="status_known"),
        CheckConstraint(
            "rate_source IN ('project', 'client', 'member', 'none')", name="rate_source_known"
        ),
        CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at", name="ends_after_start"
        ),
        Index("ix_time_entry_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_time_entry_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_time_entry_workspace_id_work_date_id", "workspace_id", "work_date", "id"),
        Index(
            "ix_time_entry_workspace_id_project_id_work_date",
            "workspace_id",
            "project_id",
            "work_date",
        ),
        Index(
            "ix_time_entry_workspace_id_user_id_work_date", "workspace_id", "user_id", "work_date"
        ),
        Index(
            "ix_time_entry_workspace_id_client_id_work_date",
            "workspace_id",
            "client_id",
            "work_date",
        ),
        Index("ix_time_entry_workspace_id_invoice_id", "workspace_id", "invoice_id"),
        Index("ix_time_entry_workspace_id_status_work_date", "workspace_id", "status", "work_date"),
        Index("ix_time_entry_task_id", "task_id"),
        Index("ix_time_entry_subtask_id", "subtask_id"),
    )
