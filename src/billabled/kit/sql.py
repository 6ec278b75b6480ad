"""Small SQL building blocks shared by the resource modules."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
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
