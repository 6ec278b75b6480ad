"""Benchmark driver: {sync, async} x {sqlite, postgresql} x {GET, POST} x 2 rounds.

For every (round, stack, backend): seed a fresh DB, start uvicorn (1 worker),
sanity-check both endpoints, then for GET and for POST: 3 s wrk warm-up followed by
a 10 s `wrk -t2 -c16 --latency` measurement. Round 2 runs the combinations in
reverse order so slow drift (page cache, PG autovacuum, thermal) does not always
favour the same stack. In the sqlite slot a third endpoint, GET /noop (same
dependency shape as GET /items but no DB), is also measured as a framework-only
control for the threadpool-hop cost. Raw wrk output goes to results/<timestamp>/raw/, parsed figures to
results/<timestamp>/results.json and a markdown table to results/<timestamp>/table.md.

Usage: .venv/bin/python run.py   (see run.sh; PG_URL / SQLITE_PATH env to override)
"""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = str(HERE / ".venv" / "bin" / "python")
RESULTS = HERE / "results" / time.strftime("%Y%m%d-%H%M%S")  # one folder per invocation
RAW = RESULTS / "raw"

PG_URL = os.environ.get("PG_URL", "postgresql://postgres@127.0.0.1:5432/drvbench")
SQLITE_URL = "sqlite:///" + os.environ.get("SQLITE_PATH", str(HERE / "drvbench.db"))
API_KEY = "bb_test_key_03_" + "x" * 20  # = common.raw_api_key(3)

WRK = os.environ.get("WRK", "/usr/bin/wrk")
THREADS, CONNS = 2, 16
WARMUP_S = int(os.environ.get("WARMUP_S", "3"))
DURATION_S = int(os.environ.get("DURATION_S", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))

COMBOS = [("sync", "sqlite"), ("async", "sqlite"), ("sync", "postgresql"), ("async", "postgresql")]
ENDPOINTS = [("GET", "get.lua", "/items"), ("POST", "post.lua", "/items")]
# Framework-only control (same dependency shape, no DB): measured once per stack per
# round, in the sqlite slot (the DB is not touched, so the backend is irrelevant).
NOOP = ("NOOP", "noop.lua", "/noop")


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if RESULTS.is_dir():
        with open(RESULTS / "run.log", "a") as f:
            f.write(line + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn_flags() -> list[str]:
    flags = []
    if importlib.util.find_spec("uvloop"):
        flags += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        flags += ["--http", "httptools"]
    return flags


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def proc_ctx_switches(pid: int) -> int:
    """Voluntary + involuntary context switches summed over all threads of pid."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:  # thread exited meanwhile
            continue
        total += sum(int(n) for n in re.findall(r"ctxt_switches:\s+(\d+)", status))
    return total


def system_busy_jiffies() -> tuple[int, int]:
    vals = list(map(int, Path("/proc/stat").read_text().splitlines()[0].split()[1:]))
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


def to_ms(v: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    if not m:
        raise ValueError(v)
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict:
    res = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": 0,
        "socket_errors": None,
    }
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors:(.*)", out)
    if m:
        res["socket_errors"] = m.group(1).strip()
    return res


def wrk(url: str, script: str, seconds: int) -> str:
    cmd = [WRK, f"-t{THREADS}", f"-c{CONNS}", f"-d{seconds}s", "--latency", "-s", str(HERE / script), url]
    env = dict(os.environ, API_KEY=API_KEY)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                          timeout=seconds + 30).stdout


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={
        "X-Api-Key": API_KEY, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, stack: str, db_url: str):
        self.port = free_port()
        self.cmd = [PY, "-m", "uvicorn", f"app_{stack}:app", "--host", "127.0.0.1",
                    "--port", str(self.port), "--workers", "1", "--no-access-log",
                    "--log-level", "warning", *uvicorn_flags()]
        self.env = dict(os.environ, DB_URL=db_url)
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, cwd=HERE, env=self.env, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited early with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("uvicorn did not start listening within 30 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only uvicorn
            self.proc.wait(timeout=5)


def sanity(server: Server) -> None:
    st, body = http("GET", server.base + "/items")
    items = json.loads(body)["items"] if st == 200 else []
    if st != 200 or len(items) != 50 or "workspaceId" not in items[0]:
        raise RuntimeError(f"GET sanity failed: {st} {body[:200]!r}")
    st, body = http("POST", server.base + "/items", b'{"name": "sanity", "amount": 1}')
    if st != 201 or json.loads(body)["name"] != "sanity":
        raise RuntimeError(f"POST sanity failed: {st} {body[:200]!r}")


def versions() -> dict:
    v = {"python": platform.python_version()}
    for pkg in ["fastapi", "starlette", "pydantic", "sqlalchemy", "psycopg", "psycopg-binary",
                "asyncpg", "aiosqlite", "uvicorn", "uvloop", "httptools", "greenlet", "anyio"]:
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    v["sqlite_lib"] = __import__("sqlite3").sqlite_version
    v["wrk"] = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    try:
        v["postgresql"] = subprocess.run(
            ["psql", PG_URL.replace("postgresql+psycopg", "postgresql"), "-Atc", "show server_version"],
            capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception as e:  # noqa: BLE001
        v["postgresql"] = f"unknown ({e})"
    v["cpus"] = os.cpu_count()
    v["uvicorn_flags"] = " ".join(uvicorn_flags())
    return v


def main() -> int:
    if sys.prefix == sys.base_prefix:
        log("warning: not running inside the .venv")
    RAW.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    meta = versions()
    log(f"versions: {meta}")
    results: list[dict] = []
    failures: list[str] = []

    for rnd in range(1, ROUNDS + 1):
        combos = COMBOS if rnd % 2 == 1 else list(reversed(COMBOS))
        for stack, backend in combos:
            db_url = SQLITE_URL if backend == "sqlite" else PG_URL
            tag = f"r{rnd}-{stack}-{backend}"
            log(f"== {tag}: seeding")
            seed = subprocess.run([PY, str(HERE / "seed.py"), db_url], cwd=HERE,
                                  capture_output=True, text=True)
            if seed.returncode != 0:
                failures.append(f"{tag}: seed failed: {seed.stderr[-500:]}")
                log(failures[-1])
                continue
            log(seed.stdout.strip())
            server = Server(stack, db_url)
            try:
                server.start()
                sanity(server)
                endpoints = ENDPOINTS + ([NOOP] if backend == "sqlite" else [])
                for method, script, path in endpoints:
                    wrk(server.base + path, script, WARMUP_S)
                    pid = server.proc.pid
                    cpu0, (busy0, tot0), cs0 = proc_cpu_seconds(pid), system_busy_jiffies(), proc_ctx_switches(pid)
                    out = wrk(server.base + path, script, DURATION_S)
                    cpu1, (busy1, tot1), cs1 = proc_cpu_seconds(pid), system_busy_jiffies(), proc_ctx_switches(pid)
                    n_threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
                    (RAW / f"{tag}-{method}.txt").write_text(" ".join(server.cmd) + "\n\n" + out)
                    r = parse_wrk(out)
                    r.update(round=rnd, stack=stack, backend=backend, endpoint=method,
                             server_cpu_s=round(cpu1 - cpu0, 2),
                             server_cpu_ms_per_req=round(1000 * (cpu1 - cpu0) / max(r["requests"], 1), 3),
                             ctx_switches_per_req=round((cs1 - cs0) / max(r["requests"], 1), 1),
                             server_threads=n_threads,
                             machine_busy_pct=round(100 * (busy1 - busy0) / max(tot1 - tot0, 1), 1))
                    results.append(r)
                    log(f"{tag} {method}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.2f} ms "
                        f"p99 {r['p99_ms']:.2f} ms non2xx={r['non_2xx']} sockerr={r['socket_errors']} "
                        f"srvcpu={r['server_cpu_ms_per_req']} ms/req ctxsw={r['ctx_switches_per_req']}/req "
                        f"threads={n_threads} machine={r['machine_busy_pct']}%")
            except Exception as e:  # noqa: BLE001
                failures.append(f"{tag}: {type(e).__name__}: {e}")
                log(failures[-1])
            finally:
                server.stop()

    (RESULTS / "results.json").write_text(json.dumps(
        {"meta": meta, "results": results, "failures": failures,
         "elapsed_s": round(time.time() - t_start, 1)}, indent=2))
    table = render_table(results)
    (RESULTS / "table.md").write_text(table)
    print("\n" + table)
    log(f"done in {time.time() - t_start:.0f} s; failures: {failures or 'none'}")
    return 1 if failures else 0


def render_table(results: list[dict]) -> str:
    lines = ["| backend | endpoint | stack | req/s (run 1 / run 2) | p50 ms (1 / 2) | p99 ms (1 / 2) "
             "| server CPU ms/req (1 / 2) | ctx switches/req (1 / 2) | non-2xx / socket errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for backend in ("sqlite", "postgresql"):
        for endpoint in ("GET", "POST", "NOOP"):
            for stack in ("sync", "async"):
                rs = sorted((r for r in results if (r["backend"], r["endpoint"], r["stack"])
                             == (backend, endpoint, stack)), key=lambda r: r["round"])
                if not rs:
                    continue
                j = lambda k, fmt: " / ".join(fmt.format(r[k]) if k in r else "-" for r in rs)  # noqa: E731
                errs = " / ".join(f"{r['non_2xx']}, {r['socket_errors'] or '0'}" for r in rs)
                lines.append(f"| {backend} | {endpoint} | {stack} | {j('rps', '{:.0f}')} | "
                             f"{j('p50_ms', '{:.2f}')} | {j('p99_ms', '{:.2f}')} | "
                             f"{j('server_cpu_ms_per_req', '{:.2f}')} | {j('ctx_switches_per_req', '{:.0f}')} | {errs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
