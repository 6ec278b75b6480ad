"""Small SQL building blocks shared by the resource modules."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Dialect, Select, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute


def one_of(
    target: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[str], dialect: Dialect
) -> ColumnElement[bool]:
    """`target IN values` as a single bound parameter, whatever the number of values.

    A plain `IN (...)` renders one placeholder per value on every execution, and gives each list
    length its own prepared statement; for the 200 ids of a page that cost more than the query
    (bench/scenarios.py, issue #5). PostgreSQL takes an array (`= ANY($1)`), SQLite a JSON array
    read by `json_each`.
    """
    if dialect.name == "postgresql":
        return target == any_(bindparam(None, list(values), type_=ARRAY(target.type)))
    listed: Select[Any] = select(column("value")).select_from(
        func.json_each(bindparam(None, orjson.dumps(list(values)).decode()))
    )
    return target.in_(listed.scalar_subquery())
