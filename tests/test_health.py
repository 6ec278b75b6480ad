"""Liveness and readiness."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

from billabled import migrations
from billabled.app import GC_YOUNG_THRESHOLD, create_app
from billabled.config import Settings
from billabled.db import create_sync_engine
from billabled.kit.apikeys import generate_key
from tests.conftest import TEST_SECRET_KEY
from tests.support import drop_database, new_database_url, postgres_test_url


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_when_the_database_is_reachable(
    client: TestClient, settings: Settings
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    # Where requests are counted: in Redis when it is configured (and reachable), else per process.
    rate_limits = "shared" if settings.redis_url else "per-process"
    assert response.json() == {"status": "ready", "rateLimits": rate_limits}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:9/unreachable",
        secret_key=TEST_SECRET_KEY,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "service_unavailable"
    assert "127.0.0.1" not in ready.text
    assert alive.status_code == 200


def test_api_requests_are_503_with_retry_after_while_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    """Not a 500: clients and their retry policies treat 503 + Retry-After as 'try again'. And
    the app still shuts down cleanly (the last usage records could not be written: that raised)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://nobody@127.0.0.1:9/unreachable",
        secret_key=TEST_SECRET_KEY,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/me", headers={"X-Api-Key": generate_key()})

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["requestId"] == response.headers["x-request-id"]
    assert response.headers["retry-after"] == "5"
    assert "127.0.0.1" not in response.text


@pytest.mark.skipif(
    postgres_test_url() is None, reason="a database refusing connections: PostgreSQL"
)
def test_api_requests_are_503_while_the_database_refuses_new_connections(tmp_path: Path) -> None:
    """`ALLOW_CONNECTIONS false` (maintenance, a restore): `/readyz` said 503, the API 500, as
    the key lookup's new connection was refused with SQLSTATE 55000 (a helper's docs audit)."""
    database_url = new_database_url(tmp_path)
    migrations.upgrade(database_url)
    name = make_url(database_url).database
    settings = Settings(data_dir=tmp_path, database_url=database_url, secret_key=TEST_SECRET_KEY)
    admin = create_sync_engine(postgres_test_url() or "")
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            key = {"X-Api-Key": generate_key()}
            assert client.get("/api/v1/me", headers=key).status_code == 401
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.commit()
            ready = client.get("/readyz")
            refused = client.get("/api/v1/me", headers=key)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            connection.commit()
        admin.dispose()
        drop_database(database_url)
    assert ready.status_code == 503
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert refused.headers["retry-after"] == "5"


def test_a_started_app_keeps_the_collector_off_its_startup_objects(settings: Settings) -> None:
    """`tune_garbage_collector` runs in the lifespan: what existed at startup is frozen out of the
    collector's walks (a full collection over it took ~90 ms on the benchmark host) while the app
    runs, and young collections wait for GC_YOUNG_THRESHOLD net allocations."""
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0  # unfrozen at shutdown
