"""API-key lookups on PostgreSQL: one connection per process, lookups that arrive while a
statement is in flight answered together by the next one (auth/key_lookup.py).

Concurrency is real here: a uvicorn server on a socket, requests from threads, and a table lock
held by another connection to keep a lookup in flight for as long as the test needs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from billabled.app import create_app
from billabled.auth.key_lookup import APPLICATION_NAME, PostgresKeyLookup
from billabled.config import Settings
from billabled.db import create_sync_engine
from billabled.kit.apikeys import generate_key
from tests.api.conftest import serve
from tests.factories import Factory, Key, Workspace
from tests.support import wait_for_a_blocked_request

pytestmark = pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="concurrent lookups: PostgreSQL (CI's second pass)",
)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


def lookup_of(app: FastAPI) -> PostgresKeyLookup:
    keys = app.state.platform.keys
    assert isinstance(keys, PostgresKeyLookup)
    return keys


@contextmanager
def lookups_held(database_url: str) -> Iterator[None]:
    """Every key lookup waits while the block runs: the membership table (which each lookup
    reads) is locked by another transaction, rolled back at the end."""
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE membership IN ACCESS EXCLUSIVE MODE"))
            yield
            transaction.rollback()
    finally:
        engine.dispose()


def get_me(url: str, raw_key: str, answers: dict[str, httpx.Response]) -> threading.Thread:
    def send() -> None:
        answers[raw_key] = httpx.get(f"{url}/api/v1/me", headers={"X-Api-Key": raw_key}, timeout=30)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_lookups_queued_behind_one_in_flight_are_answered_together_and_see_what_committed(
    app: FastAPI, database_url: str, factory: Factory, workspace: Workspace
) -> None:
    first, revoked_meanwhile, valid = (factory.key(workspace, name=f"k{i}") for i in range(3))
    unknown = generate_key()
    answers: dict[str, httpx.Response] = {}
    with serve(app) as url:
        keys = lookup_of(app)
        assert httpx.get(f"{url}/api/v1/me", headers=first.headers).status_code == 200
        before = keys.lookups
        with lookups_held(database_url):
            threads = [get_me(url, first.raw, answers)]
            wait_for_a_blocked_request(database_url)
            # Revoked after the first lookup started, before the next requests arrive: they must
            # see it, though they wait behind a statement that started earlier.
            factory.revoke(revoked_meanwhile)
            threads += [get_me(url, key, answers) for key in (revoked_meanwhile.raw, valid.raw)]
            threads += [get_me(url, unknown, answers), get_me(url, valid.raw, answers)]
            wait_until(lambda: keys.waiting == 4, "four lookups queued")
        for thread in threads:
            thread.join(30)
    assert answers[first.raw].status_code == 200
    assert answers[revoked_meanwhile.raw].status_code == 401
    assert answers[revoked_meanwhile.raw].json()["error"]["code"] == "api_key_revoked"
    assert answers[valid.raw].status_code == 200
    assert answers[valid.raw].json()["key"]["id"] == valid.id
    assert answers[unknown].json()["error"]["code"] == "api_key_invalid"
    # The held statement, then one for the four queued behind it.
    assert keys.lookups == before + 2


def test_a_lookup_connection_the_database_dropped_is_replaced_without_failing_a_request(
    app: FastAPI, database_url: str, owner_key: Key
) -> None:
    with serve(app) as url:
        assert httpx.get(f"{url}/api/v1/me", headers=owner_key.headers).status_code == 200
        engine = create_sync_engine(database_url)
        try:
            with engine.connect() as connection:
                terminated = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": APPLICATION_NAME},
                ).scalar_one()
        finally:
            engine.dispose()
        assert terminated >= 1  # ours, and those of other apps of this test session
        response = httpx.get(f"{url}/api/v1/me", headers=owner_key.headers)
        assert response.status_code == 200, response.text
