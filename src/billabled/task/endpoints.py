"""`/tasks` and `/subtasks` (both under the `read:tasks` / `write:tasks` scopes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.resources import DELETE_REFUSED, sent_fields, tombstones
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import TasksRead, TasksWrite
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import ListParams, page_response, paginate
from billabled.kit.query import query_params
from billabled.kit.schema import Page
from billabled.models.task import SubTask as SubTaskRow
from billabled.models.task import Task as TaskRow
from billabled.models.task import TaskStatus
from billabled.task import service
from billabled.task.schemas import (
    SubTask,
    SubTaskCreate,
    SubTaskUpdate,
    Task,
    TaskCreate,
    TaskUpdate,
    subtask_json,
    task_json,
)
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Tasks"], route_class=ApiRoute)

TASK_SORTABLE = {
    "createdAt": TaskRow.created_at,
    "updatedAt": TaskRow.updated_at,
    "name": TaskRow.name,
}
SUBTASK_SORTABLE = {
    "createdAt": SubTaskRow.created_at,
    "updatedAt": SubTaskRow.updated_at,
    "name": SubTaskRow.name,
}
TaskId = Annotated[str, Path(max_length=64, description="The task's id (task_…).")]
SubTaskId = Annotated[str, Path(max_length=64, description="The subtask's id (sub_…).")]


class TaskListQuery(ListParams):
    sortable = TASK_SORTABLE
    project_id: str | None = Field(
        None, alias="projectId", min_length=1, max_length=64, description="Only this project's."
    )
    status: TaskStatus | None = Field(None, description="Only with this status.")


class SubTaskListQuery(TaskListQuery):
    sortable = SUBTASK_SORTABLE
    task_id: str | None = Field(
        None, alias="taskId", min_length=1, max_length=64, description="Only this task's."
    )


# --- tasks ------------------------------------------------------------------------------------


@router.get("/tasks", response_model=None, responses={200: {"model": Page[Task]}})
async def list_tasks(
    principal: TasksRead,
    session: DbSession,
    params: Annotated[TaskListQuery, Depends(query_params(TaskListQuery))],
) -> JsonResponse:
    """The workspace's tasks. Sort by `createdAt` (default), `updatedAt` or `name`."""
    query = TaskRow.__table__.select().where(TaskRow.workspace_id == principal.workspace_id)
    if params.project_id is not None:
        query = query.where(TaskRow.project_id == params.project_id)
    if params.status is not None:
        query = query.where(TaskRow.status == params.status.value)
    result = await paginate(
        session,
        query,
        params,
        id_column=TaskRow.id,
        updated_at_column=TaskRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.TASK),
    )
    items: list[Any] = [row if isinstance(row, dict) else task_json(row) for row in result.rows]
    return page_response(result, items)


@router.post("/tasks", response_model=None, status_code=201, responses={201: {"model": Task}})
async def create_task(principal: TasksWrite, session: DbSession, body: TaskCreate) -> JsonResponse:
    """Create a task in a project of the workspace that is not archived."""
    task = await service.create_task(session, principal, body)
    return JsonResponse(
        task_json(task), status_code=201, headers={"Location": f"{API_PREFIX}/tasks/{task.id}"}
    )


@router.get("/tasks/{task_id}", response_model=None, responses={200: {"model": Task}})
async def get_task(principal: TasksRead, session: DbSession, task_id: TaskId) -> JsonResponse:
    """One task."""
    return JsonResponse(task_json(await service.get_task(session, principal, task_id)))


async def update_task(
    principal: TasksWrite, session: DbSession, task_id: TaskId, body: TaskUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `null` clears an optional field.
    A task cannot move to another project."""
    task = await service.update_task(session, principal, task_id, sent_fields(body))
    return JsonResponse(task_json(task))


@router.delete("/tasks/{task_id}", response_model=None, status_code=204, responses=DELETE_REFUSED)
async def delete_task(principal: TasksWrite, session: DbSession, task_id: TaskId) -> Response:
    """Delete a task nothing depends on; one with subtasks, scheduled work or time is 409
    (archive it instead)."""
    await service.delete_task(session, principal, task_id)
    return Response(status_code=204)


# --- subtasks ---------------------------------------------------------------------------------


@router.get("/subtasks", response_model=None, responses={200: {"model": Page[SubTask]}})
async def list_subtasks(
    principal: TasksRead,
    session: DbSession,
    params: Annotated[SubTaskListQuery, Depends(query_params(SubTaskListQuery))],
) -> JsonResponse:
    """The workspace's subtasks. Sort by `createdAt` (default), `updatedAt` or `name`."""
    query = SubTaskRow.__table__.select().where(SubTaskRow.workspace_id == principal.workspace_id)
    if params.task_id is not None:
        query = query.where(SubTaskRow.task_id == params.task_id)
    if params.project_id is not None:
        query = query.where(SubTaskRow.project_id == params.project_id)
    if params.status is not None:
        query = query.where(SubTaskRow.status == params.status.value)
    result = await paginate(
        session,
        query,
        params,
        id_column=SubTaskRow.id,
        updated_at_column=SubTaskRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.SUBTASK),
    )
    items: list[Any] = [row if isinstance(row, dict) else subtask_json(row) for row in result.rows]
    return page_response(result, items)


@router.post("/subtasks", response_model=None, status_code=201, responses={201: {"model": SubTask}})
async def create_subtask(
    principal: TasksWrite, session: DbSession, body: SubTaskCreate
) -> JsonResponse:
    """Create a subtask in a task of the workspace; neither the task nor its project may be
    archived. Its `projectId` is the task's."""
    subtask = await service.create_subtask(session, principal, body)
    return JsonResponse(
        subtask_json(subtask),
        status_code=201,
        headers={"Location": f"{API_PREFIX}/subtasks/{subtask.id}"},
    )


@router.get("/subtasks/{subtask_id}", response_model=None, responses={200: {"model": SubTask}})
async def get_subtask(
    principal: TasksRead, session: DbSession, subtask_id: SubTaskId
) -> JsonResponse:
    """One subtask."""
    return JsonResponse(subtask_json(await service.get_subtask(session, principal, subtask_id)))


async def update_subtask(
    principal: TasksWrite, session: DbSession, subtask_id: SubTaskId, body: SubTaskUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `null` clears an optional field.
    A subtask cannot move to another task."""
    subtask = await service.update_subtask(session, principal, subtask_id, sent_fields(body))
    return JsonResponse(subtask_json(subtask))


@router.delete(
    "/subtasks/{subtask_id}", response_model=None, status_code=204, responses=DELETE_REFUSED
)
async def delete_subtask(
    principal: TasksWrite, session: DbSession, subtask_id: SubTaskId
) -> Response:
    """Delete a subtask no time is logged on; one with time entries is 409 (archive it instead)."""
    await service.delete_subtask(session, principal, subtask_id)
    return Response(status_code=204)


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/tasks/{task_id}",
        update_task,
        methods=[_method],
        response_model=None,
        responses={200: {"model": Task}},
        name=f"{_method.lower()}_task",
    )
    router.add_api_route(
        "/subtasks/{subtask_id}",
        update_subtask,
        methods=[_method],
        response_model=None,
        responses={200: {"model": SubTask}},
        name=f"{_method.lower()}_subtask",
    )
