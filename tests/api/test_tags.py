"""/tags: every endpoint's 401, 403, 404, 422 and success; case-insensitive unique names, the
name filter, sorting, tombstones, events and audit, and the in-use 409."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/tags"


def create(client: TestClient, key: Key, **fields: object) -> dict[str, object]:
    response = client.post(BASE, json={"name": "Urgent", **fields}, headers=key.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


# --- the whole life of a tag --------------------------------------------------------------------


def test_create_read_update_delete(client: TestClient, owner_key: Key) -> None:
    created = create(client, owner_key, color="#FF8800")
    assert str(created["id"]).startswith("tag_")
    assert (created["name"], created["color"]) == ("Urgent", "#FF8800")
    assert set(created) == {"id", "name", "color", "createdAt", "updatedAt"}
    url = f"{BASE}/{created['id']}"

    response = client.get(url, headers=owner_key.headers)
    assert response.status_code == 200
    assert response.json() == created

    patched = client.patch(url, json={"name": "Very urgent"}, headers=owner_key.headers)
    assert patched.status_code == 200
    assert patched.json()["name"] == "Very urgent"
    assert patched.json()["color"] == "#FF8800"  # untouched
    assert patched.json()["updatedAt"] >= created["updatedAt"]

    put = client.put(url, json={"color": None}, headers=owner_key.headers)
    assert put.status_code == 200
    assert (put.json()["name"], put.json()["color"]) == ("Very urgent", None)

    listed = client.get(BASE, headers=owner_key.headers).json()
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    assert listed["items"][0] == put.json()

    assert client.delete(url, headers=owner_key.headers).status_code == 204
    assert client.get(url, headers=owner_key.headers).status_code == 404
    assert client.delete(url, headers=owner_key.headers).status_code == 404


def test_names_are_stripped(client: TestClient, owner_key: Key) -> None:
    assert create(client, owner_key, name="  Design  ")["name"] == "Design"


# --- authentication and scopes ------------------------------------------------------------------


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/tag_x"),
        ("PUT", f"{BASE}/tag_x"),
        ("PATCH", f"{BASE}/tag_x"),
        ("DELETE", f"{BASE}/tag_x"),
    ]:
        response = client.request(method, path, json={"name": "x"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    tag_id = factory.tag(workspace)
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_TAGS}))
    nothing = factory.key(workspace, scopes=frozenset({Scope.READ_PROJECTS, Scope.WRITE_PROJECTS}))
    for path in (BASE, f"{BASE}/{tag_id}"):
        response = client.get(path, headers=nothing.headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["requiredScope"] == "read:tags"
    for method, path in [
        ("POST", BASE),
        ("PUT", f"{BASE}/{tag_id}"),
        ("PATCH", f"{BASE}/{tag_id}"),
        ("DELETE", f"{BASE}/{tag_id}"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:tags"
    assert client.get(f"{BASE}/{tag_id}", headers=reader.headers).status_code == 200


def test_members_may_read_but_not_write(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    tag_id = factory.tag(workspace, name="Billable")
    key = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    assert [t["id"] for t in client.get(BASE, headers=key.headers).json()["items"]] == [tag_id]
    assert client.get(f"{BASE}/{tag_id}", headers=key.headers).status_code == 200
    assert client.post(BASE, json={"name": "x"}, headers=key.headers).status_code == 403
    response = client.patch(f"{BASE}/{tag_id}", json={"name": "y"}, headers=key.headers)
    assert response.status_code == 403
    assert client.delete(f"{BASE}/{tag_id}", headers=key.headers).status_code == 403
    assert client.get(f"{BASE}/{tag_id}", headers=key.headers).json()["name"] == "Billable"


def test_managers_may_write(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    key = factory.key(workspace, email=factory.member(workspace, Role.MANAGER))
    created = create(client, key)
    url = f"{BASE}/{created['id']}"
    assert client.patch(url, json={"color": "#000000"}, headers=key.headers).status_code == 200
    assert client.delete(url, headers=key.headers).status_code == 204


# --- tenancy --------------------------------------------------------------------------------------


def test_another_workspaces_tag_is_404(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    other = factory.workspace()
    theirs = factory.tag(other, name="Theirs")
    url = f"{BASE}/{theirs}"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(method, url, json={"name": "mine now"}, headers=owner_key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    listed = client.get(BASE, headers=owner_key.headers).json()
    assert listed["items"] == []
    assert client.get(f"{BASE}?name=theirs", headers=owner_key.headers).json()["items"] == []
    assert factory.sql("SELECT name FROM tag WHERE id = :id", id=theirs)[0][0] == "Theirs"


def test_the_same_name_in_another_workspace_is_fine(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    factory.tag(factory.workspace(), name="Urgent")
    create(client, owner_key, name="Urgent")


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": "A", "color": "red"}, "color"),
        ({"name": "A", "color": "#12345"}, "color"),
        ({"name": "A", "color": "#GGGGGG"}, "color"),
        ({"name": "A", "color": "FF8800"}, "color"),
        ({"name": "A", "colour": "#FF8800"}, "colour"),
    ],
)
def test_invalid_create_is_422(
    client: TestClient, owner_key: Key, body: dict[str, object], field: str
) -> None:
    response = client.post(BASE, json=body, headers=owner_key.headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["error"]["errors"]] == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"color": "blue"}, "color"),
        ({"id": "tag_other"}, "id"),
    ],
)
def test_invalid_update_is_422(
    client: TestClient, owner_key: Key, body: dict[str, object], field: str
) -> None:
    created = create(client, owner_key, color="#123456")
    url = f"{BASE}/{created['id']}"
    for method in ("PATCH", "PUT"):
        response = client.request(method, url, json=body, headers=owner_key.headers)
        assert response.status_code == 422, method
        assert [e["field"] for e in response.json()["error"]["errors"]] == [field]
    assert client.get(url, headers=owner_key.headers).json() == created  # nothing changed


def test_a_long_id_in_the_path_is_422(client: TestClient, owner_key: Key) -> None:
    response = client.get(f"{BASE}/{'x' * 65}", headers=owner_key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "tag_id"


# --- unique names -----------------------------------------------------------------------------


def test_names_are_unique_ignoring_case(client: TestClient, owner_key: Key) -> None:
    first = create(client, owner_key, name="Urgent")
    for name in ("Urgent", "urgent", "URGENT", " urgent "):
        response = client.post(BASE, json={"name": name}, headers=owner_key.headers)
        assert response.status_code == 409, name
        error = response.json()["error"]
        assert error["code"] == "tag_name_taken"
        assert error["existingId"] == first["id"]
        assert error["message"] == "A tag named 'Urgent' already exists in this workspace."
    assert client.get(BASE, headers=owner_key.headers).json()["totalCount"] == 1


def test_renaming_onto_another_tags_name_is_409(client: TestClient, owner_key: Key) -> None:
    create(client, owner_key, name="Urgent")
    other = create(client, owner_key, name="Later")
    url = f"{BASE}/{other['id']}"
    response = client.patch(url, json={"name": "uRGENT"}, headers=owner_key.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tag_name_taken"
    assert client.get(url, headers=owner_key.headers).json()["name"] == "Later"


def test_a_tag_may_change_the_case_of_its_own_name(client: TestClient, owner_key: Key) -> None:
    created = create(client, owner_key, name="urgent")
    url = f"{BASE}/{created['id']}"
    response = client.patch(url, json={"name": "Urgent"}, headers=owner_key.headers)
    assert response.status_code == 200
    assert response.json()["name"] == "Urgent"
    # Sending the same name again changes nothing and is not a conflict either.
    assert client.put(url, json={"name": "Urgent"}, headers=owner_key.headers).status_code == 200


def test_racing_creates_of_one_name_make_one_tag(
    live_api: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """Requests that all pass the name check before any commits: the unique index refuses the
    rest, and they see 409 `tag_name_taken`, never a 500."""
    racers = 6
    barrier = threading.Barrier(racers)
    responses: list[httpx.Response] = []

    def race() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            responses.append(
                http.post(live_api + BASE, json={"name": "Race"}, headers=owner_key.headers)
            )

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (racers - 1), statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "tag_name_taken"
    }
    rows = factory.sql("SELECT count(*) FROM tag WHERE workspace_id = :ws", ws=workspace.id)
    assert rows[0][0] == 1


# --- lists ----------------------------------------------------------------------------------------


def test_name_filter_is_exact_and_ignores_case(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    urgent = factory.tag(workspace, name="Urgent")
    factory.tag(workspace, name="Urgent later")
    factory.tag(workspace, name="Later")
    for name in ("Urgent", "urgent", "URGENT"):
        listed = client.get(f"{BASE}?name={name}", headers=owner_key.headers).json()
        assert [t["id"] for t in listed["items"]] == [urgent], name
        assert listed["totalCount"] == 1
    assert client.get(f"{BASE}?name=Urg", headers=owner_key.headers).json()["items"] == []
    response = client.get(f"{BASE}?name=", headers=owner_key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "name"


def test_sorting(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    b = factory.tag(workspace, name="b")
    c = factory.tag(workspace, name="c")
    a = factory.tag(workspace, name="a")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids("") == [b, c, a]  # createdAt
    assert ids("sort=-createdAt") == [a, c, b]
    assert ids("sort=name") == [a, b, c]
    assert ids("sort=-name") == [c, b, a]
    client.patch(f"{BASE}/{b}", json={"color": "#000000"}, headers=owner_key.headers)
    assert ids("sort=updatedAt")[-1] == b
    response = client.get(f"{BASE}?sort=color", headers=owner_key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "sort"


def test_deletes_leave_tombstones(client: TestClient, owner_key: Key) -> None:
    kept = create(client, owner_key, name="Kept")
    gone = create(client, owner_key, name="Gone")
    assert client.delete(f"{BASE}/{gone['id']}", headers=owner_key.headers).status_code == 204
    listed = client.get(f"{BASE}?includeDeleted=true", headers=owner_key.headers).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"], gone["id"]]
    tombstone = listed["items"][1]
    assert tombstone["deleted"] is True
    assert set(tombstone) == {"id", "deleted", "deletedAt"}
    plain = client.get(BASE, headers=owner_key.headers).json()
    assert [item["id"] for item in plain["items"]] == [kept["id"]]


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    for i in range(3):
        factory.tag(workspace, name=f"Small {i}")
    with count_queries(client) as small:
        assert client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).status_code == 200
    for i in range(40):
        factory.tag(workspace, name=f"Big {i}")
    with count_queries(client) as big:
        listed = client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).json()
    assert len(listed["items"]) == 43
    assert len(small) == len(big) <= 3


# --- events, audit, dependents --------------------------------------------------------------------


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    created = create(client, owner_key)
    url = f"{BASE}/{created['id']}"
    client.patch(url, json={"color": "#00FF00"}, headers=owner_key.headers)
    client.patch(url, json={"color": "#00FF00"}, headers=owner_key.headers)  # no change, no event
    client.delete(url, headers=owner_key.headers)
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws AND type LIKE 'tag.%'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["tag.created", "tag.updated", "tag.deleted"]
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("tag.created", "api_key", owner_key.id),
        ("tag.updated", "api_key", owner_key.id),
        ("tag.deleted", "api_key", owner_key.id),
    ]


def test_a_tag_used_by_a_project_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tag_id = factory.tag(workspace)
    project_id = factory.project(workspace)
    factory.sql(
        "INSERT INTO project_tag (project_id, tag_id) VALUES (:p, :t)", p=project_id, t=tag_id
    )
    response = client.delete(f"{BASE}/{tag_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"projects": 1}
    assert "1 projects" in error["message"]
    # Tags cannot be archived: the message said "Archive it instead" (a helper's docs audit).
    assert "archive" not in error["message"].lower()
    assert error["message"].endswith("Take it off them first, or rename it.")
    assert client.get(f"{BASE}/{tag_id}", headers=owner_key.headers).status_code == 200


def test_a_tag_used_by_time_entries_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tag_id = factory.tag(workspace)
    project_id = factory.project(workspace)
    for _ in range(2):
        entry_id = factory.time_entry(workspace, project_id)
        factory.sql(
            "INSERT INTO time_entry_tag (time_entry_id, tag_id) VALUES (:e, :t)",
            e=entry_id,
            t=tag_id,
        )
    response = client.delete(f"{BASE}/{tag_id}", headers=owner_key.headers)
    assert response.status_code == 409
    assert response.json()["error"]["dependents"] == {"timeEntries": 2}
    events = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type = 'tag.deleted'",
        ws=workspace.id,
    )
    assert events[0][0] == 0
