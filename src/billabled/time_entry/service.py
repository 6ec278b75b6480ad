"""Time entries: the work record invoices stand on.

Invariants:
- **who**: a key whose creator is a `member` reads, logs, changes and deletes only its creator's
  own time (another member's entry is a 404 for it, and naming another `userId` is 403
  `forbidden_user`); managers and above work on every member's time;
- **what**: see `validation` (active project, task of the project, subtask of the task, member,
  workspace tags, billable default, nothing billable on a `non_billable` project);
- **rates**: the rate snapshot (`rates`) is taken on create, billable or not, and re-taken only
  when an update changes the project or the user (or makes billable an entry that has none);
  nothing else ever reprices an entry;
- **locks**: submitted, approved or invoiced entries cannot be changed or deleted (409 `locked`);
- **all or none**: a bulk create validates every item before writing any, and writes them with a
  fixed number of statements (`batch`); the single POST is a batch of one through the same code;
- every create, update and delete writes its event and audit record in the same transaction, an
  update that changes nothing writes none, and deletes leave tombstones;
- `updatedAt` moves whenever the entry's public JSON changes (tags included), so `updatedSince`
  syncs see every change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api.resources import tombstones
from billabled.auth.authority import OTHERS_TIME, rely_on
from billabled.auth.principal import Principal
from billabled.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    validation_errors,
)
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion, record_reassignment
from billabled.kit.ids import new_ids
from billabled.kit.pagination import AnySelect, FewFirst, Tombstones, sort_field
from billabled.kit.sql import one_of, one_of_value
from billabled.kit.time import utcnow
from billabled.models.tag import TimeEntryTag
from billabled.models.time_entry import TimeEntry, TimeEntryStatus
from billabled.models.tombstone import Tombstone
from billabled.time_entry.batch import (
    NewEntry,
    insert_entries,
    insert_tags,
)
from billabled.time_entry.rates import RateSource, amount_minor_sql
from billabled.time_entry.schemas import TimeEntryCreate, time_entry_json
from billabled.time_entry.validation import (
    FORBIDDEN_USER_MESSAGE,
    ForbiddenUser,
    RateSnapshot,
    References,
    Timing,
    WorkItem,
    billable_after_move,
    check_billable,
    check_tags,
    check_work_item,
    default_billable,
    invalid,
    load_references,
    member_rate_snapshot,
    priced_by_member,
    rate_snapshot,
    timing_of,
)

ENTITY: Final = "time_entry"
# Tombstones of entries deleted, not moved to another member (built once: it is on every list).
_DELETED_NOT_MOVED: Final = Tombstone.reassigned.is_(False)


class EntryLocked(Conflict):
    code = "locked"


class BulkInvalid(ValidationFailed):
    code = "bulk_invalid"


# --- reading -----------------------------------------------------------------------------------


def _visible(principal: Principal) -> list[Any]:
    """The entries this caller may see: the workspace's, or only their own for members."""
    conditions: list[Any] = [TimeEntry.workspace_id == principal.workspace_id]
    if not principal.is_manager_or_above:
        conditions.append(TimeEntry.user_id == principal.user_id)
    return conditions


async def get_entry(
    session: AsyncSession, principal: Principal, entry_id: str, *, for_change: bool = False
) -> TimeEntry:
    """The entry, or 404 when it is not in the workspace or (for members) not their own;
    `for_change`, locked until the transaction ends (as `api.resources.get_or_404`)."""
    statement = select(TimeEntry).where(TimeEntry.id == entry_id, *_visible(principal))
    if for_change:
        statement = statement.with_for_update()
    result = await session.execute(statement)
    entry = result.scalar_one_or_none()
    if entry is None:
        raise NotFound(f"No time entry {entry_id!r} in this workspace.", resource="time entry")
    return entry


@lru_cache(maxsize=4)
def entry_tags_statement(dialect: str) -> Select[str, str]:
    """(entry id, tag id) of the entries bound to `entry_ids` (`kit.sql.one_of_value`); built
    once per dialect."""
    return select(TimeEntryTag.time_entry_id, TimeEntryTag.tag_id).where(
        one_of(TimeEntryTag.time_entry_id, (), dialect, name="entry_ids")
    )


async def tag_ids_by_entry(session: AsyncSession, entry_ids: Sequence[str]) -> dict[str, list[str]]:
    """Tag ids of many entries in one query (entries without tags map to [])."""
    tags: dict[str, list[str]] = {entry_id: [] for entry_id in entry_ids}
    if entry_ids:
        connection = await session.connection()
        dialect = connection.dialect.name
        rows = await connection.execute(
            entry_tags_statement(dialect), {"entry_ids": one_of_value(entry_ids)}
        )
        for entry_id, tag_id in rows:
            tags[entry_id].append(tag_id)
    return tags


def entry_tombstones(principal: Principal) -> Tombstones:
    """The time-entry tombstones this caller may replay. A member: their entries that were deleted
    or moved to another member (a tombstone keeps the owner the entry left). A manager sees every
    entry, so only real deletions — not tombstones of entries that moved and still exist."""
    if not principal.is_manager_or_above:
        return tombstones(principal.workspace_id, ENTITY, owner_user_id=principal.user_id)
    return tombstones(principal.workspace_id, ENTITY, where=_DELETED_NOT_MOVED)


async def get_entry_json(
    session: AsyncSession, principal: Principal, entry_id: str
) -> dict[str, Any]:
    entry = await get_entry(session, principal, entry_id)
    return time_entry_json(entry, (await tag_ids_by_entry(session, [entry.id]))[entry.id])


# The filters that follow time, each through an index of its own: the dates (entries are logged
# near the day they record), the status (open entries are the recent ones, approved the old) and
# `invoiced=true`. Their rows sit in one stretch of the creation order, so walking that order's
# index to them can pass most of the workspace first.
_TIME_FOLLOWING: Final = frozenset({"date_from", "date_to", "status"})
_DATES: Final = frozenset({"date_from", "date_to"})
# A person, project or client spreads over their whole life, sparse in every time order: a big
# one's page is found soon by the walk, a small one's only after most of the workspace (the
# member's own filter is a person's too). `kit.pagination.FEW_SPREAD_ROWS` sets the line.
_SPREAD: Final = frozenset({"user_id", "project_id", "client_id", "member_user_id"})


@dataclass(frozen=True, slots=True)
class EntriesQuery:
    """A list of entries: a template statement (built once per shape of filters, its values as
    named bind parameters) and the values of this request, for `kit.pagination.paginate`."""

    template: AnySelect
    values: dict[str, Any]
    invoiced: bool | None = None

    def few_first(self, sort: str | None) -> FewFirst | None:
        """Whether, when few entries match, `paginate` should read them through their filters'
        index and sort them (`kit.pagination.FewFirst`): a filter follows time or names a
        person, project or client, and the order's own index does not bound them."""
        following = self.values.keys() & _TIME_FOLLOWING
        spread = bool(self.values.keys() & _SPREAD)
        if sort_field(sort) == "date" and following <= _DATES and self.invoiced is not True:
            # The date index is the order's own, a range of it bounded by the dates. Without
            # dates a person's, project's or client's rows are sparse in it too (SQLite walked
            # it for a project of 30 entries: 400 ms).
            return FewFirst.SPREAD if spread and not following else None
        if following or self.invoiced is True:
            return FewFirst.TIME_FOLLOWING
        return FewFirst.SPREAD if spread else None


def entries_query(
    principal: Principal,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    user_id: str | None = None,
    project_id: str | None = None,
    client_id: str | None = None,
    billable: bool | None = None,
    status: TimeEntryStatus | None = None,
    invoiced: bool | None = None,
) -> EntriesQuery:
    """The entries the caller may see, filtered, as rows with the database's `amount_minor`."""
    values: dict[str, Any] = {"workspace_id": principal.workspace_id}
    if not principal.is_manager_or_above:
        values["member_user_id"] = principal.user_id
    filters: dict[str, Any] = {
        "date_from": date_from,
        "date_to": date_to,
        "user_id": user_id,
        "project_id": project_id,
        "client_id": client_id,
        "billable": billable,
        "status": status.value if status is not None else None,
    }
    values.update((name, value) for name, value in filters.items() if value is not None)
    return EntriesQuery(entries_template(tuple(values), invoiced), values, invoiced)


@lru_cache(maxsize=512)
def entries_template(names: tuple[str, ...], invoiced: bool | None) -> AnySelect:
    """The list statement for the filters `names` (in `entries_query`'s order), each value a bind
    parameter of that name; `invoiced` changes the statement's shape, so it is part of it."""
    amount = amount_minor_sql(TimeEntry.rate_minor, TimeEntry.duration_seconds, TimeEntry.billable)
    conditions: list[Any] = [TimeEntry.workspace_id == bindparam("workspace_id")]
    if "member_user_id" in names:  # a member sees only their own time
        conditions.append(TimeEntry.user_id == bindparam("member_user_id"))
    query = (
        TimeEntry.__table__.select().add_columns(amount.label("amount_minor")).where(*conditions)
    )
    if "date_from" in names:
        query = query.where(TimeEntry.work_date >= bindparam("date_from"))
    if "date_to" in names:
        query = query.where(TimeEntry.work_date <= bindparam("date_to"))
    for name, column in (
        ("user_id", TimeEntry.user_id),
        ("project_id", TimeEntry.project_id),
        ("client_id", TimeEntry.client_id),
        ("billable", TimeEntry.billable),
        ("status", TimeEntry.status),
    ):
        if name in names:
            query = query.where(column == bindparam(name))
    if invoiced is not None:
        query = query.where(
            TimeEntry.invoice_id.is_not(None) if invoiced else TimeEntry.invoice_id.is_(None)
        )
    return query


# --- creating ----------------------------------------------------------------------------------


def _refuse_other_users(
    principal: Principal, bodies: Mapping[int, TimeEntryCreate], *, bulk: bool
) -> None:
    """403 `forbidden_user` when a member's key names another user (in bulk: which items)."""
    others = [
        index
        for index, body in bodies.items()
        if body.user_id is not None and body.user_id != principal.user_id
    ]
    if not others:
        return
    rely_on(OTHERS_TIME)
    if not principal.is_manager_or_above:
        details: dict[str, Any] = {"indexes": others} if bulk else {}
        raise ForbiddenUser(FORBIDDEN_USER_MESSAGE, **details)


@dataclass(frozen=True, slots=True)
class _WorkDecision:
    """What the work item, tags and billable flag of a create body settle: its errors, or the
    billable flag and rate snapshot to store. Items of a batch that name the same ones share it."""

    problems: list[FieldError]
    billable: bool
    snapshot: RateSnapshot | None


# (user, project, task, subtask, billable as sent, tag ids): all a `_WorkDecision` depends on.
_WorkKey = tuple[str, str, str | None, str | None, bool | None, tuple[str, ...]]


def _decide_work(key: _WorkKey, refs: References) -> _WorkDecision:
    user_id, project_id, task_id, subtask_id, billable_sent, tag_ids = key
    item = WorkItem(user_id, project_id, task_id, subtask_id)
    problems = check_work_item(item, refs, before=None, check_user=True)
    problems += check_tags(tag_ids, refs)
    billable = False
    if project_id in refs.projects:
        billable = billable_sent if billable_sent is not None else default_billable(item, refs)
        problems += check_billable(billable, item, refs)
    snapshot = None if problems else rate_snapshot(item, refs)
    return _WorkDecision(problems, billable, snapshot)


def _resolve(
    body: TimeEntryCreate,
    principal: Principal,
    refs: References,
    decisions: dict[_WorkKey, _WorkDecision],
    *,
    entry_id: str,
    now: datetime,
) -> NewEntry | list[FieldError]:
    """The row to insert for one create body, or its field errors (its timing's first). The
    decisions on its work item are taken from `decisions`, or taken and kept there: a bulk
    import names a few projects for hundreds of entries."""
    timing = timing_of(body.start, body.end, body.date, body.duration_seconds, principal.time_zone)
    tag_ids = tuple(dict.fromkeys(body.tag_ids))  # a tag given twice is one tag
    user_id = body.user_id or principal.user_id
    key = (user_id, body.project_id, body.task_id, body.subtask_id, body.billable, tag_ids)
    decision = decisions.get(key)
    if decision is None:
        decision = decisions[key] = _decide_work(key, refs)
    if isinstance(timing, list):
        return [*timing, *decision.problems]
    if decision.problems:
        return list(decision.problems)
    assert decision.snapshot is not None
    return NewEntry(
        id=entry_id,
        workspace_id=principal.workspace_id,
        user_id=user_id,
        client_id=refs.projects[body.project_id].client_id,
        project_id=body.project_id,
        task_id=body.task_id,
        subtask_id=body.subtask_id,
        start_at=timing.start_at,
        end_at=timing.end_at,
        work_date=timing.work_date,
        duration_seconds=timing.duration_seconds,
        description=body.description,
        billable=decision.billable,
        rate_minor=decision.snapshot.rate_minor,
        rate_source=decision.snapshot.source.value,
        currency=decision.snapshot.currency,
        created_at=now,
        updated_at=now,
        tag_ids=list(tag_ids),
    )


async def _prepare(
    session: AsyncSession, principal: Principal, bodies: Mapping[int, TimeEntryCreate]
) -> tuple[list[NewEntry], dict[int, list[FieldError]]]:
    """Resolve every body against the work record (one query per kind of reference for the
    whole batch): the rows to insert, in index order, and the errors by index."""
    refs = await load_references(
        session,
        principal.workspace_id,
        principal.currency,
        project_ids={body.project_id for body in bodies.values()},
        task_ids={body.task_id for body in bodies.values() if body.task_id},
        subtask_ids={body.subtask_id for body in bodies.values() if body.subtask_id},
        user_ids={body.user_id or principal.user_id for body in bodies.values()},
        tag_ids={tag_id for body in bodies.values() for tag_id in body.tag_ids},
    )
    ids = iter(new_ids("te", len(bodies)))
    now = utcnow()
    entries: list[NewEntry] = []
    errors: dict[int, list[FieldError]] = {}
    decisions: dict[_WorkKey, _WorkDecision] = {}
    for index in sorted(bodies):
        resolved = _resolve(bodies[index], principal, refs, decisions, entry_id=next(ids), now=now)
        if isinstance(resolved, list):
            errors[index] = resolved
        else:
            entries.append(resolved)
    return entries, errors


async def _write(
    session: AsyncSession, principal: Principal, entries: Sequence[NewEntry]
) -> list[dict[str, Any]]:
    created = [time_entry_json(entry, entry.tag_ids) for entry in entries]
    await insert_entries(
        session,
        entries,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        created=[(body["id"], body) for body in created],
    )
    return created


async def create_entry(
    session: AsyncSession, principal: Principal, body: TimeEntryCreate
) -> dict[str, Any]:
    """Log one entry; its public JSON."""
    _refuse_other_users(principal, {0: body}, bulk=False)
    entries, errors = await _prepare(session, principal, {0: body})
    if errors:
        raise invalid(errors[0])
    return (await _write(session, principal, entries))[0]


async def create_entries(
    session: AsyncSession, principal: Principal, items: Sequence[Any]
) -> list[dict[str, Any]]:
    """Log up to 500 entries, all or none: every item is checked (its fields, then the rules)
    before anything is written; any failure is one 422 `bulk_invalid` listing every failing
    item by index."""
    bodies: dict[int, TimeEntryCreate] = {}
    errors: dict[int, list[FieldError]] = {}
    for index, item in enumerate(items):
        try:
            bodies[index] = TimeEntryCreate.model_validate(item, by_name=False)
        except ValidationError as exc:
            errors[index] = validation_errors(exc.errors())
    _refuse_other_users(principal, bodies, bulk=True)
    entries: list[NewEntry] = []
    if bodies:
        entries, rule_errors = await _prepare(session, principal, bodies)
        errors.update(rule_errors)
    if errors:
        failing = sorted(errors)
        raise BulkInvalid(
            f"{len(failing)} of {len(items)} time entries are invalid (first: item "
            f"{failing[0]}); nothing was created.",
            errors=[{"index": index, "errors": errors[index]} for index in failing],
        )
    return await _write(session, principal, entries)


# --- changing ----------------------------------------------------------------------------------


def refuse_locked(entry: TimeEntry) -> None:
    """409 `locked` for submitted, approved or invoiced time, saying why."""
    if entry.invoice_id is not None:
        reason, why = "invoiced", f"it is on invoice {entry.invoice_id}"
    elif entry.status == TimeEntryStatus.SUBMITTED:
        reason, why = "submitted", "its timesheet has been submitted for approval"
    elif entry.status == TimeEntryStatus.APPROVED:
        reason, why = "approved", "its timesheet has been approved"
    else:
        return
    raise EntryLocked(
        f"This time entry is locked: {why}. Submitted, approved or invoiced time cannot be "
        "changed or deleted.",
        reason=reason,
    )


def _updated_timing(
    entry: TimeEntry, changes: Mapping[str, Any], time_zone: str
) -> Timing | list[FieldError] | None:
    """The new timing when the update touches it (None: unchanged). `start`/`end` make it a
    start + end entry; `date`/`durationSeconds` a date + duration entry without start/end."""
    interval = "start" in changes or "end" in changes
    by_day = "date" in changes or "duration_seconds" in changes
    if interval and by_day:
        return timing_of(
            changes.get("start"),
            changes.get("end"),
            changes.get("date"),
            changes.get("duration_seconds"),
            time_zone,
        )
    if interval:
        return timing_of(
            changes.get("start", entry.start_at),
            changes.get("end", entry.end_at),
            None,
            None,
            time_zone,
        )
    if by_day:
        return timing_of(
            None,
            None,
            changes.get("date", entry.work_date),
            changes.get("duration_seconds", entry.duration_seconds),
            time_zone,
        )
    return None


def _set(entry: TimeEntry, name: str, value: Any) -> None:
    # Only real changes touch the row: an UPDATE would move updated_at without any event.
    if getattr(entry, name) != value:
        setattr(entry, name, value)


async def update_entry(
    session: AsyncSession, principal: Principal, entry_id: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change the fields sent; the entry's public JSON after the change."""
    entry = await get_entry(session, principal, entry_id, for_change=True)
    refuse_locked(entry)
    new_user = changes.get("user_id", entry.user_id)
    if new_user != entry.user_id and not principal.is_manager_or_above:
        raise ForbiddenUser(FORBIDDEN_USER_MESSAGE)

    tags_before = (await tag_ids_by_entry(session, [entry.id]))[entry.id]
    before = time_entry_json(entry, tags_before)
    old = WorkItem(entry.user_id, entry.project_id, entry.task_id, entry.subtask_id)
    item = WorkItem(
        new_user,
        changes.get("project_id", entry.project_id),
        changes.get("task_id", entry.task_id),
        changes.get("subtask_id", entry.subtask_id),
    )
    project_changed = item.project_id != old.project_id
    user_changed = item.user_id != old.user_id
    work_changed = project_changed or (item.task_id, item.subtask_id) != (
        old.task_id,
        old.subtask_id,
    )
    billable_sent = "billable" in changes
    new_tags = list(dict.fromkeys(changes["tag_ids"])) if "tag_ids" in changes else None

    problems: list[FieldError] = []
    timing = _updated_timing(entry, changes, principal.time_zone)
    if isinstance(timing, list):
        problems += timing
    # The project (with its client's rate) and the member are needed to check a new work item,
    # to derive billable, and to re-take the rate; the old work too, to tell whether billable
    # was its default or someone's choice.
    needs_work_item = work_changed or user_changed or billable_sent
    works = (item, old) if work_changed and not billable_sent else (item,)
    refs = await load_references(
        session,
        principal.workspace_id,
        principal.currency,
        project_ids={work.project_id for work in works} if needs_work_item else (),
        task_ids={work.task_id for work in works if work.task_id} if needs_work_item else (),
        subtask_ids={w.subtask_id for w in works if w.subtask_id} if needs_work_item else (),
        user_ids={item.user_id} if needs_work_item else (),
        tag_ids=new_tags or (),
    )
    billable = entry.billable
    if needs_work_item:
        problems += check_work_item(item, refs, before=old, check_user=user_changed)
        if item.project_id in refs.projects and (billable_sent or work_changed):
            billable = (
                changes["billable"]
                if billable_sent
                else billable_after_move(entry.billable, old, item, refs)
            )
            problems += check_billable(billable, item, refs)
    if new_tags is not None:
        problems += check_tags(new_tags, refs)
    if problems:
        raise invalid(problems)

    if project_changed:
        _set(entry, "client_id", refs.projects[item.project_id].client_id)
    for name in ("user_id", "project_id", "task_id", "subtask_id"):
        _set(entry, name, getattr(item, name))
    # The rate follows the project, and the person where their rate priced the work when it
    # was logged. Not the task, nor billable: moved to another task, given to a colleague on a
    # project with its own rate, or marked not billable and billable again, time keeps the rate
    # it was logged at. Time with no snapshot (no rate was set, or logged as not billable before
    # snapshots were kept) takes today's when it becomes billable.
    becomes_billable_unpriced = billable and not entry.billable and entry.rate_minor is None
    snapshot = None
    if project_changed or becomes_billable_unpriced:
        snapshot = rate_snapshot(item, refs)
    elif user_changed and entry.rate_source in (RateSource.MEMBER, RateSource.NONE):
        snapshot = member_rate_snapshot(item, refs)
    elif user_changed and entry.rate_source is None and priced_by_member(item, refs):
        snapshot = rate_snapshot(item, refs)  # logged before snapshots kept their source
    if snapshot is not None:
        _set(entry, "rate_minor", snapshot.rate_minor)
        _set(entry, "rate_source", snapshot.source.value)
        _set(entry, "currency", snapshot.currency)
    _set(entry, "billable", billable)
    if isinstance(timing, Timing):
        _set(entry, "start_at", timing.start_at)
        _set(entry, "end_at", timing.end_at)
        _set(entry, "work_date", timing.work_date)
        _set(entry, "duration_seconds", timing.duration_seconds)
    if "description" in changes:
        _set(entry, "description", changes["description"])
    tags_after = tags_before
    if new_tags is not None and set(new_tags) != set(tags_before):
        tags_after = new_tags
        await session.execute(delete(TimeEntryTag).where(TimeEntryTag.time_entry_id == entry.id))
        await insert_tags(session, [(entry.id, tag_id) for tag_id in new_tags])

    if time_entry_json(entry, tags_after) == before:
        return before
    # Set explicitly: a change of tags alone does not touch the row, yet is a change to sync.
    entry.updated_at = utcnow()
    await session.flush()
    if user_changed:
        # The entry leaves its former owner's view: for their key's syncs it is as if deleted.
        await record_reassignment(
            session,
            workspace_id=principal.workspace_id,
            entity_type=ENTITY,
            entity_id=entry.id,
            from_user_id=old.user_id,
            to_user_id=entry.user_id,
        )
    after = time_entry_json(entry, tags_after)
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=entry.id,
        action="updated",
        before=before,
        after=after,
    )
    return after


async def delete_entry(session: AsyncSession, principal: Principal, entry_id: str) -> None:
    """Delete an open, uninvoiced entry, leaving a tombstone."""
    entry = await get_entry(session, principal, entry_id, for_change=True)
    refuse_locked(entry)
    before = time_entry_json(entry, (await tag_ids_by_entry(session, [entry.id]))[entry.id])
    await session.execute(delete(TimeEntryTag).where(TimeEntryTag.time_entry_id == entry.id))
    await session.delete(entry)
    await record_deletion(
        session,
        workspace_id=principal.workspace_id,
        entity_type=ENTITY,
        entity_id=entry.id,
        owner_user_id=entry.user_id,
    )
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=entry.id,
        action="deleted",
        before=before,
    )
    await session.flush()
