"""The rules a time entry must satisfy against the work record, for one entry or a batch of 500,
with the same code (single POST, PUT/PATCH and bulk all come through here).

Invariants:
- every reference is looked up in the caller's workspace only: another workspace's project, task,
  subtask, member or tag is reported exactly like a missing one;
- a batch costs one query per kind of reference (projects with their clients' rates, tasks,
  subtasks, members, tags), `IN (...)` over the whole batch, whatever its size; one entry with at
  most one tag costs one query in all on PostgreSQL (`_one_of_each`);
- an entry is on an active project; its task is a task of that project; its subtask a subtask of
  that task (a subtask needs its task); its user a member of the workspace;
- `non_billable` projects never have billable time; the billable default is the subtask's, else
  the task's, else whether the project is billable;
- each problem is a field error `{field, in, message, type}` naming the camelCase field; callers
  decide how to report them (422 `validation_failed` for one entry, `bulk_invalid` for a batch).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.errors import FieldError, Forbidden, ValidationFailed, field_error
from billabled.kit.pagination import AnySelect
from billabled.kit.sql import one_of, one_of_value
from billabled.kit.time import plausible_date
from billabled.models.client import Client
from billabled.models.membership import Membership
from billabled.models.project import BillingType, Project, ProjectStatus
from billabled.models.tag import Tag
from billabled.models.task import SubTask, Task, TaskStatus
from billabled.time_entry.rates import RateSource, effective_rate, project_rate_minor
from billabled.time_entry.schemas import MAX_DURATION_SECONDS

_ONE_SECOND_US: Final = 1_000_000


class ForbiddenUser(Forbidden):
    code = "forbidden_user"


FORBIDDEN_USER_MESSAGE: Final = (
    "Only managers and above may log, change or move time for other members; "
    "a member's key works on its creator's own time (leave userId out)."
)


def invalid(errors: list[FieldError]) -> ValidationFailed:
    """A 422 for one entry, its message listing the problems."""
    listed = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    return ValidationFailed(f"The time entry is invalid: {listed}", errors=errors)


# --- references --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: str
    client_id: str
    billing_type: str
    status: str
    currency: str
    hourly_rate_minor: int | None
    retainer_overage_rate_minor: int | None
    client_rate_minor: int | None
    client_archived: bool


@dataclass(frozen=True, slots=True)
class TaskRef:
    id: str
    project_id: str
    billable: bool | None
    status: str


@dataclass(frozen=True, slots=True)
class SubtaskRef:
    id: str
    task_id: str
    billable: bool | None
    status: str


@dataclass(frozen=True, slots=True)
class References:
    """The records a set of entries points at, keyed by id (only those of the workspace)."""

    projects: Mapping[str, ProjectRef]
    tasks: Mapping[str, TaskRef]
    subtasks: Mapping[str, SubtaskRef]
    # Members of the workspace → their default bill rate, in the workspace's currency.
    member_rates: Mapping[str, int | None]
    tags: frozenset[str]
    workspace_currency: str


@dataclass(frozen=True, slots=True)
class _ReferenceQueries:
    """The lookups of `load_references`, built once per dialect; each binds `workspace_id` and
    its own ids parameter (`kit.sql.one_of_value`), named after the kind (`projects_ids`…), so
    that several can run as one statement."""

    projects: AnySelect
    tasks: AnySelect
    subtasks: AnySelect
    members: AnySelect
    tags: AnySelect


_KINDS: Final = ("projects", "tasks", "subtasks", "members", "tags")


def _ids_name(kind: str) -> str:
    return f"{kind}_ids"


@lru_cache(maxsize=4)
def _reference_queries(dialect: str) -> _ReferenceQueries:
    workspace: BindParameter[str] = bindparam("workspace_id")

    def ids(column: Any, kind: str) -> Any:
        return one_of(column, (), dialect, name=_ids_name(kind))

    return _ReferenceQueries(
        projects=select(
            Project.id,
            Project.client_id,
            Project.billing_type,
            Project.status,
            Project.currency,
            Project.hourly_rate_minor,
            Project.retainer_overage_rate_minor,
            Client.default_hourly_rate_minor,
            Client.archived,
        )
        .join(Client, Client.id == Project.client_id)
        .where(Project.workspace_id == workspace, ids(Project.id, "projects"))
        # The client first: PostgreSQL locks a row's tables in the order `OF` names them, and a
        # client's currency change locks the client, then its projects (the other way round,
        # each waited on the other: a deadlock, a helper's review).
        .with_for_update(read=True, key_share=True, of=(Client, Project)),
        tasks=select(Task.id, Task.project_id, Task.billable, Task.status)
        .where(Task.workspace_id == workspace, ids(Task.id, "tasks"))
        .with_for_update(read=True, key_share=True),
        subtasks=select(SubTask.id, SubTask.task_id, SubTask.billable, SubTask.status)
        .where(SubTask.workspace_id == workspace, ids(SubTask.id, "subtasks"))
        .with_for_update(read=True, key_share=True),
        members=select(Membership.user_id, Membership.default_bill_rate_minor).where(
            Membership.workspace_id == workspace, ids(Membership.user_id, "members")
        ),
        tags=select(Tag.id)
        .where(Tag.workspace_id == workspace, ids(Tag.id, "tags"))
        .with_for_update(read=True, key_share=True),
    )


@lru_cache(maxsize=32)
def _one_of_each(kinds: tuple[str, ...]) -> AnySelect:
    """PostgreSQL: the lookups of `kinds`, each for at most one id, as one statement — each a
    `WITH` part (locks included), joined to one row that has NULLs where a record is missing.
    A single POST looks up its project and its member: one round trip instead of two."""
    queries = _reference_queries("postgresql")
    parts = [getattr(queries, kind).cte(kind) for kind in kinds]
    joined: Any = select(literal_column("1").label("one")).subquery("one")
    for part in parts:
        joined = joined.outerjoin(part, true())
    return select(*(column for part in parts for column in part.c)).select_from(joined)


async def load_references(
    session: AsyncSession,
    workspace_id: str,
    workspace_currency: str,
    *,
    project_ids: Collection[str] = (),
    task_ids: Collection[str] = (),
    subtask_ids: Collection[str] = (),
    user_ids: Collection[str] = (),
    tag_ids: Collection[str] = (),
) -> References:
    """One query per kind that has ids to look up, filtered by workspace — or, on PostgreSQL, one
    query in all when no kind has more than one id (a single entry with at most one tag).

    The records found are read FOR KEY SHARE (PostgreSQL; SQLite serialises writers anyway): none
    can be deleted before this transaction ends, so the inserts' foreign keys hold (no 500 on a
    race), and a delete in flight makes the lookup wait, then report the record missing (422).
    Ordinary updates of those rows (rates, names) and other entries referring to them are not
    blocked.
    A project's client is read so too: archiving the client (which locks it FOR UPDATE) waits
    for the entry, or the entry for the archive and then sees it (locking the project alone let
    an entry commit on a client archived meanwhile; a helper's audit).
    """
    # Core selects on the session's connection (same transaction, no ORM result processing),
    # built once: building them cost more than running them for a single POST (issue #5).
    connection = await session.connection()
    dialect = connection.dialect.name
    wanted = dict(zip(_KINDS, (project_ids, task_ids, subtask_ids, user_ids, tag_ids), strict=True))
    kinds = tuple(kind for kind, ids in wanted.items() if ids)
    values: dict[str, Any] = {"workspace_id": workspace_id}
    for kind in kinds:
        values[_ids_name(kind)] = one_of_value(set(wanted[kind]))
    rows: dict[str, list[Any]]
    queries = _reference_queries(dialect)
    if dialect == "postgresql" and len(kinds) > 1 and all(len(wanted[k]) == 1 for k in kinds):
        rows = _split(kinds, (await connection.execute(_one_of_each(kinds), values)).one())
    else:
        rows = {
            kind: list((await connection.execute(getattr(queries, kind), values)).all())
            for kind in kinds
        }
    projects = {row[0]: ProjectRef(*row) for row in rows.get("projects", ())}
    if missing := set(project_ids) - projects.keys():
        # A project that moved to another client while the lookup waited for its lock drops
        # out of the join (PostgreSQL re-checks the row it waited for against the client row
        # it had joined). Looked up again, it is found, with its new client; a missing one is
        # missing still (a helper's multi-process audit).
        again = {"workspace_id": workspace_id, _ids_name("projects"): one_of_value(missing)}
        for row in await connection.execute(queries.projects, again):
            projects[row[0]] = ProjectRef(*row)
    return References(
        projects=projects,
        tasks={row[0]: TaskRef(*row) for row in rows.get("tasks", ())},
        subtasks={row[0]: SubtaskRef(*row) for row in rows.get("subtasks", ())},
        member_rates={row[0]: row[1] for row in rows.get("members", ())},
        tags=frozenset(row[0] for row in rows.get("tags", ())),
        workspace_currency=workspace_currency,
    )


def _split(kinds: tuple[str, ...], row: Any) -> dict[str, list[Any]]:
    """`_one_of_each`'s row as each kind's rows: none where its part found nothing (its id,
    never NULL in a record, is NULL)."""
    queries = _reference_queries("postgresql")
    rows: dict[str, list[Any]] = {}
    start = 0
    for kind in kinds:
        width = len(getattr(queries, kind).selected_columns)
        part = tuple(row[start : start + width])
        rows[kind] = [part] if part[0] is not None else []
        start += width
    return rows


# --- when --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timing:
    start_at: datetime | None
    end_at: datetime | None
    work_date: date
    duration_seconds: int


_BOTH_SHAPES: Final = "send either start and end, or date and durationSeconds, not both"
_NO_SHAPE: Final = "send start and end, or date and durationSeconds"


def timing_of(
    start: datetime | None,
    end: datetime | None,
    day: date | None,
    duration_seconds: int | None,
    time_zone: str,
) -> Timing | list[FieldError]:
    """The entry's start/end/date/duration from one of the two shapes, or what is wrong.

    With start + end, the duration is `end - start` rounded to the nearest second (half up) and
    the date is the start's calendar date in the workspace time zone. Times are stored in UTC.
    """
    interval = start is not None or end is not None
    by_day = day is not None or duration_seconds is not None
    if interval and by_day:
        sent = [
            name
            for name, value in (
                ("start", start),
                ("end", end),
                ("date", day),
                ("durationSeconds", duration_seconds),
            )
            if value is not None
        ]
        return [field_error(name, _BOTH_SHAPES, "conflicting_fields") for name in sent]
    if not interval and not by_day:
        return [field_error(name, _NO_SHAPE, "missing") for name in ("start", "date")]
    if by_day:
        errors = []
        if day is None:
            errors.append(field_error("date", "durationSeconds needs a date", "missing"))
        if duration_seconds is None:
            errors.append(field_error("durationSeconds", "date needs durationSeconds", "missing"))
        if errors:
            return errors
        assert day is not None
        assert duration_seconds is not None
        return Timing(None, None, day, duration_seconds)
    if start is None:
        return [field_error("start", "end needs a start", "missing")]
    if end is None:
        return [field_error("end", "start needs an end", "missing")]
    if end <= start:
        return [field_error("end", "must be after start", "end_before_start")]
    micros = (end - start) // timedelta(microseconds=1)
    if micros < _ONE_SECOND_US:  # before rounding: half a second is not billed as one
        return [field_error("end", "must be at least 1 second after start", "too_short")]
    if micros > MAX_DURATION_SECONDS * _ONE_SECOND_US:  # before rounding too, as the minimum
        return [field_error("end", "must be at most 24 hours after start", "too_long")]
    seconds = (micros + _ONE_SECOND_US // 2) // _ONE_SECOND_US
    work_date = start.astimezone(ZoneInfo(time_zone)).date()
    try:
        plausible_date(work_date)
    except ValueError as error:
        # 1900-01-01T03:00Z is a day of 1899 in New York: the date of work is what must fit.
        return [field_error("start", f"the date of work {work_date} {error}", "value_error")]
    return Timing(start.astimezone(UTC), end.astimezone(UTC), work_date, seconds)


# --- what and who ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkItem:
    """Whose time, on what."""

    user_id: str
    project_id: str
    task_id: str | None
    subtask_id: str | None


def check_work_item(
    item: WorkItem, refs: References, *, before: WorkItem | None, check_user: bool
) -> list[FieldError]:
    """Existence and consistency of the references. A project, task or subtask the entry is not
    already on (`before`: the entry before the change; None for a new entry) must also be open
    to time: an active project of a client not archived, a task or subtask not archived.
    `check_user` requires the user to be a member. Both only for new values: an entry that stays
    on a project archived since, or with a member removed since, may still be edited."""
    errors: list[FieldError] = []
    project = refs.projects.get(item.project_id)
    check_project_state = before is None or before.project_id != item.project_id
    if project is None:
        errors.append(
            field_error(
                "projectId", f"no project {item.project_id!r} in this workspace", "not_found"
            )
        )
    elif check_project_state and project.status != ProjectStatus.ACTIVE:
        errors.append(
            field_error(
                "projectId",
                f"project {item.project_id!r} is {project.status}; time is logged on active "
                "projects only",
                "project_archived",
            )
        )
    elif check_project_state and project.client_archived:
        errors.append(
            field_error(
                "projectId",
                f"client {project.client_id!r} of project {item.project_id!r} is archived; time "
                "is logged for active clients only",
                "client_archived",
            )
        )
    if item.task_id is not None:
        task = refs.tasks.get(item.task_id)
        if task is None:
            errors.append(
                field_error("taskId", f"no task {item.task_id!r} in this workspace", "not_found")
            )
        elif project is not None and task.project_id != project.id:
            errors.append(
                field_error(
                    "taskId",
                    f"task {item.task_id!r} is not in project {item.project_id!r}",
                    "not_in_project",
                )
            )
        elif _archived_and_new(task.status, before.task_id if before else None, item.task_id):
            errors.append(_archived("taskId", "task", item.task_id))
    if item.subtask_id is not None:
        subtask = refs.subtasks.get(item.subtask_id)
        if item.task_id is None:
            errors.append(
                field_error("subtaskId", "a subtask needs its task: send taskId too", "missing")
            )
        elif subtask is None:
            errors.append(
                field_error(
                    "subtaskId", f"no subtask {item.subtask_id!r} in this workspace", "not_found"
                )
            )
        elif subtask.task_id != item.task_id:
            errors.append(
                field_error(
                    "subtaskId",
                    f"subtask {item.subtask_id!r} is not in task {item.task_id!r}",
                    "not_in_task",
                )
            )
        elif _archived_and_new(
            subtask.status, before.subtask_id if before else None, item.subtask_id
        ):
            errors.append(_archived("subtaskId", "subtask", item.subtask_id))
    if check_user and item.user_id not in refs.member_rates:
        errors.append(
            field_error("userId", f"no member {item.user_id!r} in this workspace", "not_found")
        )
    return errors


def _archived_and_new(status: str, before_id: str | None, item_id: str) -> bool:
    return status == TaskStatus.ARCHIVED and before_id != item_id


def _archived(field: str, kind: str, record_id: str) -> FieldError:
    return field_error(
        field, f"{kind} {record_id!r} is archived; time is not logged on it", "archived"
    )


def check_tags(tag_ids: Collection[str], refs: References) -> list[FieldError]:
    unknown = sorted(set(tag_ids) - refs.tags)
    if not unknown:
        return []
    listed = ", ".join(repr(tag) for tag in unknown)
    return [field_error("tagIds", f"no tag {listed} in this workspace", "not_found")]


def default_billable(item: WorkItem, refs: References) -> bool:
    """The subtask's flag, else the task's, else whether the project bills its time; a
    `non_billable` project caps them all (its time is never billable)."""
    project = refs.projects[item.project_id]
    if project.billing_type == BillingType.NON_BILLABLE:
        return False
    for ref in (
        refs.subtasks.get(item.subtask_id) if item.subtask_id else None,
        refs.tasks.get(item.task_id) if item.task_id else None,
    ):
        if ref is not None and ref.billable is not None:
            return ref.billable
    return True


def billable_after_move(billable: bool, before: WorkItem, item: WorkItem, refs: References) -> bool:
    """What `billable` becomes when an entry moves to other work without `billable` being sent:
    the new work's default, unless the entry's flag was someone's choice (it differs from the
    default of the work it was on), which is kept where the new project allows it. (Moving a
    not-billable entry to another task made it billable.) `refs` holds both works."""
    if refs.projects[item.project_id].billing_type == BillingType.NON_BILLABLE:
        return False
    if billable != default_billable(before, refs):
        return billable
    return default_billable(item, refs)


def check_billable(billable: bool, item: WorkItem, refs: References) -> list[FieldError]:
    project = refs.projects[item.project_id]
    if billable and project.billing_type == BillingType.NON_BILLABLE:
        return [
            field_error(
                "billable",
                f"project {project.id!r} is non_billable: its time cannot be billable",
                "non_billable_project",
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    rate_minor: int | None
    currency: str
    source: RateSource


def rate_snapshot(item: WorkItem, refs: References) -> RateSnapshot:
    """The rate in force now for this work (see `rates`), billable or not: time logged as not
    billable and marked billable later bills at the rate of when it was logged."""
    project = refs.projects[item.project_id]
    rate, source = effective_rate(
        billing_type=project.billing_type,
        project_hourly_rate_minor=project.hourly_rate_minor,
        project_retainer_overage_rate_minor=project.retainer_overage_rate_minor,
        client_default_hourly_rate_minor=project.client_rate_minor,
        member_default_bill_rate_minor=_member_rate(item, refs),
    )
    return RateSnapshot(rate, project.currency, source)


def member_rate_snapshot(item: WorkItem, refs: References) -> RateSnapshot:
    """The snapshot of work the member's rate priced (or nothing did), given to `item.user_id`:
    their rate, and nothing else's (the project's and client's rates of today never reprice it).
    """
    rate = _member_rate(item, refs)
    source = RateSource.MEMBER if rate is not None else RateSource.NONE
    return RateSnapshot(rate, refs.projects[item.project_id].currency, source)


def _member_rate(item: WorkItem, refs: References) -> int | None:
    """The member's default bill rate where it can price this work: it is in the workspace's
    currency, so it prices only projects billed in that currency (a rate is never converted:
    $135 stamped on a EUR project read as EUR 135)."""
    if refs.projects[item.project_id].currency != refs.workspace_currency:
        return None
    return refs.member_rates.get(item.user_id)


def priced_by_member(item: WorkItem, refs: References) -> bool:
    """Whether the member's rate is what prices this work by today's rates (neither the project
    nor its client sets one). For entries logged before snapshots kept their source."""
    project = refs.projects[item.project_id]
    return (
        project_rate_minor(
            project.billing_type, project.hourly_rate_minor, project.retainer_overage_rate_minor
        )
        is None
        and project.client_rate_minor is None
    )
