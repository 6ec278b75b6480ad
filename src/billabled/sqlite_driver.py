"""SQLite through aiosqlite with one trip to the connection's thread per statement.

aiosqlite runs each sqlite3 call on the connection's own thread and wakes the event loop with the
answer. Through SQLAlchemy's adapter a single SELECT made four such trips — create the cursor,
execute, fetch all rows, close the cursor — each a thread wake-up, a queue hand-off and a loop
wake-up, ~0.1 ms of CPU and more of latency under load; a week of one person's time (three
statements) spent ~1.5 ms in trips around 0.16 ms of SQLite work (issue #5).

Here a statement runs, its rows are read and its cursor closed in one trip; the cursor SQLAlchemy
holds serves the rows from memory. That is what SQLAlchemy's adapter does anyway (it reads every
row right after `execute`), so nothing changes but the number of trips. Consequence: there are no
server-side (streaming) cursors on SQLite; `stream_results` still works but holds the whole result
in memory, so very large reads on SQLite must page (keyset) instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiosqlite
from sqlalchemy.engine import URL

_Outcome = tuple[list[Any], Any, int, int | None]


class OneTripCursor:
    """The DB-API cursor surface SQLAlchemy's aiosqlite adapter uses, over buffered results."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self._next = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _take(self, outcome: _Outcome) -> OneTripCursor:
        self._rows, self.description, self.rowcount, self.lastrowid = outcome
        self._next = 0
        return self

    async def execute(self, sql: str, parameters: Any = ()) -> OneTripCursor:
        run = self._connection.run_statement
        return self._take(await self._connection.call(run, sql, parameters, many=False))

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> OneTripCursor:
        run = self._connection.run_statement
        return self._take(await self._connection.call(run, sql, parameters, many=True))

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        end = self._next + (self.arraysize if size is None else size)
        rows = self._rows[self._next : end]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> list[Any]:
        rows = self._rows[self._next :] if self._next else self._rows
        self._next = len(self._rows)
        return rows

    async def close(self) -> None:
        self._rows = []
        self._next = 0

    def setinputsizes(self, *sizes: Any) -> None:
        return None

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        return None


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors run each statement in one trip to its thread."""

    # Signature differs from aiosqlite's (which awaits a trip to create a sqlite3 cursor): the
    # SQLAlchemy adapter only enters what this returns, so a ready cursor serves.
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def call(self, function: Callable[..., _Outcome], *args: Any, **kwargs: Any) -> _Outcome:
        outcome: _Outcome = await self._execute(function, *args, **kwargs)  # type: ignore[no-untyped-call]
        return outcome

    def run_statement(self, sql: str, parameters: Any, *, many: bool) -> _Outcome:
        """On the connection's thread: execute, read every row, close the cursor."""
        cursor = self._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            description = cursor.description
            rows = cursor.fetchall() if description is not None else []
            # After the rows: for INSERT … RETURNING sqlite3 counts rows as they are read.
            return rows, description, cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()


def one_trip_connector(url: URL) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: a connection with the arguments SQLAlchemy's
    aiosqlite dialect derives from `url` (which include `check_same_thread=False`)."""
    arguments, options = url.get_dialect()().create_connect_args(url)

    def open_file() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(*arguments, **options)  # type: ignore[call-overload]
        return connection

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(open_file, iter_chunk_size=64)
        # As SQLAlchemy does for aiosqlite: a connection left open must not hold the process.
        connection._thread.daemon = True
        await connection
        return connection

    return connect
