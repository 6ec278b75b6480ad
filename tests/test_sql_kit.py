"""`kit.sql.insert_columns_together` against the test database (SQLite, or PostgreSQL in CI's
second pass, where several tables go in one statement, columns with one value for every row are
bound once, and a JSON column is bound as one document)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import create_async_engine

from billabled.db import async_url
from billabled.kit.sql import insert_columns_together
from billabled.models.base import JSONDocument

METADATA = MetaData()
PARENT = Table("kit_parent", METADATA, Column("id", String(8), primary_key=True))
# No primary key: identical rows are allowed, and must all arrive.
CHILD = Table(
    "kit_child",
    METADATA,
    Column("parent_id", String(8), ForeignKey("kit_parent.id"), nullable=False),
    Column("label", String(20), nullable=True),
    Column("amount", Integer, nullable=False),
)
DOCUMENT = Table(
    "kit_document",
    METADATA,
    Column("n", Integer, nullable=False),
    Column("body", JSONDocument, nullable=True),
    Column("copy", JSONDocument, nullable=True),
)


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    async def create() -> None:
        engine = create_async_engine(async_url(database_url))
        async with engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
        await engine.dispose()

    async def drop() -> None:
        engine = create_async_engine(async_url(database_url))
        async with engine.begin() as connection:
            await connection.run_sync(METADATA.drop_all)
        await engine.dispose()

    asyncio.run(create())
    yield database_url
    asyncio.run(drop())


def insert_and_read(url: str, inserts: list[tuple[Table, dict[str, list[Any]]]]) -> list[Any]:
    async def work() -> list[Any]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as connection:
                await insert_columns_together(connection, inserts)
            async with engine.connect() as connection:
                query = select(CHILD.c.parent_id, CHILD.c.label, CHILD.c.amount)
                rows = (await connection.execute(query)).all()
        finally:
            await engine.dispose()
        return sorted(tuple(row) for row in rows)

    return asyncio.run(work())


def test_parents_and_children_in_one_call_with_columns_shared_by_every_row(url: str) -> None:
    rows = insert_and_read(
        url,
        [
            (PARENT, {"id": ["p1", "p2"]}),
            (
                CHILD,
                {
                    "parent_id": ["p1", "p1", "p2"],  # varies
                    "label": [None, None, None],  # the same NULL in every row
                    "amount": [7, 7, 7],  # the same value in every row
                },
            ),
        ],
    )
    assert rows == [("p1", None, 7), ("p1", None, 7), ("p2", None, 7)]


def test_rows_identical_in_every_column_all_arrive(url: str) -> None:
    rows = insert_and_read(
        url,
        [
            (PARENT, {"id": ["p1"]}),
            (CHILD, {"parent_id": ["p1"] * 3, "label": ["x"] * 3, "amount": [1] * 3}),
        ],
    )
    assert rows == [("p1", "x", 1)] * 3


def test_a_table_without_rows_is_skipped(url: str) -> None:
    rows = insert_and_read(
        url,
        [
            (PARENT, {"id": ["p1"]}),
            (CHILD, {"parent_id": [], "label": [], "amount": []}),
        ],
    )
    assert rows == []


def insert_and_read_documents(url: str, columns: dict[str, list[Any]]) -> list[Any]:
    async def work() -> list[Any]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as connection:
                await insert_columns_together(connection, [(DOCUMENT, columns)])
            async with engine.connect() as connection:
                query = select(DOCUMENT.c.n, DOCUMENT.c.body, DOCUMENT.c.copy).order_by("n")
                rows = (await connection.execute(query)).all()
        finally:
            await engine.dispose()
        return [tuple(row) for row in rows]

    return asyncio.run(work())


def test_json_documents_arrive_row_by_row_and_one_list_fills_two_columns(url: str) -> None:
    bodies: list[Any] = [
        {"n": n, "tags": ["a", n], "nested": {"ok": n % 2 == 0}} for n in range(300)
    ]
    bodies[7] = []  # JSON values of every kind, in their rows
    bodies[8] = "text"
    bodies[9] = 1.5
    rows = insert_and_read_documents(url, {"n": list(range(300)), "body": bodies, "copy": bodies})
    assert rows == [(n, body, body) for n, body in enumerate(bodies)]


def test_json_values_equal_in_python_are_not_taken_for_one_value(url: str) -> None:
    # Python's == takes True for 1 and 1.0 for 1; JSON does not. Had they been taken for a value
    # shared by every row, the first row's would have been stored in all of them.
    rows = insert_and_read_documents(
        url,
        {"n": [0, 1, 2], "body": [{"x": 1}, {"x": True}, {"x": 1.0}], "copy": [[1], [True], [1.0]]},
    )
    # compared as JSON text: == on the decoded values could not tell them apart either
    assert [json.dumps([body, copy]) for _, body, copy in rows] == [
        '[{"x": 1}, [1]]',
        '[{"x": true}, [true]]',
        '[{"x": 1.0}, [1.0]]',
    ]


def test_a_json_column_with_nulls_keeps_them(url: str) -> None:
    rows = insert_and_read_documents(
        url, {"n": [0, 1, 2], "body": [None, {"a": 1}, None], "copy": [None, None, None]}
    )
    assert rows == [(0, None, None), (1, {"a": 1}, None), (2, None, None)]
