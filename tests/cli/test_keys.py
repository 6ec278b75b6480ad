"""`billabled keys …` and `billabled usage`, and the promise that secrets are never kept."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from billabled import migrations
from billabled.db import create_sync_engine
from billabled.kit.apikeys import generate_key, is_well_formed
from billabled.kit.time import isoformat_z
from billabled.models import Base
from tests.conftest import TEST_SECRET_KEY
from tests.support import BILLABLED, drop_database, free_port, new_database_url, run_cli


def _workspace(cli_env: dict[str, str], unique: str, plan: str = "business") -> tuple[str, str]:
    email = f"keys-{unique}@example.com"
    created = run_cli(
        ["workspaces", "create", "Keys", "--owner-email", email, "--plan", plan, "--json"], cli_env
    )
    assert created.exit_code == 0, created.stderr
    return json.loads(created.stdout)["workspace"]["id"], email


def _key(
    cli_env: dict[str, str], workspace_id: str, email: str, name: str, scopes: str
) -> dict[str, Any]:
    """`keys create … --json`, as printed: the raw key, its id and the rest."""
    created = run_cli(
        ["keys", "create", "--workspace", workspace_id, "--user", email, "--name", name,
         "--scopes", scopes, "--json"],
        cli_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    key: dict[str, Any] = json.loads(created.stdout)
    return key


@pytest.fixture(scope="module")
def shared_workspace(cli_env: dict[str, str]) -> tuple[str, str]:
    """One workspace (id, owner's email) for the tests that look at nothing else in it: most are
    refused and change nothing. Each command is a process of its own, so this saves seconds."""
    return _workspace(cli_env, uuid.uuid4().hex[:10])


@pytest.fixture(scope="module")
def shared_member(cli_env: dict[str, str], shared_workspace: tuple[str, str]) -> str:
    """The email of a member of `shared_workspace`."""
    email = f"m-{uuid.uuid4().hex[:10]}@example.com"
    added = run_cli(
        ["users", "add", "--workspace", shared_workspace[0], "--email", email, "--role", "member"],
        cli_env,
    )
    assert added.exit_code == 0, added.stderr
    return email


def test_keys_create_prints_the_key_once_and_list_never_does(
    cli_env: dict[str, str], unique: str
) -> None:
    workspace_id, email = _workspace(cli_env, unique)
    created = run_cli(
        ["keys", "create", "--workspace", workspace_id, "--user", email, "--name", "ERP sync",
         "--scopes", "read:clients,write:time", "--expires-in", "30d", "--json"],
        cli_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    body = json.loads(created.stdout)
    assert is_well_formed(body["key"])
    assert body["id"].startswith("key_")
    assert body["prefix"] == body["key"][:12]
    assert body["scopes"] == ["read:clients", "write:time"]
    assert body["status"] == "active"
    assert body["expiresAt"] is not None

    listed = run_cli(["keys", "list", "--workspace", workspace_id, "--json"], cli_env)
    assert listed.exit_code == 0, listed.stderr
    assert body["key"] not in listed.stdout
    (item,) = json.loads(listed.stdout)["items"]
    assert (item["id"], item["name"], item["createdByEmail"]) == (body["id"], "ERP sync", email)
    assert "keyHash" not in item


# "all," was refused for a member: `parse_scopes` read it as `all`, the role's cap did not.
@pytest.mark.parametrize("scopes", ["all", "all,", " all , all"])
def test_all_means_every_scope_the_role_allows(
    cli_env: dict[str, str], shared_workspace: tuple[str, str], shared_member: str, scopes: str
) -> None:
    created = run_cli(
        ["keys", "create", "--workspace", shared_workspace[0], "--user", shared_member,
         "--name", "mine",
         "--scopes", scopes, "--json"],
        cli_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert set(json.loads(created.stdout)["scopes"]) == {
        "read:clients", "read:projects", "read:tasks", "read:tags", "read:schedule",
        "read:users", "read:time", "write:time",
    }  # fmt: skip


def test_scopes_beyond_the_creators_role_are_refused(cli_env: dict[str, str], unique: str) -> None:
    workspace_id, _ = _workspace(cli_env, unique)
    manager = f"mgr-{unique}@example.com"
    run_cli(
        ["users", "add", "--workspace", workspace_id, "--email", manager, "--role", "manager"],
        cli_env,
    )
    refused = run_cli(
        ["keys", "create", "--workspace", workspace_id, "--user", manager, "--name", "x",
         "--scopes", "read:clients,export:data,write:invoices"],
        cli_env,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error: A manager cannot grant: write:invoices, export:data."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "read:everything"], "error: unknown scope 'read:everything'"),
        (["--scopes", "read:clients", "--expires-in", "soon"], "error: Invalid duration 'soon'"),
        # An empty duration made a key that never expires.
        (["--scopes", "read:clients", "--expires-in", ""], "error: Invalid duration ''"),
        (
            ["--scopes", "read:clients", "--user", "nobody@example.com"],
            "error: nobody@example.com is not a member",
        ),
    ],
)
def test_keys_create_bad_arguments_are_one_line(
    cli_env: dict[str, str], shared_workspace: tuple[str, str], args: list[str], message: str
) -> None:
    workspace_id, email = shared_workspace
    base = ["keys", "create", "--workspace", workspace_id, "--user", email, "--name", "x"]
    result = run_cli([*base, *args], cli_env)
    assert result.exit_code == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("k\x1b[31mred", "error: The name must not contain control characters (U+001B, "),
        ("two\nlines", "error: The name must not contain control characters (U+000A, "),
        ("   ", "error: The name must not be empty."),
        ("e\u0301" * 101, "error: The name must be at most 100 characters."),
    ],
)
def test_key_names_follow_the_rule_for_names(
    cli_env: dict[str, str], shared_workspace: tuple[str, str], name: str, message: str
) -> None:
    # Terminal escapes were stored, and printed raw by `keys list` and `usage`.
    workspace_id, email = shared_workspace
    base = ["keys", "create", "--workspace", workspace_id, "--user", email, "--scopes", "read:tags"]
    refused = run_cli([*base, "--name", name], cli_env)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(message), refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_key_name_is_composed_then_counted(
    cli_env: dict[str, str], shared_workspace: tuple[str, str]
) -> None:
    # Composed (NFC), and counted composed: 100 "é" typed as "e" + U+0301 fit.
    workspace_id, email = shared_workspace
    created = run_cli(
        ["keys", "create", "--workspace", workspace_id, "--user", email, "--scopes", "read:tags",
         "--name", " " + "e\u0301" * 100 + " ", "--json"],
        cli_env,
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "\u00e9" * 100


def test_keys_list_names_each_keys_expiry(cli_env: dict[str, str], unique: str) -> None:
    # Its help promises the expiry; the lines left it out.
    workspace_id, email = _workspace(cli_env, unique)
    base = ["keys", "create", "--workspace", workspace_id, "--user", email, "--scopes", "read:tags"]
    expiring = json.loads(
        run_cli([*base, "--name", "brief", "--expires-in", "2w", "--json"], cli_env).stdout
    )
    lasting = json.loads(run_cli([*base, "--name", "lasting", "--json"], cli_env).stdout)
    listed = run_cli(["keys", "list", "--workspace", workspace_id], cli_env)
    assert listed.exit_code == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    expires_at = datetime.fromisoformat(expiring["expiresAt"])
    assert f"  expires {isoformat_z(expires_at)}  " in lines[expiring["id"]]
    assert "  never expires  " in lines[lasting["id"]]


def test_a_stored_name_with_control_characters_is_listed_escaped(
    cli_env: dict[str, str], database_url: str, unique: str
) -> None:
    """A name stored before names refused control characters must not reach the terminal."""
    workspace_id, email = _workspace(cli_env, unique)
    created = _key(cli_env, workspace_id, email, "old", "read:tags")
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE api_key SET name = :name WHERE id = :id"),
                {"name": "old\nline\x07", "id": created["id"]},
            )
    finally:
        engine.dispose()
    listed = run_cli(["keys", "list", "--workspace", workspace_id], cli_env)
    assert listed.exit_code == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "  old\\x0aline\\x07  " in line


def test_keys_revoke(cli_env: dict[str, str], unique: str) -> None:
    workspace_id, email = _workspace(cli_env, unique)
    created = _key(cli_env, workspace_id, email, "x", "read:users")
    revoked = run_cli(["keys", "revoke", created["id"]], cli_env)
    assert revoked.exit_code == 0, revoked.stderr
    assert revoked.stdout.strip() == f"Revoked {created['id']}"
    # The key itself, as whoever found it leaked has it at hand: it was refused, and echoed
    # whole (a helper's secrets audit).
    leaked = _key(cli_env, workspace_id, email, "leaked", "read:users")
    by_key = run_cli(["keys", "revoke", leaked["key"]], cli_env)
    assert by_key.exit_code == 0, by_key.stderr
    assert by_key.stdout.strip() == f"Revoked {leaked['id']}"
    assert leaked["key"] not in by_key.stdout + by_key.stderr
    listed = json.loads(
        run_cli(["keys", "list", "--workspace", workspace_id, "--json"], cli_env).stdout
    )
    assert [item["status"] for item in listed["items"]] == ["revoked", "revoked"]
    unknown = run_cli(["keys", "revoke", "key_01jd00000000000000000000zz"], cli_env)
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: No API key 'key_01jd00000000000000000000zz'."
    raw = generate_key()
    never_issued = run_cli(["keys", "revoke", raw], cli_env)
    assert never_issued.exit_code == 1
    assert never_issued.stderr.startswith("error: No API key is that key")
    assert raw[12:] not in never_issued.stderr


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    url = new_database_url(tmp_path)
    migrations.upgrade(url)
    yield url
    drop_database(url)


def test_no_raw_key_or_ip_in_the_database_or_logs_and_usage_is_summarised(
    tmp_path: Path, fresh_database: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BILLABLED_")},
        "BILLABLED_DATA_DIR": str(tmp_path),
        "BILLABLED_DATABASE_URL": fresh_database,
        "BILLABLED_SECRET_KEY": TEST_SECRET_KEY,
        "BILLABLED_LOG_LEVEL": "debug",
    }
    workspace = json.loads(
        run_cli(
            ["workspaces", "create", "Secrets", "--owner-email", "s@example.com", "--json"], env
        ).stdout
    )["workspace"]["id"]
    key = json.loads(
        run_cli(
            ["keys", "create", "--workspace", workspace, "--user", "s@example.com", "--name", "k",
             "--scopes", "all", "--json"],
            env,
        ).stdout
    )["key"]  # fmt: skip
    unknown_key = generate_key()

    port = free_port()
    server = subprocess.Popen(
        [BILLABLED, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with httpx.Client(
            base_url=base, timeout=10, headers={"User-Agent": "secrets-test"}
        ) as http:
            assert (
                http.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code
                == 200
            )
            assert http.get("/api/v1/users", headers={"X-Api-Key": key}).status_code == 200
            assert http.get("/api/v1/me", headers={"X-Api-Key": unknown_key}).status_code == 401
            # A key pasted into the query string (refused: /me takes no parameters) is not kept.
            assert http.get(f"/api/v1/me?key={key}", headers={"X-Api-Key": key}).status_code == 422
            # Two statuses of one class (404, 422) count in it together.
            assert http.get("/api/v1/users/usr_x", headers={"X-Api-Key": key}).status_code == 404
            assert http.get("/api/v1/users?page=0", headers={"X-Api-Key": key}).status_code == 422
        # The recorder writes within a second.
        engine = create_sync_engine(fresh_database)
        try:
            while True:
                with engine.connect() as connection:
                    count = connection.exec_driver_sql(
                        "SELECT count(*) FROM usage_record"
                    ).scalar_one()
                if count >= 6 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert count == 6
            usage = run_cli(["usage", "--workspace", workspace, "--json"], env)
            assert usage.exit_code == 0, usage.stderr
            summary = json.loads(usage.stdout)
            assert summary["totalRequests"] == 5  # the 401 belongs to no workspace
            # Before, each status was a group of its own, and the last of a class overwrote the
            # others: {"2xx": 3, "4xx": 1}.
            assert summary["byStatus"] == {"2xx": 2, "4xx": 3}
            assert {(e["method"], e["endpoint"], e["requests"]) for e in summary["byEndpoint"]} == {
                ("GET", "/api/v1/me", 2),
                ("GET", "/api/v1/users", 2),
                ("GET", "/api/v1/users/{user_id}", 1),
            }
            dump = _dump(engine)
        finally:
            engine.dispose()
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=15)
    # The banners name where the server listens and its database host; neither is a client.
    logs = "\n".join(
        line
        for line in (stdout + stderr).splitlines()
        if not line.startswith("Billabled is serving")
    ).replace(f"http://127.0.0.1:{port}", "")
    assert '"event":"request"' in logs  # the request log is there…
    for secret in (key, unknown_key, "127.0.0.1"):  # …but no key and no client IP
        assert secret not in dump
        assert secret not in logs


def _dump(engine: object) -> str:
    """Every value of every table, as text."""
    parts: list[str] = []
    with engine.connect() as connection:  # type: ignore[attr-defined]
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_an_unknown_scope_is_answered_with_the_scopes_there_are(
    cli_env: dict[str, str], shared_workspace: tuple[str, str]
) -> None:
    # It pointed to `keys create --help`, which listed none (a helper's docs audit).
    workspace_id, email = shared_workspace
    base = ["keys", "create", "--workspace", workspace_id, "--user", email, "--name", "x"]
    refused = run_cli([*base, "--scopes", "read:everything"], cli_env)
    assert "read:clients" in refused.stderr
    assert "write:webhooks" in refused.stderr
    helped = run_cli(["keys", "create", "--help"], cli_env)
    assert "read:revenue-intelligence" in helped.stdout
