"""`billabled serve` and `billabled migrate` as processes: the quick start, logs, bad URLs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from billabled import migrations
from tests.support import BILLABLED, free_port, run_cli


def _isolated_env(data_dir: Path) -> dict[str, str]:
    """The environment of a fresh machine: only a data directory, no database URL or secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABLED_")}
    env["BILLABLED_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`billabled serve --demo` on the embedded default (SQLite), on a free port."""
    port = free_port()
    env = _isolated_env(tmp_path / "data")
    process = subprocess.Popen(
        [BILLABLED, "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.stderr.read()}")  # type: ignore[union-attr]
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield base, process
    process.terminate()
    process.wait(timeout=15)


def test_serve_on_a_fresh_data_dir_answers_healthz_and_logs_json(
    served: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, process = served
    response = httpx.get(f"{base}/healthz", headers={"X-Request-Id": "quickstart-1"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").status_code == 200

    secret = tmp_path / "data" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "billabled.db").exists()

    process.terminate()
    stdout, stderr = process.communicate(timeout=15)
    assert "Demo workspace ready" in stdout
    assert "login:     owner@northwind.example.com / " in stdout
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    request_logs = [entry for entry in logs if entry.get("event") == "request"]
    assert any(
        entry["request_id"] == "quickstart-1"
        and entry["status"] == 200
        and entry["route"] == "/healthz"
        for entry in request_logs
    )


def test_serve_with_a_malformed_database_url_exits_with_one_line(tmp_path: Path) -> None:
    env = {**_isolated_env(tmp_path), "BILLABLED_DATABASE_URL": "not a url at all"}
    result = run_cli(["serve", "--port", str(free_port())], env)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: invalid BILLABLED_DATABASE_URL: the database URL is malformed"
    )


def test_serve_with_an_unsupported_database_exits_with_one_line(tmp_path: Path) -> None:
    env = {**_isolated_env(tmp_path), "BILLABLED_DATABASE_URL": "mysql://root@localhost/db"}
    result = run_cli(["serve"], env)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: invalid BILLABLED_DATABASE_URL: unsupported database 'mysql'"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_with_an_unreachable_database_exits_with_one_line(tmp_path: Path) -> None:
    env = {
        **_isolated_env(tmp_path),
        "BILLABLED_DATABASE_URL": "postgresql://billabled:hunter2@127.0.0.1:9/billabled",
    }
    result = run_cli(["serve"], env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: cannot reach the database at postgresql://billabled:***@127.0.0.1:9/billabled"
    )
    assert "hunter2" not in result.stderr


def test_serve_with_a_bad_port_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", "http"], _isolated_env(tmp_path))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_migrate_reports_the_revision(tmp_path: Path) -> None:
    result = run_cli(["migrate"], _isolated_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith(f"is at revision {migrations.head_revision()}")
