"""Create a fresh schema and seed 100,000 items across 10 workspaces + 10 api keys.

Usage:  python seed.py DB_URL        (or DB_URL in the environment)

Works for sqlite / sqlite+aiosqlite and postgresql / +psycopg / +asyncpg URLs; it
always seeds through the sync driver (stdlib sqlite3 / psycopg 3). For PostgreSQL
the database is created if missing and the two tables are dropped and recreated;
for SQLite the file and its -wal/-shm companions are deleted first.
"""
from __future__ import annotations

import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from common import (ApiKey, Base, Item, install_sqlite_pragmas, is_sqlite, raw_api_key,
                    sha256_hex, to_sync_url)

N_ITEMS = 100_000
N_WORKSPACES = 10
CHUNK = 5_000


def workspace_id(w: int) -> str:
    return f"ws_{w:02d}"


def ensure_pg_database(url: str) -> None:
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.scalar(text("select 1 from pg_database where datname = :d"), {"d": u.database})
        if not exists:
            c.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def main() -> None:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DB_URL")
    if not raw:
        sys.exit("usage: seed.py DB_URL")
    url = to_sync_url(raw)
    t0 = time.perf_counter()

    if is_sqlite(url):
        path = make_url(url).database
        for suffix in ("", "-wal", "-shm", "-journal"):
            if path and os.path.exists(path + suffix):
                os.remove(path + suffix)
        engine = create_engine(url)
        install_sqlite_pragmas(engine)
    else:
        ensure_pg_database(url)
        engine = create_engine(url)

    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)

    rnd = random.Random(42)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(ApiKey), [
            {"id": f"key_{i:02d}", "workspace_id": workspace_id(i), "hash": sha256_hex(raw_api_key(i))}
            for i in range(N_WORKSPACES)
        ])
        batch = []
        for n in range(N_ITEMS):
            w = n % N_WORKSPACES
            batch.append({
                "id": "itm_" + f"{rnd.getrandbits(96):024x}",
                "workspace_id": workspace_id(w),
                "name": f"Item {n} of {workspace_id(w)}",
                "amount": rnd.randint(1, 100_000),
                # spread over the past; a few duplicates of created_at per workspace
                # so the (created_at, id) tiebreak actually matters
                "created_at": base + timedelta(seconds=(n // N_WORKSPACES) * 30 + rnd.randint(0, 1) * 30),
            })
            if len(batch) == CHUNK:
                conn.execute(insert(Item), batch)
                batch.clear()
        if batch:
            conn.execute(insert(Item), batch)

    # planner statistics, same on both backends
    if is_sqlite(url):
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE item"))
            conn.execute(text("VACUUM ANALYZE api_key"))
            conn.execute(text("CHECKPOINT"))  # superuser (trust auth as postgres)

    with engine.connect() as conn:
        n_items = conn.scalar(text("select count(*) from item"))
        n_keys = conn.scalar(text("select count(*) from api_key"))
    engine.dispose()
    print(f"seeded {n_items} items, {n_keys} api keys into {make_url(url).render_as_string()} "
          f"in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
