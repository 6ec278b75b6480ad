"""CPU per rate-limit count in process memory as the clients of a minute grow: `limits`'
MemoryStorage (used until 2026-12-07) against `billabled.ratelimit.MemoryCounts`
(docs/benchmarks.md, eleventh round).

    .venv/bin/python -m bench.ratelimit_buckets

Each storage first holds `live` counters (clients seen this minute), then counts 5,000 requests,
yielding to the event loop after each as a server does between requests, so work a count leaves
to a background task is measured too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from limits.aio.storage import MemoryStorage

from billabled.ratelimit import MemoryCounts

COUNTS = 5_000


class _Storage(Protocol):
    async def incr(self, key: str, expiry: int) -> int: ...


async def _microseconds_per_count(storage: _Storage, live: int) -> float:
    for i in range(live):
        await storage.incr(f"client:{i}", 60)
    await asyncio.sleep(0.05)
    started = time.process_time()
    for i in range(COUNTS):
        await storage.incr(f"client:{i % 100}", 60)
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    return (time.process_time() - started) / COUNTS * 1e6


async def _main() -> None:
    print("live counters   MemoryStorage µs/count   MemoryCounts µs/count")
    for live in (100, 1_000, 10_000, 50_000):
        theirs = await _microseconds_per_count(MemoryStorage(), live)
        ours = await _microseconds_per_count(MemoryCounts(), live)
        print(f"{live:>13,}   {theirs:>22.1f}   {ours:>21.1f}")


if __name__ == "__main__":
    asyncio.run(_main())
