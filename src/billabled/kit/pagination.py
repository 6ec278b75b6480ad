"""One pagination helper for every collection (SPEC §4).

- Page mode: `?page=1&pageSize=50` → `{items, totalCount, page, pageSize, hasMore, nextCursor}`
  and `X-Total-Count`.
- Cursor mode: `?cursor=…` (from a previous `nextCursor`) continues by keyset on the sort column
  and the id, so every page costs the same however deep; it skips the count (`totalCount: null`).
- `sort=field` or `sort=-field` (descending), always tie-broken by id: the order is total, so a
  record is never skipped or repeated between pages.
- `updatedSince` keeps records changed at or after a time; with `includeDeleted=true` the list also
  carries tombstones `{id, deleted: true, deletedAt}`, merged by time with the live records, so an
  ERP mirror can replay every create, update and delete.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Final, Self

import orjson
from pydantic import BeforeValidator, Field, model_validator
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute

from billabled.errors import ValidationFailed
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.nul import NUL
from billabled.kit.query import QueryBool, QueryInt, QueryModel
from billabled.kit.sql import BACKGROUND_WRITER, SYNC_CLOCK_MARGIN, SortedNotWalked
from billabled.kit.time import RequestDate, time_text, utcnow

# Any SELECT, whatever its columns (SQLAlchemy 2.1's Select is variadic).
AnySelect = Select[*tuple[Any, ...]]
# A sortable or filterable column: a Core column or a mapped attribute.
Column = ColumnElement[Any] | QueryableAttribute[Any]

MAX_PAGE_SIZE: Final = 200
DEFAULT_PAGE_SIZE: Final = 50


class InvalidListParameter(ValidationFailed):
    code = "validation_failed"


def _invalid(field: str, message: str) -> InvalidListParameter:
    return InvalidListParameter(
        message, errors=[{"field": field, "in": "query", "message": message, "type": "value_error"}]
    )


class ListParams(QueryModel):
    """The paging parameters every list takes, as a query model (`kit.query`); each list's own
    filters are a subclass: `Annotated[XListQuery, Depends(query_params(XListQuery))]`.

    The subclass names the fields `sort` takes (wire name → column) in `sortable`: `paginate`
    sorts by them and the reference lists them as the parameter's values."""

    sortable: ClassVar[Mapping[str, Column]]
    default_sort: ClassVar[str] = "createdAt"

    page: QueryInt = Field(1, ge=1, le=1_000_000, description="1-based page number.")
    page_size: QueryInt = Field(
        DEFAULT_PAGE_SIZE,
        alias="pageSize",
        ge=1,
        le=MAX_PAGE_SIZE,
        description="Items per page (max 200).",
    )
    cursor: str | None = Field(
        None, max_length=1000, description="`nextCursor` of the previous page (keyset paging)."
    )
    sort: str | None = Field(
        None, min_length=1, max_length=40, description="Sort field, `-field` for descending."
    )
    # Text only, as every time the API takes: a Unix time (`1700000000`, `0.5`) was taken.
    updated_since: Annotated[datetime | None, BeforeValidator(time_text)] = Field(
        None, alias="updatedSince", description="Only records changed at or after this time."
    )
    include_deleted: QueryBool = Field(
        False,
        alias="includeDeleted",
        description="Also return tombstones of deleted records, merged by `updatedAt` (the only "
        "order then).",
    )

    @model_validator(mode="after")
    def _updated_since_is_a_moment(self) -> Self:
        # Raised as is (not a ValueError), so it keeps its own message in the envelope.
        if self.cursor is not None and "page" in self.model_fields_set:
            # The cursor decides where the page starts: `page` was ignored without a word.
            raise _invalid(
                "page", "Send page or cursor, not both: a cursor continues where its page ended."
            )
        if self.updated_since is None:
            return self
        if self.updated_since.tzinfo is None:
            raise _invalid(
                "updatedSince", "updatedSince needs a time zone, e.g. 2026-01-01T00:00:00Z."
            )
        try:
            self.updated_since.astimezone(UTC)  # as the database will be given it
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first moment there is
            raise _invalid(
                "updatedSince", "updatedSince is out of range (years 1 to 9999, in UTC)."
            ) from None
        return self


class DateWindowParams(ListParams):
    """A list with `from`/`to` on the date of work: `YYYY-MM-DD` in the years work may be
    recorded in (as the records' own dates), `to` not before `from`."""

    date_from: RequestDate | None = Field(
        None, alias="from", description="Only on or after this date (YYYY-MM-DD)."
    )
    date_to: RequestDate | None = Field(
        None, alias="to", description="Only on or before this date (YYYY-MM-DD)."
    )

    @model_validator(mode="after")
    def _to_is_not_before_from(self) -> Self:
        if (
            self.date_from is not None
            and self.date_to is not None
            and self.date_to < self.date_from
        ):
            message = "must not be before from"
            raise InvalidListParameter(
                "`to` is before `from`.",
                errors=[{"field": "to", "in": "query", "message": message, "type": "range"}],
            )
        return self


@dataclass(frozen=True, slots=True)
class Tombstones:
    """Where a collection's deletions are: a query of (id, deleted_at) rows, already filtered,
    built only when a request asks for deletions (building it costs on every list request)."""

    build_query: Callable[[], AnySelect]
    id_column: Column
    deleted_at_column: Column


@lru_cache(maxsize=256)
def _record_type(keys: tuple[str, ...]) -> Any:
    return namedtuple("Record", keys, rename=True)


def records(result: CursorResult[Any]) -> list[Any]:
    """The result's rows as named tuples. A SQLAlchemy `Row` answers an attribute in ~0.5 µs, a
    named tuple in ~0.03 µs: turning a 200-row page of 22 fields into JSON took 3 ms with rows
    (bench/scenarios.py, issue #5)."""
    record = _record_type(tuple(result.keys()))
    return [record._make(row) for row in result]


@dataclass(frozen=True, slots=True)
class PageResult:
    rows: list[Any]  # live records (named tuples), and tombstone dicts when asked for
    total_count: int | None
    page: int | None
    page_size: int
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _Sort:
    field: str
    descending: bool
    column: Column

    @property
    def text(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def sort_field(raw: str | None, default: str = "createdAt") -> str:
    """The field a `sort` parameter names, either direction (`"-date"` → `"date"`; one `-`
    only: `--date` names no field, nor does `" date"`: the values are the reference's enum)."""
    text = raw or default
    return text[1:] if text.startswith("-") else text


def _parse_sort(raw: str | None, sortable: Mapping[str, Column], default: str) -> _Sort:
    descending = (raw or default).startswith("-")
    field = sort_field(raw, default)
    if field not in sortable:
        allowed = ", ".join(sorted(sortable))
        # The value sent is not repeated: rejected values are never echoed back (docs/api.md).
        raise _invalid("sort", f"sort must be one of: {allowed} (prefix - for descending).")
    return _Sort(field, descending, sortable[field])


def _encode_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _decode_value(value: Any, column: Column) -> Any:
    column_type = getattr(column.type, "impl", column.type)  # see through TypeDecorators
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime:
        if not isinstance(value, str):
            raise ValueError("bad datetime")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # the cursors we make carry UTC's offset
            raise ValueError("naive datetime")
        return moment.astimezone(UTC)
    if python_type is date:
        if not isinstance(value, str):
            raise ValueError("bad date")
        return date.fromisoformat(value)
    if not isinstance(value, python_type):
        raise ValueError("bad cursor value type")
    return value


def encode_cursor(
    sort: str, value: Any, last_id: str, *, table: str, horizon: datetime | None = None
) -> str:
    """The cursor after the row `last_id` of `table`'s list in the order `sort`; a sync's
    cursor also carries the horizon its first page listed changes up to (`settled_before`)."""
    fields = {"t": table, "s": sort, "v": _encode_value(value), "i": last_id}
    if horizon is not None:
        fields["h"] = horizon.isoformat()
    payload = orjson.dumps(fields)
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class _Cursor:
    value: Any
    id: str
    horizon: datetime | None


def _decode_horizon(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("bad horizon")
    horizon = datetime.fromisoformat(value)
    if horizon.tzinfo is None:
        raise ValueError("naive horizon")
    # In UTC here, where a time out of range is a malformed cursor (bound later, it was a 500),
    # and never later than now: a forged one would list changes that have not settled.
    return min(horizon.astimezone(UTC), utcnow())


def _decode_cursor(cursor: str, sort: _Sort, table: str) -> _Cursor:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict) or not isinstance(payload.get("i"), str):
            raise ValueError("bad cursor shape")
        if NUL in payload["i"] or (isinstance(payload.get("v"), str) and NUL in payload["v"]):
            raise ValueError("a NUL in the cursor")  # no cursor we make holds one
        # Cursors made before lists were named in them ("t") are still taken, for the length of
        # the syncs in flight; a cursor of another list was taken too.
        if payload.get("t", table) != table:
            raise _invalid(
                "cursor", "This cursor was made for another list; use the nextCursor of this one."
            )
        if payload.get("s") != sort.text:
            raise _invalid(
                "cursor", "This cursor was made for another sort order; resend its sort."
            )
        return _Cursor(
            _decode_value(payload["v"], sort.column),
            payload["i"],
            _decode_horizon(payload.get("h")),
        )
    except InvalidListParameter:
        raise
    except (
        ValueError,
        OverflowError,
        binascii.Error,
        UnicodeEncodeError,
        orjson.JSONDecodeError,
        TypeError,
    ):
        raise _invalid(
            "cursor", "The cursor is malformed. Use the nextCursor of a previous page."
        ) from None


# The named parameters of the statements `paginate` derives from a list query.
PAGE_LIMIT: Final = "page_limit"
PAGE_OFFSET: Final = "page_offset"
AFTER_VALUE: Final = "page_after_value"  # the cursor's sort value
AFTER_ID: Final = "page_after_id"  # the cursor's id
_UPDATED_SINCE: Final = "page_updated_since"
_SETTLED_BEFORE: Final = "page_settled_before"

# When the oldest transaction of this database still running began (or now, if none is).
_OLDEST_IN_FLIGHT = text(
    "SELECT least(statement_timestamp(), min(xact_start)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' AND state <> 'idle' "
    f"AND application_name <> '{BACKGROUND_WRITER}'"
)


async def settled_before(connection: AsyncConnection, margin_seconds: float) -> datetime:
    """The time before which every change to the record is visible: a sync's horizon.

    A change carries the time it was made (`updatedAt`, a tombstone's `deletedAt`) and becomes
    visible when its transaction commits, which on PostgreSQL need not be in that order: a delete
    made first and committed last was overtaken by a later change, a mirror following the docs
    moved past it, and never saw it (a helper's audit). Every change made before the oldest
    transaction still running began has committed or never will, so a sync lists only changes
    older than that. The stamps are the app's clock and `xact_start` the database's, hence the
    margin; sessions of other roles (their `xact_start` hidden) write no records, nor do the
    transactions named background writers (usage records, purges: `kit.sql`).

    SQLite takes its writers one at a time, each stamped under the lock, so its changes commit
    in the order of their times: the horizon is now (taken before the page is read). Either way
    the pages after the first keep the first's horizon (`paginate`)."""
    if connection.dialect.name == "sqlite":
        return utcnow()
    oldest: datetime = (await connection.execute(_OLDEST_IN_FLIGHT)).scalar_one()
    return oldest - timedelta(seconds=margin_seconds)


def _after(sort: _Sort, id_column: Column, *, walked: bool = True) -> ColumnElement[bool]:
    """The rows after the cursor's. Not `walked`: as a condition no index range serves, so that
    the planner keeps to the filters' index (a range of the order's index from the cursor on,
    through most of the workspace, was its choice on SQLite: 300-600 ms a page)."""
    key = (
        tuple_(sort.column, id_column)
        if walked
        else tuple_(SortedNotWalked(_core(sort.column)), SortedNotWalked(_core(id_column)))
    )
    # Typed binds, so values go through the columns' own conversions (UTC timestamps on SQLite).
    bound = tuple_(
        bindparam(AFTER_VALUE, type_=sort.column.type),
        bindparam(AFTER_ID, type_=id_column.type),
    )
    return key < bound if sort.descending else key > bound


def _ordered(
    query: AnySelect, sort: _Sort, id_column: Column, *, key: Column | None = None
) -> AnySelect:
    """`query` in the order `sort` names, tie-broken by id; `key` stands for the sort column."""
    column = sort.column if key is None else key
    if sort.descending:
        return query.order_by(column.desc(), id_column.desc())
    return query.order_by(column.asc(), id_column.asc())


# A filtered list read in an order the filters say nothing about (issue #5, docs/benchmarks.md,
# ninth and tenth rounds). A work record's filters follow time: a month, a project's life, the
# entries still open, the rows changed since yesterday all sit in one stretch of any time order.
# The planner, expecting them spread evenly through it, walks the order's index from its start
# until it has a page: 1M entries, `from`/`to` a recent month under the default order, 0.25 s;
# `updatedSince` a recent day, 0.3 s. So `paginate` first learns how many rows match, and when
# fewer than this, reads them through the filters' own index and sorts them (a month, 40,000 of
# 1M: ~40 ms; when more, the order's index finds a page soon where they are dense):
# - where the caller says its filters follow time through an index of their own (`few_first`),
#   on a first or numbered page (page mode counts them anyway). After a cursor the order's index
#   is kept: the cursor has brought it to where the rows are;
# - for `updatedSince` under an ascending order other than `updatedAt`, after a cursor too (a
#   count that stops at this many): the rows changed lately lie anywhere in another order.
FEW_ROWS: Final = 50_000
# A person's, project's or client's rows are the opposite case: spread over their whole life,
# they are sparse in every time order, after a cursor as before one, so the walk to a page passes
# about (workspace rows / their rows) * page size index entries, or most of the workspace when
# they lie at the far end (a project of last month, oldest first). On SQLite at 1M entries
# (docs/benchmarks.md, twelfth round), a page of 200 read this way took 22-70 ms below this many
# rows where the walk took up to 640 ms (30 rows, `-updatedAt`); above it the walk took 27-83 ms
# and sorting would cost more with every row (~80 ms at 14,000 newest first).
FEW_SPREAD_ROWS: Final = 10_000
PROBE_LIMIT: Final = "page_probe_limit"


class FewFirst(enum.Enum):
    """How a list's filters lie in time, for `paginate` to read few matching rows first."""

    # Dates, status, invoices: the rows sit in one stretch of any time order; below FEW_ROWS, on
    # a first or numbered page (after a cursor the order's index is where they are).
    TIME_FOLLOWING = "time_following"
    # A person, project or client: below FEW_SPREAD_ROWS, after a cursor too; on SQLite only
    # (`few_first_on`).
    SPREAD = "spread"


def few_first_on(dialect: str, few_first: FewFirst | None) -> FewFirst | None:
    """`few_first` as it applies on `dialect`: SPREAD on SQLite only. PostgreSQL's planner, with
    the statistics autovacuum keeps, already reads a small project's rows through its index;
    made to, it only lost a few ms where the order's index was right (a project's entries by
    date: 25 -> 36 ms). SQLite plans with what ANALYZE last left, which is nothing on a database
    that never ran it, or whose table a migration rebuilt (twelfth round)."""
    if few_first is FewFirst.SPREAD and dialect != "sqlite":
        return None
    return few_first


def few_rows_below(few_first: FewFirst | None, *, updated_since: bool) -> int:
    """Under how many matching rows `paginate` reads them first (read at call time, so that
    tests can lower the thresholds)."""
    rows = FEW_SPREAD_ROWS if few_first is FewFirst.SPREAD else FEW_ROWS
    return max(rows, FEW_ROWS) if updated_since else rows


@dataclass(frozen=True, slots=True)
class ListStatements:
    page: AnySelect  # ordered, after the cursor when there is one, limited
    count: AnySelect  # the whole filtered set, counted
    # When few rows may match (see FEW_ROWS): the matching rows counted up to `PROBE_LIMIT`, and
    # the page read from the matching rows alone.
    probe: AnySelect | None = None
    page_of_few: AnySelect | None = None


# Statements derived from template queries (see `paginate`), by template and page shape: a
# template's few shapes are built and their cache keys generated once per process, which saved
# a quarter of a small list request (bench/scenarios.py, issue #5).
_DERIVED: dict[tuple[Any, ...], ListStatements] = {}
_DERIVED_MAX: Final = 4096


def _derive(
    query: AnySelect,
    sort: _Sort,
    id_column: Column,
    updated_at_column: Column,
    *,
    with_cursor: bool,
    with_updated_since: bool,
    with_settled: bool,
    few_first: FewFirst | None,
) -> ListStatements:
    filtered = query
    if with_updated_since:
        filtered = filtered.where(
            updated_at_column >= bindparam(_UPDATED_SINCE, type_=updated_at_column.type)
        )
    if with_settled:
        filtered = filtered.where(
            updated_at_column < bindparam(_SETTLED_BEFORE, type_=updated_at_column.type)
        )
    live = filtered.where(_after(sort, id_column)) if with_cursor else filtered
    page = _a_page(_ordered(live, sort, id_column))
    count = select(func.count()).select_from(filtered.order_by(None).subquery())
    if with_settled and not with_updated_since:
        # All the rows less the few changed since the horizon (an index range): counted with
        # the bound, every row's time was read (a parallel scan of the table on PostgreSQL,
        # 170-230 ms at 1M entries against 40-80; a helper's review).
        unsettled = query.where(
            updated_at_column >= bindparam(_SETTLED_BEFORE, type_=updated_at_column.type)
        )
        count = select(_count_of(query) - _count_of(unsettled))
    recent_changes_first = (
        with_updated_since
        and not sort.descending  # newest first, the order's index meets recent changes at once
        and not _core(sort.column).compare(_core(updated_at_column))
    )
    # After a cursor, a time-following filter's rows are dense from the cursor on: the order's
    # index is kept. Not so for a person's, project's or client's rows, nor for the rows changed
    # since a time, which lie anywhere in another order.
    reads_few_first = few_first is FewFirst.SPREAD or (few_first is not None and not with_cursor)
    if not (recent_changes_first or reads_few_first):
        return ListStatements(page, count)
    # The probe counts every matching row, cursor or not: an index range of the filters alone.
    probe = select(func.count()).select_from(
        filtered.order_by(None)
        .with_only_columns(literal_column("1"), maintain_column_froms=True)
        .limit(bindparam(PROBE_LIMIT, type_=Integer))
        .subquery()
    )
    # The same rows in the same order, but sorted by a key no index supplies: the planner reads
    # them through the filters' own index. (A `MATERIALIZED` CTE did the same at twice the cost:
    # it copied every matching row before sorting.)
    key = SortedNotWalked(_core(sort.column))
    live = filtered.where(_after(sort, id_column, walked=False)) if with_cursor else filtered
    if not sort.descending:
        page_of_few = _a_page(_ordered(live, sort, id_column, key=key))
        return ListStatements(page, count, probe, page_of_few)
    # Newest first, only the ids are sorted and the page's rows fetched by id after. A sort kept
    # to a page copies each row that enters the page so far; the rows come from the filters'
    # index roughly oldest first, so in descending order nearly every one enters it, where in
    # ascending order nearly none does (SQLite, a month newest first: 98-108 ms sorting whole
    # rows, 41-66 sorting ids; PostgreSQL 34-47 -> 27-30; docs/benchmarks.md, eleventh round).
    # The outer query keeps the filters, the tenant's among them.
    ids = live.with_only_columns(id_column, maintain_column_froms=True)
    page_ids = _a_page(_ordered(ids, sort, id_column, key=key))
    page_of_few = _ordered(filtered.where(id_column.in_(page_ids)), sort, id_column, key=key)
    return ListStatements(page, count, probe, page_of_few)


def _count_of(query: AnySelect) -> ColumnElement[int]:
    return select(func.count()).select_from(query.order_by(None).subquery()).scalar_subquery()


def _a_page(query: AnySelect) -> AnySelect:
    return query.offset(bindparam(PAGE_OFFSET, type_=Integer)).limit(
        bindparam(PAGE_LIMIT, type_=Integer)
    )


def _core(column: Column) -> ColumnElement[Any]:
    """The Core column behind a mapped attribute (or the column itself)."""
    clause: ColumnElement[Any] = (
        column.__clause_element__() if isinstance(column, QueryableAttribute) else column
    )
    return clause


def _statements_for(
    query: AnySelect,
    sort: _Sort,
    id_column: Column,
    updated_at_column: Column,
    *,
    with_cursor: bool,
    with_updated_since: bool,
    with_settled: bool,
    few_first: FewFirst | None,
    template: bool,
) -> ListStatements:
    if not template:
        return _derive(
            query,
            sort,
            id_column,
            updated_at_column,
            with_cursor=with_cursor,
            with_updated_since=with_updated_since,
            with_settled=with_settled,
            few_first=few_first,
        )
    # A template is always listed by the same endpoint, so its sort text names its columns.
    key = (query, sort.text, with_cursor, with_updated_since, with_settled, few_first)
    statements = _DERIVED.get(key)
    if statements is None:
        if len(_DERIVED) >= _DERIVED_MAX:
            _DERIVED.clear()
        statements = _DERIVED[key] = _derive(
            query,
            sort,
            id_column,
            updated_at_column,
            with_cursor=with_cursor,
            with_updated_since=with_updated_since,
            with_settled=with_settled,
            few_first=few_first,
        )
    return statements


def list_statements(
    template: AnySelect,
    *,
    sort_column: Column,
    id_column: Column,
    updated_at_column: Column,
    sort_text: str = "createdAt",
    with_cursor: bool = False,
    few_first: FewFirst | None = None,
) -> ListStatements:
    """The statements `paginate` derives from a template query, ascending by `sort_column` (the
    same cached objects): for tools that must run exactly its SQL, such as the benchmark ceiling.
    Their values: the template's, `PAGE_OFFSET`, `PAGE_LIMIT`, after a cursor `AFTER_VALUE` and
    `AFTER_ID`, and for the probe `PROBE_LIMIT` (`few_rows_below`)."""
    statements = _statements_for(
        template,
        _Sort(sort_text, False, sort_column),
        id_column,
        updated_at_column,
        with_cursor=with_cursor,
        with_updated_since=False,
        with_settled=False,
        few_first=few_first,
        template=True,
    )
    return statements


async def paginate(
    session: AsyncSession,
    query: AnySelect,
    params: ListParams,
    *,
    id_column: Column,
    updated_at_column: Column,
    tombstones: Tombstones | None = None,
    sort_value: Callable[[Any], Any] | None = None,
    query_values: Mapping[str, Any] | None = None,
    few_first: FewFirst | None = None,
) -> PageResult:
    """Run `query` (already filtered by workspace and the resource's filters) as one page.

    With `query_values`, `query` is a template: a statement built once per shape of filters, whose
    values are named bind parameters given here (`time_entry.service.entries_query`); the page and
    count statements derived from it are then built once per process too. Without, `query` carries
    its values and is derived anew.

    `sort_value(row)` returns the sort column's value of a row (default: the attribute named after
    the sort column's key).

    `few_first`: how the query's filters lie in time, each through an index of its own, so that
    when few rows match, reading them first and sorting them beats walking the order's index
    (see FEW_ROWS, FEW_SPREAD_ROWS).
    """
    include_deleted = params.include_deleted and tombstones is not None
    if params.include_deleted and not include_deleted:
        raise _invalid("includeDeleted", "This collection has no deletions to include.")
    if include_deleted:
        if params.sort not in (None, "updatedAt"):
            raise _invalid(
                "sort", "With includeDeleted=true the order is updatedAt (oldest first)."
            )
        sort = _Sort("updatedAt", False, updated_at_column)
    else:
        sort = _parse_sort(params.sort, params.sortable, params.default_sort)

    # Through the session's connection, not `session.execute`: these are Core selects, and the
    # ORM result path costs ~1 ms more per 200-row page (bench/scenarios.py, issue #5).
    connection = await session.connection()
    few_first = few_first_on(connection.dialect.name, few_first)
    table = id_column.table.name
    cursor = _decode_cursor(params.cursor, sort, table) if params.cursor else None
    size = params.page_size
    offset = 0 if cursor else (params.page - 1) * size
    # A sync (changes since a time, or deletions with them) lists only changes that have settled,
    # up to one horizon for all its pages: taken anew on a later page, a change settled since
    # could be listed after a change made before it on an earlier row, and a mirror's mark
    # (the largest time it applied) would pass the earlier one (a helper's review).
    settled: datetime | None = None
    syncing = params.updated_since is not None or include_deleted
    if cursor is not None and (cursor.horizon is not None) != syncing:
        # A cursor goes on with the pass it was made for. A sync's, sent alone, listed changes
        # made after its pass began (a mirror following `nextCursor` alone lost changes); a
        # list's, sent with `updatedSince`, took a new horizon on every page.
        raise _invalid(
            "cursor",
            "this cursor continues a list asked with updatedSince or includeDeleted: send them "
            "with it, as on its first page"
            if cursor.horizon is not None
            else "this cursor continues a list asked without updatedSince and includeDeleted: "
            "start a new pass to use them",
        )
    if syncing:
        settled = cursor.horizon if cursor is not None else None
        if settled is None:
            margin = session.info.get(SYNC_CLOCK_MARGIN, 1.0)
            settled = await settled_before(connection, margin)
    statements = _statements_for(
        query,
        sort,
        id_column,
        updated_at_column,
        with_cursor=cursor is not None,
        with_updated_since=params.updated_since is not None,
        with_settled=settled is not None,
        few_first=few_first,
        template=query_values is not None,
    )
    values: dict[str, Any] = dict(query_values or {})
    if params.updated_since is not None:
        values[_UPDATED_SINCE] = params.updated_since
    if settled is not None:
        values[_SETTLED_BEFORE] = settled
    if cursor is not None:
        values[AFTER_VALUE], values[AFTER_ID] = cursor.value, cursor.id

    def value_of(row: Any) -> Any:
        return sort_value(row) if sort_value else getattr(row, sort.column.key or sort.field)

    total: int | None = None
    if not include_deleted:
        page = statements.page
        if statements.page_of_few is not None:
            # How many rows match: page mode counts them anyway; after a cursor, a count that
            # stops at the threshold.
            few = few_rows_below(few_first, updated_since=params.updated_since is not None)
            if cursor is None:
                total = matching = await _scalar(connection, statements.count, values)
            else:
                assert statements.probe is not None
                values[PROBE_LIMIT] = few
                matching = await _scalar(connection, statements.probe, values)
            if matching < few:
                page = statements.page_of_few
        values[PAGE_OFFSET], values[PAGE_LIMIT] = offset, size + 1
        rows: list[Any] = records(await connection.execute(page, values))
        has_more = len(rows) > size
        rows = rows[:size]
        # Only the last row's sort value and id are needed, for the cursor.
        next_cursor = (
            encode_cursor(
                sort.text,
                value_of(rows[-1]),
                _id_of(rows[-1], id_column),
                table=table,
                horizon=settled,
            )
            if has_more
            else None
        )
    else:
        assert tombstones is not None
        rows, last_key = await _page_with_tombstones(
            connection,
            statements.page,
            values,
            tombstones,
            _deletions(tombstones, params.updated_since, settled),
            sort=sort,
            id_column=id_column,
            cursor=(cursor.value, cursor.id) if cursor is not None else None,
            offset=offset,
            size=size,
        )
        has_more = last_key is not None
        next_cursor = None
        if last_key is not None:
            next_cursor = encode_cursor(sort.text, *last_key, table=table, horizon=settled)

    if cursor is None and total is None:
        total = await _scalar(connection, statements.count, values)
        if include_deleted:
            assert tombstones is not None
            total += await _count(session, _deletions(tombstones, params.updated_since, settled))
    return PageResult(
        rows=rows,
        total_count=total,
        page=None if cursor else params.page,
        page_size=size,
        has_more=has_more,
        next_cursor=next_cursor,
    )


def _deletions(
    tombstones: Tombstones, updated_since: datetime | None, settled: datetime | None
) -> AnySelect:
    """The collection's tombstones a sync lists: since `updated_since`, before `settled`."""
    dead = tombstones.build_query()
    if updated_since is not None:
        dead = dead.where(tombstones.deleted_at_column >= updated_since)
    if settled is not None:
        dead = dead.where(tombstones.deleted_at_column < settled)
    return dead


# The page's keys, as `_page_with_tombstones` reads them beside each live record (named so, not
# with a leading underscore, which the records' named tuples would rename).
_KEY_COLUMNS: Final = ("page_key_moment", "page_key_id", "page_key_deleted")


async def _page_with_tombstones(
    connection: AsyncConnection,
    page: AnySelect,
    values: dict[str, Any],
    tombstones: Tombstones,
    dead: AnySelect,
    *,
    sort: _Sort,
    id_column: Column,
    cursor: tuple[Any, str] | None,
    offset: int,
    size: int,
) -> tuple[list[Any], tuple[Any, str] | None]:
    """A page of live records and tombstones (`dead`) merged by time (`sort` is the update time),
    and the key of its last row when more follow. One statement: the page's keys chosen from
    both sides, each live one joined to its record. (Merging in Python read every row up to the
    page from both: `page=5000` loaded a million records. Reading the records by id in a second
    statement saw a newer snapshot on PostgreSQL, where reads run without a transaction: a
    record deleted in between was a 500, one changed in between came back with a later time
    than its key, and the cursor built from it skipped the rows between; a helper's audit.)

    A live key whose record is no longer that version (changed or gone since) is left out of
    the page: its change comes later in the order, after its time, and so does its tombstone."""
    if cursor:
        dead = dead.where(
            tuple_(tombstones.deleted_at_column, tombstones.id_column)
            > tuple_(
                bindparam(None, cursor[0], type_=tombstones.deleted_at_column.type),
                bindparam(None, cursor[1], type_=tombstones.id_column.type),
            )
        )
    # `page` without its order and bounds is the live records the list shows (after the cursor).
    live = page.order_by(None).limit(None).offset(None)
    # Each side's first rows up to the page's end, in the order's index, then merged: only the
    # keys travel, and a first page reads a page from each side, not the whole of either.
    needed = offset + size + 1
    sides = [
        select(
            query.with_only_columns(
                moment.label("moment"),
                identity.label("id"),
                literal(deleted).label("deleted"),
                maintain_column_froms=True,
            )
            .order_by(moment, identity)
            .limit(needed)
            .subquery()
        )
        for query, moment, identity, deleted in (
            (live, _core(sort.column), _core(id_column), 0),
            (dead, _core(tombstones.deleted_at_column), _core(tombstones.id_column), 1),
        )
    ]
    keys = union_all(*sides).subquery()
    chosen = (
        select(keys.c.moment, keys.c.id, keys.c.deleted)
        .order_by(keys.c.moment, keys.c.id, keys.c.deleted)
        .offset(offset)
        .limit(size + 1)
        .subquery()
    )
    same_version = (
        chosen.c.deleted == 0,
        _core(id_column) == chosen.c.id,
        _core(sort.column) == chosen.c.moment,
    )
    if connection.dialect.name == "postgresql":
        # Each key's record looked up by its id (a lateral join; its LIMIT keeps the planner
        # from turning it back into a join of sets): joined as a set, PostgreSQL hashed the
        # whole collection's rows for 201 keys (20,000 tasks: 10-15 ms against 1).
        records_: Any = live.where(*same_version).limit(1).lateral()
        joined_on: ColumnElement[bool] = true()
    else:
        # SQLite has no LATERAL; it looks each key up by id anyway.
        records_ = live.subquery()
        joined_on = and_(
            chosen.c.deleted == 0,
            records_.corresponding_column(_core(id_column)) == chosen.c.id,
            records_.corresponding_column(_core(sort.column)) == chosen.c.moment,
        )
    record_id = records_.corresponding_column(_core(id_column))
    assert record_id is not None
    moment_key, id_key, deleted_key = _KEY_COLUMNS
    statement = (
        select(
            chosen.c.moment.label(moment_key),
            chosen.c.id.label(id_key),
            chosen.c.deleted.label(deleted_key),
            *records_.c,
        )
        .select_from(chosen.outerjoin(records_, joined_on))
        .order_by(chosen.c.moment, chosen.c.id, chosen.c.deleted)
    )
    result = await connection.execute(statement, values)
    record = _record_type(tuple(result.keys())[len(_KEY_COLUMNS) :])
    joined = list(result)
    page_rows = joined[:size]
    # The cursor: this page's last key (a record left out of the page keeps its place).
    last_key = (page_rows[-1][0], page_rows[-1][1]) if len(joined) > size else None
    found_at = len(_KEY_COLUMNS) + list(records_.c).index(record_id)
    rows: list[Any] = []
    for row in page_rows:
        moment, row_id, deleted = row[: len(_KEY_COLUMNS)]
        if deleted:
            rows.append({"id": row_id, "deleted": True, "deletedAt": moment})
        elif row[found_at] is not None:
            rows.append(record._make(row[len(_KEY_COLUMNS) :]))
    return rows, last_key


async def _scalar(connection: AsyncConnection, statement: AnySelect, values: Any) -> int:
    return int((await connection.execute(statement, values)).scalar_one())


def _id_of(row: Any, id_column: Column) -> str:
    value: str = getattr(row, id_column.key or "id")
    return value


async def _count(session: AsyncSession, query: AnySelect) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    connection = await session.connection()
    return int((await connection.execute(counted)).scalar_one())


def page_response(result: PageResult, items: Sequence[Any]) -> JsonResponse:
    """The list envelope, with `X-Total-Count` when the count was taken (page mode)."""
    body = {
        "items": items,
        "totalCount": result.total_count,
        "page": result.page,
        "pageSize": result.page_size,
        "hasMore": result.has_more,
        "nextCursor": result.next_cursor,
    }
    headers = {"X-Total-Count": str(result.total_count)} if result.total_count is not None else None
    return JsonResponse(body, headers=headers)
