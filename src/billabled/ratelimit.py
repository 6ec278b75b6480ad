"""Per-key rate limits on the `limits` library (memory storage, or Redis shared by every instance).

Fixed one-minute windows per key, sized by the workspace's plan (SPEC §4). Requests without a valid
key are limited per client IP in a separate bucket, so they never spend a key's budget.

Every decision is one atomic increment in the storage (a Lua INCR+EXPIRE on Redis); the window's
reset time is read once per window and remembered, so the hot path is a single round trip.

When Redis cannot be reached, requests are counted in this process instead of failing (each
instance then enforces the plan's limit on its own), a warning is logged, and Redis is tried
again every `SHARED_RETRY_SECONDS` by one request at a time (docs/decisions.md §22).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Final

import structlog
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool

from billabled.models.workspace import Plan

PLAN_LIMITS_PER_MINUTE: Final[dict[str, int]] = {
    Plan.FREE: 120,
    Plan.STARTER: 120,
    Plan.PROFESSIONAL: 300,
    Plan.BUSINESS: 1000,
}
WINDOW_SECONDS: Final = 60
_RESET_CACHE_MAX: Final = 100_000
# While Redis is unreachable, how long requests are counted locally before one tries it again.
SHARED_RETRY_SECONDS: Final = 5.0

log = structlog.get_logger("billabled.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window ends
    policy: str  # the IETF policy name: "key" or "ip"

    @property
    def reset_in(self) -> int:
        return max(0, math.ceil(self.reset_at - time.time()))

    def headers(self) -> list[tuple[bytes, bytes]]:
        reset_in = self.reset_in
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_at)).encode()),
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


class _WindowCounter:
    """Fixed windows in one storage, each window's end remembered after its first sighting."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # (storage key, window number) -> reset time, so only a window's first sighting reads it.
        self._resets: dict[str, float] = {}

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
            reset_at = await self.storage.get_expiry(key)
            self._remember(key, reset_at)
        return WindowCount(count, reset_at)

    def _remember(self, key: str, reset_at: float) -> None:
        if len(self._resets) >= _RESET_CACHE_MAX:
            now = time.time()
            self._resets = {k: v for k, v in self._resets.items() if v > now}
        self._resets[key] = reset_at


class RateLimiter:
    def __init__(self, storage: Storage, redis_pool: ConnectionPool | None = None) -> None:
        self._counter = _WindowCounter(storage)
        self._redis_pool = redis_pool
        # Shared storage only: where requests are counted while it cannot be reached.
        self._local = _WindowCounter(MemoryStorage()) if redis_pool is not None else None
        # time.monotonic() before which requests are counted locally (0: the shared one is up).
        self._local_until = 0.0

    @classmethod
    def from_url(cls, redis_url: str | None) -> RateLimiter:
        if not redis_url:
            return cls(MemoryStorage())
        # Our own pool, so the connections are closed when the app stops.
        pool = ConnectionPool.from_url(redis_url.removeprefix("async+"))
        uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
        storage = storage_from_string(
            uri,
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]  # passed through to redis-py
            # Redis's own errors arrive as limits' StorageError, whatever the client raises.
            wrap_exceptions=True,
        )
        assert isinstance(storage, Storage)  # async+ URIs give the asyncio storages
        return cls(storage, pool)

    @property
    def storage(self) -> Storage:
        return self._counter.storage

    async def close(self) -> None:
        if self._redis_pool is not None:
            await self._redis_pool.disconnect()

    @property
    def is_shared(self) -> bool:
        """True when counting is a network round trip (Redis), worth overlapping with other I/O."""
        return self._redis_pool is not None

    async def count(self, bucket: str) -> WindowCount:
        """Count one request against `bucket`'s current window."""
        key = _WINDOW.key_for(bucket)
        if self._local is None:
            return await self._counter.count(key)
        if self._local_until:
            now = time.monotonic()
            if now < self._local_until:
                return await self._local.count(key)
            # This request tries Redis again; the others go on counting locally meanwhile.
            self._local_until = now + SHARED_RETRY_SECONDS
        try:
            window = await self._counter.count(key)
        except StorageError as exc:
            if not self._local_until:
                log.warning(
                    "rate_limit_storage_unreachable",
                    error=f"{type(exc.storage_error).__name__}: {exc.storage_error}",
                    counting="per process",
                    retry_in_seconds=SHARED_RETRY_SECONDS,
                )
            self._local_until = time.monotonic() + SHARED_RETRY_SECONDS
            return await self._local.count(key)
        if self._local_until:
            self._local_until = 0.0
            log.warning("rate_limit_storage_reachable_again", counting="shared")
        return window

    async def hit(self, bucket: str, limit: int, policy: str) -> RateLimitDecision:
        return decide(await self.count(bucket), limit, policy)

    async def check(self) -> bool:
        return await self.storage.check()
