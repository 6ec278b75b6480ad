"""`billabled.sqlite_driver`: SQLite statements in one trip to aiosqlite's thread, with the DB-API
behaviour SQLAlchemy relies on (rows, row counts, RETURNING, errors, streaming), and timestamps
read back as aware UTC on the app's engine (SQLite, or PostgreSQL in CI's second pass)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from billabled.config import Settings
from billabled.db import create_app_engine
from billabled.models.base import UTCDateTime, utc_from_sqlite_text
from billabled.sqlite_driver import OneTripConnection

METADATA = MetaData()
THING = Table(
    "driver_thing",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
    Column("seen_at", UTCDateTime, nullable=True),
)


def run(work: Any) -> Any:
    return asyncio.run(work)


def app_engine(url: str, tmp_path: Path) -> AsyncEngine:
    return create_app_engine(Settings(database_url=url, data_dir=tmp_path, secret_key="x" * 40))


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[AsyncEngine]:
    engine = app_engine(f"sqlite:///{tmp_path / 'driver.db'}", tmp_path)

    async def create() -> None:
        async with engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)

    run(create())
    yield engine
    run(engine.dispose())


def test_a_statement_is_one_trip_to_the_thread(sqlite_engine: AsyncEngine) -> None:
    """aiosqlite through SQLAlchemy's own adapter took four: cursor, execute, fetchall, close."""
    trips: list[Any] = []

    async def work() -> list[Any]:
        async with sqlite_engine.connect() as connection:
            await connection.execute(insert(THING), [{"name": "a"}, {"name": "b"}])
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, OneTripConnection)
            queue_work = driver._execute  # aiosqlite's: queue a call for its thread, await it

            async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
                trips.append(function)
                return await queue_work(function, *args, **kwargs)

            driver._execute = counted  # type: ignore[method-assign]
            rows = (await connection.execute(select(THING.c.name).order_by(THING.c.id))).all()
            assert len(trips) == 1, trips  # before the pool's rollback on the way out
            return list(rows)

    rows = run(work())
    assert [row.name for row in rows] == ["a", "b"]


def test_row_counts_returning_and_last_row_id(sqlite_engine: AsyncEngine) -> None:
    async def work() -> tuple[int, list[Any], int | None, int]:
        async with sqlite_engine.begin() as connection:
            result = await connection.execute(insert(THING).values(name="x"))
            last_id = result.lastrowid
            returned = (
                await connection.execute(
                    insert(THING).returning(THING.c.name), [{"name": "y"}, {"name": "z"}]
                )
            ).all()
            updated = await connection.execute(
                update(THING).where(THING.c.name.in_(["x", "y", "z"])).values(name=THING.c.name)
            )
            count = (await connection.execute(select(func.count()).select_from(THING))).scalar()
            return updated.rowcount, returned, last_id, int(count or 0)

    updated, returned, last_id, count = run(work())
    assert updated == 3
    assert sorted(row.name for row in returned) == ["y", "z"]
    assert last_id == 1
    assert count == 3


def test_errors_reach_sqlalchemy_as_its_own(sqlite_engine: AsyncEngine) -> None:
    async def work() -> None:
        async with sqlite_engine.begin() as connection:
            await connection.execute(insert(THING).values(name="same"))
            await connection.execute(insert(THING).values(name="same"))

    with pytest.raises(IntegrityError):
        run(work())


def test_streamed_results_arrive_whole_in_order(sqlite_engine: AsyncEngine) -> None:
    async def work() -> list[str]:
        async with sqlite_engine.begin() as connection:
            await connection.execute(insert(THING), [{"name": f"n{i:03}"} for i in range(250)])
        async with sqlite_engine.connect() as connection:
            stream = await connection.stream(select(THING.c.name).order_by(THING.c.id))
            names = [row.name async for partition in stream.partitions(40) for row in partition]
        return names

    assert run(work()) == [f"n{i:03}" for i in range(250)]


def test_timestamps_read_back_as_aware_utc(database_url: str, tmp_path: Path) -> None:
    """UTCDateTime's own result processor (one call per value) on the backend under test."""
    engine = app_engine(database_url, tmp_path)
    seen = datetime(2026, 3, 2, 7, 49, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    whole_second = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    async def work() -> list[Any]:
        try:
            async with engine.begin() as connection:
                await connection.run_sync(METADATA.create_all)
                await connection.execute(
                    insert(THING),
                    [
                        {"name": "offset", "seen_at": seen},
                        {"name": "whole", "seen_at": whole_second},
                        {"name": "none", "seen_at": None},
                    ],
                )
            async with engine.connect() as connection:
                query = select(THING.c.seen_at, func.max(THING.c.seen_at).over()).order_by(
                    THING.c.name
                )
                return list((await connection.execute(query)).all())
        finally:
            async with engine.begin() as connection:
                await connection.run_sync(METADATA.drop_all)
            await engine.dispose()

    rows = run(work())
    values = [row[0] for row in rows]  # none, offset, whole
    assert values == [None, seen.astimezone(UTC), whole_second]
    assert all(value.tzinfo is UTC for value in values[1:])
    assert rows[0][1] == whole_second
    assert rows[0][1].tzinfo is UTC


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2024-12-05 07:47:35.000000", datetime(2024, 12, 5, 7, 47, 35, tzinfo=UTC)),
        ("2024-12-05 07:47:35.250000", datetime(2024, 12, 5, 7, 47, 35, 250000, tzinfo=UTC)),
        ("2024-12-05 07:47:35", datetime(2024, 12, 5, 7, 47, 35, tzinfo=UTC)),
        # Not written by us, but read right: an offset, and a bare date (midnight UTC).
        ("2024-12-05T07:47:35+02:00", datetime(2024, 12, 5, 5, 47, 35, tzinfo=UTC)),
        ("2024-12-05", datetime(2024, 12, 5, tzinfo=UTC)),
    ],
)
def test_sqlite_text_reads_as_aware_utc(stored: str, expected: datetime) -> None:
    value = utc_from_sqlite_text(stored)
    assert value == expected
    assert value is not None
    assert value.tzinfo is UTC
