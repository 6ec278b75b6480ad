"""PostgreSQL that holds a request up — a lock held by a migration, a statement that runs on, a
database gone silent — answers 503 with Retry-After in bounded time: requests waited for as long
as the database did, forever for a silent one (a helper's failure audit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from billabled.app import create_app
from billabled.config import Settings
from billabled.db import create_sync_engine
from tests.factories import Factory, Key
from tests.support import (
    CommitAnswerLost,
    SilenceableForwarder,
    free_port,
    postgres_test_url,
)

pytestmark = pytest.mark.skipif(
    postgres_test_url() is None, reason="PostgreSQL's timeouts (CI's second pass)"
)

CLIENTS = "/api/v1/clients"


def _settings(base: Settings, **changes: Any) -> Settings:
    return Settings(**{**base.model_dump(), **changes})


@contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"


def test_a_lock_held_past_the_lock_timeout_is_503(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """A migration holding `client` for a minute held every request on it for a minute."""
    engine = create_sync_engine(database_url)
    try:
        with (
            engine.connect() as holder,
            _client(_settings(settings, db_lock_timeout_seconds=0.5)) as client,
        ):
            lock = holder.begin()
            holder.execute(text("LOCK TABLE client IN ACCESS EXCLUSIVE MODE"))
            # Released after 10 s whatever happens, so that a test that fails does not hang.
            timer = threading.Timer(10, lock.rollback)
            timer.start()
            started = time.monotonic()
            response = client.get(CLIENTS, headers=owner_key.headers)
            waited = time.monotonic() - started
            timer.cancel()
            lock.rollback()
    finally:
        engine.dispose()
    _assert_503(response)
    assert waited < 5


def test_a_statement_past_the_statement_timeout_is_503_and_writes_nothing(
    settings: Settings, factory: Factory, owner_key: Key, unique: str
) -> None:
    name = f"slow-{unique}"
    factory.sql(
        "CREATE FUNCTION take_a_while() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$"
    )
    factory.sql(
        "CREATE CONSTRAINT TRIGGER take_a_while_at_commit AFTER INSERT ON client"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        f" WHEN (NEW.name = '{name}') EXECUTE FUNCTION take_a_while()"
    )
    try:
        with _client(_settings(settings, db_statement_timeout_seconds=0.5)) as client:
            started = time.monotonic()
            response = client.post(CLIENTS, json={"name": name}, headers=owner_key.headers)
            waited = time.monotonic() - started
    finally:
        factory.sql("DROP TRIGGER take_a_while_at_commit ON client")
        factory.sql("DROP FUNCTION take_a_while()")
    _assert_503(response)
    assert waited < 2.5
    assert factory.sql("SELECT id FROM client WHERE name = :name", name=name) == []


def test_a_database_gone_silent_is_503_in_bounded_time(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """Neither an answer nor a reset: the key lookup and the request's statement each waited
    forever (a curl gave up after 400 s)."""
    url = make_url(database_url)
    port = free_port()
    with SilenceableForwarder(port, (url.host or "127.0.0.1", url.port or 5432)) as network:
        through = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        silent_soon = _settings(settings, database_url=through, db_statement_timeout_seconds=0.5)
        with _client(silent_soon) as client:
            assert client.get(CLIENTS, headers=owner_key.headers).status_code == 200
            network.passing.clear()
            try:
                started = time.monotonic()
                responses = [client.get(CLIENTS, headers=owner_key.headers) for _ in range(2)]
                waited = time.monotonic() - started
            finally:
                network.passing.set()
            for response in responses:
                _assert_503(response)
            assert waited < 10


def test_a_claim_whose_commit_answer_was_lost_does_not_hold_the_key(
    settings: Settings, database_url: str, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The Idempotency-Key's claim committed but its answer never came back (the connection was
    cut): the request was a 503, and every retry a 409 `idempotency_in_progress` for the next
    5 minutes, for a request that never ran (a helper's failure audit). The claim this request
    may have made is now released, and only that claim: another request's stays."""
    url = make_url(database_url)
    port = free_port()
    name = f"claim-lost-{unique}"
    headers = {**owner_key.headers, "Idempotency-Key": name}
    with CommitAnswerLost(port, (url.host or "127.0.0.1", url.port or 5432)) as network:
        through = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        quiet = _settings(settings, database_url=through, usage_flush_interval_seconds=60)
        with _client(quiet) as client:
            assert client.get(CLIENTS, headers=owner_key.headers).status_code == 200
            network.armed.set()
            first = client.post(CLIENTS, json={"name": name}, headers=headers)
            assert network.cut.is_set()
            _assert_503(first)
            retried = client.post(CLIENTS, json={"name": name}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert len(factory.sql("SELECT id FROM client WHERE name = :name", name=name)) == 1


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_transaction_the_database_rolled_back_for_a_deadlock_or_a_conflict_is_503(
    settings: Settings, factory: Factory, owner_key: Key, unique: str, sqlstate: str
) -> None:
    """PostgreSQL ends one of two transactions that wait on each other (or that conflict under
    serializable isolation): that request was a 500; retried, it goes through (a helper's
    review)."""
    name = f"rolled-back-{unique}"
    function = f"roll_back_{sqlstate.lower()}"
    factory.sql(
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS"
        f" $$ BEGIN RAISE EXCEPTION 'on purpose' USING ERRCODE = '{sqlstate}'; END $$"
    )
    factory.sql(
        f"CREATE TRIGGER {function}_on_insert BEFORE INSERT ON client FOR EACH ROW"
        f" WHEN (NEW.name = '{name}') EXECUTE FUNCTION {function}()"
    )
    try:
        with _client(settings) as client:
            response = client.post(CLIENTS, json={"name": name}, headers=owner_key.headers)
    finally:
        factory.sql(f"DROP TRIGGER {function}_on_insert ON client")
        factory.sql(f"DROP FUNCTION {function}()")
    _assert_503(response)


def test_a_request_waits_for_a_pooled_connection_only_briefly(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """Requests stuck on a lock held every pooled connection, and the others (on other tables,
    `/readyz` too) queued 30 s for one, SQLAlchemy's default (a helper's soak audit)."""
    import httpx

    from tests.api.conftest import serve

    engine = create_sync_engine(database_url)
    tight = _settings(
        settings,
        db_pool_size=1,
        db_pool_overflow=0,
        db_lock_timeout_seconds=8,
        db_pool_timeout_seconds=0.5,
    )
    answers: list[int] = []
    try:
        with engine.connect() as holder, serve(create_app(tight)) as base:
            lock = holder.begin()
            holder.execute(text("LOCK TABLE client IN ACCESS EXCLUSIVE MODE"))
            timer = threading.Timer(15, lock.rollback)  # a failing test does not hang
            timer.start()
            stuck = threading.Thread(
                target=lambda: answers.append(
                    httpx.get(f"{base}{CLIENTS}", headers=owner_key.headers, timeout=30).status_code
                )
            )
            stuck.start()
            time.sleep(1)  # it holds the one pooled connection, waiting for the lock
            started = time.monotonic()
            other = httpx.get(f"{base}/api/v1/tags", headers=owner_key.headers, timeout=30)
            ready = httpx.get(f"{base}/readyz", timeout=30)
            waited = time.monotonic() - started
            lock.rollback()
            timer.cancel()
            stuck.join(timeout=30)
    finally:
        engine.dispose()
    _assert_503(other)
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert waited < 4
    assert answers == [200]  # the lock came free before its lock timeout
