"""Tasks and subtasks on the wire.

`billable: null` means "follow the parent": a task follows its project (billable unless the
project is `non_billable`), a subtask follows its task. A subtask's `projectId` is its task's and
is never sent by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool, StringConstraints
from pydantic.types import Strict

from billabled.kit.schema import ApiModel, NotNull, UpdateModel
from billabled.kit.text import Name
from billabled.models.task import SubTask as SubTaskRow
from billabled.models.task import Task as TaskRow
from billabled.models.task import TaskStatus

# At most 100,000 hours: far beyond any real estimate, and well inside a 32-bit integer column.
EstimateSeconds = Annotated[int, Strict(), Field(ge=0, le=360_000_000)]
RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

_BILLABLE_TASK = "true/false, or null to follow the project (billable unless it is non_billable)."
_BILLABLE_SUBTASK = "true/false, or null to follow the task."


class Task(ApiModel):
    id: str
    project_id: str
    name: str
    billable: bool | None = Field(description=_BILLABLE_TASK)
    estimate_seconds: int | None
    status: TaskStatus
    created_at: datetime
    updated_at: datetime


class TaskCreate(ApiModel):
    project_id: RecordId = Field(description="A project of the workspace that is not archived.")
    name: Name
    billable: StrictBool | None = Field(default=None, description=_BILLABLE_TASK)
    estimate_seconds: EstimateSeconds | None = None
    status: TaskStatus = TaskStatus.OPEN


class TaskUpdate(UpdateModel):
    """Only the fields sent change; `null` clears an optional field. `projectId` may be sent but
    must stay the task's own: a task cannot move between projects."""

    project_id: NotNull[RecordId] = None
    name: NotNull[Name] = None
    billable: StrictBool | None = Field(default=None, description=_BILLABLE_TASK)
    estimate_seconds: EstimateSeconds | None = None
    status: NotNull[TaskStatus] = None


class SubTask(ApiModel):
    id: str
    task_id: str
    project_id: str = Field(description="The task's project (read only).")
    name: str
    billable: bool | None = Field(description=_BILLABLE_SUBTASK)
    estimate_seconds: int | None
    status: TaskStatus
    created_at: datetime
    updated_at: datetime


class SubTaskCreate(ApiModel):
    task_id: RecordId = Field(description="A task of the workspace that is not archived.")
    name: Name
    billable: StrictBool | None = Field(default=None, description=_BILLABLE_SUBTASK)
    estimate_seconds: EstimateSeconds | None = None
    status: TaskStatus = TaskStatus.OPEN


class SubTaskUpdate(UpdateModel):
    """Only the fields sent change; `null` clears an optional field. `taskId` may be sent but
    must stay the subtask's own: a subtask cannot move between tasks."""

    task_id: NotNull[RecordId] = None
    name: NotNull[Name] = None
    billable: StrictBool | None = Field(default=None, description=_BILLABLE_SUBTASK)
    estimate_seconds: EstimateSeconds | None = None
    status: NotNull[TaskStatus] = None


def task_json(task: TaskRow) -> dict[str, Any]:
    return {
        "id": task.id,
        "projectId": task.project_id,
        "name": task.name,
        "billable": task.billable,
        "estimateSeconds": task.estimate_seconds,
        "status": task.status,
        "createdAt": task.created_at,
        "updatedAt": task.updated_at,
    }


def subtask_json(subtask: SubTaskRow) -> dict[str, Any]:
    return {
        "id": subtask.id,
        "taskId": subtask.task_id,
        "projectId": subtask.project_id,
        "name": subtask.name,
        "billable": subtask.billable,
        "estimateSeconds": subtask.estimate_seconds,
        "status": subtask.status,
        "createdAt": subtask.created_at,
        "updatedAt": subtask.updated_at,
    }
