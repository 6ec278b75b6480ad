"""Engine setup: SQLite's pragmas and transaction control."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from billabled import migrations
from billabled.app import create_app
from billabled.config import Settings
from billabled.db import DatabaseUrlError, create_sync_engine
from tests.factories import Factory, Key


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def test_sqlite_autocommit_leaves_no_transaction_open(tmp_path: Path) -> None:
    """Regression: the BEGIN we emit for transactions must not be emitted in autocommit mode,
    where nothing would ever commit it (an ANALYZE was silently thrown away)."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = create_sync_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("CREATE TABLE t (a INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert not connection.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        other = create_sync_engine(url)
        with other.connect() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1
        other.dispose()
    engine.dispose()


def test_libpq_tls_options_in_the_url_work_for_requests_and_migrations(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """`?sslmode=…` as managed PostgreSQL hands it out: the migrations (psycopg) took it, but
    every request through the app's engine (asyncpg) was a 500 `unexpected keyword 'sslmode'`."""
    if not database_url.startswith("postgresql"):
        pytest.skip("libpq options: PostgreSQL (CI's second pass)")
    with_tls_options = f"{database_url}?sslmode=disable"
    migrations.upgrade(with_tls_options)
    app = create_app(Settings(**{**settings.model_dump(), "database_url": with_tls_options}))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        clients = client.get("/api/v1/clients", headers=owner_key.headers)
        assert clients.status_code == 200, clients.text


def test_settings_in_the_url_reach_postgresql_for_requests_and_migrations(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """README: "other query parameters are sent to PostgreSQL as settings". asyncpg sent them;
    psycopg handed them to libpq as connection options, which refused them, so `migrate`,
    `serve` and every command stopped: `invalid connection option "search_path"`."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL settings: PostgreSQL (CI's second pass)")
    # A tab and a space in a value: libpq splits its options at any whitespace.
    with_settings = (
        f"{database_url}?search_path=public,%09pg_catalog,%20public&work_mem=5MB&sslmode=disable"
    )
    migrations.upgrade(with_settings)
    engine = create_sync_engine(with_settings)
    try:
        with engine.connect() as connection:
            search_path = connection.execute(text("SHOW search_path")).scalar_one()
            assert search_path == "public,\tpg_catalog, public"
            assert connection.execute(text("SHOW work_mem")).scalar_one() == "5MB"
    finally:
        engine.dispose()
    app = create_app(Settings(**{**settings.model_dump(), "database_url": with_settings}))
    with TestClient(app) as client:
        clients = client.get("/api/v1/clients", headers=owner_key.headers)
        assert clients.status_code == 200, clients.text


@pytest.mark.parametrize(
    "url", ["postgresql://u:pw@127.0.0.1:notaport/x", "postgresql://u:pw@[::1/x"]
)
def test_a_url_whose_port_is_not_a_number_is_a_malformed_url(url: str) -> None:
    with pytest.raises(DatabaseUrlError, match="port is not a number"):
        create_sync_engine(url)


def test_the_urls_tls_mode_holds_for_the_key_lookups_too(
    settings: Settings, database_url: str, owner_key: Key
) -> None:
    """The key lookups' connection was opened from the engine's URL, which had lost its query:
    `sslmode=require` (or `verify-full`, a client certificate) did not hold for it, and keys
    were looked up over plain text (or, with a client certificate required, not at all). This
    server has no TLS, so a URL that requires it must serve nothing."""
    if not database_url.startswith("postgresql"):
        pytest.skip("libpq options: PostgreSQL (CI's second pass)")
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            if connection.execute(text("SHOW ssl")).scalar_one() == "on":
                pytest.skip("this PostgreSQL serves TLS")
    finally:
        engine.dispose()
    requires_tls = f"{database_url}?sslmode=require"
    app = create_app(Settings(**{**settings.model_dump(), "database_url": requires_tls}))
    with TestClient(app) as client:
        me = client.get("/api/v1/me", headers=owner_key.headers)
    assert me.status_code == 503, me.text


def test_the_database_refuses_a_reference_into_another_workspace(factory: Factory) -> None:
    """Every lookup filters by workspace; the keys are the second guard: (workspace_id, column)
    → parent (workspace_id, id)."""
    from datetime import date

    from sqlalchemy.exc import IntegrityError

    from billabled.models.task import Task
    from billabled.models.time_entry import TimeEntry

    ours, theirs = factory.workspace(), factory.workspace()
    our_project = factory.project(ours, factory.client(ours))
    their_client = factory.client(theirs)
    their_project = factory.project(theirs, their_client)

    def entry(**references: str) -> TimeEntry:
        return TimeEntry(
            workspace_id=ours.id,
            user_id=ours.owner_id,
            work_date=date(2026, 1, 5),
            duration_seconds=60,
            billable=True,
            currency="USD",
            **{"client_id": their_client, "project_id": our_project, **references},
        )

    for row in (
        entry(project_id=their_project),  # another workspace's project
        entry(),  # another workspace's client
        Task(workspace_id=ours.id, project_id=their_project, name="Theirs"),
    ):
        with pytest.raises(IntegrityError):
            factory.insert(row)


NOT_NEGATIVE = [
    ("client", "default_hourly_rate_minor"),
    ("membership", "default_bill_rate_minor"),
    ("membership", "default_cost_rate_minor"),
    ("project", "hourly_rate_minor"),
    ("project", "fixed_fee_minor"),
    ("project", "budget_seconds"),
    ("project", "budget_amount_minor"),
    ("project", "retainer_included_seconds"),
    ("project", "retainer_monthly_fee_minor"),
    ("project", "retainer_overage_rate_minor"),
    ("task", "estimate_seconds"),
    ("subtask", "estimate_seconds"),
    ("time_entry", "rate_minor"),
]


@pytest.mark.parametrize(("table", "column"), NOT_NEGATIVE)
def test_the_database_refuses_a_negative_amount(factory: Factory, table: str, column: str) -> None:
    """The API refuses negative rates, fees, budgets and estimates; so does the database, for
    every other way in (were stored: a rate of -1 priced time at minus the hour)."""
    from sqlalchemy.exc import IntegrityError

    workspace = factory.workspace()
    project_id = factory.project(workspace, factory.client(workspace))
    factory.subtask(workspace, factory.task(workspace, project_id))
    factory.time_entry(workspace, project_id)
    factory.sql(f"UPDATE {table} SET {column} = 0 WHERE workspace_id = :id", id=workspace.id)
    with pytest.raises(IntegrityError, match=f"ck_{table}_{column}_not_negative"):
        factory.sql(f"UPDATE {table} SET {column} = -1 WHERE workspace_id = :id", id=workspace.id)
