"""What every API request must do beyond the ceiling's work, each duty timed alone, and the best
ratio to the ceiling that leaves for scenario 4 (`GET /me`, target: at least 0.8 of it).

The ceiling (`bench/ceiling.py`) checks the key and renders the JSON. SPEC §4 asks more of every
`/api/v1` request, and these are done by the app's own code and libraries, called here exactly as
the platform layer calls them:

- a request id (`kit.ids.new_id`, a ULID);
- the request log line (structlog, JSON by orjson) — written at the production level `info`,
  and filtered out at `warning`, the level the scenarios run the servers at;
- the rate-limit count, decision and headers (`ratelimit.RateLimiter`: memory, or Redis with
  `--redis-url`);
- the usage record: the entry with its hashed IP, and its share of a flush (one batch insert of
  `--flush-rows` records into the manifest's database; this process's CPU only; the records are
  deleted afterwards).

Each is timed as this process's CPU time per call over many calls, on uvloop as the servers run.
With `--ceiling-rps`, the ceiling's `/me` requests/s from a scenarios run, it prints the ratio an
app that did nothing but the ceiling's work and these duties would reach, the server being the
one busy core:
(1/ceiling) / (1/ceiling + duties).

    .venv/bin/python -m bench.platform_duties --manifest bench/results/dataset-postgresql.json \\
        [--ceiling-rps 20594] [--redis-url redis://127.0.0.1:6379/14] [--in-flight 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import uvloop
from sqlalchemy import delete

from billabled.config import Settings
from billabled.db import create_app_engine
from billabled.kit.ids import new_id
from billabled.kit.time import utcnow
from billabled.logging import configure_logging
from billabled.models.usage import UsageRecord
from billabled.ratelimit import RateLimiter, decide
from billabled.usage.recorder import UsageEntry, UsageRecorder

ENDPOINT = "/bench/platform-duties"  # the records written here, deleted at the end


def cpu_us_per_call(calls: int, work: Callable[[], Any]) -> float:
    started = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - started) / calls * 1e6


def log_line_us(calls: int, level: str) -> float:
    # The app's own logging set-up, writing to a sink that discards (the servers' output is a
    # file or a pipe; the write itself is not the measure here).
    with open(os.devnull, "w") as sink:
        configure_logging(level, "json")  # type: ignore[arg-type]
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sink))
        log = structlog.get_logger("billabled.request")

        def line() -> None:
            structlog.contextvars.bind_contextvars(request_id="req_01JBENCH")
            log.info(
                "request",
                method="GET",
                route="/api/v1/me",
                path="/api/v1/me",
                status=200,
                duration_ms=0.12,
            )
            structlog.contextvars.unbind_contextvars("request_id")

        return cpu_us_per_call(calls, line)


async def rate_limit_us(calls: int, redis_url: str | None, in_flight: int) -> float:
    """CPU µs per count, decision and headers, `in_flight` requests counting at a time (as a
    server under `wrk -c16` has them; in Redis, counts made together travel together)."""
    limiter = RateLimiter.from_url(redis_url)
    each = calls // in_flight

    async def requests() -> None:
        for _ in range(each):
            window = await limiter.count("key:bench-platform-duties")
            decide(window, 10**9, "key").headers()

    try:
        started = time.process_time()
        await asyncio.gather(*(requests() for _ in range(in_flight)))
        return (time.process_time() - started) / (each * in_flight) * 1e6
    finally:
        await limiter.close()


async def usage_us(calls: int, flush_rows: int, manifest: dict[str, Any]) -> tuple[float, float]:
    """(µs to make and buffer one entry, µs of this process's CPU per entry written)."""
    settings = Settings(database_url=manifest["databaseUrl"], secret_key=manifest["secretKey"])
    engine = create_app_engine(settings)
    recorder = UsageRecorder(engine, settings.resolved_secret_key, retention_days=90)
    try:

        def one() -> None:
            now = utcnow()
            recorder.record(
                UsageEntry(
                    workspace_id=manifest["workspaceId"],
                    api_key_id=None,
                    endpoint=ENDPOINT,
                    method="GET",
                    status=200,
                    user_agent="wrk",
                    ip_hash=recorder.hash_ip("127.0.0.1", now),
                    latency_us=120,
                    created_at=now,
                )
            )

        # Batches of a busy second each: made and buffered, then written in one flush.
        made: list[float] = []
        flushes: list[float] = []
        for _ in range(max(1, calls // flush_rows)):
            made.append(cpu_us_per_call(flush_rows, one))
            started = time.process_time()
            written = await recorder.flush()
            flushes.append((time.process_time() - started) / written * 1e6)
        entry_us = statistics.median(made)
        return entry_us, statistics.median(flushes)
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(UsageRecord).where(UsageRecord.endpoint == ENDPOINT))
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--in-flight", type=int, default=1, help="rate-limit counts made at a time (default 1)"
    )
    parser.add_argument("--calls", type=int, default=180_000)
    parser.add_argument("--flush-rows", type=int, default=9_000, help="records per flush")
    parser.add_argument("--ceiling-rps", type=float, default=None)
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text())

    rate_limit = uvloop.run(rate_limit_us(args.calls, args.redis_url, args.in_flight))
    entry, flush = uvloop.run(usage_us(args.calls, args.flush_rows, manifest))
    duties = {
        "request id": cpu_us_per_call(args.calls, lambda: new_id("req")),
        f"rate limit ({'Redis' if args.redis_url else 'memory'}, {args.in_flight} in flight)": (
            rate_limit
        ),
        "usage entry": entry,
        f"usage flush ({manifest['backend']}, per record)": flush,
    }
    logged = log_line_us(args.calls, "info")
    filtered = log_line_us(args.calls, "warning")

    width = max(len(name) for name in duties) + 2
    for name, us in duties.items():
        print(f"{name:<{width}} {us:7.2f} µs")
    print(f"{'request log line, info':<{width}} {logged:7.2f} µs (with the request-id context)")
    print(f"{'request log line, warning':<{width}} {filtered:7.2f} µs (the context only: filtered)")
    for level, log_us in (("info", logged), ("warning", filtered)):
        total = sum(duties.values()) + log_us
        line = f"duties, log level {level}: {total:.1f} µs"
        if args.ceiling_rps:
            ceiling_us = 1e6 / args.ceiling_rps
            line += (
                f"; ceiling {ceiling_us:.1f} µs a request → at best "
                f"{ceiling_us / (ceiling_us + total):.2f} of it"
            )
        print(line)


if __name__ == "__main__":
    main()
