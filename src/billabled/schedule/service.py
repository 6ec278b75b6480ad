"""Scheduled work: time planned for a member on a project (and optionally a task) on a day.

Invariants:
- the person is a member of the workspace, the project is one of the workspace's and active (its
  client not archived), and the task (when there is one) belongs to that project and is not
  archived; a violation is a 422 naming the field, and another workspace's ids look exactly like
  ids that do not exist;
- on update, a person, project or task is checked when it changes (work planned on a project or
  task that was archived later can still be corrected or moved off it), and the task is checked
  against the resulting project whenever either of them changes;
- nothing depends on scheduled work, so it can always be deleted; a deletion leaves a tombstone;
- every change writes its `schedule.*` event and audit record in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api.resources import get_or_404
from billabled.auth.principal import Principal
from billabled.errors import FieldError, field_error, invalid_fields
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion
from billabled.models.client import Client
from billabled.models.project import Project, ProjectStatus
from billabled.models.schedule import ScheduledWork
from billabled.models.task import Task, TaskStatus
from billabled.schedule.schemas import ScheduledWorkCreate, schedule_json
from billabled.user.repository import get_membership

ENTITY = "schedule"


async def get_scheduled_work(
    session: AsyncSession, principal: Principal, work_id: str, *, for_change: bool = False
) -> ScheduledWork:
    return await get_or_404(
        session,
        ScheduledWork,
        principal.workspace_id,
        work_id,
        "scheduled work",
        for_change=for_change,
    )


async def _user_errors(
    session: AsyncSession, principal: Principal, user_id: str
) -> list[FieldError]:
    if await get_membership(session, principal.workspace_id, user_id) is None:
        return [field_error("userId", f"No member {user_id!r} in this workspace.", "not_found")]
    return []


async def _project_errors(
    session: AsyncSession, principal: Principal, project_id: str
) -> list[FieldError]:
    lookup = (
        select(Project.status, Client.archived)
        .join(Client, Client.id == Project.client_id)
        .where(Project.workspace_id == principal.workspace_id, Project.id == project_id)
        # Held until commit, so a concurrent delete waits for us (or we for it, and then find
        # nothing): never a foreign-key error as a 500. The client too, so that its archiving
        # waits for the work (or the work sees it); the client first, as for time
        # (`time_entry.validation`: a currency change locks it, then its projects).
        .with_for_update(read=True, key_share=True, of=(Client, Project))
    )
    found = (await session.execute(lookup)).one_or_none()
    if found is None:
        # Moved to another client while we waited for its lock, it dropped out of the join;
        # looked up again, it is found (as for time: `time_entry.validation.load_references`).
        found = (await session.execute(lookup)).one_or_none()
    if found is None:
        return [
            field_error("projectId", f"No project {project_id!r} in this workspace.", "not_found")
        ]
    status, client_archived = found
    if status != ProjectStatus.ACTIVE.value:
        return [
            field_error(
                "projectId",
                f"Project {project_id!r} is archived; work cannot be scheduled on it.",
                "project_archived",
            )
        ]
    if client_archived:
        return [
            field_error(
                "projectId",
                f"The client of project {project_id!r} is archived; "
                "work cannot be scheduled on it.",
                "client_archived",
            )
        ]
    return []


def _project_found(errors: list[FieldError]) -> bool:
    """Whether a task can be judged against the project (it exists, archived or not)."""
    return not any(
        error["field"] == "projectId" and error["type"] == "not_found" for error in errors
    )


async def _task_errors(
    session: AsyncSession, principal: Principal, task_id: str, project_id: str, *, new: bool
) -> list[FieldError]:
    """The task is in the project; a task the work is not already on (`new`) is not archived."""
    found = (
        await session.execute(
            select(Task.project_id, Task.status)
            .where(Task.workspace_id == principal.workspace_id, Task.id == task_id)
            .with_for_update(read=True, key_share=True)  # as for the project
        )
    ).one_or_none()
    if found is None:
        return [field_error("taskId", f"No task {task_id!r} in this workspace.", "not_found")]
    task_project, status = found
    if task_project != project_id:
        return [
            field_error(
                "taskId", f"Task {task_id!r} is not in project {project_id!r}.", "not_in_project"
            )
        ]
    if new and status == TaskStatus.ARCHIVED:
        return [
            field_error(
                "taskId",
                f"Task {task_id!r} is archived; work cannot be scheduled on it.",
                "archived",
            )
        ]
    return []


def _record(
    session: AsyncSession,
    principal: Principal,
    work: ScheduledWork,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=work.id,
        action=action,
        before=before,
        after=after,
    )


async def create_scheduled_work(
    session: AsyncSession, principal: Principal, body: ScheduledWorkCreate
) -> ScheduledWork:
    errors = await _user_errors(session, principal, body.user_id)
    errors += await _project_errors(session, principal, body.project_id)
    if body.task_id is not None and _project_found(errors):
        errors += await _task_errors(session, principal, body.task_id, body.project_id, new=True)
    if errors:
        raise invalid_fields("scheduled work", errors)
    work = ScheduledWork(
        workspace_id=principal.workspace_id,
        user_id=body.user_id,
        project_id=body.project_id,
        task_id=body.task_id,
        work_date=body.date,
        planned_seconds=body.planned_seconds,
        note=body.note,
    )
    session.add(work)
    await session.flush()
    _record(session, principal, work, "created", after=schedule_json(work))
    return work


async def update_scheduled_work(
    session: AsyncSession, principal: Principal, work_id: str, changes: dict[str, Any]
) -> ScheduledWork:
    """Apply the fields sent (snake_case keys of `ScheduledWorkUpdate`)."""
    work = await get_scheduled_work(session, principal, work_id, for_change=True)
    user_id: str = changes.get("user_id", work.user_id)
    project_id: str = changes.get("project_id", work.project_id)
    task_id: str | None = changes.get("task_id", work.task_id)
    errors: list[FieldError] = []
    if user_id != work.user_id:
        errors += await _user_errors(session, principal, user_id)
    if project_id != work.project_id:
        errors += await _project_errors(session, principal, project_id)
    if (
        task_id is not None
        and (task_id != work.task_id or project_id != work.project_id)
        and _project_found(errors)
    ):
        new = task_id != work.task_id
        errors += await _task_errors(session, principal, task_id, project_id, new=new)
    if errors:
        raise invalid_fields("scheduled work", errors)

    before = schedule_json(work)
    work.user_id = user_id
    work.project_id = project_id
    work.task_id = task_id
    if "date" in changes:
        work.work_date = changes["date"]
    if "planned_seconds" in changes:
        work.planned_seconds = changes["planned_seconds"]
    if "note" in changes:
        work.note = changes["note"]
    if schedule_json(work) == before:
        return work  # nothing changed: no write, no event
    await session.flush()
    _record(session, principal, work, "updated", before=before, after=schedule_json(work))
    return work


async def delete_scheduled_work(session: AsyncSession, principal: Principal, work_id: str) -> None:
    """Nothing depends on scheduled work: it is always deletable."""
    work = await get_scheduled_work(session, principal, work_id, for_change=True)
    before = schedule_json(work)
    await session.delete(work)
    await record_deletion(
        session, workspace_id=principal.workspace_id, entity_type=ENTITY, entity_id=work.id
    )
    _record(session, principal, work, "deleted", before=before)
    await session.flush()
