"""The API under load, scenario by scenario, as ratios to the ceiling measured in the same run.

    .venv/bin/python -m bench.scenarios --manifest bench/results/dataset-postgresql.json \
        [--quick] [--duration S] [--connections 16] [--threads 1] [--explain] [--only 1,4]
        [--workers 1] [--redis-url redis://127.0.0.1:6379/14]

Starts our server (`billabled.app:create_app` through `bench.served`, which lifts the plan's rate
limit in every worker) and the ceiling (`bench.ceiling`) on loopback ports with the same uvicorn
settings (one worker unless `--workers`, no access log; our rate limits in memory, or in Redis
with `--redis-url` as production runs them beyond one process), waits for /healthz, checks that both
answer the same bytes, then runs `wrk --latency` (its own process) against each, alternating ours
and the ceiling's:

1. the project's month: `GET /time-entries?projectId&from&to&pageSize=200`;
2. deep paging: page 4,000 of 200 by `cursor` (computed once from the row before it), page 1,
   and the same page by `page=4000` (offset). On a smaller dataset the deepest full page is used;
3. `POST /time-entries`, a distinct body per request (`lua/post_entry.lua`): created entries/s;
4. `GET /me`: the platform layer alone;
5. one person's week (`userId&from&to`, member key): the early week and the current week;
6. `POST /time-entries/bulk`, 500 entries a request (`lua/post_bulk.lua`): entries/s.

Reads run first, writes (3, 6) last, as they grow the dataset. Results go to
`bench/results/scenarios-<backend>-<timestamp>.json`. `--explain` prints the plans of the main
SQL of scenarios 1, 2 and 5 and of scenario 1's tag query, executed with the bound parameters the
app sends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bench.ceiling import choose_page, entries_statement, page_statements
from billabled.auth.principal import Principal
from billabled.db import async_url
from billabled.kit.pagination import AnySelect, encode_cursor
from billabled.kit.sql import one_of_value
from billabled.models.membership import Role
from billabled.models.time_entry import TimeEntry
from billabled.time_entry.service import EntriesQuery, entries_query, entry_tags_statement

BENCH_DIR: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH_DIR.parent
LUA: Final = BENCH_DIR / "lua"
RESULTS: Final = BENCH_DIR / "results"
PAGE_SIZE: Final = 200
DEEP_PAGE: Final = 4000
BULK_ITEMS: Final = 500

# As `billabled serve` serves, its HTTP protocol included (the ceiling too: served the same way).
SERVE: Final = """
import sys, uvicorn
from billabled.http_protocol import BoundedHttpToolsProtocol
uvicorn.run(sys.argv[1], factory=True, host="127.0.0.1", port=int(sys.argv[2]),
            workers=int(sys.argv[3]), log_config=None, access_log=False, server_header=False,
            http=BoundedHttpToolsProtocol)
"""


# --- processes -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(manifest: dict[str, Any], data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BILLABLED_REDIS_URL"}
    env.update(
        BILLABLED_DATABASE_URL=manifest["databaseUrl"],
        BILLABLED_SECRET_KEY=manifest["secretKey"],
        BILLABLED_DATA_DIR=str(data_dir),
        BILLABLED_LOG_LEVEL="warning",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    return env


@contextmanager
def serving(target: str, env: dict[str, str], log: Path, workers: int = 1) -> Iterator[str]:
    """Run `target` (an ASGI factory) under uvicorn; yield its base URL; stop it after."""
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, target, str(port), str(workers)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{target} exited; see {log}")
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{target} did not become healthy; see {log}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def fetch(url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """GET `url`, or POST `body` as JSON to it."""
    request = urllib.request.Request(url, headers={"X-Api-Key": key})
    if body is not None:
        request.data = orjson.dumps(body)
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- wrk ---------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int
    seconds: float
    ok_per_s: float = 0.0  # 2xx answers per second
    items_per_s: float = 0.0  # entries created per second (writes)


_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, seconds: float) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    requests = int(total.group(1)) if total else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    bad = int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(
        requests_per_s=rps,
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=requests,
        non_2xx=bad,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        seconds=seconds,
        ok_per_s=rps * (requests - bad) / requests if requests else 0.0,
    )


# Fewer requests in a run than this is not a measurement (a p99 of 20 requests is their maximum).
MIN_REQUESTS: Final = 20


async def wait_for_writes_to_end(database_url: str, workspace: str) -> None:
    """Until the workspace's entries stop growing: requests wrk left behind still run. (An
    engine of its own: each `asyncio.run` is a new event loop, which pooled connections of
    another cannot serve.)"""
    count = select(func.count()).select_from(TimeEntry).where(TimeEntry.workspace_id == workspace)
    engine = create_async_engine(async_url(database_url), poolclass=NullPool)
    last = -1
    try:
        for _ in range(120):
            async with engine.connect() as connection:
                now = int((await connection.execute(count)).scalar_one())
            if now == last:
                return
            last = now
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    raise SystemExit("the server was still writing a minute after the load stopped")


def run_wrk(
    url: str, script: str, args: list[str], *, seconds: int, connections: int, threads: int
) -> WrkResult:
    command = [
        shutil.which("wrk") or "/usr/bin/wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output, seconds)


# --- the dataset -------------------------------------------------------------------------------


@dataclass
class Setup:
    """What the scenarios need beyond the manifest, read once before the load."""

    total_entries: int
    deep_page: int
    deep_cursor: str | None


async def read_setup(engine: AsyncEngine, manifest: dict[str, Any]) -> Setup:
    workspace = manifest["workspaceId"]
    async with engine.connect() as connection:
        total = int(
            (
                await connection.execute(
                    select(func.count())
                    .select_from(TimeEntry)
                    .where(TimeEntry.workspace_id == workspace)
                )
            ).scalar_one()
        )
        # The deepest page of 200 that exists, at most page 4,000.
        deep = max(1, min(DEEP_PAGE, total // PAGE_SIZE))
        cursor = None
        if deep > 1:
            row = (
                await connection.execute(
                    select(TimeEntry.created_at, TimeEntry.id)
                    .where(TimeEntry.workspace_id == workspace)
                    .order_by(TimeEntry.created_at, TimeEntry.id)
                    .offset((deep - 1) * PAGE_SIZE - 1)
                    .limit(1)
                )
            ).one()
            cursor = encode_cursor(
                "createdAt", row.created_at, row.id, table=TimeEntry.__tablename__
            )
    return Setup(total, deep, cursor)


# --- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    number: int
    name: str
    path: str
    key: str
    script: str = "get.lua"
    args: list[str] = field(default_factory=list)
    ceiling: bool = True
    items_per_request: int = 0  # writes: entries created by a 2xx answer


def scenarios(manifest: dict[str, Any], setup: Setup) -> list[Scenario]:
    owner, member = manifest["apiKey"], manifest.get("memberApiKey") or manifest["apiKey"]
    project, user = manifest["project"], manifest["user"]
    # Writes need an active project (manifests before `writeProject` used the month's project).
    writes_to = manifest.get("writeProject", project["id"])
    month = f"projectId={project['id']}&from={project['from']}&to={project['to']}"
    today = datetime.now(UTC).date()
    base_epoch = str(int(datetime.combine(today, datetime.min.time(), UTC).timestamp()))
    listed: list[Scenario] = [
        Scenario(1, "project month", f"/api/v1/time-entries?{month}&pageSize=200", owner),
        Scenario(2, "page 1 (page mode)", "/api/v1/time-entries?pageSize=200", owner),
    ]
    if setup.deep_cursor:
        listed += [
            Scenario(
                2,
                f"page {setup.deep_page} by cursor",
                f"/api/v1/time-entries?pageSize=200&cursor={setup.deep_cursor}",
                owner,
            ),
            Scenario(
                2,
                f"page {setup.deep_page} by page=",
                f"/api/v1/time-entries?pageSize=200&page={setup.deep_page}",
                owner,
            ),
        ]
    listed.append(Scenario(4, "GET /me", "/api/v1/me", owner))
    for label in ("earlyWeek", "currentWeek"):
        week = user[label]
        listed.append(
            Scenario(
                5,
                f"week {label}",
                f"/api/v1/time-entries?userId={user['id']}&from={week['from']}&to={week['to']}",
                member,
            )
        )
    listed += [
        Scenario(
            3,
            "POST entry",
            "/api/v1/time-entries",
            owner,
            "post_entry.lua",
            [writes_to, base_epoch],
            ceiling=False,
            items_per_request=1,
        ),
        Scenario(
            6,
            f"POST bulk x{BULK_ITEMS}",
            "/api/v1/time-entries/bulk",
            owner,
            "post_bulk.lua",
            [writes_to, base_epoch],
            ceiling=False,
            items_per_request=BULK_ITEMS,
        ),
    ]
    return listed


# --- self-check --------------------------------------------------------------------------------


def _without_volatile(body: bytes) -> Any:
    value = orjson.loads(body)
    if isinstance(value, dict) and isinstance(value.get("rateLimit"), dict):
        value["rateLimit"].pop("remaining", None)
        value["rateLimit"].pop("resetAt", None)
    return value


def self_check(ours: str, ceiling: str, listed: list[Scenario]) -> list[str]:
    """Every GET scenario: the ceiling's body equals ours byte for byte (/me: but for the
    rate-limit counters). Every write scenario: one request like its script's is accepted (the
    load would otherwise measure refusals). Returns what differed (empty: all equal)."""
    problems: list[str] = []
    for scenario in listed:
        if not scenario.ceiling:
            project_id = scenario.args[0]
            item = {"projectId": project_id, "date": datetime.now(UTC).date().isoformat(),
                    "durationSeconds": 900, "description": "bench self-check"}  # fmt: skip
            body = {"items": [item]} if scenario.path.endswith("/bulk") else item
            status, answer = fetch(ours + scenario.path, scenario.key, body)
            if status != 201:
                problems.append(f"{scenario.name}: status {status}: {answer[:300]!r}")
            else:
                print(f"  accepted: {scenario.name}")
            continue
        status_a, body_a = fetch(ours + scenario.path, scenario.key)
        status_b, body_b = fetch(ceiling + scenario.path, scenario.key)
        if status_a != 200 or status_b != 200:
            problems.append(f"{scenario.name}: status ours {status_a}, ceiling {status_b}")
        elif scenario.path.endswith("/me"):
            if _without_volatile(body_a) != _without_volatile(body_b):
                problems.append(f"{scenario.name}: /me bodies differ")
            else:
                print(f"  same JSON but rateLimit.remaining/resetAt: {scenario.name}")
        elif body_a != body_b:
            problems.append(f"{scenario.name}: bodies differ ({len(body_a)} vs {len(body_b)} B)")
        else:
            print(f"  same bytes: {scenario.name} ({len(body_a):,} B)")
    return problems


def _principal(manifest: dict[str, Any], role: Role, user_id: str) -> Principal:
    return Principal(
        workspace_id=manifest["workspaceId"], workspace_name="", plan="business", currency="USD",
        time_zone="UTC", week_start=1, user_id=user_id, user_name="", user_email="", role=role,
        key_id="k", key_name="", key_prefix="", key_expires_at=None, granted_scopes=frozenset(),
        effective_scopes=frozenset(),
    )  # fmt: skip


def same_sql_check(manifest: dict[str, Any], dialect: Any) -> list[str]:
    """The ceiling lists with the same SQL and the same bound values as `entries_query`."""
    problems = []
    project, user = manifest["project"], manifest["user"]
    month_from = date.fromisoformat(project["from"])
    week_to = date.fromisoformat(user["earlyWeek"]["to"])
    cases = [
        (Role.OWNER, {"project_id": project["id"], "date_from": month_from}),
        (Role.MEMBER, {"user_id": user["id"], "date_to": week_to}),
    ]
    for role, filters in cases:
        ours = entries_query(_principal(manifest, role, user["id"]), **filters)
        theirs = entries_statement(
            manifest["workspaceId"],
            None if role == Role.OWNER else user["id"],
            date_from=filters.get("date_from"),
            date_to=filters.get("date_to"),
            user_id=filters.get("user_id"),
            project_id=filters.get("project_id"),
        )
        template, values = theirs.template, theirs.values
        if str(ours.template.compile(dialect=dialect)) != str(template.compile(dialect=dialect)):
            problems.append(f"SQL differs for {role.value}")
        if ours.values != values:
            problems.append(f"values differ for {role.value}: {ours.values} != {values}")
        if ours.few_first(None) != theirs.few_first(None):
            problems.append(f"the page is chosen differently for {role.value}")
    return problems


# --- EXPLAIN -----------------------------------------------------------------------------------


def _explaining(engine: AsyncEngine, prefix: str) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _prefix(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        if conn.get_execution_options().get("bench_explain"):
            return prefix + statement, parameters
        return statement, parameters


async def explain(engine: AsyncEngine, manifest: dict[str, Any], setup: Setup) -> dict[str, str]:
    """Each main statement run as the app runs it (same engine, same bound parameters), with
    EXPLAIN put in front of it at the cursor: the plans the app's queries really get."""
    is_sqlite = engine.dialect.name == "sqlite"
    _explaining(engine, "EXPLAIN QUERY PLAN " if is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) ")
    workspace, project, user = manifest["workspaceId"], manifest["project"], manifest["user"]

    def listing(member: str | None, **filters: Any) -> EntriesQuery:
        return entries_statement(
            workspace,
            member,
            date_from=filters.get("date_from"),
            date_to=filters.get("date_to"),
            user_id=filters.get("user_id"),
            project_id=filters.get("project_id"),
        )

    month = listing(
        None,
        project_id=project["id"],
        date_from=date.fromisoformat(project["from"]),
        date_to=date.fromisoformat(project["to"]),
    )
    everything = listing(None)
    # label of the page, label of the count (None: not counted), listing, page, size, cursor
    Listing = tuple[str, str | None, EntriesQuery, int, int, tuple[datetime, str] | None]
    listings: list[Listing] = [
        ("1 project month: page", "1 project month: count", month, 1, PAGE_SIZE, None),
        ("2 page 1: page", "2 page 1 / page=N: count", everything, 1, PAGE_SIZE, None),
    ]
    if setup.deep_cursor:
        from bench.ceiling import decode_cursor

        deep, deep_cursor = setup.deep_page, decode_cursor(setup.deep_cursor)
        listings += [
            (f"2 page {deep} by cursor", None, everything, 1, PAGE_SIZE, deep_cursor),
            (f"2 page {deep} by page=", None, everything, deep, PAGE_SIZE, None),
        ]
    for label in ("earlyWeek", "currentWeek"):
        week = user[label]
        # The member key: the member's own entries, and the userId filter as sent.
        listed = listing(
            user["id"],
            user_id=user["id"],
            date_from=date.fromisoformat(week["from"]),
            date_to=date.fromisoformat(week["to"]),
        )
        listings.append((f"5 week {label}: page", f"5 week {label}: count", listed, 1, 50, None))
    statements: dict[str, tuple[AnySelect, dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for page_label, count_label, listed, page_number, size, cursor in listings:
            derived, values = page_statements(
                listed, page=page_number, page_size=size, cursor=cursor
            )
            # The page statement the app would choose (with few matching rows, read alone).
            page, _ = await choose_page(
                connection,
                derived,
                values,
                cursor=cursor is not None,
                few_first=listed.few_first(None),
            )
            statements[page_label] = (page, values)
            if count_label is not None:
                statements[count_label] = (derived.count, values)
    plans: dict[str, str] = {}
    async with engine.connect() as connection:
        # The tag query of scenario 1's page, for the ids that page really lists.
        page, values = statements["1 project month: page"]
        ids = [row.id for row in (await connection.execute(page, values)).all()[:PAGE_SIZE]]
        dialect = engine.dialect.name
        statements["1 project month: tags"] = (
            entry_tags_statement(dialect),
            {"entry_ids": one_of_value(ids)},
        )
        explaining = await connection.execution_options(bench_explain=True)
        for name, (statement, values) in statements.items():
            cursor_result = await explaining.execute(statement, values)
            # The driver's own rows: SQLAlchemy would read them as the statement's columns.
            rows = cursor_result.cursor.fetchall()
            if is_sqlite:
                lines = [f"{row[0]}|{row[1]}| {row[-1]}" for row in rows]
            else:
                lines = [str(row[0]) for row in rows]
            plans[name] = "\n".join(lines)
    return plans


def indexes_in(plan: str) -> list[str]:
    found = re.findall(
        r"(?:USING (?:COVERING )?INDEX|using|Index Scan on|on) (ix_\w+|pk_\w+)", plan
    )
    found += re.findall(r"\b(ix_\w+|pk_\w+|uq_\w+|sqlite_autoindex_\w+)\b", plan)
    if "Seq Scan" in plan or re.search(r"\bSCAN time_entry\b(?! USING)", plan):
        found.append("FULL SCAN of time_entry")
    return sorted(set(found))


# --- the run -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    from importlib.metadata import version

    for package in ("billabled", "uvicorn", "fastapi", "starlette", "sqlalchemy", "asyncpg",
                    "aiosqlite", "orjson", "uvloop", "httptools"):  # fmt: skip
        try:
            versions[package] = version(package)
        except Exception:  # not installed
            versions[package] = "-"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    versions["wrk"] = (wrk.stdout + wrk.stderr).splitlines()[0] if wrk.stdout + wrk.stderr else "-"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "versions": versions,
    }


async def _database_version(engine: AsyncEngine) -> str:
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(
                (await connection.exec_driver_sql("select sqlite_version()")).scalar()
            )
        return str((await connection.exec_driver_sql("show server_version")).scalar())


async def prepare(
    engine: AsyncEngine, manifest: dict[str, Any], want_plans: bool
) -> tuple[Setup, str, dict[str, str]]:
    """Everything read from the database before the load, on one event loop."""
    try:
        setup = await read_setup(engine, manifest)
        version = await _database_version(engine)
        plans = await explain(engine, manifest, setup) if want_plans else {}
    finally:
        await engine.dispose()
    return setup, version, plans


def _fmt(result: WrkResult | None) -> str:
    if result is None:
        return f"{'-':>9} {'-':>8} {'-':>8}"
    return f"{result.requests_per_s:9.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f}"


def _require_redis(url: str) -> None:
    """Exit unless Redis answers at `url`: without it our server would count its rate limits in
    memory (docs/decisions.md §22) and the results would say Redis."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        sys.exit(f"--redis-url: Redis does not answer at {url} ({exc})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="5 s per run (default 15 s)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--rounds", type=int, help="ours/ceiling alternations (median kept; of 2, the faster)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of unrecorded load per app before a scenario's runs (default 3; quick 1)",
    )
    parser.add_argument("--explain", action="store_true", help="print query plans, then run")
    parser.add_argument("--explain-only", action="store_true", help="print query plans only")
    parser.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,4")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes, ours and the ceiling's"
    )
    parser.add_argument(
        "--redis-url", help="count our rate limits in this Redis (default: in process memory)"
    )
    args = parser.parse_args()

    if args.redis_url:
        _require_redis(args.redis_url)
    manifest = orjson.loads(args.manifest.read_bytes())
    seconds = args.duration or (5 if args.quick else 15)
    rounds = args.rounds or (1 if args.quick else 2)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    only = {int(n) for n in args.only.split(",")} if args.only else None
    backend = manifest["backend"]
    engine = create_async_engine(async_url(manifest["databaseUrl"]))
    dialect = sqlite.dialect() if engine.dialect.name == "sqlite" else postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]

    want_plans = args.explain or args.explain_only
    setup, database_version, plans = asyncio.run(prepare(engine, manifest, want_plans))
    info = machine()
    info["database"] = database_version
    info["workers"] = args.workers
    info["rateLimits"] = "redis" if args.redis_url else "memory"
    print(f"machine: nproc={info['nproc']} cpu={info['cpu']!r} kernel={info['kernel']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"database: {backend} {info['database']}; {setup.total_entries:,} entries in the "
          f"workspace; deep page = {setup.deep_page}")  # fmt: skip

    problems = same_sql_check(manifest, dialect)
    for name, plan in plans.items():
        print(f"\n--- EXPLAIN {name}  [indexes: {', '.join(indexes_in(plan)) or 'none'}]")
        print(plan)
    if args.explain_only:
        return

    listed = [s for s in scenarios(manifest, setup) if only is None or s.number in only]
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    runs: dict[str, dict[str, list[WrkResult]]] = {}
    data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"billabled-bench-{os.getpid()}"
    data_dir.mkdir(exist_ok=True)
    env = _server_env(manifest, data_dir)
    ours_env = {**env, "BILLABLED_REDIS_URL": args.redis_url} if args.redis_url else env
    with (
        serving("bench.served:ours", ours_env, data_dir / "ours.log", args.workers) as ours,
        serving("bench.served:ceiling", env, data_dir / "ceiling.log", args.workers) as ceiling,
    ):
        print("\nself-check (ceiling vs ours):")
        problems += self_check(ours, ceiling, listed)
        for problem in problems:
            print(f"  MISMATCH {problem}")
        if any(": status " in problem for problem in problems):
            # A key the dataset no longer holds, or a broken server: load would measure errors.
            sys.exit("self-check: a scenario is refused (not 200, or 201 for writes); not loading")
        for scenario in listed:
            label = f"{scenario.number} {scenario.name}"
            runs[label] = {"ours": [], "ceiling": []}
            targets = [("ours", ours)] + ([("ceiling", ceiling)] if scenario.ceiling else [])

            def load(base: str, seconds: int, scenario: Scenario = scenario) -> WrkResult:
                return run_wrk(
                    base + scenario.path,
                    scenario.script,
                    [scenario.key, *scenario.args],
                    seconds=seconds,
                    connections=args.connections,
                    threads=args.threads,
                )

            def settled(scenario: Scenario = scenario) -> None:
                # wrk stops, the server does not: writes its clients left keep committing for
                # seconds (16 bulk requests, 5 s on SQLite), and the next run measured them.
                if scenario.items_per_request:
                    asyncio.run(
                        wait_for_writes_to_end(manifest["databaseUrl"], manifest["workspaceId"])
                    )

            # Unrecorded: the scenario's pages into the database's cache and each process's
            # statement caches, so the first app measured does not pay for both.
            for _, base in targets if warmup else []:
                load(base, warmup)
                settled()
            for _ in range(rounds):
                for who, base in targets:
                    result = load(base, seconds)
                    settled()
                    result.items_per_s = result.ok_per_s * scenario.items_per_request
                    runs[label][who].append(result)
                    print(f"  {label:<32} {who:<8} {_fmt(result)}  non-2xx {result.non_2xx}")

    # The servers' logs are kept when they say something (a warning, an error); else the
    # folder goes (one was left behind per run).
    if not any(path.stat().st_size for path in data_dir.iterdir()):
        shutil.rmtree(data_dir, ignore_errors=True)

    def median(results: list[WrkResult]) -> WrkResult | None:
        if not results:
            return None
        return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]

    print(f"\n{backend}: {seconds} s x {rounds} per figure, {args.connections} connections, "
          f"wrk -t{args.threads} (median run); our rate limits: {info['rateLimits']}")  # fmt: skip
    header = f"{'scenario':<34} {'ours r/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(
        header
        + f" | {'ceil r/s':>9} {'p50 ms':>8} {'p99 ms':>8} | {'ratio':>6} | non-2xx | items/s"
    )
    summary: dict[str, Any] = {}
    for label, pair in runs.items():
        ours_result, ceiling_result = median(pair["ours"]), median(pair["ceiling"])
        assert ours_result is not None
        ratio = (
            ours_result.requests_per_s / ceiling_result.requests_per_s
            if ceiling_result and ceiling_result.requests_per_s
            else None
        )
        items = f"{ours_result.items_per_s:,.0f}" if ours_result.items_per_s else ""
        print(
            f"{label:<34} {_fmt(ours_result)} | {_fmt(ceiling_result)} | "
            f"{(f'{ratio:.2f}' if ratio else '-'):>6} | {ours_result.non_2xx:>7} | {items}"
        )
        summary[label] = {
            "ours": asdict(ours_result),
            "ceiling": asdict(ceiling_result) if ceiling_result else None,
            "ratio": ratio,
            "runs": {who: [asdict(r) for r in results] for who, results in pair.items()},
        }
    out = RESULTS / f"scenarios-{backend}-{stamp}.json"
    out.write_bytes(
        orjson.dumps(
            {
                "backend": backend,
                "manifest": str(args.manifest),
                "at": stamp,
                "machine": info,
                "seconds": seconds,
                "rounds": rounds,
                "connections": args.connections,
                "threads": args.threads,
                "entries": setup.total_entries,
                "deepPage": setup.deep_page,
                "selfCheckProblems": problems,
                "plans": plans,
                "scenarios": summary,
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    print(f"\nwritten {out.relative_to(ROOT)}")
    if problems:
        sys.exit("self-check failed: " + "; ".join(problems))
    refused = [
        label
        for label, pair in runs.items()
        if any(result.non_2xx for results in pair.values() for result in results)
    ]
    if refused:
        # A rate of refusals is not a rate of work: the run is not a measurement.
        sys.exit("answers other than 2xx under load in: " + ", ".join(refused))
    too_few = [
        label
        for label, pair in runs.items()
        if any(result.requests < MIN_REQUESTS for results in pair.values() for result in results)
    ]
    if too_few:
        # A run of 0 or 1 requests printed a figure, and the run passed.
        sys.exit(
            f"fewer than {MIN_REQUESTS} requests in a run of: {', '.join(too_few)} "
            "(not a measurement: lengthen --duration)"
        )


if __name__ == "__main__":
    main()
