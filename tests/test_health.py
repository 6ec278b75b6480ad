"""Liveness and readiness."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from billabled.app import GC_YOUNG_THRESHOLD, create_app
from billabled.config import Settings
from billabled.kit.apikeys import generate_key
from tests.conftest import TEST_SECRET_KEY


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


def test_a_started_app_keeps_the_collector_off_its_startup_objects(settings: Settings) -> None:
    """`tune_garbage_collector` runs in the lifespan: what existed at startup is frozen out of the
    collector's walks (a full collection over it took ~90 ms on the benchmark host) while the app
    runs, and young collections wait for GC_YOUNG_THRESHOLD net allocations."""
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0  # unfrozen at shutdown
