"""`billabled migrate` as an operator meets it on an existing database (a helper's upgrade-path
audit): a migration refused by the data names the rows, and a wait for another process's
migration is said, not silent."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import insert, make_url

from billabled import migrations
from billabled.db import create_sync_engine
from billabled.models.tag import Tag
from billabled.models.workspace import Workspace
from tests.support import BILLABLED, drop_database, new_database_url, postgres_test_url, run_cli


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = new_database_url(tmp_path)
    yield url
    drop_database(url)


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABLED_")}
    return {**env, "BILLABLED_DATA_DIR": str(tmp_path), "BILLABLED_DATABASE_URL": database_url}


def test_a_migration_the_data_refuses_names_the_rows_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    """Two tags differing only in case were allowed before 0004's unique index. PostgreSQL's
    DETAIL, the only part naming the key, was cut from the message."""
    migrations.upgrade(database_url, "0003")
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Workspace.__table__).values(id="ws_01", name="W"))
            for tag_id, name in (("tag_1", "urgent"), ("tag_2", "URGENT")):
                connection.execute(
                    insert(Tag.__table__).values(id=tag_id, workspace_id="ws_01", name=name)
                )
    finally:
        engine.dispose()

    result = run_cli(["migrate"], _env(tmp_path, database_url))

    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("error: database error: "), result.stderr
    assert "uq_tag_workspace_id_lower_name" in result.stderr
    if database_url.startswith("postgresql"):
        assert "(workspace_id, lower(name::text))=(ws_01, urgent) is duplicated" in result.stderr
    assert migrations.current_revision(database_url) == "0003"


@pytest.mark.skipif(postgres_test_url() is None, reason="the advisory lock: PostgreSQL")
def test_a_migration_waiting_for_another_says_so_then_runs(
    tmp_path: Path, database_url: str
) -> None:
    """Every `serve` takes the lock, at head too: a session left holding it stopped every
    instance starting, with no word of why."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrations.MIGRATION_LOCK_ID,))
        process = subprocess.Popen(
            [BILLABLED, "migrate"],
            env=_env(tmp_path, database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        said = process.stderr.readline()
        assert said.startswith("waiting: another process is migrating this database"), said
        time.sleep(0.5)
        assert process.poll() is None  # still waiting
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrations.MIGRATION_LOCK_ID,))
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stdout.strip().endswith(f"is at revision {migrations.head_revision()}")


def test_a_database_that_never_answers_is_given_up_on_in_seconds(tmp_path: Path) -> None:
    """A server that takes the connection and says nothing (a hung database, a firewall that
    swallows packets): every command waited libpq's default, 130 s, before "cannot reach"."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        url = f"postgresql://billabled@127.0.0.1:{port}/billabled"
        started = time.monotonic()
        result = run_cli(["migrate"], _env(tmp_path, url), timeout=60)
        waited = time.monotonic() - started
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("error: cannot reach the database at "), result.stderr
    assert waited < 25, waited


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        # The Redis library's error quoted the rest of the password as the "port".
        ("BILLABLED_REDIS_URL", "redis://default:SeKrEt-Pw/x", "is not a Redis URL"),
        # libpq takes a password in the query too; only the userinfo's was hidden.
        (
            "BILLABLED_DATABASE_URL",
            "postgresql://u@127.0.0.1:9/d?password=SeKrEt-Pw&sslpassword=SeKrEt-Pw",
            "?password=***&sslpassword=***",
        ),
        # An `@` left in the password: the rest of it was taken for the host, and shown.
        ("BILLABLED_DATABASE_URL", "postgresql://u:Pw@SeKrEt-Pw@127.0.0.1:9/d", "as %40"),
    ],
)
def test_a_password_in_a_bad_setting_is_never_printed(
    tmp_path: Path, setting: str, value: str, said: str
) -> None:
    # A helper's secrets audit: stderr is the log stream in a container.
    env = {"BILLABLED_DATA_DIR": str(tmp_path), "BILLABLED_SECRET_KEY": "s" * 40, setting: value}
    result = run_cli(["migrate"], env)
    assert result.exit_code == 1
    assert said in result.stderr
    assert "SeKrEt" not in result.stdout + result.stderr
