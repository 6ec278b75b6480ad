"""Scopes: 403 naming the missing scope; role ceilings at creation and after a demotion."""

from __future__ import annotations

from fastapi.testclient import TestClient

from billabled.auth.scopes import ALL_SCOPES, ROLE_CEILINGS, Scope
from billabled.models.membership import Role
from tests.factories import Factory, Workspace


def test_missing_scope_is_403_naming_it(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace, scopes=frozenset({Scope.READ_CLIENTS}))
    response = client.get("/api/v1/users", headers=key.headers)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert error["requiredScope"] == "read:users"
    assert "read:users" in error["message"]
    # The rate-limit headers are there on refusals too.
    assert response.headers["x-ratelimit-limit"] == "1000"


def test_me_works_with_any_scope(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace, scopes=frozenset({Scope.READ_TAGS}))
    response = client.get("/api/v1/me", headers=key.headers)
    assert response.status_code == 200
    assert response.json()["scopes"] == {"granted": ["read:tags"], "effective": ["read:tags"]}


def test_role_ceilings_are_as_the_spec_says() -> None:
    member = {s.value for s in ROLE_CEILINGS[Role.MEMBER]}
    assert member == {
        "read:clients", "read:projects", "read:tasks", "read:tags", "read:schedule",
        "read:users", "read:time", "write:time",
    }  # fmt: skip
    manager = {s.value for s in ROLE_CEILINGS[Role.MANAGER]}
    reads = {s.value for s in Scope if s.value.startswith("read:")}
    assert reads - manager == {"read:proof-packs", "read:revenue-intelligence"}
    assert {"write:clients", "write:projects", "write:tasks", "write:tags", "write:schedule",
            "write:time", "write:approvals"} <= manager  # fmt: skip
    assert not {"export:data", "write:invoices", "write:webhooks"} & manager
    assert ROLE_CEILINGS[Role.ADMIN] == ROLE_CEILINGS[Role.OWNER] == ALL_SCOPES


def test_a_demoted_creator_shrinks_the_key(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    admin = factory.member(workspace, Role.ADMIN)
    key = factory.key(workspace, email=admin)  # every scope
    before = client.get("/api/v1/me", headers=key.headers).json()
    assert set(before["scopes"]["effective"]) == {s.value for s in ALL_SCOPES}

    factory.set_role(workspace, admin, Role.MEMBER)
    after = client.get("/api/v1/me", headers=key.headers).json()
    assert after["user"]["role"] == "member"
    assert set(after["scopes"]["granted"]) == {s.value for s in ALL_SCOPES}
    assert set(after["scopes"]["effective"]) == {s.value for s in ROLE_CEILINGS[Role.MEMBER]}

    factory.set_role(workspace, admin, Role.ADMIN)  # promoted again: the key grows back
    again = client.get("/api/v1/me", headers=key.headers).json()
    assert set(again["scopes"]["effective"]) == {s.value for s in ALL_SCOPES}


def test_a_demoted_creator_is_refused_what_the_new_role_cannot_do(
    api: TestClient, factory: Factory, workspace: Workspace
) -> None:
    manager = factory.member(workspace, Role.MANAGER)
    key = factory.key(workspace, email=manager, scopes=frozenset({Scope.WRITE_CLIENTS}))
    created = api.post("/api/v1/_test/things", json={"name": "a"}, headers=key.headers)
    assert created.status_code == 201

    factory.set_role(workspace, manager, Role.MEMBER)
    refused = api.post("/api/v1/_test/things", json={"name": "b"}, headers=key.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["requiredScope"] == "write:clients"
    assert "role (member)" in refused.json()["error"]["message"]
