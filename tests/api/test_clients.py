"""/clients (and its /customers alias): every endpoint's 401, 403, 404, 422 and success."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace


@pytest.fixture(params=["/api/v1/clients", "/api/v1/customers"])
def base(request: pytest.FixtureRequest) -> str:
    path: str = request.param
    return path


def create(client: TestClient, key: Key, base: str, **fields: object) -> dict[str, object]:
    response = client.post(base, json={"name": "Acme", **fields}, headers=key.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_create_read_update_delete(client: TestClient, owner_key: Key, base: str) -> None:
    created = create(
        client,
        owner_key,
        base,
        email="ap@acme.example.com",
        defaultHourlyRateMinor=15000,
        externalRef="ERP-1",
    )
    assert created["id"].startswith("cli_")  # type: ignore[union-attr]
    assert created["currency"] == "USD"  # the workspace's
    assert created["archived"] is False
    url = f"{base}/{created['id']}"

    fetched = client.get(url, headers=owner_key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    patched = client.patch(
        url, json={"name": "Acme Corp", "email": None}, headers=owner_key.headers
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Acme Corp"
    assert patched.json()["email"] is None
    assert patched.json()["defaultHourlyRateMinor"] == 15000  # untouched

    put = client.put(url, json={"archived": True}, headers=owner_key.headers)
    assert put.json()["archived"] is True
    assert put.json()["name"] == "Acme Corp"

    listed = client.get(f"{base}?archived=true&externalRef=ERP-1", headers=owner_key.headers).json()
    assert [c["id"] for c in listed["items"]] == [created["id"]]

    assert client.delete(url, headers=owner_key.headers).status_code == 204
    assert client.get(url, headers=owner_key.headers).status_code == 404


def test_no_key_is_401(client: TestClient, base: str) -> None:
    for method, path in [
        ("GET", base),
        ("POST", base),
        ("GET", f"{base}/cli_x"),
        ("PATCH", f"{base}/cli_x"),
        ("DELETE", f"{base}/cli_x"),
    ]:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(
    client: TestClient, factory: Factory, workspace: Workspace, base: str
) -> None:
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_CLIENTS}))
    nothing = factory.key(workspace, scopes=frozenset({Scope.READ_TAGS}))
    assert (
        client.get(base, headers=nothing.headers).json()["error"]["requiredScope"] == "read:clients"
    )
    for method, path in [
        ("POST", base),
        ("PATCH", f"{base}/cli_x"),
        ("PUT", f"{base}/cli_x"),
        ("DELETE", f"{base}/cli_x"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:clients"


def test_members_may_read_but_not_write(
    client: TestClient, factory: Factory, workspace: Workspace, base: str
) -> None:
    from billabled.models.membership import Role

    member = factory.member(workspace, Role.MEMBER)
    key = factory.key(workspace, email=member)
    assert client.get(base, headers=key.headers).status_code == 200
    assert client.post(base, json={"name": "x"}, headers=key.headers).status_code == 403


def test_another_workspaces_client_is_404(
    client: TestClient, factory: Factory, owner_key: Key, base: str
) -> None:
    other = factory.workspace()
    theirs = create(client, factory.key(other), base)
    url = f"{base}/{theirs['id']}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(method, url, json={"name": "mine now"}, headers=owner_key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    listed = client.get(base, headers=owner_key.headers).json()["items"]
    assert theirs["id"] not in [c["id"] for c in listed]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "currency": "usd"}, "currency"),
        ({"name": "A", "currency": "ZZZ"}, "currency"),  # not ISO 4217: was accepted
        # Converted before (true became a rate of 1): refused now.
        ({"name": "A", "defaultHourlyRateMinor": True}, "defaultHourlyRateMinor"),
        ({"name": "A", "defaultHourlyRateMinor": "5"}, "defaultHourlyRateMinor"),
        ({"name": "A", "archived": "yes"}, "archived"),
        ({"name": "A", "defaultHourlyRateMinor": -1}, "defaultHourlyRateMinor"),
        ({"name": "A", "color": "red"}, "color"),
        # No reference is null: "" was stored, and no filter finds it (a helper's review).
        ({"name": "A", "externalRef": ""}, "externalRef"),
    ],
)
def test_invalid_create_is_422(
    client: TestClient, owner_key: Key, base: str, body: dict[str, object], field: str
) -> None:
    response = client.post(base, json=body, headers=owner_key.headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["error"]["errors"]] == [field]


def test_invalid_update_is_422(client: TestClient, owner_key: Key, base: str) -> None:
    created = create(client, owner_key, base)
    url = f"{base}/{created['id']}"
    assert client.patch(url, json={"name": None}, headers=owner_key.headers).status_code == 422
    assert (
        client.patch(url, json={"archived": "maybe"}, headers=owner_key.headers).status_code == 422
    )
    assert client.patch(url, json={"currency": "AAA"}, headers=owner_key.headers).status_code == 422
    assert client.get(url, headers=owner_key.headers).json() == created  # nothing changed


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, base: str
) -> None:
    created = create(client, owner_key, base)
    client.patch(f"{base}/{created['id']}", json={"name": "B"}, headers=owner_key.headers)
    client.delete(f"{base}/{created['id']}", headers=owner_key.headers)
    events = factory.sql(
        "SELECT type FROM event WHERE workspace_id = :ws AND type LIKE 'client.%'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["client.created", "client.updated", "client.deleted"]
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("client.created", "api_key", owner_key.id),
        ("client.updated", "api_key", owner_key.id),
        ("client.deleted", "api_key", owner_key.id),
    ]
    # No record before a creation, none after a deletion: SQL NULL, not a JSON null (a query
    # for `after IS NULL` missed every deletion; a helper's audit).
    missing = factory.sql(
        "SELECT action FROM audit_record WHERE entity_id = :id"
        " AND ((before IS NULL) <> (after IS NULL)) ORDER BY created_at, id",
        id=created["id"],
    )
    assert [a.action for a in missing] == ["client.created", "client.deleted"]


def test_a_change_of_currency_carries_to_the_clients_projects(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, base: str
) -> None:
    created = create(client, owner_key, base)
    project_ids = [factory.project(workspace, str(created["id"]), name=n) for n in "AB"]
    other_project = factory.project(workspace)  # another client's

    response = client.patch(
        f"{base}/{created['id']}", json={"currency": "EUR"}, headers=owner_key.headers
    )

    # Before, the projects kept billing in USD, and new time on them was logged in USD.
    assert response.status_code == 200, response.text
    assert response.json()["currency"] == "EUR"
    currencies = {
        project_id: client.get(f"/api/v1/projects/{project_id}", headers=owner_key.headers).json()[
            "currency"
        ]
        for project_id in [*project_ids, other_project]
    }
    assert currencies == {project_ids[0]: "EUR", project_ids[1]: "EUR", other_project: "USD"}
    logged = client.post(
        "/api/v1/time-entries",
        json={"projectId": project_ids[0], "date": "2026-03-02", "durationSeconds": 3600},
        headers=owner_key.headers,
    )
    assert logged.json()["currency"] == "EUR"
    # Each project's change is an event and an audit record of its own.
    audits = factory.sql(
        "SELECT entity_id FROM audit_record"
        " WHERE workspace_id = :ws AND action = 'project.updated'",
        ws=workspace.id,
    )
    assert sorted(a.entity_id for a in audits) == sorted(project_ids)
    events = factory.sql(
        "SELECT count(*) AS n FROM event WHERE workspace_id = :ws AND type = 'project.updated'",
        ws=workspace.id,
    )
    assert events[0].n == 2


def test_a_client_with_time_logged_keeps_its_currency(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, base: str
) -> None:
    created = create(client, owner_key, base)
    project_id = factory.project(workspace, str(created["id"]))
    logged = client.post(
        "/api/v1/time-entries",
        json={"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600},
        headers=owner_key.headers,
    )
    assert logged.status_code == 201, logged.text

    response = client.patch(
        f"{base}/{created['id']}",
        json={"currency": "EUR", "name": "Renamed"},
        headers=owner_key.headers,
    )

    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "has_dependents"
    assert response.json()["error"]["dependents"] == {"timeEntries": 1}
    # Nothing of the refused change is kept.
    assert (
        client.get(f"{base}/{created['id']}", headers=owner_key.headers).json()["currency"] == "USD"
    )
    project = client.get(f"/api/v1/projects/{project_id}", headers=owner_key.headers).json()
    assert (project["currency"], project["clientId"]) == ("USD", created["id"])
    # The same currency again is no change, and other fields still change.
    same = client.patch(
        f"{base}/{created['id']}",
        json={"currency": "USD", "name": "Renamed"},
        headers=owner_key.headers,
    )
    assert same.status_code == 200, same.text
    assert same.json()["name"] == "Renamed"


def test_deletes_leave_tombstones(client: TestClient, owner_key: Key, base: str) -> None:
    created = create(client, owner_key, base)
    client.delete(f"{base}/{created['id']}", headers=owner_key.headers)
    listed = client.get(
        f"{base}?includeDeleted=true&pageSize=200", headers=owner_key.headers
    ).json()
    tombstones = [item for item in listed["items"] if item.get("deleted")]
    assert [t["id"] for t in tombstones] == [created["id"]]


def test_a_client_with_projects_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace)
    factory.project(workspace, client_id)
    response = client.delete(f"/api/v1/clients/{client_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"projects": 1}
    assert "Archive it instead" in error["message"]


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    for i in range(3):
        factory.client(workspace, name=f"Small {i}")
    with count_queries(client) as small:
        client.get("/api/v1/clients?pageSize=200", headers=owner_key.headers)
    for i in range(40):
        factory.client(workspace, name=f"Big {i}")
    with count_queries(client) as big:
        client.get("/api/v1/clients?pageSize=200", headers=owner_key.headers)
    assert len(small) == len(big) <= 3
