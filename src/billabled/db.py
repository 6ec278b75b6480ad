"""Engines and sessions.

Invariants:
- one request, one transaction: the request session commits when the handler returns and rolls
  back on any error; services only `flush()`;
- SQLite runs in WAL mode with foreign keys on and a busy timeout, and write transactions start
  with `BEGIN IMMEDIATE` so two writers queue on the lock instead of failing mid-transaction;
- the same URL works for both doors: the app uses the async driver (asyncpg / aiosqlite), Alembic
  and bulk tooling the sync one (psycopg / sqlite3). See docs/decisions.md for why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from billabled.config import Settings
from billabled.kit.sql import SYNC_CLOCK_MARGIN
from billabled.sqlite_driver import one_trip_connector

SQLITE_BUSY_TIMEOUT_MS = 5000

# What a request meets when the database cannot serve it for now: down, restarting, out of
# connections, unreachable. It is answered 503 with Retry-After (clients retry), not 500.
_UNAVAILABLE: Final = (
    OSError,  # refused, reset, timed out: asyncpg raises them bare while connecting
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.LockNotAvailableError,  # waited past the lock timeout
    # Ended by the database to resolve a deadlock (40P01) or a serialization conflict (40001):
    # the same request, retried, goes through.
    asyncpg.exceptions.TransactionRollbackError,
    PoolTimeout,  # no pooled connection came free in time
)


# Set on an error raised while a new connection was being opened (`mark_refused_connection`).
_WHILE_CONNECTING: Final = "billabled_while_connecting"


def mark_refused_connection(exc: BaseException) -> None:
    """Mark `exc`, raised while opening a connection, as the database refusing one: whatever its
    class, the database cannot serve requests for now (not accepting connections during
    maintenance, SQLSTATE 55000; a login refused while a password is rotated; the database gone
    in a restore), where the same class raised by a statement is a bug of ours (`currval`
    before `nextval` is 55000 too). `/readyz` said 503 and the API 500 (a helper's docs audit)."""
    setattr(exc, _WHILE_CONNECTING, True)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or what it was raised from or while handling, says the database cannot
    serve requests for now (rather than that this request or our code is wrong)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE) or getattr(current, _WHILE_CONNECTING, False):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlite3.OperationalError) and "locked" in str(current):
            return True  # another writer held the lock past the busy timeout
        current = current.__cause__ or current.__context__
    return False


_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
_SYNC_DRIVERS = {"postgresql": "psycopg", "sqlite": "pysqlite"}


class DatabaseUrlError(ValueError):
    """The database URL cannot be parsed or names a backend we do not support."""


def _parse(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise DatabaseUrlError("the database URL is malformed") from exc
    except ValueError as exc:  # a port that is not a number (`:notaport`, `[::1/x`)
        raise DatabaseUrlError("the database URL's port is not a number") from exc
    backend = url.get_backend_name()
    if backend == "postgres":  # Heroku-style alias
        url = url.set(drivername="postgresql")
        backend = "postgresql"
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseUrlError(
            f"unsupported database {backend!r}: use postgresql://… or sqlite:///…"
        )
    if url.host and "@" in url.host:
        # An `@` left in the password: the rest of it was taken for the host, and shown.
        raise DatabaseUrlError(
            "the database URL's host holds an '@': percent-encode an '@' in the password as %40"
        )
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise DatabaseUrlError("SQLite needs a file path: sqlite:////path/to/billabled.db")
    if backend == "sqlite" and url.database and url.database.startswith("~"):
        # The driver opens `~` as a directory of that name; the path meant is under $HOME.
        url = url.set(database=os.path.expanduser(url.database))
    return url


def async_url(raw: str) -> URL:
    url = _parse(raw)
    backend = url.get_backend_name()
    return url.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")


def sync_url(raw: str) -> URL:
    url = _parse(raw)
    backend = url.get_backend_name()
    return url.set(drivername=f"{backend}+{_SYNC_DRIVERS[backend]}")


def describe_url(raw: str) -> str:
    """The URL with any password hidden, for logs and error messages: its userinfo's, and a
    query parameter's (libpq takes `?password=…` and `?sslpassword=…`)."""
    try:
        url = _parse(raw)
    except DatabaseUrlError:
        return "<malformed>"
    query = {
        name: _HIDDEN if _SECRET_PARAMETER.search(name) else value
        for name, value in url.query.items()
    }
    shown = url.set(query=query).render_as_string(hide_password=True)
    return shown.replace(quote(_HIDDEN, safe=""), _HIDDEN)


_HIDDEN: Final = "***"
_SECRET_PARAMETER: Final = re.compile("pass|secret|token|key", re.IGNORECASE)


def _json_dumps(value: Any) -> str:
    # Timestamps as the API writes them (RFC 3339, UTC as "Z"), so stored JSON documents (events,
    # audit records) read exactly like the API's own JSON.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so we can choose BEGIN vs BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a crash of the process.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # SQLAlchemy still fires "begin" in autocommit mode; nothing would commit it
        immediate = bool(options.get("sqlite_immediate"))
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# How long a new PostgreSQL connection may take to open at most (asyncpg's default: 60 s).
CONNECT_TIMEOUT_SECONDS: Final = 10.0


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments for the API's connections: the statement and lock
    timeouts as server settings (`QueryCanceledError`, `LockNotAvailableError`), and the time the
    client waits for any answer, a little past the statement timeout (`TimeoutError`, for a
    database gone silent). Each is answered 503 with Retry-After (`is_unavailable`)."""
    statement = settings.db_statement_timeout_seconds
    answer = statement + min(5.0, statement)
    return {
        "timeout": min(CONNECT_TIMEOUT_SECONDS, answer),
        "command_timeout": answer,
        "server_settings": {
            "statement_timeout": str(max(1, round(statement * 1000))),
            "lock_timeout": str(max(1, round(settings.db_lock_timeout_seconds * 1000))),
        },
    }


def create_app_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.resolved_database_url)
    kwargs: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "pool_pre_ping": False,
        # A request waits this long for a pooled connection to come free, then answers 503.
        "pool_timeout": settings.db_pool_timeout_seconds,
        # A failed statement's error names it, not its values (the log is no place for them).
        "hide_parameters": True,
    }
    if url.get_backend_name() == "postgresql":
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_overflow,
            pool_recycle=1800,
            connect_args=postgres_connect_args(settings),
        )
        if url.query:
            # libpq's TLS options (`sslmode=require`, `sslrootcert=…`, as managed PostgreSQL
            # hands them out) go to asyncpg in a DSN, which reads them as libpq does; the dialect
            # would pass them as keyword arguments, which asyncpg refuses (a 500 on every
            # request). asyncpg takes other query parameters for server settings.
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            kwargs["connect_args"]["dsn"] = dsn
            url = url.set(query={})
    else:
        _ensure_sqlite_dir(url)
        kwargs["async_creator"] = one_trip_connector(url)
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine.sync_engine)
    else:
        event.listen(engine.sync_engine, "do_connect", _connect_or_mark_refused)
    return engine


def _connect_or_mark_refused(
    dialect: Any, record: ConnectionPoolEntry, cargs: Any, cparams: Any
) -> Any:
    """The pool's new connections, opened as the dialect opens them, a refusal marked."""
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as exc:
        mark_refused_connection(exc)
        raise


def create_sync_engine(raw_url: str) -> Engine:
    """A synchronous engine for migrations and bulk tooling."""
    url = sync_url(raw_url)
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_dir(url)
        engine = create_engine(url, json_serializer=_json_dumps, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(_libpq_query(url), json_serializer=_json_dumps, hide_parameters=True)


def _libpq_query(url: URL) -> URL:
    """The URL as psycopg (libpq) takes it. Its query parameters go to libpq as connection
    options, and libpq refuses any it does not know: the settings README says the URL may carry
    (`?search_path=…`, which asyncpg sends as settings) stopped `migrate` and every command
    ("invalid connection option"). They travel in libpq's `options` as `-c name=value`. A
    connection that gets no answer gives up after CONNECT_TIMEOUT_SECONDS, as the server's do
    (libpq's default waited 130 s)."""
    known = _libpq_options()
    query = {name: value for name, value in url.query.items() if name in known}
    settings = [
        f"-c {name}={_libpq_escaped(value)}"
        for name, values in url.query.items()
        if name not in known
        for value in ((values,) if isinstance(values, str) else values[-1:])
    ]
    if settings:
        given = query.get("options")
        query["options"] = " ".join(
            [*([given] if isinstance(given, str) else given or []), *settings]
        )
    query.setdefault("connect_timeout", str(int(CONNECT_TIMEOUT_SECONDS)))
    return url.set(query=query)


@functools.cache
def _libpq_options() -> frozenset[str]:
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def _libpq_escaped(value: str) -> str:
    # libpq splits `options` at whitespace; a backslash keeps one (and itself) in a value.
    return _OPTIONS_SPECIAL.sub(r"\\\g<0>", value)


_OPTIONS_SPECIAL: Final = re.compile(r"[\s\\]")


def missing_sqlite_file(raw_url: str) -> Path | None:
    """The file a SQLite URL names, when it does not exist (None for PostgreSQL, or a file that
    exists). Only `migrate` and `serve` make one: a mistyped data directory is named, not
    silently given an empty database that `migrate` would then fill."""
    path = _sqlite_path(sync_url(raw_url))
    return None if path is None or path.exists() else path.resolve()


def _sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL opens: its database, or the path of a URI filename
    (`sqlite:///file:/srv/b.db?mode=ro&uri=true`); None for PostgreSQL or an in-memory one."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    if url.query.get("uri") not in ("true", "1") or not url.database.startswith("file:"):
        return Path(url.database)
    if url.query.get("mode") == "memory":
        return None
    path = unquote(urlsplit(url.database).path)
    return Path(path) if path and path != ":memory:" else None


def _ensure_sqlite_dir(url: URL) -> None:
    """The SQLite file's directory, and the file itself, readable by this user only when we
    create them (the work record and hashed keys are in it; SQLite gives its -wal and -shm files
    the database file's mode)."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def reading(engine: AsyncEngine) -> AsyncEngine:
    """The engine read-only requests use. On PostgreSQL it runs statements without BEGIN/COMMIT:
    under READ COMMITTED every statement takes its own snapshot inside a transaction too, so a
    read-only transaction bought nothing but two round trips per request (issue #5). SQLite keeps
    its read transaction: there it is one snapshot for all of a request's statements, and costs
    no round trip."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class Database:
    """The app's engine and session factories; one per process, kept on `app.state`."""

    def __init__(self, engine: AsyncEngine, *, sync_clock_margin_seconds: float = 1.0) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # Read by the lists (`kit.pagination.settled_before`) from the session they are given.
        info = {SYNC_CLOCK_MARGIN: sync_clock_margin_seconds}
        self._read_sessions = async_sessionmaker(reading(engine), expire_on_commit=False, info=info)
        writer = engine.execution_options(sqlite_immediate=True) if self.is_sqlite else engine
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False, info=info)
        # SQLite has one writer at a time. Writers that find the lock taken sleep and retry in
        # SQLite's busy handler, which under 16 concurrent writers gave a p99 of seconds; requests
        # of this process queue here instead, first come first served, and wake at once.
        self.write_turn: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    def session(self, *, write: bool = True) -> AsyncSession:
        """A new session; the caller commits or rolls back (see transaction.py)."""
        return (self._write_sessions if write else self._read_sessions)()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        factory = self._write_sessions if write else self._read_sessions
        async with factory() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
