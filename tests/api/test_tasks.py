"""/tasks: every endpoint's 401, 403, 404, 422 and success, plus the task rules (no task on an
archived project, no moving between projects, no deleting what subtasks, schedule or time use)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from billabled.models.schedule import ScheduledWork
from billabled.models.time_entry import TimeEntry
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/tasks"


def create(client: TestClient, key: Key, project_id: str, **fields: object) -> dict[str, Any]:
    response = client.post(
        BASE, json={"projectId": project_id, "name": "Design", **fields}, headers=key.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def data_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]


def field_errors(response: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in response.json()["error"]["errors"]]


def test_create_read_update_delete(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    created = create(client, owner_key, project_id, estimateSeconds=36000)
    assert created["id"].startswith("task_")
    assert created["projectId"] == project_id
    assert created["billable"] is None  # follows the project
    assert created["estimateSeconds"] == 36000
    assert created["status"] == "open"
    url = f"{BASE}/{created['id']}"
    response = client.post(
        BASE, json={"projectId": project_id, "name": "x"}, headers=owner_key.headers
    )
    assert response.headers["Location"] == f"{BASE}/{response.json()['id']}"

    fetched = client.get(url, headers=owner_key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    patched = client.patch(
        url, json={"name": "Design v2", "billable": False}, headers=owner_key.headers
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Design v2"
    assert patched.json()["billable"] is False
    assert patched.json()["estimateSeconds"] == 36000  # untouched

    put = client.put(
        url,
        json={"status": "done", "estimateSeconds": None, "billable": None},
        headers=owner_key.headers,
    )
    assert put.status_code == 200
    assert put.json()["status"] == "done"
    assert put.json()["estimateSeconds"] is None
    assert put.json()["billable"] is None
    assert put.json()["name"] == "Design v2"
    assert put.json()["updatedAt"] >= created["updatedAt"]

    assert client.delete(url, headers=owner_key.headers).status_code == 204
    assert client.get(url, headers=owner_key.headers).status_code == 404
    assert client.delete(url, headers=owner_key.headers).status_code == 404


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/task_x"),
        ("PUT", f"{BASE}/task_x"),
        ("PATCH", f"{BASE}/task_x"),
        ("DELETE", f"{BASE}/task_x"),
    ]:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    task_id = factory.task(workspace, factory.project(workspace))
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_TASKS}))
    nothing = factory.key(workspace, scopes=frozenset({Scope.READ_PROJECTS}))
    for path in (BASE, f"{BASE}/{task_id}"):
        response = client.get(path, headers=nothing.headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["requiredScope"] == "read:tasks"
    for method, path in [
        ("POST", BASE),
        ("PATCH", f"{BASE}/{task_id}"),
        ("PUT", f"{BASE}/{task_id}"),
        ("DELETE", f"{BASE}/{task_id}"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:tasks"
    assert client.get(f"{BASE}/{task_id}", headers=reader.headers).status_code == 200


def test_members_may_read_but_not_write(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    project_id = factory.project(workspace)
    task_id = factory.task(workspace, project_id)
    key = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    assert client.get(BASE, headers=key.headers).status_code == 200
    assert client.get(f"{BASE}/{task_id}", headers=key.headers).status_code == 200
    body = {"projectId": project_id, "name": "x"}
    assert client.post(BASE, json=body, headers=key.headers).status_code == 403
    assert client.patch(f"{BASE}/{task_id}", json=body, headers=key.headers).status_code == 403
    assert client.delete(f"{BASE}/{task_id}", headers=key.headers).status_code == 403


def test_managers_may_write(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    key = factory.key(workspace, email=factory.member(workspace, Role.MANAGER))
    create(client, key, factory.project(workspace))


def test_another_workspaces_task_is_404(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    other = factory.workspace()
    theirs = create(client, factory.key(other), factory.project(other))
    url = f"{BASE}/{theirs['id']}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(method, url, json={"name": "mine now"}, headers=owner_key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    listed = client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).json()["items"]
    assert theirs["id"] not in [t["id"] for t in listed]
    by_project = client.get(f"{BASE}?projectId={theirs['projectId']}", headers=owner_key.headers)
    assert by_project.json()["items"] == []


def test_another_workspaces_project_looks_missing(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    foreign = client.post(
        BASE,
        json={"projectId": (other := factory.project(factory.workspace())), "name": "x"},
        headers=owner_key.headers,
    )
    missing = client.post(
        BASE, json={"projectId": "proj_missing", "name": "x"}, headers=owner_key.headers
    )
    assert foreign.status_code == missing.status_code == 422
    # Alike but for the id each quotes (a bulk-style message says which id).
    assert foreign.text.replace(other, "proj_missing") == missing.text
    assert field_errors(foreign) == [("projectId", f"no project {other!r} in this workspace")]


def test_no_task_on_an_archived_project(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace, status="archived")
    response = client.post(
        BASE, json={"projectId": project_id, "name": "x"}, headers=owner_key.headers
    )
    assert response.status_code == 422
    assert field_errors(response) == [("projectId", f"project {project_id!r} is archived")]
    assert response.json()["error"]["errors"][0]["type"] == "project_archived"  # as for time
    listed = client.get(f"{BASE}?projectId={project_id}", headers=owner_key.headers).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A"}, "projectId"),
        ({"projectId": "proj_x"}, "name"),
        ({"projectId": "proj_x", "name": ""}, "name"),
        ({"projectId": "proj_x", "name": "  "}, "name"),
        ({"projectId": "proj_x", "name": "x" * 201}, "name"),
        ({"projectId": "proj_x", "name": "A", "billable": "maybe"}, "billable"),
        ({"projectId": "proj_x", "name": "A", "estimateSeconds": -1}, "estimateSeconds"),
        ({"projectId": "proj_x", "name": "A", "estimateSeconds": 10**12}, "estimateSeconds"),
        ({"projectId": "proj_x", "name": "A", "status": "closed"}, "status"),
        ({"projectId": "proj_x", "name": "A", "color": "red"}, "color"),
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
        ({"status": None}, "status"),
        ({"status": "closed"}, "status"),
        ({"estimateSeconds": -5}, "estimateSeconds"),
        ({"billable": "maybe"}, "billable"),
        ({"projectId": None}, "projectId"),
        ({"id": "task_other"}, "id"),
    ],
)
def test_invalid_update_is_422(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    body: dict[str, object],
    field: str,
) -> None:
    created = create(client, owner_key, factory.project(workspace))
    url = f"{BASE}/{created['id']}"
    for method in ("PATCH", "PUT"):
        response = client.request(method, url, json=body, headers=owner_key.headers)
        assert response.status_code == 422, method
        assert [e["field"] for e in response.json()["error"]["errors"]] == [field]
    assert client.get(url, headers=owner_key.headers).json() == created  # nothing changed


def test_a_task_cannot_move_between_projects(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    created = create(client, owner_key, project_id)
    url = f"{BASE}/{created['id']}"
    for target in (factory.project(workspace), factory.project(factory.workspace()), "proj_x"):
        response = client.patch(url, json={"projectId": target}, headers=owner_key.headers)
        assert response.status_code == 422
        assert field_errors(response) == [("projectId", "a task cannot move between projects")]
    # Sending its own project is no move.
    same = client.put(url, json={"projectId": project_id, "name": "B"}, headers=owner_key.headers)
    assert same.status_code == 200
    assert same.json()["projectId"] == project_id
    assert same.json()["name"] == "B"


def test_list_filters_and_sorts(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    first, second = factory.project(workspace), factory.project(workspace)
    a = create(client, owner_key, first, name="Charlie")
    b = create(client, owner_key, first, name="Alpha", status="done")
    c = create(client, owner_key, second, name="Bravo")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids("") == [a["id"], b["id"], c["id"]]
    assert ids("sort=-createdAt") == [c["id"], b["id"], a["id"]]
    assert ids(f"projectId={first}") == [a["id"], b["id"]]
    assert ids("status=done") == [b["id"]]
    assert ids(f"projectId={first}&status=open") == [a["id"]]
    assert ids(f"projectId={second}&status=done") == []
    assert ids("sort=name") == [b["id"], c["id"], a["id"]]
    assert ids("sort=-name") == [a["id"], c["id"], b["id"]]
    client.patch(f"{BASE}/{a['id']}", json={"name": "Charlie 2"}, headers=owner_key.headers)
    assert ids("sort=-updatedAt")[0] == a["id"]

    page = client.get(f"{BASE}?pageSize=2", headers=owner_key.headers)
    assert page.json()["totalCount"] == 3
    assert page.headers["X-Total-Count"] == "3"
    assert page.json()["hasMore"] is True
    rest = client.get(
        f"{BASE}?pageSize=2&cursor={page.json()['nextCursor']}", headers=owner_key.headers
    )
    assert [t["id"] for t in rest.json()["items"]] == [c["id"]]

    for query, field in [("status=closed", "status"), ("sort=color", "sort")]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 422, query
        assert [e["field"] for e in response.json()["error"]["errors"]] == [field]


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    created = create(client, owner_key, factory.project(workspace))
    url = f"{BASE}/{created['id']}"
    client.patch(url, json={"name": "B"}, headers=owner_key.headers)
    client.patch(url, json={"name": "B"}, headers=owner_key.headers)  # no change, no event
    client.delete(url, headers=owner_key.headers)
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws AND type LIKE 'task.%'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["task.created", "task.updated", "task.deleted"]
    data = [e.data if isinstance(e.data, dict) else json.loads(e.data) for e in events]
    assert data[0]["id"] == created["id"]
    assert data[0]["projectId"] == created["projectId"]
    assert data[1]["name"] == "B"
    assert data[2]["name"] == "B"  # a deletion carries the object as it was
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("task.created", "api_key", owner_key.id),
        ("task.updated", "api_key", owner_key.id),
        ("task.deleted", "api_key", owner_key.id),
    ]


def test_deletes_leave_tombstones(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    kept = create(client, owner_key, project_id)
    deleted = create(client, owner_key, project_id)
    client.delete(f"{BASE}/{deleted['id']}", headers=owner_key.headers)
    listed = client.get(f"{BASE}?includeDeleted=true&pageSize=200", headers=owner_key.headers)
    items = listed.json()["items"]
    assert [t["id"] for t in items if t.get("deleted")] == [deleted["id"]]
    assert [t["id"] for t in items if not t.get("deleted")] == [kept["id"]]
    other = factory.workspace()
    theirs = create(client, factory.key(other), factory.project(other))
    client.delete(f"{BASE}/{theirs['id']}", headers=factory.key(other).headers)
    mine = client.get(f"{BASE}?includeDeleted=true&pageSize=200", headers=owner_key.headers)
    assert theirs["id"] not in [t["id"] for t in mine.json()["items"]]


def test_a_task_with_subtasks_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    task_id = factory.task(workspace, factory.project(workspace))
    factory.subtask(workspace, task_id)
    factory.subtask(workspace, task_id)
    response = client.delete(f"{BASE}/{task_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"subtasks": 2}
    assert "Archive it instead" in error["message"]
    assert client.get(f"{BASE}/{task_id}", headers=owner_key.headers).status_code == 200


def test_a_task_with_scheduled_work_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    task_id = factory.task(workspace, project_id)
    factory.insert(
        ScheduledWork(
            workspace_id=workspace.id,
            user_id=workspace.owner_id,
            project_id=project_id,
            task_id=task_id,
            work_date=date(2026, 1, 5),
            planned_seconds=3600,
        )
    )
    response = client.delete(f"{BASE}/{task_id}", headers=owner_key.headers)
    assert response.status_code == 409
    assert response.json()["error"]["dependents"] == {"scheduledWork": 1}


def test_a_task_with_time_entries_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace)
    project_id = factory.project(workspace, client_id)
    task_id = factory.task(workspace, project_id)
    factory.insert(
        TimeEntry(
            workspace_id=workspace.id,
            user_id=factory.user_id(workspace, workspace.owner_email),
            client_id=client_id,
            project_id=project_id,
            task_id=task_id,
            work_date=date(2026, 1, 5),
            duration_seconds=1800,
            billable=True,
            currency="USD",
        )
    )
    response = client.delete(f"{BASE}/{task_id}", headers=owner_key.headers)
    assert response.status_code == 409
    assert response.json()["error"]["dependents"] == {"timeEntries": 1}
    events = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type = 'task.deleted'",
        ws=workspace.id,
    )
    assert events[0][0] == 0


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    for i in range(3):
        factory.task(workspace, project_id, name=f"Small {i}")
    url = f"{BASE}?pageSize=200&projectId={project_id}"
    with count_queries(client) as small:
        assert client.get(url, headers=owner_key.headers).status_code == 200
    for i in range(40):
        factory.task(workspace, project_id, name=f"Big {i}")
    with count_queries(client) as big:
        response = client.get(url, headers=owner_key.headers)
    assert len(response.json()["items"]) == 43
    # Transaction control is left out: the background usage recorder's BEGIN can land in the window.
    assert len(data_queries(small)) == len(data_queries(big)) == 2  # the page and its count
