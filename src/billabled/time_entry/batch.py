"""Creating many time entries with a fixed number of statements, whatever their number.

Invariants:
- the entries, their tags, their events and their audit records are written by one statement on
  PostgreSQL whatever their number (`kit.sql.insert_columns_together`: data-modifying `WITH`
  parts, arrays through `unnest`), by one executemany per table on SQLite; each statement is
  compiled once per process (a multi-row `VALUES` list was compiled anew for every batch, which
  cost more than everything else in a bulk request; bench/scenarios.py, issue #5);
- the rows are complete before the INSERT (ids, timestamps, rate snapshot): nothing is read back;
- ids are generated sorted in item order, and a batch shares one `createdAt`, so the default list
  order (`createdAt, id`) and the event order (`createdAt, id`) follow the request's item order;
- each entry gets the same event (`time_entry.created`, the entry's public JSON) and audit record
  that `billabled.event.service.record_change` writes for a single change, in the same transaction.

The statements run on the session's connection (Core, no ORM result processing), inside the
request's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, Final

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import Actor
from billabled.kit.ids import new_ids
from billabled.kit.sql import insert_columns, insert_columns_together
from billabled.kit.time import utcnow
from billabled.models.audit import AuditRecord
from billabled.models.base import Base
from billabled.models.event import Event
from billabled.models.tag import TimeEntryTag
from billabled.models.time_entry import TimeEntry, TimeEntryStatus


@dataclass(slots=True)
class NewEntry:
    """A time entry about to be inserted: every column, plus its tag ids."""

    id: str
    workspace_id: str
    user_id: str
    client_id: str
    project_id: str
    task_id: str | None
    subtask_id: str | None
    start_at: datetime | None
    end_at: datetime | None
    work_date: date
    duration_seconds: int
    description: str | None
    billable: bool
    rate_minor: int | None
    rate_source: str | None
    currency: str
    created_at: datetime
    updated_at: datetime
    status: str = TimeEntryStatus.OPEN.value
    invoice_id: str | None = None
    tag_ids: list[str] = field(default_factory=list)


_COLUMNS: Final = tuple(column.key for column in TimeEntry.__table__.columns)
# A column added to the table must be added to NewEntry too, or inserts would silently skip it.
assert set(_COLUMNS) <= {f.name for f in fields(NewEntry)}, "NewEntry lacks a time_entry column"


def _table(model: type[Base]) -> Table:
    # Core INSERTs on the tables: plain multi-row VALUES, no ORM bulk-insert machinery.
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _entry_columns(entries: Sequence[NewEntry]) -> dict[str, list[Any]]:
    return {name: [getattr(entry, name) for entry in entries] for name in _COLUMNS}


def _tag_columns(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {
        "time_entry_id": [entry_id for entry_id, _ in pairs],
        "tag_id": [tag_id for _, tag_id in pairs],
    }


async def insert_entries(
    session: AsyncSession,
    entries: Sequence[NewEntry],
    *,
    workspace_id: str,
    actor: Actor,
    entity_type: str,
    created: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """The entries, their tags, and a `<entity>.created` event and an audit record for each
    (`created`: `(id, public JSON)`): one statement on PostgreSQL, four at most on SQLite."""
    if not entries:
        return
    tags = [(entry.id, tag_id) for entry in entries for tag_id in entry.tag_ids]
    events, audits = _creation_columns(workspace_id, actor, entity_type, created)
    await insert_columns_together(
        await session.connection(),
        [
            (_table(TimeEntry), _entry_columns(entries)),
            (_table(TimeEntryTag), _tag_columns(tags)),
            (_table(Event), events),
            (_table(AuditRecord), audits),
        ],
    )


async def insert_tags(session: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """`(time entry id, tag id)` links in one statement (none when there are none)."""
    await insert_columns(await session.connection(), _table(TimeEntryTag), _tag_columns(pairs))


def _creation_columns(
    workspace_id: str,
    actor: Actor,
    entity_type: str,
    created: Sequence[tuple[str, dict[str, Any]]],
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """The event and audit-record columns for new records `(id, public JSON)`."""
    now = utcnow()
    action = f"{entity_type}.created"
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    count = len(created)
    entity_ids = [entity_id for entity_id, _ in created]
    # The public JSON as it is; the engine's serializer renders it as the API does (UTC as "Z").
    bodies = [body for _, body in created]
    events: dict[str, list[Any]] = {
        "id": new_ids("evt", count),
        "workspace_id": [workspace_id] * count,
        "type": [action] * count,
        "created_at": [now] * count,
        "data": bodies,
    }
    audits: dict[str, list[Any]] = {
        "id": new_ids("aud", count),
        "workspace_id": [workspace_id] * count,
        "actor_type": [actor.type] * count,
        "actor_id": [actor.id] * count,
        "action": [action] * count,
        "entity_type": [entity_type] * count,
        "entity_id": entity_ids,
        "before": [None] * count,
        "after": bodies,
        "request_id": [request_id] * count,
        "created_at": [now] * count,
    }
    return events, audits
