"""Tasks (in a project) and subtasks (in a task)."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    in_same_workspace,
    not_negative,
    referable_in_workspace,
)


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    ARCHIVED = "archived"


class Task(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "task"
    id_prefix = "task"

    project_id: Mapped[str] = mapped_column(IdColumn())
    name: Mapped[str] = mapped_column(String(200))
    # None: follow the project (billable unless the project is non-billable).
    billable: Mapped[bool | None] = mapped_column(Boolean, default=None)
    estimate_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN.value)

    __table_args__ = (
        referable_in_workspace(),
        in_same_workspace("task", "project_id", "project"),
        *not_negative("estimate_seconds"),
        CheckConstraint("status IN ('open', 'done', 'archived')", name="status_known"),
        Index("ix_task_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_task_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_task_workspace_id_name_id", "workspace_id", "name", "id"),
        Index("ix_task_workspace_id_project_id", "workspace_id", "project_id"),
        Index("ix_task_project_id", "project_id"),
        Index("ix_task_workspace_id_status", "workspace_id", "status"),
    )


class SubTask(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "subtask"
    id_prefix = "sub"

    task_id: Mapped[str] = mapped_column(IdColumn())
    # The task's project, kept here so time entries and filters need no join.
    project_id: Mapped[str] = mapped_column(IdColumn())
    name: Mapped[str] = mapped_column(String(200))
    billable: Mapped[bool | None] = mapped_column(Boolean, default=None)
    estimate_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.OPEN.value)

    __table_args__ = (
        referable_in_workspace(),
        in_same_workspace("subtask", "task_id", "task"),
        in_same_workspace("subtask", "project_id", "project"),
        *not_negative("estimate_seconds"),
        CheckConstraint("status IN ('open', 'done', 'archived')", name="status_known"),
        Index("ix_subtask_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_subtask_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_subtask_workspace_id_name_id", "workspace_id", "name", "id"),
        Index("ix_subtask_workspace_id_task_id", "workspace_id", "task_id"),
        Index("ix_subtask_task_id", "task_id"),
        Index("ix_subtask_project_id", "project_id"),
        Index("ix_subtask_workspace_id_project_id", "workspace_id", "project_id"),
        Index("ix_subtask_workspace_id_status", "workspace_id", "status"),
    )
