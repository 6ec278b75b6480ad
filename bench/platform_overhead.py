"""What the API platform layer costs per request (issue #3's target: ≤ 0.3 ms).

The same tiny endpoint is mounted twice in one app: under /api/v1 (through the platform layer:
key lookup, rate limit and headers, usage record, the Principal dependency) and outside it.

- Default mode: both are called in one process, alternating in blocks, straight through ASGI (no
  sockets or HTTP parsing, which cost the same either way), one request at a time; the layer's
  cost is the difference of the medians, in wall time and in this process's CPU time.
- `--http`: the app runs under uvicorn (one worker) and `wrk` loads each endpoint in turn at
  concurrency 16; the layer's cost is 1/rps(platform) - 1/rps(bare): server time per request.

    .venv/bin/python -m bench.platform_overhead [--http] [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from billabled import migrations
from billabled.api_key.service import create_api_key
from billabled.app import create_app
from billabled.audit.service import SYSTEM
from billabled.auth.dependencies import AnyKey
from billabled.auth.scopes import ALL_SCOPES
from billabled.config import Settings
from billabled.kit.apikeys import derive_pepper
from billabled.kit.jsonresponse import JsonResponse
from billabled.models.workspace import Plan
from billabled.workspace.service import create_workspace

BODY = {"ok": True}


def build_app(settings: Settings) -> FastAPI:
    app = create_app(settings)

    async def through_platform(principal: AnyKey) -> JsonResponse:
        return JsonResponse(BODY)

    async def bare() -> JsonResponse:
        return JsonResponse(BODY)

    app.add_api_route("/api/v1/_bench/ping", through_platform, methods=["GET"])
    app.add_api_route("/_bench/ping", bare, methods=["GET"])
    return app


async def call(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def setup_key(app: FastAPI, settings: Settings) -> str:
    database = app.state.database
    async with database.transaction() as session:
        created = await create_workspace(
            session, name="Bench", owner_email="bench@example.com", plan=Plan.BUSINESS, actor=SYSTEM
        )
        key = await create_api_key(
            session,
            pepper=derive_pepper(settings.resolved_secret_key),
            workspace_id=created.workspace.id,
            creator_user_id=created.owner.id,
            creator_role="owner",
            name="bench",
            scopes=ALL_SCOPES,
            actor=SYSTEM,
        )
    return key.raw_key


async def measure(settings: Settings, requests: int, block: int) -> dict[str, float]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        raw_key = await setup_key(app, settings)
        # The business plan allows 1000 a minute; lift it for the benchmark's key.
        import billabled.ratelimit as ratelimit

        ratelimit.PLAN_LIMITS_PER_MINUTE["business"] = 10**9
        with_key = [(b"x-api-key", raw_key.encode()), (b"user-agent", b"bench")]
        for _ in range(500):  # warm up both paths
            assert await call(app, "/api/v1/_bench/ping", with_key) == 200
            assert await call(app, "/_bench/ping", with_key) == 200
        wall: dict[str, list[float]] = {"platform": [], "bare": []}
        cpu: dict[str, list[float]] = {"platform": [], "bare": []}
        for _ in range(max(1, requests // block)):
            for name, path in (("platform", "/api/v1/_bench/ping"), ("bare", "/_bench/ping")):
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(block):
                    await call(app, path, with_key)
                wall[name].append((time.perf_counter() - started) / block)
                cpu[name].append((time.process_time() - started_cpu) / block)
        await app.state.platform.usage.flush()

    def median_us(samples: list[float]) -> float:
        return statistics.median(samples) * 1e6

    return {
        "platform_us": median_us(wall["platform"]),
        "bare_us": median_us(wall["bare"]),
        "overhead_us": median_us(wall["platform"]) - median_us(wall["bare"]),
        "platform_cpu_us": median_us(cpu["platform"]),
        "bare_cpu_us": median_us(cpu["bare"]),
        "overhead_cpu_us": median_us(cpu["platform"]) - median_us(cpu["bare"]),
    }


def create_bench_app() -> FastAPI:
    """uvicorn factory for --http: settings from BILLABLED_* variables."""
    import billabled.ratelimit as ratelimit

    ratelimit.PLAN_LIMITS_PER_MINUTE["business"] = 10**9
    return build_app(Settings())


async def _make_key(settings: Settings) -> str:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        return await setup_key(app, settings)


def measure_http(settings: Settings, seconds: int, rounds: int) -> dict[str, float]:
    import os
    import re
    import shutil
    import subprocess
    import sys

    from tests.support import free_port

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--http needs wrk (apt-get install wrk)")
    raw_key = asyncio.run(_make_key(settings))
    port = free_port()
    env = {
        **os.environ,
        "BILLABLED_DATA_DIR": str(settings.data_dir),
        "BILLABLED_DATABASE_URL": settings.resolved_database_url,
        "BILLABLED_SECRET_KEY": settings.resolved_secret_key.decode(),
        "BILLABLED_LOG_LEVEL": "warning",
        **({"BILLABLED_REDIS_URL": settings.redis_url} if settings.redis_url else {}),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.platform_overhead:create_bench_app", "--factory",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            if (
                subprocess.run(["curl", "-sf", f"{base}/healthz"], capture_output=True).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        rps: dict[str, list[float]] = {"platform": [], "bare": []}
        for round_ in range(rounds + 1):  # the first round warms up and is dropped
            for name, path in (("platform", "/api/v1/_bench/ping"), ("bare", "/_bench/ping")):
                command = [wrk, "-t1", "-c16", f"-d{seconds}s", "-H", f"X-Api-Key: {raw_key}"]
                out = subprocess.run(
                    [*command, base + path], capture_output=True, text=True, check=True
                ).stdout
                match = re.search(r"Requests/sec:\s+([\d.]+)", out)
                assert match, out
                if round_:
                    rps[name].append(float(match.group(1)))
    finally:
        server.terminate()
        server.wait(timeout=15)
    platform = statistics.median(rps["platform"])
    bare = statistics.median(rps["bare"])
    return {
        "platform_rps": platform,
        "bare_rps": bare,
        "overhead_us": (1 / platform - 1 / bare) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--http", action="store_true", help="measure under wrk load instead")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if args.database_url:
            from tests.support import create_postgres_database, drop_postgres_database

            url = create_postgres_database(args.database_url, prefix="billabled_bench")
        try:
            migrations.upgrade(url)
            settings = Settings(
                data_dir=Path(tmp),
                database_url=url,
                redis_url=args.redis_url,
                secret_key="bench-secret-key-0123456789abcdefghijklmnop",
                log_level="warning",
            )
            if args.http:
                result = measure_http(settings, args.seconds, args.rounds)
            else:
                result = asyncio.run(measure(settings, args.requests, args.block))
        finally:
            if args.database_url:
                drop_postgres_database(url)
    backend = "postgresql" if args.database_url else "sqlite"
    storage = "redis" if args.redis_url else "memory"
    if args.http:
        print(
            f"{backend:10} limits={storage:6} | wrk -c16:"
            f" platform {result['platform_rps']:7.0f} req/s, bare {result['bare_rps']:7.0f} req/s,"
            f" layer {result['overhead_us']:6.1f} µs/request"
        )
        return
    print(
        f"{backend:10} limits={storage:6} | wall: platform {result['platform_us']:6.1f} µs,"
        f" bare {result['bare_us']:6.1f} µs, layer {result['overhead_us']:6.1f} µs"
        f" | server CPU: platform {result['platform_cpu_us']:6.1f} µs,"
        f" bare {result['bare_cpu_us']:6.1f} µs, layer {result['overhead_cpu_us']:6.1f} µs"
    )


if __name__ == "__main__":
    main()
