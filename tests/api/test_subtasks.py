"""/subtasks: every endpoint's 401, 403, 404, 422 and success, plus the subtask rules (the project
is always the task's, no subtask on an archived task or project, no moving between tasks, no
deleting what time uses)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from billabled.models.time_entry import TimeEntry
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/subtasks"


def create(client: TestClient, key: Key, task_id: str, **fields: object) -> dict[str, Any]:
    response = client.post(
        BASE, json={"taskId": task_id, "name": "Wireframes", **fields}, headers=key.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def data_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]


def field_errors(response: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in response.json()["error"]["errors"]]


def new_task(factory: Factory, workspace: Workspace, **project_fields: Any) -> tuple[str, str]:
    """A task in a new project: (project id, task id)."""
    project_id = factory.project(workspace, **project_fields)
    return project_id, factory.task(workspace, project_id)


def test_create_read_update_delete(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id, task_id = new_task(factory, workspace)
    created = create(client, owner_key, task_id, estimateSeconds=7200, billable=True)
    assert created["id"].startswith("sub_")
    assert created["taskId"] == task_id
    assert created["projectId"] == project_id  # the task's
    assert created["billable"] is True
    assert created["estimateSeconds"] == 7200
    assert created["status"] == "open"
    url = f"{BASE}/{created['id']}"

    fetched = client.get(url, headers=owner_key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    patched = client.patch(
        url, json={"name": "Mockups", "billable": None}, headers=owner_key.headers
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Mockups"
    assert patched.json()["billable"] is None  # follows the task again
    assert patched.json()["estimateSeconds"] == 7200  # untouched

    put = client.put(url, json={"status": "archived", "taskId": task_id}, headers=owner_key.headers)
    assert put.status_code == 200
    assert put.json()["status"] == "archived"
    assert put.json()["name"] == "Mockups"
    assert put.json()["projectId"] == project_id

    assert client.delete(url, headers=owner_key.headers).status_code == 204
    assert client.get(url, headers=owner_key.headers).status_code == 404
    assert client.delete(url, headers=owner_key.headers).status_code == 404


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/sub_x"),
        ("PUT", f"{BASE}/sub_x"),
        ("PATCH", f"{BASE}/sub_x"),
        ("DELETE", f"{BASE}/sub_x"),
    ]:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    subtask_id = factory.subtask(workspace, new_task(factory, workspace)[1])
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_TASKS}))
    nothing = factory.key(workspace, scopes=frozenset({Scope.READ_PROJECTS}))
    for path in (BASE, f"{BASE}/{subtask_id}"):
        response = client.get(path, headers=nothing.headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["requiredScope"] == "read:tasks"
    for method, path in [
        ("POST", BASE),
        ("PATCH", f"{BASE}/{subtask_id}"),
        ("PUT", f"{BASE}/{subtask_id}"),
        ("DELETE", f"{BASE}/{subtask_id}"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:tasks"
    assert client.get(f"{BASE}/{subtask_id}", headers=reader.headers).status_code == 200


def test_members_may_read_but_not_write(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    task_id = new_task(factory, workspace)[1]
    subtask_id = factory.subtask(workspace, task_id)
    key = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    assert client.get(BASE, headers=key.headers).status_code == 200
    assert client.get(f"{BASE}/{subtask_id}", headers=key.headers).status_code == 200
    body = {"taskId": task_id, "name": "x"}
    assert client.post(BASE, json=body, headers=key.headers).status_code == 403
    assert client.patch(f"{BASE}/{subtask_id}", json=body, headers=key.headers).status_code == 403
    assert client.delete(f"{BASE}/{subtask_id}", headers=key.headers).status_code == 403


def test_another_workspaces_subtask_is_404(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    other = factory.workspace()
    theirs = create(client, factory.key(other), new_task(factory, other)[1])
    url = f"{BASE}/{theirs['id']}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(method, url, json={"name": "mine now"}, headers=owner_key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    listed = client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).json()["items"]
    assert theirs["id"] not in [s["id"] for s in listed]
    for query in (f"taskId={theirs['taskId']}", f"projectId={theirs['projectId']}"):
        assert client.get(f"{BASE}?{query}", headers=owner_key.headers).json()["items"] == []


def test_another_workspaces_task_looks_missing(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    foreign = client.post(
        BASE,
        json={"taskId": (other := new_task(factory, factory.workspace())[1]), "name": "x"},
        headers=owner_key.headers,
    )
    missing = client.post(
        BASE, json={"taskId": "task_missing", "name": "x"}, headers=owner_key.headers
    )
    assert foreign.status_code == missing.status_code == 422
    # Alike but for the id each quotes (a bulk-style message says which id).
    assert foreign.text.replace(other, "task_missing") == missing.text
    assert field_errors(foreign) == [("taskId", f"no task {other!r} in this workspace")]


def test_no_subtask_on_an_archived_task_or_project(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    archived_task = factory.task(workspace, factory.project(workspace), status="archived")
    response = client.post(
        BASE, json={"taskId": archived_task, "name": "x"}, headers=owner_key.headers
    )
    assert response.status_code == 422
    assert field_errors(response) == [("taskId", f"task {archived_task!r} is archived")]

    in_archived_project = new_task(factory, workspace, status="archived")[1]
    response = client.post(
        BASE, json={"taskId": in_archived_project, "name": "x"}, headers=owner_key.headers
    )
    assert response.status_code == 422
    assert field_errors(response) == [
        ("taskId", f"the project of task {in_archived_project!r} is archived")
    ]
    assert response.json()["error"]["errors"][0]["type"] == "project_archived"

    # A done task still takes subtasks.
    create(client, owner_key, factory.task(workspace, factory.project(workspace), status="done"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A"}, "taskId"),
        ({"taskId": "task_x"}, "name"),
        ({"taskId": "task_x", "name": ""}, "name"),
        ({"taskId": "task_x", "name": "x" * 201}, "name"),
        ({"taskId": "task_x", "name": "A", "billable": "maybe"}, "billable"),
        ({"taskId": "task_x", "name": "A", "estimateSeconds": -1}, "estimateSeconds"),
        ({"taskId": "task_x", "name": "A", "status": "closed"}, "status"),
        # The project is the task's; it is never sent.
        ({"taskId": "task_x", "name": "A", "projectId": "proj_x"}, "projectId"),
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
        ({"status": None}, "status"),
        ({"estimateSeconds": -5}, "estimateSeconds"),
        ({"taskId": None}, "taskId"),
        ({"projectId": "proj_x"}, "projectId"),
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
    created = create(client, owner_key, new_task(factory, workspace)[1])
    url = f"{BASE}/{created['id']}"
    for method in ("PATCH", "PUT"):
        response = client.request(method, url, json=body, headers=owner_key.headers)
        assert response.status_code == 422, method
        assert [e["field"] for e in response.json()["error"]["errors"]] == [field]
    assert client.get(url, headers=owner_key.headers).json() == created  # nothing changed


def test_a_subtask_cannot_move_between_tasks(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id, task_id = new_task(factory, workspace)
    created = create(client, owner_key, task_id)
    url = f"{BASE}/{created['id']}"
    sibling = factory.task(workspace, project_id)
    for target in (sibling, new_task(factory, workspace)[1], "task_x"):
        response = client.patch(url, json={"taskId": target}, headers=owner_key.headers)
        assert response.status_code == 422
        assert field_errors(response) == [("taskId", "a subtask cannot move between tasks")]
    assert client.get(url, headers=owner_key.headers).json() == created


def test_list_filters_and_sorts(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id, first = new_task(factory, workspace)
    second = factory.task(workspace, project_id)
    other_project, third = new_task(factory, workspace)
    a = create(client, owner_key, first, name="Charlie")
    b = create(client, owner_key, second, name="Alpha", status="done")
    c = create(client, owner_key, third, name="Bravo", status="done")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["items"]]

    assert ids("") == [a["id"], b["id"], c["id"]]
    assert ids("sort=-createdAt") == [c["id"], b["id"], a["id"]]
    assert ids(f"taskId={first}") == [a["id"]]
    assert ids(f"projectId={project_id}") == [a["id"], b["id"]]
    assert ids(f"projectId={other_project}") == [c["id"]]
    assert ids("status=done") == [b["id"], c["id"]]
    assert ids(f"projectId={project_id}&status=done") == [b["id"]]
    assert ids(f"taskId={first}&status=done") == []
    assert ids("sort=name") == [b["id"], c["id"], a["id"]]
    client.patch(f"{BASE}/{b['id']}", json={"name": "Alpha 2"}, headers=owner_key.headers)
    assert ids("sort=-updatedAt")[0] == b["id"]

    for query, field in [("status=closed", "status"), ("sort=color", "sort")]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 422, query
        assert [e["field"] for e in response.json()["error"]["errors"]] == [field]


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    created = create(client, owner_key, new_task(factory, workspace)[1])
    url = f"{BASE}/{created['id']}"
    client.patch(url, json={"name": "B"}, headers=owner_key.headers)
    client.put(url, json={"name": "B"}, headers=owner_key.headers)  # no change, no event
    client.delete(url, headers=owner_key.headers)
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws AND type LIKE 'subtask.%'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["subtask.created", "subtask.updated", "subtask.deleted"]
    data = [e.data if isinstance(e.data, dict) else json.loads(e.data) for e in events]
    assert data[0]["taskId"] == created["taskId"]
    assert data[0]["projectId"] == created["projectId"]
    assert data[2]["name"] == "B"
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("subtask.created", "api_key", owner_key.id),
        ("subtask.updated", "api_key", owner_key.id),
        ("subtask.deleted", "api_key", owner_key.id),
    ]
    # Subtask changes are not task events.
    tasks = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type LIKE 'task.%'",
        ws=workspace.id,
    )
    assert tasks[0][0] == 0


def test_deletes_leave_tombstones(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    task_id = new_task(factory, workspace)[1]
    kept = create(client, owner_key, task_id)
    deleted = create(client, owner_key, task_id)
    client.delete(f"{BASE}/{deleted['id']}", headers=owner_key.headers)
    listed = client.get(f"{BASE}?includeDeleted=true&pageSize=200", headers=owner_key.headers)
    items = listed.json()["items"]
    assert [s["id"] for s in items if s.get("deleted")] == [deleted["id"]]
    assert [s["id"] for s in items if not s.get("deleted")] == [kept["id"]]
    # A subtask's tombstone is not a task's.
    tasks = client.get("/api/v1/tasks?includeDeleted=true", headers=owner_key.headers).json()
    assert [t["id"] for t in tasks["items"]] == [task_id]


def test_deleting_the_last_subtask_frees_the_task(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    task_id = new_task(factory, workspace)[1]
    subtask = create(client, owner_key, task_id)
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=owner_key.headers).status_code == 409
    assert client.delete(f"{BASE}/{subtask['id']}", headers=owner_key.headers).status_code == 204
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=owner_key.headers).status_code == 204


def test_a_subtask_with_time_entries_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace)
    project_id = factory.project(workspace, client_id)
    task_id = factory.task(workspace, project_id)
    subtask_id = factory.subtask(workspace, task_id)
    factory.insert(
        TimeEntry(
            workspace_id=workspace.id,
            user_id=workspace.owner_id,
            client_id=client_id,
            project_id=project_id,
            task_id=task_id,
            subtask_id=subtask_id,
            work_date=date(2026, 1, 5),
            duration_seconds=1800,
            billable=True,
            currency="USD",
        )
    )
    response = client.delete(f"{BASE}/{subtask_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"timeEntries": 1}
    assert client.get(f"{BASE}/{subtask_id}", headers=owner_key.headers).status_code == 200


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    task_id = new_task(factory, workspace)[1]
    for i in range(3):
        factory.subtask(workspace, task_id, name=f"Small {i}")
    url = f"{BASE}?pageSize=200&taskId={task_id}"
    with count_queries(client) as small:
        assert client.get(url, headers=owner_key.headers).status_code == 200
    for i in range(40):
        factory.subtask(workspace, task_id, name=f"Big {i}")
    with count_queries(client) as big:
        response = client.get(url, headers=owner_key.headers)
    assert len(response.json()["items"]) == 43
    # Transaction control is left out: the background usage recorder's BEGIN can land in the window.
    assert len(data_queries(small)) == len(data_queries(big)) == 2  # the page and its count
