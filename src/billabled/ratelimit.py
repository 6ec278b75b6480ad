"""Per-key rate limits: fixed one-minute windows, in process memory or in Redis shared by every
instance.

Fixed one-minute windows per key, sized by the workspace's plan (SPEC §4). Requests without a valid
key are limited per client IP in a separate bucket, so they never spend a key's budget.

Every decision is one atomic increment in the storage; the window's reset time is read once per
window and remembered, so the hot path is a single increment. In memory that is a dict of
windows (`MemoryCounts`). In Redis it is `limits`' own fixed-window script on `limits`' keys, but
sent by us:
the increments made in one turn of the event loop go to Redis as one pipeline, which costs the
process a fraction of a command apiece (docs/decisions.md §23).

When Redis cannot be reached (or answers nothing within `REDIS_TIMEOUT_SECONDS`), requests are
counted in this process instead of failing (each instance then enforces the plan's limit on its
own) and a warning is logged. No request waits on a Redis known to be away: the first request
`SHARED_RETRY_SECONDS` after the last failure sets off a trial increment in the background, and
counting goes back to Redis once one succeeds (docs/decisions.md §22). A request Redis has
counted is never counted again locally: if only the window's reset time cannot be read, it is
taken as one window from now.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog
from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from billabled.models.workspace import Plan

PLAN_LIMITS_PER_MINUTE: Final[dict[str, int]] = {
    Plan.FREE: 120,
    Plan.STARTER: 120,
    Plan.PROFESSIONAL: 300,
    Plan.BUSINESS: 1000,
}
WINDOW_SECONDS: Final = 60
# Window maps are swept of ended windows from this size on, then each time they double.
_SWEEP_MIN: Final = 10_000
# While Redis is unreachable, how long after a failure it is tried again (in the background).
SHARED_RETRY_SECONDS: Final = 5.0
# redis-py waits 5 s by default to connect and for each answer; a counter answers in well under
# a millisecond, and a request should not hang on a Redis that went silent. A `socket_timeout` or
# `socket_connect_timeout` in the URL's query string wins over these.
REDIS_TIMEOUT_SECONDS: Final = 1.0
# Connections per process: one for each batch of counts (or reset-time read) in flight.
# redis-py's default of 100 made the 101st request in flight fail
# (MaxConnectionsError), which would read as an outage; a pool that queues the excess instead
# (BlockingConnectionPool) cost ~10 µs more per count. Past this many, the process is overloaded
# anyway, and counting locally for a few seconds is the graceful answer.
REDIS_CONNECTIONS: Final = 1000
_PROBE_BUCKET: Final = "probe"

log = structlog.get_logger("billabled.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window ends
    policy: str  # the IETF policy name: "key" or "ip"

    @property
    def reset_epoch(self) -> int:
        """The window's end in whole seconds, rounded up (`X-RateLimit-Reset`, `/me`'s
        `resetAt`): a client that waits until then finds the window over."""
        return math.ceil(self.reset_at)

    @property
    def reset_in(self) -> int:
        return max(0, math.ceil(self.reset_at - time.time()))

    def headers(self) -> list[tuple[bytes, bytes]]:
        reset_in = self.reset_in
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_epoch).encode()),
            (
                b"ratelimit-policy",
                f'"{self.policy}";q={self.limit};w={WINDOW_SECONDS}'.encode(),
            ),
            (b"ratelimit", f'"{self.policy}";r={self.remaining};t={reset_in}'.encode()),
        ]


# One fixed window per bucket; the limit is applied to the count, so a plan change takes effect
# within the current window.
_WINDOW: Final = RateLimitItemPerMinute(1, namespace="billabled")


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    reset_at: float


def decide(window: WindowCount, limit: int, policy: str) -> RateLimitDecision:
    return RateLimitDecision(
        allowed=window.count <= limit,
        limit=limit,
        remaining=max(0, limit - window.count),
        reset_at=window.reset_at,
        policy=policy,
    )


def limit_for_plan(plan: str) -> int:
    return PLAN_LIMITS_PER_MINUTE.get(plan, PLAN_LIMITS_PER_MINUTE[Plan.FREE])


# limits' fixed-window increment (limits/resources/redis/lua_scripts/incr_expire.lua) under
# limits' key prefix: the counters are those `limits`' Redis storage would keep.
_INCR_EXPIRE: Final = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return current
"""
_REDIS_KEY_PREFIX: Final = "LIMITS"

_Pending = tuple[str, int, "asyncio.Future[int]"]


class _Counts(Protocol):
    """A storage of window counters: this process's `MemoryCounts`, or Redis (`RedisCounts`)."""

    async def incr(self, key: str, expiry: int) -> int: ...

    async def get_expiry(self, key: str) -> float: ...

    async def delete(self, key: str) -> None: ...


class RedisCounts:
    """Window counters in Redis; the increments asked for in one turn of the event loop are sent
    together, as one pipeline.

    A single command costs redis-py ~60 µs of this process's CPU (a task and a timeout for the
    answer, a pool checkout, packing), more than a whole `GET /me` of the ceiling; in a pipeline
    each command's share is a fraction of that, and under load many requests count in the same
    turn. Redis's errors are raised as `limits`' StorageError, as `limits`' storages raise them."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._redis = Redis(connection_pool=pool)
        self._pending: list[_Pending] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def incr(self, key: str, expiry: int) -> int:
        if self._closed:
            raise StorageError(ConnectionError("the rate limiter is closed"))
        loop = asyncio.get_running_loop()
        if not self._pending:
            # After every task that is ready in this turn has run its step: theirs join the batch.
            # In a context of its own: the batch belongs to no one request (nor its logs).
            loop.call_soon(self._send, context=contextvars.Context())
        future: asyncio.Future[int] = loop.create_future()
        self._pending.append((f"{_REDIS_KEY_PREFIX}:{key}", expiry, future))
        return await future

    async def get_expiry(self, key: str) -> float:
        try:
            # In milliseconds: TTL's whole seconds, rounded, put the end up to half a second
            # before Redis's, and a client that waited until then was refused again.
            ttl_ms = await self._redis.pttl(f"{_REDIS_KEY_PREFIX}:{key}")
        except (RedisError, OSError) as exc:
            raise StorageError(exc) from exc
        return max(int(ttl_ms), 0) / 1000 + time.time()

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(f"{_REDIS_KEY_PREFIX}:{key}")
        except (RedisError, OSError) as exc:
            raise StorageError(exc) from exc

    async def close(self) -> None:
        self._closed = True
        self._send()  # what is queued still goes, before the connections close
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self._pool.disconnect()

    def _send(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _execute(self, batch: list[_Pending]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, expiry, _ in batch:
                    pipe.eval(_INCR_EXPIRE, 1, key, expiry, 1)
                # A command Redis refuses fails its own count only.
                results: list[Any] = await pipe.execute(raise_on_error=False)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # its request went away
                if isinstance(result, Exception):
                    future.set_exception(StorageError(result))
                else:
                    future.set_result(int(result))
        except BaseException as exc:
            # The connection, an answer that is not a count, this task cancelled: no request is
            # left waiting, and each counts in its process instead (§22).
            error = exc if isinstance(exc, Exception) else ConnectionError(f"not sent: {exc!r}")
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(StorageError(error))
            if not isinstance(exc, Exception):
                raise


class MemoryCounts:
    """Fixed-window counters in this process: key → [window end, count].

    Not `limits`' MemoryStorage: after each increment it starts a task that scans every live
    counter for expired ones, so a request cost O(clients this minute) — 1.5 ms of CPU with
    10,000, 11 ms with 50,000 (a helper's audit, 2026-12-07): a crowd of clients, or one
    sending from many addresses, slowed everyone. Here an increment is a dict lookup, and ended
    windows are dropped in one pass whenever the dict has doubled since the last (O(1) a
    request, amortised)."""

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = {}
        self._sweep_at = _SWEEP_MIN

    async def incr(self, key: str, expiry: int) -> int:
        now = time.time()
        window = self._windows.get(key)
        if window is not None and window[0] > now:
            window[1] += 1
            return int(window[1])
        if len(self._windows) >= self._sweep_at:
            self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
            self._sweep_at = max(_SWEEP_MIN, 2 * len(self._windows))
        self._windows[key] = [now + expiry, 1]
        return 1

    async def get_expiry(self, key: str) -> float:
        window = self._windows.get(key)
        return window[0] if window is not None else time.time()

    async def delete(self, key: str) -> None:
        self._windows.pop(key, None)


class _WindowCounter:
    """Fixed windows in one storage, each window's end remembered after its first sighting."""

    def __init__(self, storage: _Counts) -> None:
        self.storage = storage
        # (storage key, window number) -> reset time, so only a window's first sighting reads it.
        self._resets: dict[str, float] = {}
        self._sweep_at = _SWEEP_MIN

    async def count(self, key: str) -> WindowCount:
        """Count one request against `key`'s current window (one atomic increment)."""
        count = await self.storage.incr(key, _WINDOW.get_expiry())
        now = time.time()
        reset_at = self._resets.get(key)
        if count == 1:
            # This request opened the window: it ends one window from now.
            reset_at = now + WINDOW_SECONDS
            self._remember(key, reset_at)
        elif reset_at is None or reset_at <= now:
            try:
                reset_at = await self.storage.get_expiry(key)
            except StorageError as exc:
                # The request is counted already: counting it again elsewhere would spend it
                # twice. The window, opened by an earlier request, ends within one window.
                log.warning(
                    "rate_limit_reset_unread",
                    error=f"{type(exc.storage_error).__name__}: {exc.storage_error}",
                )
                reset_at = now + WINDOW_SECONDS
            self._remember(key, reset_at)
        return WindowCount(count, reset_at)

    async def forget(self, key: str) -> None:
        self._resets.pop(key, None)
        await self.storage.delete(key)

    def _remember(self, key: str, reset_at: float) -> None:
        # Ended windows are dropped when the map has doubled since the last pass (it was rebuilt
        # on every new window once 100,000 were live: 100 ms a request).
        if len(self._resets) >= self._sweep_at:
            now = time.time()
            self._resets = {k: v for k, v in self._resets.items() if v > now}
            self._sweep_at = max(_SWEEP_MIN, 2 * len(self._resets))
        self._resets[key] = reset_at


class RateLimiter:
    def __init__(self, redis: RedisCounts | None = None) -> None:
        self._counter = _WindowCounter(redis if redis is not None else MemoryCounts())
        self._redis = redis
        # Shared storage only: where requests are counted while it cannot be reached.
        self._local = _WindowCounter(MemoryCounts()) if redis is not None else None
        # time.monotonic() after which Redis is tried again (0: Redis is up, counting there).
        self._local_until = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, redis_url: str | None) -> RateLimiter:
        if not redis_url:
            return cls()
        pool = ConnectionPool.from_url(
            redis_url.removeprefix("async+"),
            max_connections=REDIS_CONNECTIONS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # A pooled connection Redis closed (a restart, a failover, its idle `timeout`) is
            # found dead when next used: one retry on a new connection, or each such connection
            # counted as an outage once. Not on a timeout: a Redis that hangs is not waited
            # for twice. A connection lost after Redis ran a turn's counts but before their
            # answers came back has them run again: those requests count twice, once. A limit
            # errs toward strictness there, rather than counting per process for 5 s.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(RedisCounts(pool))

    @property
    def storage(self) -> _Counts:
        return self._counter.storage

    @property
    def counting(self) -> str:
        """Where requests are counted now: `shared` (in Redis) or `per-process` (no Redis
        configured, or Redis unreachable)."""
        return "shared" if self._local is not None and not self._local_until else "per-process"

    async def close(self) -> None:
        self._closed = True
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self._redis is not None:
            await self._redis.close()

    @property
    def is_shared(self) -> bool:
        """True when counting is a network round trip (Redis), worth overlapping with other I/O."""
        return self._redis is not None

    async def count(self, bucket: str) -> WindowCount:
        """Count one request against `bucket`'s current window."""
        key = _WINDOW.key_for(bucket)
        if self._local is None:
            return await self._counter.count(key)
        if self._local_until:
            if self._probe is None and not self._closed and time.monotonic() >= self._local_until:
                # In a context of its own: the trial is not part of this request (nor its logs).
                self._probe = asyncio.get_running_loop().create_task(
                    self._try_shared(), context=contextvars.Context()
                )
            return await self._local.count(key)
        try:
            return await self._counter.count(key)
        except StorageError as exc:
            if not self._local_until:
                log.warning(
                    "rate_limit_storage_unreachable",
                    error=f"{type(exc.storage_error).__name__}: {exc.storage_error}",
                    counting="per-process",
                    retry_after_seconds=SHARED_RETRY_SECONDS,
                )
                self._local_until = time.monotonic() + SHARED_RETRY_SECONDS
            return await self._local.count(key)

    async def forget(self, bucket: str) -> None:
        """Drop `bucket`'s counter: it was counted before it turned out to be nobody's (a key
        that is not one, counted while it was looked up). Where it cannot be reached, it
        expires with its window."""
        key = _WINDOW.key_for(bucket)
        counter = self._local if self._local is not None and self._local_until else self._counter
        with contextlib.suppress(StorageError):
            await counter.forget(key)

    async def _try_shared(self) -> None:
        """While requests are counted locally: can Redis count again? An increment, not a PING,
        so a Redis that answers but cannot write (read-only, out of memory) stays given up on."""
        try:
            await self._counter.count(_WINDOW.key_for(_PROBE_BUCKET))
        except StorageError:
            self._local_until = time.monotonic() + SHARED_RETRY_SECONDS
        else:
            self._local_until = 0.0
            log.warning("rate_limit_storage_reachable_again", counting="shared")
        finally:
            self._probe = None

    async def hit(self, bucket: str, limit: int, policy: str) -> RateLimitDecision:
        return decide(await self.count(bucket), limit, policy)
