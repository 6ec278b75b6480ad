"""Small SQL building blocks shared by the resource modules."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Dialect,
    Insert,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType


def one_of(
    target: ColumnElement[Any] | QueryableAttribute[Any],
    values: Collection[str],
    dialect: str,
    *,
    name: str | None = None,
) -> ColumnElement[bool]:
    """`target IN values` as a single bound parameter, whatever the number of values.

    A plain `IN (...)` renders one placeholder per value on every execution, and gives each list
    length its own prepared statement; for the 200 ids of a page that cost more than the query
    (bench/scenarios.py, issue #5). The values travel as one JSON array, read by the database:
    `json_each` on SQLite, `json_array_elements_text` on PostgreSQL (as `= ANY(ARRAY(…))`, which
    keeps the index scan). Not a PostgreSQL array: asyncpg encodes an array element by element,
    ~1 µs each on the bench host, so a page's 200 ids cost ~200 µs of CPU to bind, three times a
    whole `SELECT 1` (issue #5, docs/benchmarks.md eighth round); one text costs what any bound
    string costs, and any string survives JSON exactly. With `name`, the parameter is named, for
    a statement built once and run with `{name: one_of_value(values)}`.
    """
    document = bindparam(name, one_of_value(values), type_=Text)
    listed: Select[Any]
    if dialect == "postgresql":
        listed = select(func.json_array_elements_text(cast(document, JSON)))
        return target == any_(func.array(listed.scalar_subquery()))
    listed = select(column("value")).select_from(func.json_each(document))
    return target.in_(listed.scalar_subquery())


def one_of_value(values: Collection[str]) -> str:
    """The bound value of `one_of`'s parameter for `values`: a JSON array."""
    return orjson.dumps(list(values)).decode()


async def insert_columns(
    connection: AsyncConnection, table: Table, columns: Mapping[str, Sequence[Any]]
) -> None:
    """Insert rows given column by column (every column of the table but those the database
    fills itself — an autoincrement key, a server default — every list as long).

    One statement whatever the number of rows. PostgreSQL binds each column as one array (a JSONB
    column as one JSON document) and runs `INSERT … SELECT unnest($1), unnest($2), …`: for a
    bulk of 500 time entries that took a third less time than executemany, which sends and
    processes every row's parameters on their own (issue #5). A single row is a plain INSERT
    (cheaper than `unnest` for one: single POSTs went from ~300 to ~370 per second). SQLite,
    in-process, runs executemany.
    """
    await insert_columns_together(connection, [(table, columns)])


async def insert_columns_together(
    connection: AsyncConnection, inserts: Sequence[tuple[Table, Mapping[str, Sequence[Any]]]]
) -> None:
    """`insert_columns` for several tables at once, in the order given (a table with no rows is
    skipped). On PostgreSQL that is one statement — each insert but the last a data-modifying
    `WITH`, which PostgreSQL runs in the same statement, foreign keys checked at its end — so a
    request that writes a record, its event and its audit record waits for one round trip instead
    of three. SQLite, in-process, runs them one after the other."""
    present = []
    for table, columns in inserts:
        names = tuple(columns)
        if set(names) != _columns_to_give(table):
            raise ValueError(
                f"insert_columns needs every column of {table.name} the database does not fill"
            )
        if columns[names[0]]:
            present.append((table, names, columns))
    if not present:
        return
    if connection.dialect.name != "postgresql":
        for table, names, columns in present:
            rows = [
                dict(zip(names, values, strict=True))
                for values in zip(*columns.values(), strict=True)
            ]
            await connection.execute(_plain_insert(table), rows if len(rows) > 1 else rows[0])
        return
    shape = []
    values: dict[str, Any] = {}
    # id() of a JSON column's list -> the list (held, so that its id is not reused) and its bind
    documents: dict[int, tuple[Sequence[Any], str]] = {}
    for table, names, columns in present:
        single = len(columns[names[0]]) == 1
        same = () if single else _same_in_every_row(table, names, columns)
        binds: list[tuple[str, str | None]] = []
        for name in names:
            column = columns[name]
            bind = _bind_name(table, name)
            if single or name in same:
                values[bind] = column[0]
            elif _is_jsonb(table, name, connection.dialect) and None not in column:
                # One JSON document, not an array of them: `jsonb_array_elements`. The driver
                # then checks and encodes one value, not one per row, and the same list given
                # for two columns (an event's data and its audit record's `after`) is sent and
                # parsed once.
                held = documents.get(id(column))
                if held is None:
                    documents[id(column)] = (column, bind)
                    values[bind] = list(column)
                binds.append((name, bind if held is None else held[1]))
            else:
                values[bind] = list(column)
                binds.append((name, None))
        shape.append((table, names, single, same, tuple(binds)))
    await connection.execute(_together(tuple(shape)), values)


def _is_jsonb(table: Table, name: str, dialect: Dialect) -> bool:
    return isinstance(table.c[name].type.dialect_impl(dialect), JSONB)


def _same_in_every_row(
    table: Table, names: tuple[str, ...], columns: Mapping[str, Sequence[Any]]
) -> tuple[str, ...]:
    """The columns whose value is the same in every row (a batch's workspace, creation time,
    action…): bound once as a scalar instead of an array, which spares the driver encoding it
    once per row. At least one column stays an array, or `SELECT` would yield a single row."""
    same = tuple(name for name in names if _one_value(table, name, columns[name]))
    return same if len(same) < len(names) else same[1:]


def _one_value(table: Table, name: str, values: Sequence[Any]) -> bool:
    first = values[0]
    if isinstance(table.c[name].type, JSON):
        # Python's == takes True for 1 and 1.0 for 1, which JSON tells apart: only the very
        # same object (the None of every row, say) is one value.
        return all(value is first for value in values)
    return values.count(first) == len(values)


def _bind_name(table: Table, column: str) -> str:
    return f"{table.name}__{column}"


# (table, its columns, one row?, columns with one value for every row, (column, the bind of its
# JSON document or None) for the other columns)
_Shape = tuple[Table, tuple[str, ...], bool, tuple[str, ...], tuple[tuple[str, str | None], ...]]


@lru_cache(maxsize=256)
def _together(shape: tuple[_Shape, ...]) -> Insert:
    """One statement for `shape`'s inserts (PostgreSQL): a plain INSERT for a single row; for
    several, `unnest` of one array per column, a column with one value for every row bound once,
    a JSON column as the elements of one document (the set-returning functions of a `SELECT`
    list advance together, row by row); all but the last as `WITH` parts."""
    statements = []
    for table, names, single, same, binds in shape:
        if single:
            values = {
                name: bindparam(_bind_name(table, name), type_=table.c[name].type) for name in names
            }
            statements.append(insert(table).values(values))
            continue
        selected: list[Any] = [
            bindparam(_bind_name(table, name), type_=table.c[name].type) for name in same
        ]
        for name, document in binds:
            if document is not None:
                selected.append(func.jsonb_array_elements(bindparam(document, type_=JSONB)))
            else:
                array = bindparam(_bind_name(table, name), type_=ARRAY(table.c[name].type))
                selected.append(func.unnest(array))
        statements.append(
            insert(table).from_select([*same, *(name for name, _ in binds)], select(*selected))
        )
    *first, last = statements
    for index, statement in enumerate(first):
        last = last.add_cte(statement.cte(f"insert_{index}"))
    return last


@lru_cache(maxsize=64)
def _plain_insert(table: Table) -> Insert:
    return insert(table)  # one object per table: its cache key is generated once


@lru_cache(maxsize=64)
def _columns_to_give(table: Table) -> frozenset[str]:
    # No Python-side defaults run here, so every column must be given but those the database
    # fills: an autoincrement integer key or a server default.
    return frozenset(
        column.key
        for column in table.columns
        if column.server_default is None
        and not (column.primary_key and column.autoincrement is True)
    )


class SortedNotWalked(ColumnElement[Any]):
    """`column` as an ORDER BY key that no index supplies, so the planner must find the rows by
    the query's filters and sort them, rather than walk the column's index in order filtering as
    it goes: `+column` on SQLite (its documented way to turn an index away from an ORDER BY
    term), `COALESCE(column, column)` elsewhere. Either is `column`'s own value."""

    inherit_cache = True
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012 (SQLAlchemy's own shape)
        ("column", InternalTraversal.dp_clauseelement)
    ]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(SortedNotWalked)
def _coalesced(element: SortedNotWalked, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.column, **kw)
    return f"COALESCE({inner}, {inner})"


@compiles(SortedNotWalked, "sqlite")
def _unary_plus(element: SortedNotWalked, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.column, **kw)}"


# Rows one purge transaction deletes: on SQLite tens of milliseconds of the write lock.
DELETE_BATCH: Final = 5_000


# The `application_name` of the transactions that write no record a sync lists (usage records,
# purges): a sync's horizon does not wait for them (`kit.pagination.settled_before`).
BACKGROUND_WRITER: Final = "billabled background"

# The session `info` key of `Settings.sync_clock_margin_seconds` (`db.Database` sets it; the
# lists read it in `kit.pagination.settled_before`).
SYNC_CLOCK_MARGIN: Final = "sync_clock_margin_seconds"


async def as_background_writer(connection: AsyncConnection) -> None:
    """Name this transaction a background writer, for as long as it runs (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql(f"SET LOCAL application_name = '{BACKGROUND_WRITER}'")


async def delete_in_batches(
    engine: AsyncEngine,
    table: Table,
    condition: ColumnElement[bool],
    *,
    stop: asyncio.Event | None = None,
    batch: int = DELETE_BATCH,
) -> int:
    """Delete `table`'s rows matching `condition`, `batch` rows per transaction, until none is
    left or `stop` is set; return how many were deleted. One DELETE of a quarter's usage records
    held SQLite's write lock for 10 s (requests waiting on it answered 503) and would run past
    PostgreSQL's statement timeout; between batches, other writers get their turn."""
    key_columns = list(table.primary_key.columns)
    key = key_columns[0] if len(key_columns) == 1 else tuple_(*key_columns)
    statement = delete(table).where(key.in_(select(*key_columns).where(condition).limit(batch)))
    deleted = 0
    while stop is None or not stop.is_set():
        async with engine.begin() as connection:
            await as_background_writer(connection)
            result = await connection.execute(statement)
        count = int(result.rowcount or 0)
        deleted += count
        if count < batch:
            break
        await asyncio.sleep(0)
    return deleted
