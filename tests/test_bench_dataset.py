"""The benchmark's dataset generator (`bench/dataset.py`), run as `make bench` runs it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_write_scenarios_log_time_on_an_active_project(tmp_path: Path) -> None:
    # The month scenario 1 reads may belong to a project archived since; scenarios 3 and 6 log
    # time on the manifest's `writeProject`, which must accept it (an archived project answers
    # 422, and `make bench` once timed those refusals as its write figures).
    database, manifest_path = tmp_path / "quick-bench.db", tmp_path / "manifest.json"
    built = subprocess.run(
        [sys.executable, "-m", "bench.dataset", "--quick", "--database-url",
         f"sqlite:///{database}", "--manifest", str(manifest_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    manifest = json.loads(manifest_path.read_text())
    with sqlite3.connect(database) as connection:
        (status,) = connection.execute(
            "SELECT status FROM project WHERE id = ? AND workspace_id = ?",
            (manifest["writeProject"], manifest["workspaceId"]),
        ).fetchone()
    assert status == "active"


def test_a_dataset_that_cannot_be_built_says_why(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "bench.dataset", "--quick", "--entries", "10000",
         "--database-url", f"sqlite:///{tmp_path / 'quick-bench.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode != 0
    assert "do not fit 40 people's working days" in built.stderr
    assert "Traceback" not in built.stderr
