"""`billabled workspaces create` and `billabled users add`, run as a user runs them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from billabled.db import create_sync_engine
from billabled.kit.passwords import verify_password
from tests.support import BILLABLED, run_cli, wait_for_a_blocked_request


def test_workspaces_create_json_prints_one_object(cli_env: dict[str, str], unique: str) -> None:
    result = run_cli(
        [
            "workspaces", "create", f"Acme {unique}",
            "--owner-email", f"Owner.{unique}@Example.com",
            "--owner-name", "Ada Owner", "--plan", "professional", "--json",
        ],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert body["workspace"]["id"].startswith("ws_")
    assert body["workspace"]["name"] == f"Acme {unique}"
    assert body["workspace"]["plan"] == "professional"
    assert body["owner"]["id"].startswith("usr_")
    assert body["owner"]["email"] == f"owner.{unique}@example.com"
    assert body["owner"]["name"] == "Ada Owner"
    assert body["owner"]["role"] == "owner"
    assert len(body["password"]) >= 10  # generated, shown once


def test_workspaces_create_with_password_does_not_print_it(
    cli_env: dict[str, str], unique: str
) -> None:
    result = run_cli(
        [
            "workspaces", "create", "Quiet", "--owner-email", f"q{unique}@example.com",
            "--password", f"pw-{unique}-long", "--json",
        ],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "password" not in json.loads(result.stdout)
    assert f"pw-{unique}-long" not in result.stdout + result.stderr


def test_a_password_can_come_from_standard_input_not_the_command_line(
    cli_env: dict[str, str], database_url: str, unique: str
) -> None:
    # `--password` shows in the process list and the shell's history (a helper's secrets audit).
    email = f"stdin{unique}@example.com"
    result = run_cli(
        ["workspaces", "create", "Quiet", "--owner-email", email, "--password-stdin", "--json"],
        cli_env,
        stdin=f"pw-{unique}-stdin\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "password" not in json.loads(result.stdout)
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT password_hash FROM user_account WHERE email = :e"), {"e": email}
            ).scalar_one()
    finally:
        engine.dispose()
    assert verify_password(stored, f"pw-{unique}-stdin")
    both = run_cli(
        ["workspaces", "create", "Q", "--owner-email", f"b{email}", "--password", "x" * 12,
         "--password-stdin"],
        cli_env,
        stdin="y\n",
    )  # fmt: skip
    assert both.exit_code == 2
    assert "not both" in both.stderr


def test_workspaces_create_rejects_a_bad_plan_in_one_line(
    cli_env: dict[str, str], unique: str
) -> None:
    result = run_cli(
        ["workspaces", "create", "X", "--owner-email", f"x{unique}@example.com", "--plan", "gold"],
        cli_env,
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().startswith("error: Unknown plan 'gold'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_workspaces_create_rejects_a_bad_email(cli_env: dict[str, str]) -> None:
    result = run_cli(["workspaces", "create", "X", "--owner-email", "not-an-email"], cli_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: The email address is invalid.")
    assert "Traceback" not in result.stderr


def test_a_name_too_long_for_the_record_is_a_clear_error(
    cli_env: dict[str, str], unique: str
) -> None:
    # Was a database error on PostgreSQL (the column holds 200) and stored whole on SQLite.
    result = run_cli(
        [
            "workspaces", "create", "X", "--owner-email", f"long{unique}@example.com",
            "--owner-name", "n" * 201,
        ],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 1, result.stdout
    assert result.stderr.startswith("error: The name must be at most 200 characters.")
    assert "Traceback" not in result.stderr
    workspace = _create_workspace(cli_env, unique)
    added = run_cli(
        [
            "users", "add", "--workspace", workspace, "--email", f"m{unique}@example.com",
            "--role", "member", "--name", "n" * 201,
        ],
        cli_env,
    )  # fmt: skip
    assert added.exit_code == 1
    assert added.stderr.startswith("error: The name must be at most 200 characters.")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ctl\x1b[31mx", "error: The name must not contain control characters (U+001B, "),
        ("a\nb\x1b[2J", "error: The name must not contain control characters (U+000A, "),
        ("   ", "error: The name must not be empty."),
        ("e\u0301" * 201, "error: The name must be at most 200 characters."),
    ],
)
def test_workspace_names_follow_the_rule_for_names(
    cli_env: dict[str, str], unique: str, name: str, message: str
) -> None:
    # Terminal escapes and line breaks were stored.
    refused = run_cli(
        ["workspaces", "create", name, "--owner-email", f"names{unique}@example.com"], cli_env
    )
    assert refused.exit_code == 1
    assert refused.stderr.startswith(message), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_workspace_and_person_names_are_composed_then_counted(
    cli_env: dict[str, str], unique: str
) -> None:
    # 150 "é" typed decomposed were refused as over 200 characters.
    created = run_cli(
        ["workspaces", "create", " " + "e\u0301" * 150, "--owner-email",
         f"names{unique}@example.com", "--json"],
        cli_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    workspace = json.loads(created.stdout)["workspace"]
    assert workspace["name"] == "\u00e9" * 150
    added = run_cli(
        ["users", "add", "--workspace", workspace["id"], "--role", "member",
         "--email", f"zoe{unique}@example.com", "--name", " Zoe\u0308 ", "--json"],
        cli_env,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)["user"]["name"] == "Zo\u00eb"


@pytest.fixture(scope="module")
def shared_workspace(cli_env: dict[str, str]) -> str:
    """One workspace for the tests that are refused and change nothing: each command is a process
    of its own, so this saves seconds."""
    return _create_workspace(cli_env, uuid.uuid4().hex[:10])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\nb\x1b[2J", "error: The name must not contain control characters (U+000A, "),
        ("Bo\x1b[31m", "error: The name must not contain control characters (U+001B, "),
        ("e\u0301" * 201, "error: The name must be at most 200 characters."),
    ],
)
def test_person_names_follow_the_rule_for_names(
    cli_env: dict[str, str], shared_workspace: str, unique: str, name: str, message: str
) -> None:
    add = ["users", "add", "--workspace", shared_workspace, "--role", "member"]
    refused = run_cli([*add, "--email", f"bo{unique}@example.com", "--name", name], cli_env)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(message), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    owner = run_cli(
        ["workspaces", "create", "W", "--owner-email", f"ow{unique}@example.com",
         "--owner-name", name],
        cli_env,
    )  # fmt: skip
    assert owner.exit_code == 1
    assert owner.stderr.startswith(message), owner.stderr


def test_an_existing_owners_password_is_not_silently_ignored(
    cli_env: dict[str, str], unique: str
) -> None:
    """`--password` for an owner who already has an account was ignored without a word (and a
    short one was refused as too short, though it would not have been used)."""
    email = f"again{unique}@example.com"
    first = run_cli(["workspaces", "create", "First", "--owner-email", email], cli_env)
    assert first.exit_code == 0, first.stderr
    for password in (f"new-password-{unique}", "short"):
        result = run_cli(
            ["workspaces", "create", "Second", "--owner-email", email.upper(),
             "--password", password],
            cli_env,
        )  # fmt: skip
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.strip() == (
            f"error: {email} already has an account, which keeps its password; "
            "leave out --password or --password-stdin"
        )
    # Without it, the existing account owns the new workspace, with its own password.
    second = run_cli(["workspaces", "create", "Second", "--owner-email", email, "--json"], cli_env)
    assert second.exit_code == 0, second.stderr
    body = json.loads(second.stdout)
    assert body["owner"]["created"] is False
    assert "password" not in body


def _create_workspace(cli_env: dict[str, str], unique: str) -> str:
    result = run_cli(
        ["workspaces", "create", "Team", "--owner-email", f"boss{unique}@example.com", "--json"],
        cli_env,
    )
    assert result.exit_code == 0, result.stderr
    workspace_id: str = json.loads(result.stdout)["workspace"]["id"]
    return workspace_id


def test_users_add_creates_a_member(cli_env: dict[str, str], unique: str) -> None:
    workspace_id = _create_workspace(cli_env, unique)
    result = run_cli(
        [
            "users", "add", "--workspace", workspace_id, "--email", f"mia{unique}@example.com",
            "--name", "Mia Member", "--role", "member", "--json",
        ],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["user"]["id"].startswith("usr_")
    assert body["user"]["name"] == "Mia Member"
    assert body["user"]["created"] is True
    assert body["membership"]["workspaceId"] == workspace_id
    assert body["membership"]["role"] == "member"
    assert body["membership"]["weeklyCapacitySeconds"] == 40 * 3600


def test_users_add_an_existing_user_to_a_second_workspace(
    cli_env: dict[str, str], unique: str
) -> None:
    first = _create_workspace(cli_env, unique)
    second = _create_workspace(cli_env, unique + "b")
    email = f"shared{unique}@example.com"
    args = ["users", "add", "--email", email, "--role", "manager", "--json", "--workspace"]
    one = run_cli([*args, first], cli_env)
    two = run_cli([*args, second], cli_env)
    assert one.exit_code == 0, one.stderr
    assert two.exit_code == 0, two.stderr
    assert json.loads(one.stdout)["user"]["id"] == json.loads(two.stdout)["user"]["id"]
    assert json.loads(two.stdout)["user"]["created"] is False


def test_users_add_twice_is_a_clear_error(cli_env: dict[str, str], unique: str) -> None:
    workspace_id = _create_workspace(cli_env, unique)
    args = ["users", "add", "--workspace", workspace_id, "--email", f"d{unique}@example.com"]
    assert run_cli([*args, "--role", "member"], cli_env).exit_code == 0
    again = run_cli([*args, "--role", "admin"], cli_env)
    assert again.exit_code == 1
    assert (
        again.stderr.strip()
        == f"error: d{unique}@example.com is already a member of this workspace."
    )


def test_users_add_rejects_an_unknown_workspace_and_role(cli_env: dict[str, str]) -> None:
    unknown = run_cli(
        ["users", "add", "--workspace", "ws_01jd00000000000000000000zz", "--email",
         "a@example.com", "--role", "member"],
        cli_env,
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: workspace 'ws_01jd00000000000000000000zz' not found"

    bad_role = run_cli(
        ["users", "add", "--workspace", "ws_x", "--email", "a@example.com", "--role", "boss"],
        cli_env,
    )
    assert bad_role.exit_code == 1
    assert bad_role.stderr.startswith("error: Unknown role 'boss'")


def test_missing_required_option_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = run_cli(["users", "add", "--email", "a@example.com"], cli_env)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_commands_refuse_an_unmigrated_database(tmp_path: Path, cli_env: dict[str, str]) -> None:
    sqlite3.connect(tmp_path / "fresh.db").close()
    env = {**cli_env, "BILLABLED_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    result = run_cli(["workspaces", "create", "X", "--owner-email", "a@example.com"], env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the database schema is not up to date; run `billabled migrate` first"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list", "--workspace", "ws_x"],
        ["workspaces", "create", "X", "--owner-email", "a@example.com"],
    ],
)
def test_a_mistyped_data_dir_is_named_and_left_alone(
    tmp_path: Path, cli_env: dict[str, str], command: list[str]
) -> None:
    # It was given an empty database (and the directory made), then "run `billabled migrate`",
    # which filled a second database nobody else used.
    typo = tmp_path / "dta"
    env = {**cli_env, "BILLABLED_DATA_DIR": str(typo), "BILLABLED_DATABASE_URL": ""}
    result = run_cli(command, env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: there is no database at {typo / 'billabled.db'}: check BILLABLED_DATA_DIR (or "
        "BILLABLED_DATABASE_URL), or run `billabled migrate` to create one there"
    )
    assert not typo.exists()


def test_a_sqlite_uri_filename_is_the_file_it_names(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # `file:…?uri=true` was taken for a relative path named `file:…`: refused as missing (a
    # helper's review), and `serve` made a `./file:` directory.
    migrated = run_cli(
        ["migrate"], {**cli_env, "BILLABLED_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    )
    assert migrated.exit_code == 0, migrated.stderr
    uri = f"sqlite:///file:{tmp_path}/r.db?mode=ro&uri=true"
    listed = run_cli(
        ["keys", "list", "--workspace", "ws_x"], {**cli_env, "BILLABLED_DATABASE_URL": uri}
    )
    assert listed.stderr.strip() == "error: workspace 'ws_x' not found"


def _owners(database_url: str, workspace_id: str) -> int:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM membership"
                        " WHERE workspace_id = :ws AND role = 'owner'"
                    ),
                    {"ws": workspace_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    cli_env: dict[str, str], database_url: str, unique: str
) -> None:
    workspace_id = _create_workspace(cli_env, unique)
    owner = f"boss{unique}@example.com"
    where = ["--workspace", workspace_id, "--email"]
    demoted = run_cli(["users", "set-role", *where, owner, "--role", "admin"], cli_env)
    removed = run_cli(["users", "remove", *where, owner], cli_env)
    for result in (demoted, removed):
        assert result.exit_code == 1
        assert "at least one owner" in result.stderr
        assert "Traceback" not in result.stderr
    assert _owners(database_url, workspace_id) == 1

    second = f"second{unique}@example.com"
    assert run_cli(["users", "add", *where, second, "--role", "owner"], cli_env).exit_code == 0
    handed_over = run_cli(["users", "set-role", *where, owner, "--role", "admin"], cli_env)
    assert handed_over.exit_code == 0, handed_over.stderr
    assert handed_over.stdout.strip() == f"{owner} is now admin in {workspace_id}"
    assert _owners(database_url, workspace_id) == 1


@pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="concurrent writers: PostgreSQL (CI's second pass)",
)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    cli_env: dict[str, str], database_url: str, unique: str
) -> None:
    """Each demotion counted two owners before either was written (a lock on `membership` holds
    their writes until both have counted), and the workspace was left with none."""
    workspace_id = _create_workspace(cli_env, unique)
    where = ["--workspace", workspace_id, "--email"]
    owners = [f"boss{unique}@example.com", f"second{unique}@example.com"]
    assert run_cli(["users", "add", *where, owners[1], "--role", "owner"], cli_env).exit_code == 0

    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as locker:
            lock = locker.begin()
            locker.execute(text("LOCK TABLE membership IN SHARE MODE"))  # reads go on, writes wait
            demotions = [
                subprocess.Popen(
                    [BILLABLED, "users", "set-role", *where, email, "--role", "member"],
                    env={**os.environ, **cli_env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for email in owners
            ]
            wait_for_a_blocked_request(database_url, count=2)
            lock.commit()
        results = [process.communicate(timeout=60) for process in demotions]
    finally:
        engine.dispose()
    codes = sorted(process.returncode for process in demotions)
    assert codes == [0, 1], results
    assert any("at least one owner" in stderr for _, stderr in results)
    assert _owners(database_url, workspace_id) == 1


def _role_changes(database_url: str, workspace_id: str) -> int:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM audit_record"
                        " WHERE workspace_id = :ws AND action = 'membership.updated'"
                    ),
                    {"ws": workspace_id},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_setting_the_role_a_member_has_changes_nothing(
    cli_env: dict[str, str], database_url: str, unique: str
) -> None:
    # It wrote an audit record whose before and after were the same.
    workspace_id = _create_workspace(cli_env, unique)
    where = ["--workspace", workspace_id, "--email", f"mo{unique}@example.com"]
    assert run_cli(["users", "add", *where, "--role", "manager"], cli_env).exit_code == 0
    same = run_cli(["users", "set-role", *where, "--role", "Manager"], cli_env)
    assert same.exit_code == 0, same.stderr
    assert same.stdout.strip() == (
        f"mo{unique}@example.com is already manager in {workspace_id}; nothing changed"
    )
    as_json = run_cli(["users", "set-role", *where, "--role", "manager", "--json"], cli_env)
    assert json.loads(as_json.stdout)["changed"] is False
    assert _role_changes(database_url, workspace_id) == 0
    changed = run_cli(["users", "set-role", *where, "--role", "member", "--json"], cli_env)
    assert json.loads(changed.stdout)["changed"] is True
    assert _role_changes(database_url, workspace_id) == 1
