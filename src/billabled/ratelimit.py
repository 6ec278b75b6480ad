"""Per-key rate limits on the `limits` library (memory storage, or Redis shared by every instance).

Fixed one-minute windows per key, sized by the workspace's plan (SPEC §4). Requests without a valid
key are limited per client IP in a separate bucket, so they never spend a key's budget.

Every decision is one atomic increment in the storage (a Lua INCR+EXPIRE on Redis); the window's
reset time is read once per window and remembered, so the hot path is a single round trip.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Final

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
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


class RateLimiter:
    def __init__(self, storage: Storage, redis_pool: ConnectionPool | None = None) -> None:
        self.storage = storage
        self._redis_pool = redis_pool
        # (storage key, window number) -> reset time, so only a window's first sighting reads it.
        self._resets: dict[str, float] = {}

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
        )
        assert isinstance(storage, Storage)  # async+ URIs give the asyncio storages
        return cls(storage, pool)

    async def close(self) -> None:
        if self._redis_pool is not None:
            await self._redis_pool.disconnect()

    @property
    def is_shared(self) -> bool:
        """True when counting is a network round trip (Redis), worth overlapping with other I/O."""
        return self._redis_pool is not None

    async def count(self, bucket: str) -> WindowCount:
        """Count one request against `bucket`'s current window (one atomic increment)."""
        key = _WINDOW.key_for(bucket)
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

    async def hit(self, bucket: str, limit: int, policy: str) -> RateLimitDecision:
        return decide(await self.count(bucket), limit, policy)

    def _remember(self, key: str, reset_at: float) -> None:
        if len(self._resets) >= _RESET_CACHE_MAX:
            now = time.time()
            self._resets = {k: v for k, v in self._resets.items() if v > now}
        self._resets[key] = reset_at

    async def check(self) -> bool:
        return await self.storage.check()
