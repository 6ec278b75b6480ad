"""One secret key per database (a helper's CLI audit): `keys create` run from another directory
generated a secret key of its own and printed a key the servers refused (401), without a word;
an instance configured with another secret refused every key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from billabled.db import create_sync_engine
from tests.support import drop_database, free_port, new_database_url, run_cli

FIRST_SECRET = "first-secret-" + "f" * 30
OTHER_SECRET = "other-secret-" + "o" * 30


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = new_database_url(tmp_path)
    yield url
    drop_database(url)


def _env(directory: Path, database_url: str, secret: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLABLED_")}
    env.update(BILLABLED_DATA_DIR=str(directory), BILLABLED_DATABASE_URL=database_url)
    if secret is not None:
        env["BILLABLED_SECRET_KEY"] = secret
    return env


def _keys_create(env: dict[str, str], workspace_id: str) -> tuple[int, str]:
    result = run_cli(
        ["keys", "create", "--workspace", workspace_id, "--user", "ada@example.com",
         "--name", "ERP", "--scopes", "all", "--json"],
        env,
    )  # fmt: skip
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def workspace_id(tmp_path: Path, database_url: str) -> str:
    env = _env(tmp_path / "server", database_url, FIRST_SECRET)
    assert run_cli(["migrate"], env).exit_code == 0
    created = run_cli(
        ["workspaces", "create", "Agency", "--owner-email", "ada@example.com", "--json"], env
    )
    assert created.exit_code == 0, created.stderr
    return str(json.loads(created.stdout)["workspace"]["id"])


def test_keys_create_with_another_secret_key_is_refused_and_makes_no_key(
    tmp_path: Path, database_url: str, workspace_id: str
) -> None:
    # From another directory, without BILLABLED_SECRET_KEY: it generates a secret of its own.
    elsewhere = _env(tmp_path / "elsewhere", database_url, None)
    code, said = _keys_create(elsewhere, workspace_id)
    assert code == 1, said
    assert said.startswith("error: the secret key differs from the one recorded for this database")
    assert "billabled adopt-secret-key" in said

    listed = run_cli(["keys", "list", "--workspace", workspace_id, "--json"], elsewhere)
    assert json.loads(listed.stdout)["items"] == []
    code, said = _keys_create(_env(tmp_path / "server", database_url, FIRST_SECRET), workspace_id)
    assert code == 0, said


def test_serve_with_another_secret_key_stops_before_listening(
    tmp_path: Path, database_url: str, workspace_id: str
) -> None:
    port = free_port()
    env = _env(tmp_path / "other", database_url, OTHER_SECRET)
    result = run_cli(["serve", "--port", str(port)], env, timeout=60)
    assert result.exit_code == 1, result.stdout
    assert "the secret key differs from the one recorded for this database" in result.stderr
    assert "serving" not in result.stdout.lower()


def test_a_rotated_secret_key_is_adopted_on_purpose(
    tmp_path: Path, database_url: str, workspace_id: str
) -> None:
    before = _env(tmp_path / "server", database_url, FIRST_SECRET)
    code, said = _keys_create(before, workspace_id)
    assert code == 0, said

    rotated = _env(tmp_path / "server", database_url, OTHER_SECRET)
    adopted = run_cli(["adopt-secret-key"], rotated)
    assert adopted.exit_code == 0, adopted.stderr
    assert "every API key made with the previous one" in adopted.stdout
    code, said = _keys_create(rotated, workspace_id)
    assert code == 0, said
    code, said = _keys_create(before, workspace_id)
    assert code == 1, said  # the old secret is the other one now


def test_the_first_process_records_its_secret_key_and_migrate_refuses_another(
    tmp_path: Path, database_url: str
) -> None:
    """A database with no fingerprint (new, or from before the check) takes the first process's
    secret key; from then on `migrate` (and `serve`, which runs it) refuse another."""
    assert run_cli(["migrate"], _env(tmp_path / "a", database_url, OTHER_SECRET)).exit_code == 0
    again = run_cli(["migrate"], _env(tmp_path / "b", database_url, FIRST_SECRET))
    assert again.exit_code == 1, again.stdout
    assert "differs from the one recorded" in again.stderr


def test_a_secret_generated_by_a_stray_command_is_not_recorded_for_a_database_with_keys(
    tmp_path: Path, database_url: str, workspace_id: str
) -> None:
    """A database from a release before the check has keys and no fingerprint. A `migrate` run
    from another directory without the secret recorded the one it generated, and the servers,
    which hold the right one, were then refused at start (a helper's review)."""
    server = _env(tmp_path / "server", database_url, FIRST_SECRET)
    code, said = _keys_create(server, workspace_id)
    assert code == 0, said
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM secret_check"))  # as before migration 0015
    finally:
        engine.dispose()

    stray = run_cli(["migrate"], _env(tmp_path / "elsewhere", database_url, None))
    assert stray.exit_code == 1, stray.stdout
    assert "has API keys and no recorded secret key" in stray.stderr
    assert run_cli(["migrate"], server).exit_code == 0  # the servers' secret is recorded
    code, said = _keys_create(server, workspace_id)
    assert code == 0, said
