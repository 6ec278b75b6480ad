"""Tasks (in a project) and subtasks (in a task).

Invariants:
- a task belongs to a project of its workspace and never moves to another project; a subtask
  belongs to a task of its workspace, never moves to another task, and its `project_id` is always
  its task's project (so time entries and filters on it need no join);
- a task cannot be added to an archived project, a subtask neither to an archived task nor to a
  task of an archived project; a parent from another workspace looks exactly like a missing one;
- a task with subtasks, scheduled work or time entries, and a subtask with time entries, cannot be
  deleted (archive it instead);
- every change writes its event (`task.*`, `subtask.*`) and audit record in the same transaction,
  and every deletion leaves a tombstone.

Concurrency (PostgreSQL): creating a child takes a share lock on its parent row and deleting takes
an exclusive lock on the row, so a child created while its parent is being deleted either makes
the delete a 409 or finds the parent gone (422), never a foreign-key error. SQLite serialises
writers (`BEGIN IMMEDIATE`), so the same holds there without row locks.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api.resources import get_or_404, refuse_delete
from billabled.auth.principal import Principal
from billabled.errors import ValidationFailed
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion
from billabled.models.project import Project, ProjectStatus
from billabled.models.schedule import ScheduledWork
from billabled.models.task import SubTask, Task, TaskStatus
from billabled.models.time_entry import TimeEntry
from billabled.task.schemas import SubTaskCreate, TaskCreate, subtask_json, task_json

TASK = "task"
SUBTASK = "subtask"


class InvalidField(ValidationFailed):
    """A body field that is well formed but breaks a rule only the database can check."""

    def __init__(self, field: str, message: str, type: str = "value_error") -> None:
        super().__init__(
            f"{field}: {message}.",
            errors=[{"field": field, "in": "body", "message": message, "type": type}],
        )


def _plain(value: Any) -> Any:
    # Columns hold plain strings; enums from the body are stored by value.
    return value.value if isinstance(value, enum.Enum) else value


def _count(model: type[Any], workspace_id: str, condition: ColumnElement[bool]) -> Any:
    return (
        select(func.count())
        .select_from(model)
        .where(model.workspace_id == workspace_id, condition)
        .scalar_subquery()
    )


# --- tasks ------------------------------------------------------------------------------------


async def get_task(
    session: AsyncSession, principal: Principal, task_id: str, *, for_change: bool = False
) -> Task:
    return await get_or_404(
        session, Task, principal.workspace_id, task_id, TASK, for_change=for_change
    )


async def create_task(session: AsyncSession, principal: Principal, body: TaskCreate) -> Task:
    project_status = (
        await session.execute(
            select(Project.status)
            .where(Project.id == body.project_id, Project.workspace_id == principal.workspace_id)
            # Keeps the project from being deleted or archived until this task is committed.
            .with_for_update(read=True)
        )
    ).scalar_one_or_none()
    if project_status is None:
        raise InvalidField(
            "projectId", f"no project {body.project_id!r} in this workspace", "not_found"
        )
    if project_status == ProjectStatus.ARCHIVED:
        raise InvalidField(
            "projectId", f"project {body.project_id!r} is archived", "project_archived"
        )
    task = Task(
        workspace_id=principal.workspace_id,
        project_id=body.project_id,
        name=body.name,
        billable=body.billable,
        estimate_seconds=body.estimate_seconds,
        status=_plain(body.status),
    )
    session.add(task)
    await session.flush()
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=TASK,
        entity_id=task.id,
        action="created",
        after=task_json(task),
    )
    return task


async def update_task(
    session: AsyncSession, principal: Principal, task_id: str, changes: dict[str, Any]
) -> Task:
    task = await get_task(session, principal, task_id, for_change=True)
    if changes.pop("project_id", task.project_id) != task.project_id:
        # Moving would strand its subtasks, schedule and time on the old project.
        raise InvalidField("projectId", "a task cannot move between projects", "immutable")
    before = task_json(task)
    for field, value in changes.items():
        setattr(task, field, _plain(value))
    await session.flush()
    after = task_json(task)
    if after != before:
        record_change(
            session,
            workspace_id=principal.workspace_id,
            actor=principal.actor,
            entity_type=TASK,
            entity_id=task.id,
            action="updated",
            before=before,
            after=after,
        )
    return task


async def delete_task(session: AsyncSession, principal: Principal, task_id: str) -> None:
    ws = principal.workspace_id
    task = await get_task(session, principal, task_id, for_change=True)
    counts = (
        await session.execute(
            select(
                _count(SubTask, ws, SubTask.task_id == task.id),
                _count(ScheduledWork, ws, ScheduledWork.task_id == task.id),
                _count(TimeEntry, ws, TimeEntry.task_id == task.id),
            )
        )
    ).one()
    refuse_delete(
        TASK,
        {"subtasks": counts[0], "scheduledWork": counts[1], "timeEntries": counts[2]},
    )
    before = task_json(task)
    await session.delete(task)
    await record_deletion(session, workspace_id=ws, entity_type=TASK, entity_id=task.id)
    record_change(
        session,
        workspace_id=ws,
        actor=principal.actor,
        entity_type=TASK,
        entity_id=task.id,
        action="deleted",
        before=before,
    )
    await session.flush()


# --- subtasks ---------------------------------------------------------------------------------


async def get_subtask(
    session: AsyncSession, principal: Principal, subtask_id: str, *, for_change: bool = False
) -> SubTask:
    return await get_or_404(
        session, SubTask, principal.workspace_id, subtask_id, SUBTASK, for_change=for_change
    )


async def create_subtask(
    session: AsyncSession, principal: Principal, body: SubTaskCreate
) -> SubTask:
    parent = (
        await session.execute(
            select(Task.project_id, Task.status, Project.status.label("project_status"))
            .join(Project, Project.id == Task.project_id)
            .where(Task.id == body.task_id, Task.workspace_id == principal.workspace_id)
            # Keeps the task (and its project) from being deleted or archived meanwhile.
            .with_for_update(read=True)
        )
    ).one_or_none()
    if parent is None:
        raise InvalidField("taskId", f"no task {body.task_id!r} in this workspace", "not_found")
    if parent.status == TaskStatus.ARCHIVED:
        raise InvalidField("taskId", f"task {body.task_id!r} is archived", "archived")
    if parent.project_status == ProjectStatus.ARCHIVED:
        raise InvalidField(
            "taskId", f"the project of task {body.task_id!r} is archived", "project_archived"
        )
    subtask = SubTask(
        workspace_id=principal.workspace_id,
        task_id=body.task_id,
        project_id=parent.project_id,
        name=body.name,
        billable=body.billable,
        estimate_seconds=body.estimate_seconds,
        status=_plain(body.status),
    )
    session.add(subtask)
    await session.flush()
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=SUBTASK,
        entity_id=subtask.id,
        action="created",
        after=subtask_json(subtask),
    )
    return subtask


async def update_subtask(
    session: AsyncSession, principal: Principal, subtask_id: str, changes: dict[str, Any]
) -> SubTask:
    subtask = await get_subtask(session, principal, subtask_id, for_change=True)
    if changes.pop("task_id", subtask.task_id) != subtask.task_id:
        raise InvalidField("taskId", "a subtask cannot move between tasks", "immutable")
    before = subtask_json(subtask)
    for field, value in changes.items():
        setattr(subtask, field, _plain(value))
    await session.flush()
    after = subtask_json(subtask)
    if after != before:
        record_change(
            session,
            workspace_id=principal.workspace_id,
            actor=principal.actor,
            entity_type=SUBTASK,
            entity_id=subtask.id,
            action="updated",
            before=before,
            after=after,
        )
    return subtask


async def delete_subtask(session: AsyncSession, principal: Principal, subtask_id: str) -> None:
    ws = principal.workspace_id
    subtask = await get_subtask(session, principal, subtask_id, for_change=True)
    entries = await session.scalar(
        select(_count(TimeEntry, ws, TimeEntry.subtask_id == subtask.id))
    )
    refuse_delete(SUBTASK, {"timeEntries": entries or 0})
    before = subtask_json(subtask)
    await session.delete(subtask)
    await record_deletion(session, workspace_id=ws, entity_type=SUBTASK, entity_id=subtask.id)
    record_change(
        session,
        workspace_id=ws,
        actor=principal.actor,
        entity_type=SUBTASK,
        entity_id=subtask.id,
        action="deleted",
        before=before,
    )
    await session.flush()
