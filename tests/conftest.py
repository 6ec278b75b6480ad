"""Fixtures: one migrated database per test run (per xdist worker) on the backend under test.

SQLite by default; PostgreSQL and Redis when BILLABLED_TEST_DATABASE_URL and
BILLABLED_TEST_REDIS_URL are set. Tests stay independent without truncation because every test
makes its own workspace (and unique emails): tenancy keeps their data apart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billabled import migrations
from billabled.app import create_app
from billabled.config import Settings
from billabled.models.workspace import Plan
from tests.factories import Factory, Key, Workspace
from tests.support import drop_database, new_database_url, redis_test_url

TEST_SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    url = new_database_url(data_dir)
    migrations.upgrade(url)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_test_url(),
        secret_key=TEST_SECRET_KEY,
        log_level="warning",
        # Usage records reach the database within a tick, so tests can read them.
        usage_flush_interval_seconds=0.05,
        # Tests send many keyless requests from one "IP"; the per-IP limit has its own test.
        unauthenticated_rate_limit_per_minute=100_000,
        # Tests list their changes the moment they are made; the margin has its own test.
        sync_clock_margin_seconds=0,
    )


@pytest.fixture(scope="session")
def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points the `billabled` command at the test database."""
    env = {
        "BILLABLED_DATA_DIR": str(settings.data_dir),
        "BILLABLED_DATABASE_URL": settings.resolved_database_url,
        "BILLABLED_SECRET_KEY": TEST_SECRET_KEY,
    }
    if settings.redis_url:
        env["BILLABLED_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: the client sees exactly what a real client would.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def unique() -> str:
    """A short unique token for names and emails, so tests never collide."""
    return uuid.uuid4().hex[:10]


def pytest_report_header() -> str:
    backend = "postgresql" if os.environ.get("BILLABLED_TEST_DATABASE_URL") else "sqlite"
    redis = "redis" if os.environ.get("BILLABLED_TEST_REDIS_URL") else "memory"
    return f"billabled: database={backend} rate-limit-storage={redis}"


@pytest.fixture(scope="session")
def factory(settings: Settings) -> Iterator[Factory]:
    made = Factory(settings)
    yield made
    made.close()


@pytest.fixture
def workspace(factory: Factory) -> Workspace:
    """A fresh workspace on the business plan (1000 requests a minute), with its owner."""
    return factory.workspace(plan=Plan.BUSINESS)


@pytest.fixture
def owner_key(factory: Factory, workspace: Workspace) -> Key:
    return factory.key(workspace)
