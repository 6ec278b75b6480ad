"""Time entries on the wire.

An entry is logged one of two ways: `start` + `end` (RFC 3339 with an offset; the duration is
`end - start` and `date` is the start's calendar date in the workspace time zone), or `date` +
`durationSeconds`. Which shape a request uses, and every rule that needs the database, is checked
by `billabled.time_entry.validation`; the models here only check each field on its own.

Read-only fields (`clientId`, `rateMinor`, `currency`, `amountMinor`, `status`, `invoiceId`,
`invoiced`, `locked`) are refused in requests like any unknown field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Final, Protocol

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.types import Strict

from billabled.kit.schema import ApiModel, NotNull, SchemaKeywords, UpdateModel
from billabled.kit.text import free_text
from billabled.kit.time import YEARS_PATTERN, RequestDate, plausible_date, time_text
from billabled.models.time_entry import TimeEntryStatus
from billabled.time_entry.rates import amount_minor

MAX_DURATION_SECONDS: Final = 24 * 3600
MAX_TAGS_PER_ENTRY: Final = 20
MAX_BULK_ITEMS: Final = 500
MAX_DESCRIPTION_LENGTH: Final = 10_000


def _plausible_datetime(value: dt.datetime) -> dt.datetime:
    # Both as written and as stored (UTC): 1900-01-01T00:00+14:00 is 1899 in UTC. The date of
    # work, in the workspace zone, is checked by the service (validation.timing_of).
    plausible_date(value.date())
    plausible_date(value.astimezone(dt.UTC).date())
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Written as text only, as the schedule's dates are: a Unix time, `"3600"` or `true` for a number
# were taken and converted (a helper's schemathesis run).
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(time_text),
    AfterValidator(_plausible_datetime),
    SchemaKeywords(pattern=YEARS_PATTERN),
]
Day = RequestDate
Duration = Annotated[int, Strict(), Field(ge=1, le=MAX_DURATION_SECONDS)]
Description = Annotated[str, *free_text(MAX_DESCRIPTION_LENGTH)]
TagIds = Annotated[list[Id], Field(max_length=MAX_TAGS_PER_ENTRY)]


class TimeEntry(ApiModel):
    id: str
    user_id: str
    client_id: str = Field(description="The project's client (read only).")
    project_id: str
    task_id: str | None
    subtask_id: str | None
    start: dt.datetime | None = Field(description="Null for entries logged as date + duration.")
    end: dt.datetime | None
    date: dt.date = Field(description="The day of the work, in the workspace time zone.")
    duration_seconds: int
    description: str | None
    billable: bool
    rate_minor: int | None = Field(
        description="The hourly rate snapshot taken when the entry was logged; null when not "
        "billable or no rate is set. Kept while the entry is not billable: marked billable "
        "again, it bills at this rate."
    )
    currency: str
    amount_minor: int | None = Field(
        description="rateMinor * durationSeconds / 3600, rounded half up; null when not billable "
        "or without a rate."
    )
    status: TimeEntryStatus
    invoice_id: str | None
    invoiced: bool
    locked: bool = Field(description="Submitted, approved or invoiced: it cannot be changed.")
    tag_ids: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class TimeEntryCreate(ApiModel):
    """Send `start` and `end`, or `date` and `durationSeconds` (not both, not neither)."""

    user_id: Id | None = Field(
        default=None,
        description="Whose time: default the key's creator; another member's only for managers "
        "and above.",
    )
    project_id: Id = Field(description="An active project of the workspace.")
    task_id: Id | None = Field(default=None, description="A task of that project.")
    subtask_id: Id | None = Field(default=None, description="A subtask of that task.")
    start: Moment | None = Field(default=None, description="RFC 3339 with an offset.")
    end: Moment | None = Field(default=None, description="After start, at most 24 h later.")
    date: Day | None = Field(default=None, description="YYYY-MM-DD, with durationSeconds.")
    duration_seconds: Duration | None = Field(default=None, description="1 s to 24 h.")
    description: Description | None = None
    billable: StrictBool | None = Field(
        default=None,
        description="Default: the subtask's, else the task's, else whether the project is "
        "billable. Never true on a non_billable project.",
    )
    tag_ids: TagIds = Field(default_factory=list, description="Tags of the workspace.")


class TimeEntryUpdate(UpdateModel):
    """Only the fields sent change. Sending `start`/`end` makes it a start + end entry; sending
    `date`/`durationSeconds` makes it a date + duration entry (start and end are cleared).
    Changing the project re-takes the rate snapshot, and so does changing the user where the
    member's rate priced the entry when it was logged (or nothing did); an entry with no rate
    takes today's when it becomes billable."""

    user_id: NotNull[Id] = None
    project_id: NotNull[Id] = None
    task_id: Id | None = None
    subtask_id: Id | None = None
    start: NotNull[Moment] = None
    end: NotNull[Moment] = None
    date: NotNull[Day] = None
    duration_seconds: NotNull[Duration] = None
    description: Description | None = None
    billable: NotNull[StrictBool] = Field(
        default=None,
        description="When not sent and the project, task or subtask changes, it follows the new "
        "work item's default, unless it differed from the old one's (a choice, kept where the "
        "new project bills time).",
    )
    tag_ids: NotNull[TagIds] = Field(default=None, description="Replaces the entry's tags.")


class TimeEntryBulkCreate(ApiModel):
    """Up to 500 entries, created all together or not at all."""

    # Items are validated one by one by the service, so that every failing item is reported
    # with its index (`bulk_invalid`); the reference still documents them as TimeEntryCreate.
    items: Annotated[
        list[Any],
        Field(min_length=1, max_length=MAX_BULK_ITEMS),
        WithJsonSchema(
            {
                "type": "array",
                "items": {"$ref": "#/components/schemas/TimeEntryCreate"},
                "minItems": 1,
                "maxItems": MAX_BULK_ITEMS,
            }
        ),
    ]


class TimeEntryBulkCreated(ApiModel):
    items: list[TimeEntry]


class TimeEntryLike(Protocol):
    """The stored columns of an entry: an ORM row, a selected row or a row about to be inserted."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def task_id(self) -> str | None: ...
    @property
    def subtask_id(self) -> str | None: ...
    @property
    def start_at(self) -> dt.datetime | None: ...
    @property
    def end_at(self) -> dt.datetime | None: ...
    @property
    def work_date(self) -> dt.date: ...
    @property
    def duration_seconds(self) -> int: ...
    @property
    def description(self) -> str | None: ...
    @property
    def billable(self) -> bool: ...
    @property
    def rate_minor(self) -> int | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def invoice_id(self) -> str | None: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def updated_at(self) -> dt.datetime: ...


def is_locked(entry: TimeEntryLike) -> bool:
    return entry.status != TimeEntryStatus.OPEN or entry.invoice_id is not None


def time_entry_json(entry: TimeEntryLike, tag_ids: Sequence[str]) -> dict[str, Any]:
    """The wire form of an entry (the fields of `TimeEntry`)."""
    amount = amount_minor(entry.rate_minor, entry.duration_seconds, billable=entry.billable)
    return _json(entry, tag_ids, amount)


def time_entry_row_json(row: Any, tag_ids: Sequence[str]) -> dict[str, Any]:
    """The wire form of a listed row, whose `amount_minor` the database computed with
    `amount_minor_sql` (tests check both forms agree)."""
    return _json(row, tag_ids, row.amount_minor)


def _json(entry: TimeEntryLike, tag_ids: Sequence[str], amount: int | None) -> dict[str, Any]:
    return {
        "id": entry.id,
        "userId": entry.user_id,
        "clientId": entry.client_id,
        "projectId": entry.project_id,
        "taskId": entry.task_id,
        "subtaskId": entry.subtask_id,
        "start": entry.start_at,
        "end": entry.end_at,
        "date": entry.work_date,
        "durationSeconds": entry.duration_seconds,
        "description": entry.description,
        "billable": entry.billable,
        "rateMinor": entry.rate_minor if entry.billable else None,  # kept, not shown
        "currency": entry.currency,
        "amountMinor": amount,
        "status": entry.status,
        "invoiceId": entry.invoice_id,
        "invoiced": entry.invoice_id is not None,
        "locked": is_locked(entry),
        "tagIds": sorted(tag_ids),
        "createdAt": entry.created_at,
        "updatedAt": entry.updated_at,
    }
