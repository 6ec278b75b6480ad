"""Usage tracking: one record per request (401s and 429s too), off the request path."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from billabled.app import create_app
from billabled.config import Settings
from billabled.db import create_sync_engine
from billabled.kit.apikeys import redact_keys
from billabled.kit.sql import DELETE_BATCH
from billabled.models.workspace import Plan
from tests.factories import Factory, Key
from tests.support import wait_for_a_blocked_request


def usage_rows(factory: Factory, user_agent: str, expected: int) -> list[Any]:
    """The usage rows of requests sent with `user_agent`, once the recorder has written them."""
    deadline = time.monotonic() + 10
    while True:
        rows = factory.sql(
            "SELECT endpoint, method, status, api_key_id, workspace_id, ip_hash, latency_us,"
            " created_at FROM usage_record WHERE user_agent = :ua ORDER BY id",
            ua=user_agent,
        )
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_every_request_leaves_a_usage_record(
    client: TestClient, factory: Factory, owner_key: Key, unique: str
) -> None:
    agent = f"usage-test/{unique}"
    headers = {**owner_key.headers, "User-Agent": agent}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/users/usr_nope", headers=headers).status_code == 404
    assert client.get("/api/v1/users?pageSize=500", headers=headers).status_code == 422
    bad = client.get("/api/v1/users", headers={"User-Agent": agent, "X-Api-Key": "blb_bad"})
    assert bad.status_code == 401

    rows = usage_rows(factory, agent, 4)
    assert [(r.method, r.endpoint, r.status) for r in rows] == [
        ("GET", "/api/v1/me", 200),
        ("GET", "/api/v1/users/{user_id}", 404),
        ("GET", "/api/v1/users", 422),
        ("GET", "/api/v1/users", 401),
    ]
    assert {r.api_key_id for r in rows[:3]} == {owner_key.id}
    assert rows[3].api_key_id is None
    assert rows[3].workspace_id is None
    for row in rows:
        assert len(row.ip_hash) == 32
        assert row.ip_hash != "testclient"
        assert row.latency_us > 0


def test_a_refused_keys_requests_are_recorded_under_it_without_using_it(
    client: TestClient, factory: Factory, unique: str
) -> None:
    """A revoked or expired integration still calling was recorded as anonymous: `billabled
    usage` of its workspace never showed it (a helper's CLI audit)."""
    workspace = factory.workspace()
    revoked, expired = factory.key(workspace), factory.key(workspace)
    factory.revoke(revoked)
    factory.expire(expired)
    agent = f"usage-refused/{unique}"
    for key, code in ((revoked, "api_key_revoked"), (expired, "api_key_expired")):
        answer = client.get("/api/v1/me", headers={**key.headers, "User-Agent": agent})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == code

    rows = usage_rows(factory, agent, 2)
    assert [(r.status, r.api_key_id, r.workspace_id) for r in rows] == [
        (401, revoked.id, workspace.id),
        (401, expired.id, workspace.id),
    ]
    last_used = factory.sql(
        "SELECT last_used_at FROM api_key WHERE id IN (:a, :b)", a=revoked.id, b=expired.id
    )
    assert [row[0] for row in last_used] == [None, None]  # refused: not used


def test_a_refused_keys_429s_do_not_use_it_either(
    settings: Settings, factory: Factory, unique: str
) -> None:
    """Turned into a 429 by the per-IP limit, a revoked key's request moved its lastUsedAt
    (a helper's review): the recorder skipped 401s only."""
    # Counted in this process (in a shared Redis, other tests' keyless requests count too).
    limits = {"unauthenticated_rate_limit_per_minute": 1, "redis_url": None}
    app = create_app(Settings(**{**settings.model_dump(), **limits}))
    revoked = factory.key(factory.workspace())
    factory.revoke(revoked)
    agent = f"usage-refused-429/{unique}"
    with TestClient(app) as limited:
        statuses = [
            limited.get("/api/v1/me", headers={**revoked.headers, "User-Agent": agent}).status_code
            for _ in range(2)
        ]
    assert statuses == [401, 429]
    rows = usage_rows(factory, agent, 2)
    assert [(r.status, r.api_key_id) for r in rows] == [(401, revoked.id), (429, revoked.id)]
    last_used = factory.sql("SELECT last_used_at FROM api_key WHERE id = :id", id=revoked.id)
    assert last_used[0][0] is None


def test_429s_are_recorded_too(client: TestClient, factory: Factory, unique: str) -> None:
    key = factory.key(factory.workspace(plan=Plan.FREE))
    agent = f"usage-429/{unique}"
    statuses = [
        client.get("/api/v1/me", headers={**key.headers, "User-Agent": agent}).status_code
        for _ in range(121)
    ]
    assert statuses[-1] == 429
    rows = usage_rows(factory, agent, 121)
    assert len(rows) == 121
    assert [r.status for r in rows].count(429) == 1


def test_last_used_at_is_kept_to_the_minute(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    assert (
        factory.sql("SELECT last_used_at FROM api_key WHERE id = :id", id=owner_key.id)[0][0]
        is None
    )
    client.get("/api/v1/me", headers=owner_key.headers)
    deadline = time.monotonic() + 10
    while (
        last := factory.sql("SELECT last_used_at FROM api_key WHERE id = :id", id=owner_key.id)[0][
            0
        ]
    ) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = str(last)
    assert text.endswith(("00", ":00+00:00", ":00.000000"))  # truncated to the minute


@pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="a table lock held by another session: PostgreSQL (CI's second pass)",
)
def test_shutting_down_waits_for_the_flush_in_flight_and_loses_nothing(
    settings: Settings, database_url: str, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The server stops while its usage flush is blocked in the database: the shutdown waits for
    that write instead of interrupting it, then finishes, and every record is there."""
    agent = f"shutdown-test/{unique}"
    headers = {**owner_key.headers, "User-Agent": agent}
    served, stopped = threading.Event(), threading.Event()

    def serve_then_stop() -> None:
        with TestClient(create_app(settings)) as client:
            for _ in range(3):
                assert client.get("/api/v1/me", headers=headers).status_code == 200
            served.set()
            time.sleep(settings.usage_flush_interval_seconds * 6)  # the flush is now waiting
        stopped.set()

    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as locker:
            lock = locker.begin()
            locker.execute(text("LOCK TABLE usage_record IN ACCESS EXCLUSIVE MODE"))
            server = threading.Thread(target=serve_then_stop)
            server.start()
            assert served.wait(20)
            time.sleep(0.5)  # the shutdown has begun and is waiting for the flush
            assert not stopped.is_set()
            lock.commit()
        server.join(20)
    finally:
        engine.dispose()
    assert stopped.is_set(), "the server did not finish shutting down"
    assert len(usage_rows(factory, agent, 3)) == 3


def test_usage_and_idempotency_records_past_their_time_are_purged(
    settings: Settings, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The recorder's hourly purge, due as a server starts: usage records past the retention
    period and idempotency records past their 24 hours go; younger ones stay."""
    agent = f"purge-test/{unique}"
    with TestClient(create_app(settings)) as client:
        for idempotency_key in (f"{unique}-old", f"{unique}-young"):
            created = client.post(
                "/api/v1/clients",
                json={"name": idempotency_key},
                headers={**owner_key.headers, "Idempotency-Key": idempotency_key},
            )
            assert created.status_code == 201, created.text
        for _ in range(2):
            me = client.get("/api/v1/me", headers={**owner_key.headers, "User-Agent": agent})
            assert me.status_code == 200
    assert len(usage_rows(factory, agent, 2)) == 2
    now = datetime.now(UTC)
    if factory.database.is_sqlite:  # as the app stores them: naive UTC text
        now = now.replace(tzinfo=None)
    factory.sql(
        "UPDATE usage_record SET created_at = :then WHERE id ="
        " (SELECT min(id) FROM usage_record WHERE user_agent = :ua)",
        then=now - timedelta(days=settings.usage_retention_days + 1),
        ua=agent,
    )
    factory.sql(
        "UPDATE idempotency_record SET created_at = :then WHERE key = :k",
        then=now - timedelta(days=2),
        k=f"{unique}-old",
    )

    def left() -> tuple[int, list[str]]:
        usage = factory.sql("SELECT id FROM usage_record WHERE user_agent = :ua", ua=agent)
        keys = factory.sql(
            "SELECT key FROM idempotency_record WHERE key LIKE :k ORDER BY key", k=f"{unique}-%"
        )
        return len(usage), [row.key for row in keys]

    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 10
        while left() != (1, [f"{unique}-young"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    # Before, expired idempotency records were never purged.
    assert left() == (1, [f"{unique}-young"])


def test_a_method_longer_than_the_column_does_not_stall_usage_recording(
    live_api: str, factory: Factory, owner_key: Key, unique: str
) -> None:
    """On PostgreSQL a record the database refused was retried every second, with every record
    after it, until the buffer overflowed. httptools accepts `UNSUBSCRIBE` (11 letters)."""
    agent = f"long-method/{unique}"
    headers = {**owner_key.headers, "User-Agent": agent}
    odd = httpx.request("UNSUBSCRIBE", f"{live_api}/api/v1/me", headers=headers)
    assert odd.status_code == 405
    # Alone in its batch it was refused each second, and written only once another request's
    # record joined it (a batch of several is one statement that truncated it).
    assert [row.method for row in usage_rows(factory, agent, 1)] == ["UNSUBSCRIB"]
    assert httpx.get(f"{live_api}/api/v1/me", headers=headers).status_code == 200
    rows = usage_rows(factory, agent, 2)
    assert sorted(row.method for row in rows) == ["GET", "UNSUBSCRIB"]


def test_usage_ids_go_past_32_bits(
    client: TestClient, factory: Factory, owner_key: Key, unique: str
) -> None:
    """Every request is a usage row, and purging old rows does not give their ids back: 2^31 of
    them is a month at 800 requests/s. PostgreSQL's `serial` stopped there, every batch after it
    was refused (`nextval: reached maximum value`), and no request was recorded again."""
    last_32_bit_id = 2**31 - 1
    if factory.database.engine.dialect.name == "postgresql":
        factory.sql(
            "SELECT setval(pg_get_serial_sequence('usage_record', 'id'), :id)"
            " WHERE (SELECT last_value FROM usage_record_id_seq) < :id",
            id=last_32_bit_id,
        )
    else:  # SQLite's rowid is 64 bits: the next id is one past the largest in the table.
        factory.sql(
            "INSERT INTO usage_record (id, endpoint, method, status, latency_us, created_at)"
            " SELECT :id, '/api/v1/me', 'GET', 200, 1, CURRENT_TIMESTAMP"
            " WHERE NOT EXISTS (SELECT 1 FROM usage_record WHERE id >= :id)",
            id=last_32_bit_id,
        )
    agent = f"usage-64-bit/{unique}"
    headers = {**owner_key.headers, "User-Agent": agent}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert len(usage_rows(factory, agent, 2)) == 2
    ids = factory.sql("SELECT id FROM usage_record WHERE user_agent = :ua", ua=agent)
    assert all(row.id > last_32_bit_id for row in ids)


@pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="a row lock held by another session: PostgreSQL (CI's second pass)",
)
def test_requests_are_recorded_while_a_purge_is_held_up(
    settings: Settings, database_url: str, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The purge ran in the flush loop, one DELETE of every expired record: while it took
    (10 s for 6 million records; held up here by a lock on one of them) no usage record was
    written, and past 50,000 buffered they were dropped. It now runs beside the flushes, a
    batch per transaction."""
    expired = f"expired/{unique}"
    factory.sql(
        "INSERT INTO usage_record (endpoint, method, status, latency_us, created_at, user_agent)"
        " VALUES ('/api/v1/me', 'GET', 200, 1, :then, :ua)",
        then=datetime.now(UTC) - timedelta(days=settings.usage_retention_days + 1),
        ua=expired,
    )
    agent = f"during-purge/{unique}"
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as locker:
            lock = locker.begin()
            locker.execute(
                text("SELECT id FROM usage_record WHERE user_agent = :ua FOR UPDATE"),
                {"ua": expired},
            )
            with TestClient(create_app(settings)) as client:
                wait_for_a_blocked_request(database_url)  # the purge waits on the lock
                assert client.get("/api/v1/me", headers={**owner_key.headers, "User-Agent": agent})
                deadline = time.monotonic() + 3
                while not factory.sql(
                    "SELECT id FROM usage_record WHERE user_agent = :ua", ua=agent
                ):
                    assert time.monotonic() < deadline, "no usage record while the purge waits"
                    time.sleep(0.05)
                lock.rollback()
    finally:
        engine.dispose()
    assert factory.sql("SELECT id FROM usage_record WHERE user_agent = :ua", ua=expired) == []


def test_a_backlog_of_expired_records_is_purged_batch_after_batch(
    settings: Settings, factory: Factory, unique: str
) -> None:
    """More expired records than one purge transaction takes (`DELETE_BATCH`): every one goes."""
    expired = f"backlog/{unique}"
    then = datetime.now(UTC) - timedelta(days=settings.usage_retention_days + 1)
    if factory.database.is_sqlite:  # as the app stores them: naive UTC text
        then = then.replace(tzinfo=None)
    factory.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
        " INSERT INTO usage_record (endpoint, method, status, latency_us, created_at, user_agent)"
        " SELECT '/api/v1/me', 'GET', 200, i, :then, :ua FROM n",
        count=2 * DELETE_BATCH + 1,
        then=then,
        ua=expired,
    )

    def left() -> int:
        rows = factory.sql(
            "SELECT count(*) AS n FROM usage_record WHERE user_agent = :ua", ua=expired
        )
        return int(rows[0].n)

    assert left() == 2 * DELETE_BATCH + 1
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 20
        while left() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert left() == 0


def test_a_key_in_the_user_agent_is_stored_cut_to_its_prefix(
    client: TestClient, factory: Factory, owner_key: Key, unique: str
) -> None:
    # It was stored whole (a helper's secrets audit); the logs already cut it.
    agent = f"sync/{unique} {owner_key.raw}"
    assert (
        client.get("/api/v1/me", headers={**owner_key.headers, "User-Agent": agent}).status_code
        == 200
    )
    stored = redact_keys(agent)
    assert stored != agent
    assert len(usage_rows(factory, stored, 1)) == 1
    assert (
        factory.sql("SELECT count(*) FROM usage_record WHERE user_agent = :ua", ua=agent)[0][0] == 0
    )
