"""Scheduled work on the wire.

- `date` is a calendar date in the workspace time zone, written exactly `YYYY-MM-DD` (no times,
  no timestamps: pydantic alone would also take `2026-01-05T00:00:00` or a Unix time);
  it is stored in the `work_date` column.
- `plannedSeconds` is a whole number of seconds in one day (1 to 86400); booleans and numeric
  strings are refused rather than coerced.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from billabled.kit.schema import ApiModel, NotNull, UpdateModel
from billabled.kit.text import free_text
from billabled.kit.time import RequestDate

IsoDate = RequestDate
WorkDate = Annotated[
    IsoDate, Field(description="A calendar date (YYYY-MM-DD) in the workspace time zone.")
]
PlannedSeconds = Annotated[
    int, Field(strict=True, ge=1, le=86_400, description="Planned seconds, 1 to 86400 (a day).")
]
Note = Annotated[str, *free_text(2000)]
RecordId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ScheduledWork(ApiModel):
    id: str
    user_id: str
    project_id: str
    task_id: str | None
    date: date
    planned_seconds: int
    note: str | None
    created_at: datetime
    updated_at: datetime


class ScheduledWorkCreate(ApiModel):
    user_id: RecordId = Field(description="A member of the workspace (usr_…).")
    project_id: RecordId = Field(description="An active project of the workspace (proj_…).")
    task_id: RecordId | None = Field(default=None, description="A task of that project (task_…).")
    date: WorkDate
    planned_seconds: PlannedSeconds
    note: Note | None = None


class ScheduledWorkUpdate(UpdateModel):
    """Only the fields sent change; `null` clears `taskId` or `note`."""

    user_id: NotNull[RecordId] = None
    project_id: NotNull[RecordId] = None
    task_id: RecordId | None = None
    date: NotNull[WorkDate] = None
    planned_seconds: NotNull[PlannedSeconds] = None
    note: Note | None = None


def schedule_json(work: Any) -> dict[str, Any]:
    """The wire form of a `ScheduledWork` object or a selected `scheduled_work` row."""
    return {
        "id": work.id,
        "userId": work.user_id,
        "projectId": work.project_id,
        "taskId": work.task_id,
        "date": work.work_date,
        "plannedSeconds": work.planned_seconds,
        "note": work.note,
        "createdAt": work.created_at,
        "updatedAt": work.updated_at,
    }
