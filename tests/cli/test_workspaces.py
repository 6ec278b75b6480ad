"""`billabled workspaces create` and `billabled users add`, run as a user runs them."""

from __future__ import annotations

import json

from tests.support import run_cli


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


def test_commands_refuse_an_unmigrated_database(tmp_path: object, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "BILLABLED_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    result = run_cli(["workspaces", "create", "X", "--owner-email", "a@example.com"], env)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the database schema is not up to date; run `billabled migrate` first"
    )
