"""Creating many time entries with a fixed number of statements, whatever their number.

Invariants:
- one INSERT executed for many rows ("executemany") for the entries, one for their tags, one for
  their events and one for their audit records: no statement per row, and the statement is
  compiled once per process (a multi-row `VALUES` list would be compiled anew for every batch,
  which cost more than everything else in a bulk request; bench/scenarios.py, issue #5);
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

import orjson
import structlog
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import Actor
from billabled.kit.ids import new_ids
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
    currency: str
    created_at: datetime
    updated_at: datetime
    status: str = TimeEntryStatus.OPEN.value
    invoice_id: str | None = None
    tag_ids: list[str] = field(default_factory=list)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS}


_COLUMNS: Final = tuple(column.key for column in TimeEntry.__table__.columns)
# A column added to the table must be added to NewEntry too, or inserts would silently skip it.
assert set(_COLUMNS) <= {f.name for f in fields(NewEntry)}, "NewEntry lacks a time_entry column"


def _table(model: type[Base]) -> Table:
    # Core INSERTs on the tables: plain multi-row VALUES, no ORM bulk-insert machinery.
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def _insert_rows(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]
) -> None:
    """One INSERT run for every row (executemany: compiled once, cached, batched by the driver)."""
    if rows:
        connection = await session.connection()
        await connection.execute(insert(_table(model)), rows)


async def insert_entries(session: AsyncSession, entries: Sequence[NewEntry]) -> None:
    """The entries and their tags: two statements (one when no entry has tags)."""
    if not entries:
        return
    await _insert_rows(session, TimeEntry, [entry.values() for entry in entries])
    await insert_tags(
        session, [(entry.id, tag_id) for entry in entries for tag_id in entry.tag_ids]
    )


async def insert_tags(session: AsyncSession, pairs: Sequence[tuple[str, str]]) -> None:
    """`(time entry id, tag id)` links in one statement (none when there are none)."""
    await _insert_rows(
        session,
        TimeEntryTag,
        [{"time_entry_id": entry_id, "tag_id": tag_id} for entry_id, tag_id in pairs],
    )


def jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a wire dict (timestamps as RFC 3339 text), as events and audits store it;
    the same transformation `record_change` applies."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(data, option=orjson.OPT_UTC_Z))
    return loaded


async def record_creations(
    session: AsyncSession,
    *,
    workspace_id: str,
    actor: Actor,
    entity_type: str,
    created: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """`<entity>.created` events and audit records for many new records `(id, public JSON)`:
    two statements."""
    if not created:
        return
    now = utcnow()
    action = f"{entity_type}.created"
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    bodies = [(entity_id, jsonable(after)) for entity_id, after in created]
    event_ids = new_ids("evt", len(bodies))
    audit_ids = new_ids("aud", len(bodies))
    await _insert_rows(
        session,
        Event,
        [
            {
                "id": event_id,
                "workspace_id": workspace_id,
                "type": action,
                "created_at": now,
                "data": after,
            }
            for event_id, (_, after) in zip(event_ids, bodies, strict=True)
        ],
    )
    await _insert_rows(
        session,
        AuditRecord,
        [
            {
                "id": audit_id,
                "workspace_id": workspace_id,
                "actor_type": actor.type,
                "actor_id": actor.id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": None,
                "after": after,
                "request_id": request_id,
                "created_at": now,
            }
            for audit_id, (entity_id, after) in zip(audit_ids, bodies, strict=True)
        ],
    )
