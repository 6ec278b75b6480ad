"""Small SQL building blocks shared by the resource modules."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    any_,
    bindparam,
    column,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute


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
    (bench/scenarios.py, issue #5). PostgreSQL takes an array (`= ANY($1)`), SQLite a JSON array
    read by `json_each`. With `name`, the parameter is named, for a statement built once and run
    with `{name: one_of_value(values, dialect)}`.
    """
    value = one_of_value(values, dialect)
    if dialect == "postgresql":
        array = bindparam(name, value, type_=ARRAY(target.type))
        return target == any_(array)
    listed: Select[Any] = select(column("value")).select_from(
        func.json_each(bindparam(name, value))
    )
    return target.in_(listed.scalar_subquery())


def one_of_value(values: Collection[str], dialect: str) -> Any:
    """The bound value of `one_of`'s parameter for `values`."""
    if dialect == "postgresql":
        return list(values)
    return orjson.dumps(list(values)).decode()


async def insert_columns(
    connection: AsyncConnection, table: Table, columns: Mapping[str, Sequence[Any]]
) -> None:
    """Insert rows given column by column (every column of the table but those the database
    fills itself — an autoincrement key, a server default — every list as long).

    One statement whatever the number of rows. PostgreSQL binds each column as one array and runs
    `INSERT … SELECT unnest($1), unnest($2), …`: for a bulk of 500 time entries that took a third
    less time than executemany, which sends and processes every row's parameters on their own
    (issue #5). A single row is a plain INSERT (cheaper than `unnest` for one: single POSTs went
    from ~300 to ~370 per second). SQLite, in-process, runs executemany.
    """
    names = tuple(columns)
    if set(names) != _columns_to_give(table):
        raise ValueError(
            f"insert_columns needs every column of {table.name} the database does not fill"
        )
    if not columns[names[0]]:
        return
    if connection.dialect.name == "postgresql" and len(columns[names[0]]) > 1:
        await connection.execute(_unnest_insert(table, names), dict(columns))
        return
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    await connection.execute(_plain_insert(table), rows if len(rows) > 1 else rows[0])


@lru_cache(maxsize=64)
def _unnest_insert(table: Table, names: tuple[str, ...]) -> Insert:
    arrays = [func.unnest(bindparam(name, type_=ARRAY(table.c[name].type))) for name in names]
    return insert(table).from_select(list(names), select(*arrays))


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
