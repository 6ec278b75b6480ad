"""One request, many times, through an app's ASGI callable in this process: no server, no socket,
no load generator. For profilers (`py-spy record -- python -m bench.inprocess …`) and for
instruction counts, which hold on a noisy machine where timings don't:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.inprocess --manifest M --what week --requests 320
    (the same with --requests 16; the difference of the two totals / 304 = one request)

The app starts through its lifespan (so our app's garbage-collector settings apply), takes
`--warmup` requests, then `--requests` more from `--concurrency` tasks at a time, and prints the
wall and CPU time per request. A status other than 200 (201 for `post` and `bulk`) stops the run.
`post` logs time as scenario 3 does (a distinct body per request), `bulk` as scenario 6 does (500
entries a request): both add entries to the dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WHAT = {
    "me": ("/api/v1/me", "apiKey"),
    "month": (
        "/api/v1/time-entries?projectId={project[id]}&from={project[from]}&to={project[to]}"
        "&pageSize=200",
        "apiKey",
    ),
    "week": (
        "/api/v1/time-entries?userId={user[id]}&from={user[earlyWeek][from]}"
        "&to={user[earlyWeek][to]}",
        "memberApiKey",
    ),
    "post": ("/api/v1/time-entries", "apiKey"),
    "bulk": ("/api/v1/time-entries/bulk", "apiKey"),
}
BULK_ITEMS = 500

Asgi = Callable[..., Any]


def _scope(path_and_query: str, key: str, method: str) -> dict[str, Any]:
    path, _, query = path_and_query.partition("?")
    headers = [(b"host", b"localhost"), (b"authorization", f"Bearer {key}".encode())]
    if method == "POST":
        headers.append((b"content-type", b"application/json"))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _entry(counter: int, project_id: str) -> dict[str, Any]:
    """Scenario 3's entry (bench/lua/post_entry.lua): the date walks back from 2026-01-01."""
    day = date(2026, 1, 1) - timedelta(days=counter % 365)
    return {
        "projectId": project_id,
        "date": day.isoformat(),
        "durationSeconds": 900 + (counter % 28) * 300,
        "description": f"inprocess n{counter}",
    }


def _body(what: str, counter: int, project_id: str) -> bytes:
    """Scenario 3's body, or scenario 6's: 500 such entries (bench/lua/post_bulk.lua)."""
    if what == "bulk":
        first = counter * BULK_ITEMS
        items = [_entry(first + n, project_id) for n in range(BULK_ITEMS)]
        return json.dumps({"items": items}).encode()
    return json.dumps(_entry(counter, project_id)).encode()


async def _request(app: Asgi, scope: dict[str, Any], body: bytes = b"") -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [*scope["headers"], (b"content-length", str(len(body)).encode())]
    await app(dict(scope, state={}, headers=headers), receive, send)
    if sent[0]["status"] not in (200, 201):
        body = b"".join(m.get("body", b"") for m in sent[1:])
        raise SystemExit(f"status {sent[0]['status']}: {body[:300]!r}")
    return sum(len(m.get("body", b"")) for m in sent[1:])


async def _run(app: Asgi, scope: dict[str, Any], args: argparse.Namespace, project_id: str) -> None:
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            startup.get,
            lifespan_send,
        )
    )
    await started.wait()
    counter = itertools.count()
    posting = scope["method"] == "POST"

    async def one() -> int:
        body = _body(args.what, next(counter), project_id) if posting else b""
        return await _request(app, scope, body)

    size = 0
    for _ in range(args.warmup):
        size = await one()

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    per_task = args.requests // args.concurrency
    total = per_task * args.concurrency
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(per_task) for _ in range(args.concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{args.app} {args.what}: {total} requests ({size} B each), "
        f"{wall / total * 1e6:.0f} µs wall, {cpu / total * 1e6:.0f} µs CPU per request"
    )
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True, help="from bench.dataset")
    parser.add_argument("--what", choices=sorted(WHAT), default="week")
    parser.add_argument("--app", choices=("ours", "ceiling"), default="ours")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    if args.app == "ceiling" and args.what in ("post", "bulk"):
        parser.error("the ceiling answers GETs only")
    manifest = json.loads(args.manifest.read_text())
    os.environ.update(
        BILLABLED_DATABASE_URL=manifest["databaseUrl"],
        BILLABLED_SECRET_KEY=manifest["secretKey"],
        BILLABLED_DATA_DIR=os.environ.get("TMPDIR", "/tmp") + f"/billabled-inprocess-{os.getpid()}",
        BILLABLED_LOG_LEVEL="warning",
    )
    # Imported after the environment is set: the apps read their settings when built.
    from bench import served

    app: Asgi = served.ours() if args.app == "ours" else served.ceiling()
    template, key_name = WHAT[args.what]
    method = "POST" if args.what in ("post", "bulk") else "GET"
    scope = _scope(template.format(**manifest), manifest[key_name], method)
    import uvloop

    # Writes need an active project, as in bench/scenarios.py (the month's may be archived).
    writes_to = manifest.get("writeProject", manifest["project"]["id"])
    uvloop.run(_run(app, scope, args, writes_to))


if __name__ == "__main__":
    main()
