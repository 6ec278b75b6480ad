"""The API-key lookup on the hot path: one indexed point query, straight through the driver.

Every Integration API request starts here, and revocation must take effect on the very next
request, so nothing is cached: the lookup is made cheap instead. The statements are written once
with SQLAlchemy (authenticate.py) and compiled per dialect; they then run on one asyncpg
connection per process (PostgreSQL) or a read-only sqlite3 connection on the event loop (SQLite:
an indexed read in WAL mode takes microseconds and never waits for writers). Going around the ORM
here saves ~0.5 ms a request, and around asyncpg's pool another ~40 µs (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from billabled.db import mark_refused_connection
from billabled.kit.pagination import AnySelect
from billabled.models.base import utc_from_sqlite_text


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
    week_start: int
    role: str | None
    user_name: str
    email: str


class KeyLookup(Protocol):
    lookups: int  # how many statements reached the database (observability, tests)

    async def find(self, key_hash: str) -> KeyRow | None: ...

    async def close(self) -> None: ...


def _compile(statement: AnySelect, dialect: Any) -> str:
    return str(statement.compile(dialect=dialect))


def _scopes(value: Any) -> list[str]:
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return [str(item) for item in loaded]


def _key_row(record: asyncpg.Record) -> KeyRow:
    # The statement's first sixteen columns are KeyRow's fields, in order.
    values = list(record.values())[:16]
    values[4] = _scopes(values[4])
    return KeyRow(*values)


_Waiters = dict[str, list["asyncio.Future[KeyRow | None]"]]
# How the lookup connection names itself in pg_stat_activity.
APPLICATION_NAME = "billabled-key-lookup"
_CONNECTION_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.InterfaceError,
    ConnectionError,
)


class PostgresKeyLookup:
    """One connection, at most one statement in flight.

    A lookup that finds the connection idle runs at once (`KEY_LOOKUP`). Lookups that arrive
    while a statement is in flight wait for it to finish and are then answered together by one
    statement (`KEYS_LOOKUP`, the hashes bound as one array). Under load a request pays for a
    share of one round trip instead of a whole one; and since no lookup is answered by a statement
    that started before the request arrived, a revocation committed before a request is seen by it.
    """

    def __init__(
        self, dsn: str, one_sql: str, many_sql: str, connect_args: Mapping[str, Any]
    ) -> None:
        self._dsn = dsn
        self._connect_args = connect_args
        self._one_sql = one_sql
        self._many_sql = many_sql
        self._connection: asyncpg.Connection | None = None
        self._busy = False
        self._waiting: _Waiters = {}
        self._batches: set[asyncio.Task[None]] = set()
        self._closing = False
        self.lookups = 0

    @classmethod
    def for_url(
        cls, url: URL, one: AnySelect, many: AnySelect, connect_args: Mapping[str, Any]
    ) -> PostgresKeyLookup:
        """Connects on first use, so the app starts (and /readyz can say 503) while the database
        is away. `connect_args`: asyncpg's, with the timeouts of the API's other connections
        (`db.postgres_connect_args`): a lookup waited forever on a database gone silent."""
        dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(dsn, _compile(one, dialect), _compile(many, dialect), connect_args)

    async def find(self, key_hash: str) -> KeyRow | None:
        if self._busy:
            future: asyncio.Future[KeyRow | None] = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(key_hash, []).append(future)
            return await future
        self._busy = True
        try:
            records = await self._run(self._one_sql, key_hash)
        finally:
            self._next_batch()
        return _key_row(records[0]) if records else None

    def _next_batch(self) -> None:
        """The statement in flight is done: answer whoever queued behind it, or go idle."""
        if not self._waiting or self._closing:
            for futures in self._waiting.values():
                for future in futures:
                    future.cancel()
            self._waiting = {}
            self._busy = False
            return
        waiting, self._waiting = self._waiting, {}
        batch = asyncio.get_running_loop().create_task(self._answer(waiting))
        self._batches.add(batch)
        batch.add_done_callback(self._batches.discard)

    async def _answer(self, waiting: _Waiters) -> None:
        try:
            records = await self._run(self._many_sql, list(waiting))
        except BaseException as exc:
            for futures in waiting.values():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
            if not isinstance(exc, Exception):
                raise
        else:
            found = {record[-1]: _key_row(record) for record in records}
            for key_hash, futures in waiting.items():
                row = found.get(key_hash)
                for future in futures:
                    if not future.done():  # its request may have gone away meanwhile
                        future.set_result(row)
        finally:
            self._next_batch()

    @property
    def waiting(self) -> int:
        """Lookups queued behind the statement in flight (observability, tests)."""
        return sum(len(futures) for futures in self._waiting.values())

    async def _run(self, sql: str, argument: Any) -> list[asyncpg.Record]:
        try:
            return await self._run_once(sql, argument)
        except _CONNECTION_LOST:
            # The database restarted or dropped the connection since the last lookup: a read is
            # safe to repeat, once, on a new connection.
            return await self._run_once(sql, argument)

    async def _run_once(self, sql: str, argument: Any) -> list[asyncpg.Record]:
        if self._connection is None or self._connection.is_closed():
            server_settings = {
                **self._connect_args.get("server_settings", {}),
                "application_name": APPLICATION_NAME,
            }
            try:
                self._connection = await asyncpg.connect(
                    self._dsn, **{**self._connect_args, "server_settings": server_settings}
                )
            except Exception as exc:
                mark_refused_connection(exc)
                raise
        connection = self._connection
        self.lookups += 1
        try:
            records: list[asyncpg.Record] = await connection.fetch(sql, argument)
        except BaseException:
            # A statement that failed or was cancelled half-way leaves the connection in an
            # unknown state: drop it, the next lookup connects afresh.
            self._connection = None
            connection.terminate()
            raise
        return records

    async def close(self) -> None:
        self._closing = True
        for batch in list(self._batches):
            batch.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


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
            values[column] = utc_from_sqlite_text(values[column])
        return KeyRow(**values)

    async def close(self) -> None:
        self._connection.close()
