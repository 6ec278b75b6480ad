"""The API-key lookup on the hot path: one indexed point query, straight through the driver.

Every Integration API request starts here, and revocation must take effect on the very next
request, so nothing is cached: the lookup is made cheap instead. The statement is written once
with SQLAlchemy (authenticate.py) and compiled per dialect; it then runs on a small asyncpg pool
(PostgreSQL) or a read-only sqlite3 connection on the event loop (SQLite: an indexed read in WAL
mode takes microseconds and never waits for writers). Going around the ORM here saves ~0.5 ms a
request (docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from billabled.kit.pagination import AnySelect


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    workspace_id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_by_user_id: str
    workspace_name: str
    plan: str
    currency: str
    time_zone: str
    role: str | None
    user_name: str
    email: str


class KeyLookup(Protocol):
    lookups: int  # how many lookups reached the database (observability, tests)

    async def find(self, key_hash: str) -> KeyRow | None: ...

    async def close(self) -> None: ...


def _compile(statement: AnySelect, dialect: Any) -> str:
    return str(statement.compile(dialect=dialect))


def _scopes(value: Any) -> list[str]:
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return [str(item) for item in loaded]


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """This pool only runs one read-only statement, which leaves no session state behind, so the
    default `RESET ALL; UNLISTEN *; …` round trip on every release (~90 µs) is skipped."""


class PostgresKeyLookup:
    def __init__(self, pool: asyncpg.Pool, sql: str) -> None:
        self._pool = pool
        self._sql = sql
        self.lookups = 0

    @classmethod
    async def connect(cls, url: URL, statement: AnySelect, pool_size: int) -> PostgresKeyLookup:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        # min_size=0: connect on first use, so the app starts (and /readyz can say 503) even
        # while the database is away.
        pool = await asyncpg.create_pool(
            dsn, min_size=0, max_size=pool_size, reset=_nothing_to_reset
        )
        return cls(pool, _compile(statement, postgresql.asyncpg.dialect()))  # type: ignore[no-untyped-call]

    async def find(self, key_hash: str) -> KeyRow | None:
        self.lookups += 1
        record = await self._pool.fetchrow(self._sql, key_hash)
        if record is None:
            return None
        values = dict(record)
        values["scopes"] = _scopes(values["scopes"])
        return KeyRow(**values)

    async def close(self) -> None:
        await self._pool.close()


def _sqlite_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class SqliteKeyLookup:
    def __init__(self, connection: sqlite3.Connection, sql: str) -> None:
        self._connection = connection
        self._sql = sql
        self.lookups = 0

    @classmethod
    def connect(cls, url: URL, statement: AnySelect) -> SqliteKeyLookup:
        connection = sqlite3.connect(
            f"file:{url.database}?mode=ro", uri=True, check_same_thread=False, timeout=5
        )
        connection.row_factory = sqlite3.Row
        return cls(connection, _compile(statement, sqlite.dialect()))

    async def find(self, key_hash: str) -> KeyRow | None:
        self.lookups += 1
        row = self._connection.execute(self._sql, (key_hash,)).fetchone()
        if row is None:
            return None
        values = dict(row)
        values["scopes"] = _scopes(values["scopes"])
        for column in ("expires_at", "revoked_at"):
            values[column] = _sqlite_time(values[column])
        return KeyRow(**values)

    async def close(self) -> None:
        self._connection.close()
