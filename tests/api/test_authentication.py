"""Every way a key can fail: each has its own 401 code, and a good key gets in (SPEC §4)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from billabled.app import create_app
from billabled.config import Settings
from billabled.kit.apikeys import generate_key
from billabled.models.membership import Role
from tests.factories import Factory, Key, Workspace


def error_code(response: object) -> str:
    code: str = response.json()["error"]["code"]  # type: ignore[attr-defined]
    return code


def key_lookups(client: TestClient) -> int:
    """How many API-key lookups the app has sent to its database so far."""
    lookups: int = client.app.state.platform.keys.lookups  # type: ignore[attr-defined]
    return lookups


REFUSED = 'Bearer realm="Billabled API", error="invalid_token"'


def test_a_valid_key_works_as_bearer_and_as_x_api_key(client: TestClient, owner_key: Key) -> None:
    bearer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {owner_key.raw}"})
    header = client.get("/api/v1/me", headers={"X-Api-Key": owner_key.raw})
    assert bearer.status_code == header.status_code == 200
    assert bearer.json()["key"]["id"] == header.json()["key"]["id"] == owner_key.id


def test_two_different_keys_are_refused_not_guessed_between(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    other = factory.key(factory.workspace())  # another workspace's
    both = {"Authorization": f"Bearer {owner_key.raw}", "X-Api-Key": other.raw}
    response = client.get("/api/v1/me", headers=both)
    # The Bearer key was used and the other ignored: a request meant for one workspace could
    # act in the other.
    assert response.status_code == 401
    assert error_code(response) == "api_key_invalid"
    assert response.headers["www-authenticate"] == REFUSED
    assert "different keys" in response.json()["error"]["message"]
    same = {"Authorization": f"Bearer {owner_key.raw}", "X-Api-Key": owner_key.raw}
    assert client.get("/api/v1/me", headers=same).status_code == 200
    # A header sent twice counts each time (the first was taken, the second ignored).
    for name, value in (
        ("authorization", "Bearer {}"),
        ("x-api-key", "{}"),
    ):
        repeated = [(name, value.format(other.raw)), (name, value.format(owner_key.raw))]
        twice = client.get("/api/v1/me", headers=repeated)
        assert twice.status_code == 401, (name, twice.text)
        assert error_code(twice) == "api_key_invalid"


def test_no_key_is_api_key_missing(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert error_code(response) == "api_key_missing"
    assert "X-Api-Key" in response.json()["error"]["message"]
    # RFC 9110 §15.5.2: a 401 names the scheme; no error code when no credential was sent.
    assert response.headers["www-authenticate"] == 'Bearer realm="Billabled API"'


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": "blb_example_replace_me"},
        {"X-Api-Key": "sk_live_0123456789abcdef0123456789abcdef"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer blb_" + "a" * 40},
        # Bytes beyond ASCII in the checksum (`ééé` in UTF-8: six characters as the headers
        # are read): hmac.compare_digest raised on them, a 500 outside the IP limit (a
        # helper's security audit).
        {"X-Api-Key": b"blb_" + b"A" * 30 + "\u00e9\u00e9\u00e9".encode()},
        {"Authorization": b"Bearer blb_" + b"A" * 30 + "\u00e9\u00e9\u00e9".encode()},
        {"X-Api-Key": b"blb_" + "\u00e9".encode() * 18},
    ],
)
def test_malformed_keys_are_api_key_invalid(
    client: TestClient, headers: dict[str, str | bytes]
) -> None:
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "api_key_invalid"
    assert response.headers["www-authenticate"] == REFUSED


def test_a_bad_checksum_is_rejected_before_any_database_work(
    client: TestClient, owner_key: Key
) -> None:
    tampered = owner_key.raw[:-1] + ("A" if owner_key.raw[-1] != "A" else "B")
    before = key_lookups(client)
    response = client.get("/api/v1/me", headers={"X-Api-Key": tampered})
    assert response.status_code == 401
    assert error_code(response) == "api_key_invalid"
    assert response.headers["www-authenticate"] == REFUSED
    assert key_lookups(client) == before
    assert client.get("/api/v1/me", headers=owner_key.headers).status_code == 200
    assert key_lookups(client) == before + 1


def test_an_unknown_well_formed_key_is_api_key_invalid(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"X-Api-Key": generate_key()})
    assert response.status_code == 401
    assert error_code(response) == "api_key_invalid"
    assert response.headers["www-authenticate"] == REFUSED


def test_an_expired_key_is_api_key_expired(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace)
    assert client.get("/api/v1/me", headers=key.headers).status_code == 200
    factory.expire(key)
    response = client.get("/api/v1/me", headers=key.headers)
    assert response.status_code == 401
    assert error_code(response) == "api_key_expired"
    assert response.headers["www-authenticate"] == REFUSED


def test_revocation_takes_effect_on_the_next_request(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace)
    assert client.get("/api/v1/me", headers=key.headers).status_code == 200
    factory.revoke(key)
    response = client.get("/api/v1/me", headers=key.headers)
    assert response.status_code == 401
    assert error_code(response) == "api_key_revoked"
    assert response.headers["www-authenticate"] == REFUSED


def test_removing_the_creator_kills_the_key(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    admin = factory.member(workspace, Role.ADMIN)
    key = factory.key(workspace, email=admin)
    assert client.get("/api/v1/me", headers=key.headers).status_code == 200
    factory.remove(workspace, admin)
    response = client.get("/api/v1/me", headers=key.headers)
    assert response.status_code == 401
    assert error_code(response) == "api_key_revoked"
    assert response.headers["www-authenticate"] == REFUSED
    assert "no longer a member" in response.json()["error"]["message"]
    # Killed, not suspended: adding the person again does not bring the key back (it did).
    factory.add(workspace, admin, Role.ADMIN)
    again = client.get("/api/v1/me", headers=key.headers)
    assert again.status_code == 401
    assert (error_code(again), again.json()["error"]["message"]) == (
        "api_key_revoked",
        "The API key has been revoked.",
    )
    # A key they make now works.
    assert (
        client.get("/api/v1/me", headers=factory.key(workspace, email=admin).headers).status_code
        == 200
    )


def test_a_key_is_bound_to_its_workspace(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    other = factory.workspace()
    other_key = factory.key(other)
    mine = client.get("/api/v1/users", headers=owner_key.headers).json()["items"]
    theirs = client.get("/api/v1/users", headers=other_key.headers).json()["items"]
    assert {u["email"] for u in mine} == {workspace.owner_email}
    assert {u["email"] for u in theirs} == {other.owner_email}
    # Another workspace's user id is simply not found.
    response = client.get(f"/api/v1/users/{other.owner_id}", headers=owner_key.headers)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_unknown_routes_under_the_api_still_need_a_key(client: TestClient, owner_key: Key) -> None:
    assert client.get("/api/v1/nothing-here").status_code == 401
    response = client.get("/api/v1/nothing-here", headers=owner_key.headers)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_the_api_served_under_a_path_prefix_still_authenticates(
    settings: Settings, owner_key: Key
) -> None:
    """Behind a proxy's sub-path (`--root-path /billabled`) the ASGI path carries the prefix."""
    app = create_app(settings)
    with TestClient(app, root_path="/billabled", raise_server_exceptions=False) as client:
        answered = client.get("/billabled/api/v1/me", headers=owner_key.headers)
        refused = client.get("/billabled/api/v1/me")
    assert answered.status_code == 200, answered.text
    assert answered.json()["key"]["id"] == owner_key.id
    assert refused.status_code == 401
    assert error_code(refused) == "api_key_missing"


def test_me_says_how_the_workspace_counts_its_days_and_weeks(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    # Dates of work are days in the workspace's zone; a week starts on its weekStart (SPEC §3).
    # Integrators building weekly views had no way to learn it (a helper's time audit).
    factory.sql("UPDATE workspace SET week_start = 7 WHERE id = :id", id=workspace.id)
    me = client.get("/api/v1/me", headers=owner_key.headers).json()
    assert me["workspace"]["timeZone"] == "UTC"
    assert me["workspace"]["weekStart"] == 7
