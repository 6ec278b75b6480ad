"""One secret key per database (a helper's CLI audit): `keys create` run from another directory
generated a secret key of its own and printed a key the servers refused (401), without a word;
an instance configured with another secret refused every key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    assert said.startswith("error: BILLABLED_SECRET_KEY is not the secret key this database's")
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
    assert "is not the secret key this database's API keys were made with" in result.stderr
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
    assert "is not the secret key" in again.stderr
