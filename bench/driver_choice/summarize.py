"""Aggregate every results/<timestamp>/results.json into one markdown table:
median (min-max) req/s, median p50/p99 and server CPU ms/req per cell.

Usage: .venv/bin/python summarize.py [results/<ts> ...]   (default: all of results/)
"""
from __future__ import annotations

import json
import statistics as st
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]] or sorted((HERE / "results").glob("*/"))
    rows = []
    for d in dirs:
        f = d / "results.json"
        if f.exists():
            rows += json.loads(f.read_text())["results"]
    print(f"{len(dirs)} invocation(s), {len(rows)} measurements\n")
    print("| backend | endpoint | stack | n | req/s median (min-max) | p50 ms median | p99 ms median (max) "
          "| server CPU ms/req median | async/sync req/s (medians) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backend in ("sqlite", "postgresql"):
        for ep in ("GET", "POST", "NOOP"):
            med = {}
            for stack in ("sync", "async"):
                rs = [r for r in rows if (r["backend"], r["endpoint"], r["stack"]) == (backend, ep, stack)]
                if not rs:
                    continue
                rps = [r["rps"] for r in rs]
                med[stack] = st.median(rps)
                ratio = f"{med['async'] / med['sync']:.2f}x" if stack == "async" and "sync" in med else ""
                print(f"| {backend} | {ep} | {stack} | {len(rs)} | {st.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) "
                      f"| {st.median(r['p50_ms'] for r in rs):.1f} "
                      f"| {st.median(r['p99_ms'] for r in rs):.0f} ({max(r['p99_ms'] for r in rs):.0f}) "
                      f"| {st.median(r['server_cpu_ms_per_req'] for r in rs):.2f} | {ratio} |")


if __name__ == "__main__":
    main()
