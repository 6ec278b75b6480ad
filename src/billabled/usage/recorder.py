"""Usage tracking off the request path (SPEC §4).

Requests append a record to an in-memory buffer (no I/O); a background task writes the buffer in
one batch every `flush_interval` seconds, keeps each key's `lastUsedAt` current to the minute, and
purges records past the retention period once an hour, with the other hourly purges it is given
(expired idempotency records), beside the flushes and a batch at a time. What a crash can lose is
at most one interval of usage records, never work data.

The client IP is stored only as an HMAC under a key derived from the secret key and the UTC date,
so hashes of one day cannot be joined with another day's, and the raw IP is never kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from billabled.kit.sql import as_background_writer, delete_in_batches, insert_columns
from billabled.models.api_key import ApiKey
from billabled.models.usage import UsageRecord

_USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]

log = structlog.get_logger("billabled.usage")

MAX_BUFFER = 50_000  # beyond this (database down for long), the oldest records are dropped
PURGE_EVERY_SECONDS = 3600
_METHOD_MAX: Final = 10  # usage_record.method's length
_LATENCY_MAX_US: Final = 2**31 - 1  # usage_record.latency_us is a 32-bit integer


@dataclass(frozen=True, slots=True)
class UsageEntry:
    workspace_id: str | None
    api_key_id: str | None
    endpoint: str
    method: str
    status: int
    user_agent: str | None
    ip_hash: str | None
    latency_us: int
    created_at: datetime
    # False for a refused key's requests (revoked, expired: its 401s, and their 429s): recorded
    # under the key, but it was not used, so its `lastUsedAt` stays.
    key_used: bool = True


class IpHasher:
    """HMAC-SHA256 of the client IP under a key that changes every UTC day."""

    _REMEMBERED = 10_000  # hashes of the day's IPs kept, so a busy client is hashed once a day

    def __init__(self, secret_key: bytes) -> None:
        self._secret = secret_key
        self._day: date | None = None
        self._key = b""
        self._hashes: dict[str, str] = {}

    def __call__(self, ip: str, now: datetime) -> str:
        day = now.date()
        if day != self._day:
            self._key = hmac.new(
                self._secret, f"usage-ip/{day.isoformat()}".encode(), hashlib.sha256
            ).digest()
            self._day = day
            self._hashes.clear()
        hashed = self._hashes.get(ip)
        if hashed is None:
            hashed = hmac.new(self._key, ip.encode(), hashlib.sha256).hexdigest()[:32]
            if len(self._hashes) >= self._REMEMBERED:
                self._hashes.clear()
            self._hashes[ip] = hashed
        return hashed


class UsageRecorder:
    def __init__(
        self,
        engine: AsyncEngine,
        secret_key: bytes,
        *,
        retention_days: int,
        flush_interval: float = 1.0,
        # Each is given the event set when the recorder stops (`kit.sql.delete_in_batches`).
        hourly_purges: Sequence[Callable[[asyncio.Event], Awaitable[object]]] = (),
    ) -> None:
        self.engine = engine
        self.hourly_purges = hourly_purges
        self.retention = timedelta(days=retention_days)
        self.flush_interval = flush_interval
        self.hash_ip = IpHasher(secret_key)
        self._buffer: list[UsageEntry] = []
        self._key_minutes: dict[str, datetime] = {}  # key id -> last minute written
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._last_purge: datetime | None = None
        self._purge: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    def record(self, entry: UsageEntry) -> None:
        if len(self._buffer) >= MAX_BUFFER:
            del self._buffer[: len(self._buffer) // 10]
            log.warning("usage_buffer_full", dropped=MAX_BUFFER // 10)
        self._buffer.append(entry)

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Let the flusher finish its current write and stop, then write what is left. Never
        cancelled mid-write: a driver interrupted in the middle of a statement (asyncpg's
        executemany, seen on shutdown) can leave its connection waiting forever, and the process
        with it. A database that cannot take the last records loses them, logged: the shutdown
        goes on (it ended in a traceback)."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        if self._purge is not None:
            await self._purge  # it stops after the batch in flight
            self._purge = None
        try:
            await self.flush()
        except Exception:
            log.exception("usage_records_lost", dropped=len(self._buffer))
            self._buffer.clear()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._stopping.wait()
            try:
                await self.flush()
            except Exception:
                log.exception("usage_flush_failed", buffered=len(self._buffer))
            self._start_purge_if_due()

    async def flush(self) -> int:
        """Write everything buffered; return how many records were written."""
        async with self._flush_lock:
            if not self._buffer:
                return 0
            batch, self._buffer = self._buffer, []
            try:
                await self._write(batch)
            except (DataError, IntegrityError) as exc:
                # The database refuses these rows and always will: retrying them would stall
                # every record after them (it did, each second, until the buffer overflowed).
                log.error("usage_batch_refused", dropped=len(batch), error=type(exc).__name__)
                return 0
            except BaseException:
                self._buffer[:0] = batch  # keep them for the next attempt
                raise
            return len(batch)

    async def _write(self, batch: list[UsageEntry]) -> None:
        # Column by column, one statement (`kit.sql.insert_columns`): a second of a busy server is
        # thousands of rows, and executemany held the event loop for ~0.1 s per flush, which
        # showed as the p99 of every request around it (issue #5).
        columns: dict[str, list[Any]] = {
            "workspace_id": [e.workspace_id for e in batch],
            "api_key_id": [e.api_key_id for e in batch],
            "endpoint": [e.endpoint[:200] for e in batch],
            "method": [e.method[:_METHOD_MAX] for e in batch],  # httptools takes UNSUBSCRIBE
            "status": [e.status for e in batch],
            "user_agent": [e.user_agent[:300] if e.user_agent else None for e in batch],
            "ip_hash": [e.ip_hash for e in batch],
            # A request held open past 35 minutes (a body sent slowly) would overflow the column.
            "latency_us": [min(e.latency_us, _LATENCY_MAX_US) for e in batch],
            "created_at": [e.created_at for e in batch],
        }
        last_used = self._minutes_to_write(batch)
        async with self.engine.begin() as connection:
            await as_background_writer(connection)
            await insert_columns(connection, _USAGE, columns)
            if last_used:
                await connection.execute(
                    update(ApiKey)
                    .where(ApiKey.id == bindparam("key_id"))
                    .where(
                        or_(
                            ApiKey.last_used_at.is_(None),
                            ApiKey.last_used_at < bindparam("minute"),
                        )
                    )
                    # Keep updated_at: being used is not a change to the key.
                    .values(last_used_at=bindparam("minute"), updated_at=ApiKey.updated_at)
                    .execution_options(synchronize_session=False),
                    [{"key_id": k, "minute": m} for k, m in last_used.items()],
                )
        self._key_minutes.update(last_used)

    def _minutes_to_write(self, batch: list[UsageEntry]) -> dict[str, datetime]:
        latest: dict[str, datetime] = {}
        for entry in batch:
            if entry.api_key_id is None or not entry.key_used:
                continue
            minute = entry.created_at.replace(second=0, microsecond=0)
            if minute > latest.get(entry.api_key_id, datetime.min.replace(tzinfo=UTC)):
                latest[entry.api_key_id] = minute
        return {
            key_id: minute
            for key_id, minute in latest.items()
            if self._key_minutes.get(key_id) != minute
        }

    def _start_purge_if_due(self) -> None:
        """Start the hourly purges beside the flushes: run in the flush loop, a purge of millions
        of records held every usage record back while it ran (10 s for 6 million), and past
        MAX_BUFFER dropped them."""
        now = datetime.now(UTC)
        if self._last_purge and (now - self._last_purge).total_seconds() < PURGE_EVERY_SECONDS:
            return
        if self._purge is not None and not self._purge.done():
            return
        self._last_purge = now
        self._purge = asyncio.create_task(self._purge_all(now), name="usage-purge")

    async def _purge_all(self, now: datetime) -> None:
        try:
            await purge_expired(self.engine, now - self.retention, stop=self._stopping)
            for purge in self.hourly_purges:
                await purge(self._stopping)
        except Exception:
            log.exception("purge_failed")


async def purge_expired(
    engine: AsyncEngine, before: datetime, *, stop: asyncio.Event | None = None
) -> int:
    return await delete_in_batches(engine, _USAGE, _USAGE.c.created_at < before, stop=stop)
