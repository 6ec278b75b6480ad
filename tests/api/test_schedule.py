"""/schedule: every endpoint's 401, 403, 404, 422 and success; the filters, date sort with cursors,
reference rules (member, active project, task of that project), tombstones, events and audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from billabled.models.project import ProjectStatus
from billabled.models.schedule import ScheduledWork as ScheduledWorkRow
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/schedule"


@dataclass(frozen=True)
class Plan:
    """A workspace ready for scheduling: its owner, an active project and one of its tasks."""

    workspace: Workspace
    key: Key
    user_id: str
    project_id: str
    task_id: str


@pytest.fixture
def plan(factory: Factory, workspace: Workspace, owner_key: Key) -> Plan:
    project_id = factory.project(workspace)
    return Plan(
        workspace, owner_key, workspace.owner_id, project_id, factory.task(workspace, project_id)
    )


def body_for(plan: Plan, **fields: Any) -> dict[str, Any]:
    return {
        "userId": plan.user_id,
        "projectId": plan.project_id,
        "date": "2026-03-02",
        "plannedSeconds": 3600,
        **fields,
    }


def create(client: TestClient, plan: Plan, **fields: Any) -> dict[str, Any]:
    response = client.post(BASE, json=body_for(plan, **fields), headers=plan.key.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def listed_ids(client: TestClient, key: Key, query: str = "") -> list[str]:
    response = client.get(f"{BASE}?pageSize=200&{query}", headers=key.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def error_fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["error"]["errors"]]


# --- success -------------------------------------------------------------------------------------


def test_create_read_update_delete(client: TestClient, plan: Plan) -> None:
    created = create(client, plan, taskId=plan.task_id, note="Kick-off workshop")
    assert created["id"].startswith("sch_")
    assert {k: v for k, v in created.items() if k not in ("id", "createdAt", "updatedAt")} == {
        "userId": plan.user_id,
        "projectId": plan.project_id,
        "taskId": plan.task_id,
        "date": "2026-03-02",
        "plannedSeconds": 3600,
        "note": "Kick-off workshop",
    }
    url = f"{BASE}/{created['id']}"

    fetched = client.get(url, headers=plan.key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    patched = client.patch(
        url, json={"plannedSeconds": 7200, "note": None}, headers=plan.key.headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["plannedSeconds"], patched.json()["note"]) == (7200, None)
    assert patched.json()["taskId"] == plan.task_id  # untouched

    put = client.put(url, json={"date": "2026-03-03", "taskId": None}, headers=plan.key.headers)
    assert put.status_code == 200, put.text
    assert (put.json()["date"], put.json()["taskId"]) == ("2026-03-03", None)
    assert put.json()["plannedSeconds"] == 7200

    assert listed_ids(client, plan.key) == [created["id"]]
    assert client.delete(url, headers=plan.key.headers).status_code == 204
    assert client.get(url, headers=plan.key.headers).status_code == 404
    assert listed_ids(client, plan.key) == []


def test_work_can_be_scheduled_for_another_member_by_a_manager(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    manager = factory.member(plan.workspace, Role.MANAGER)
    member = factory.member(plan.workspace, Role.MEMBER)
    manager_key = factory.key(plan.workspace, email=manager)
    member_id = factory.user_id(plan.workspace, member)
    response = client.post(BASE, json=body_for(plan, userId=member_id), headers=manager_key.headers)
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == member_id


def test_moving_to_another_project_with_one_of_its_tasks(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    created = create(client, plan, taskId=plan.task_id)
    other_project = factory.project(plan.workspace, name="Other")
    other_task = factory.task(plan.workspace, other_project)
    response = client.patch(
        f"{BASE}/{created['id']}",
        json={"projectId": other_project, "taskId": other_task},
        headers=plan.key.headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["projectId"], response.json()["taskId"]) == (other_project, other_task)


def test_work_on_a_project_archived_later_can_still_be_corrected(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    created = create(client, plan)
    factory.sql("UPDATE project SET status = 'archived' WHERE id = :id", id=plan.project_id)
    response = client.put(
        f"{BASE}/{created['id']}",
        json={"projectId": plan.project_id, "plannedSeconds": 1800},
        headers=plan.key.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["plannedSeconds"] == 1800


# --- 401, 403, 404 -------------------------------------------------------------------------------


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/sch_x"),
        ("PUT", f"{BASE}/sch_x"),
        ("PATCH", f"{BASE}/sch_x"),
        ("DELETE", f"{BASE}/sch_x"),
    ]:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, plan: Plan) -> None:
    created = create(client, plan)
    url = f"{BASE}/{created['id']}"
    reader = factory.key(plan.workspace, scopes=frozenset({Scope.READ_SCHEDULE}))
    nothing = factory.key(plan.workspace, scopes=frozenset({Scope.READ_TIME}))
    for path in (BASE, url):
        response = client.get(path, headers=nothing.headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["requiredScope"] == "read:schedule"
    for method, path in [("POST", BASE), ("PATCH", url), ("PUT", url), ("DELETE", url)]:
        response = client.request(method, path, json=body_for(plan), headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:schedule"
    assert client.get(url, headers=plan.key.headers).json() == created  # nothing changed


def test_members_may_read_but_not_write(client: TestClient, factory: Factory, plan: Plan) -> None:
    member = factory.member(plan.workspace, Role.MEMBER)
    key = factory.key(plan.workspace, email=member)
    own = body_for(plan, userId=factory.user_id(plan.workspace, member))
    created = create(client, plan)
    url = f"{BASE}/{created['id']}"
    assert listed_ids(client, key) == [created["id"]]
    assert client.get(url, headers=key.headers).status_code == 200
    # Even their own schedule: planning is a manager's job.
    for method, path in [("POST", BASE), ("PATCH", url), ("PUT", url), ("DELETE", url)]:
        response = client.request(method, path, json=own, headers=key.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:schedule"


def test_an_unknown_id_is_404(client: TestClient, plan: Plan) -> None:
    url = f"{BASE}/sch_doesnotexist"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(method, url, json={"note": "x"}, headers=plan.key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"


def test_another_workspaces_work_is_404_and_never_listed(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    other = factory.workspace()
    other_key = factory.key(other)
    other_project = factory.project(other)
    theirs = client.post(
        BASE,
        json={
            "userId": other.owner_id,
            "projectId": other_project,
            "date": "2026-03-02",
            "plannedSeconds": 600,
        },
        headers=other_key.headers,
    ).json()
    url = f"{BASE}/{theirs['id']}"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = client.request(method, url, json={"note": "mine now"}, headers=plan.key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    mine = create(client, plan)
    assert listed_ids(client, plan.key) == [mine["id"]]
    assert listed_ids(client, plan.key, f"projectId={other_project}") == []
    assert listed_ids(client, plan.key, f"userId={other.owner_id}") == []
    tombstones = f"includeDeleted=true&projectId={other_project}"
    assert client.delete(url, headers=other_key.headers).status_code == 204
    assert listed_ids(client, plan.key, tombstones) == []


# --- 422 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"userId": None}, "userId"),
        ({"projectId": ""}, "projectId"),
        ({"date": None}, "date"),
        ({"date": "2026-02-30"}, "date"),
        ({"date": "2026-3-2"}, "date"),
        ({"date": "2026-03-02T00:00:00"}, "date"),
        ({"date": 1772409600}, "date"),
        ({"date": "0001-01-01"}, "date"),  # the years time may be logged in; were accepted
        ({"date": "9999-12-31"}, "date"),
        ({"plannedSeconds": 0}, "plannedSeconds"),
        ({"plannedSeconds": 86401}, "plannedSeconds"),
        ({"plannedSeconds": "3600"}, "plannedSeconds"),
        ({"plannedSeconds": True}, "plannedSeconds"),
        ({"plannedSeconds": 3600.5}, "plannedSeconds"),
        ({"note": "x" * 2001}, "note"),
        ({"hours": 2}, "hours"),
    ],
)
def test_invalid_create_is_422(
    client: TestClient, plan: Plan, fields: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in body_for(plan, **fields).items() if v is not None}
    response = client.post(BASE, json=body, headers=plan.key.headers)
    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert response.json()["error"]["errors"][0]["in"] == "body"


def test_the_limits_themselves_are_accepted(client: TestClient, plan: Plan) -> None:
    assert create(client, plan, plannedSeconds=1, note="")["plannedSeconds"] == 1
    assert create(client, plan, plannedSeconds=86400, note="x" * 2000)["plannedSeconds"] == 86400


def test_references_must_be_in_the_workspace(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    other = factory.workspace()
    other_project = factory.project(other)
    other_task = factory.task(other, other_project)
    outsider = factory.workspace().owner_id  # a real user, but not a member here
    cases = [
        ({"userId": "usr_doesnotexist"}, "userId", "not_found"),
        ({"userId": outsider}, "userId", "not_found"),
        ({"userId": other.owner_id}, "userId", "not_found"),
        ({"projectId": "proj_doesnotexist"}, "projectId", "not_found"),
        ({"projectId": other_project}, "projectId", "not_found"),
        ({"taskId": "task_doesnotexist"}, "taskId", "not_found"),
        ({"taskId": other_task}, "taskId", "not_found"),
    ]
    messages = {}
    for fields, field, kind in cases:
        response = client.post(BASE, json=body_for(plan, **fields), headers=plan.key.headers)
        assert response.status_code == 422, fields
        error = response.json()["error"]["errors"]
        assert [(e["field"], e["type"]) for e in error] == [(field, kind)]
        messages[next(iter(fields.values()))] = error[0]["message"]
    # Another workspace's ids read exactly like ids that do not exist.
    assert messages[other_project] == messages["proj_doesnotexist"].replace(
        "proj_doesnotexist", other_project
    )
    assert messages[other_task] == messages["task_doesnotexist"].replace(
        "task_doesnotexist", other_task
    )
    assert listed_ids(client, plan.key) == []


def test_every_failing_reference_is_listed(client: TestClient, plan: Plan) -> None:
    # Not the first alone (a helper's docs audit); a task is judged once its project is found.
    body = body_for(plan, userId="usr_nope", projectId="proj_nope", taskId="task_nope")
    response = client.post(BASE, json=body, headers=plan.key.headers)
    assert response.status_code == 422
    assert error_fields(response) == ["userId", "projectId"]
    message = response.json()["error"]["message"]
    assert "usr_nope" in message
    assert "proj_nope" in message
    body = body_for(plan, userId="usr_nope", taskId="task_nope")
    response = client.post(BASE, json=body, headers=plan.key.headers)
    assert error_fields(response) == ["userId", "taskId"]
    created = create(client, plan)
    moved = client.patch(
        f"{BASE}/{created['id']}",
        json={"userId": "usr_nope", "projectId": "proj_nope"},
        headers=plan.key.headers,
    )
    assert error_fields(moved) == ["userId", "projectId"]


def test_an_archived_project_is_refused(client: TestClient, factory: Factory, plan: Plan) -> None:
    archived = factory.project(plan.workspace, status=ProjectStatus.ARCHIVED.value)
    response = client.post(BASE, json=body_for(plan, projectId=archived), headers=plan.key.headers)
    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("projectId", "project_archived")
    ]
    created = create(client, plan)
    moved = client.patch(
        f"{BASE}/{created['id']}", json={"projectId": archived}, headers=plan.key.headers
    )
    assert moved.status_code == 422
    assert error_fields(moved) == ["projectId"]


def test_a_project_of_an_archived_client_is_refused(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    former = factory.client(plan.workspace, name="Former", archived=True)
    project = factory.project(plan.workspace, former)
    response = client.post(BASE, json=body_for(plan, projectId=project), headers=plan.key.headers)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("projectId", "client_archived")
    ]


def test_an_archived_task_is_refused_but_work_already_on_it_stays_editable(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    """Before, `_check_task` never looked at the task's status: work was scheduled on it."""
    already = create(client, plan, taskId=plan.task_id)
    archived = factory.task(plan.workspace, plan.project_id, name="Old", status="archived")
    response = client.post(BASE, json=body_for(plan, taskId=archived), headers=plan.key.headers)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("taskId", "archived")
    ]
    moved = client.patch(
        f"{BASE}/{already['id']}", json={"taskId": archived}, headers=plan.key.headers
    )
    assert moved.status_code == 422
    assert error_fields(moved) == ["taskId"]

    factory.sql("UPDATE task SET status = 'archived' WHERE id = :id", id=plan.task_id)
    corrected = client.patch(
        f"{BASE}/{already['id']}", json={"plannedSeconds": 1800}, headers=plan.key.headers
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["taskId"] == plan.task_id


def test_a_task_of_another_project_is_refused(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    other_project = factory.project(plan.workspace, name="Other")
    other_task = factory.task(plan.workspace, other_project)
    response = client.post(BASE, json=body_for(plan, taskId=other_task), headers=plan.key.headers)
    assert response.status_code == 422
    assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("taskId", "not_in_project")
    ]

    created = create(client, plan, taskId=plan.task_id)
    url = f"{BASE}/{created['id']}"
    # Sending a task of another project, or moving the work away from its task's project.
    for change in ({"taskId": other_task}, {"projectId": other_project}):
        refused = client.patch(url, json=change, headers=plan.key.headers)
        assert refused.status_code == 422, change
        assert error_fields(refused) == ["taskId"]
    moved = client.patch(
        url, json={"projectId": other_project, "taskId": None}, headers=plan.key.headers
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["projectId"], moved.json()["taskId"]) == (other_project, None)


def test_invalid_update_is_422_and_changes_nothing(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    created = create(client, plan)
    url = f"{BASE}/{created['id']}"
    for change, fields in [
        ({"userId": None}, ["userId"]),
        ({"projectId": None, "date": None}, ["date", "projectId"]),
        ({"plannedSeconds": None}, ["plannedSeconds"]),
        ({"plannedSeconds": 0}, ["plannedSeconds"]),
        ({"date": "tomorrow"}, ["date"]),
        ({"note": "x" * 2001}, ["note"]),
        ({"userId": "usr_doesnotexist"}, ["userId"]),
        ({"workspaceId": "ws_x"}, ["workspaceId"]),
    ]:
        for method in ("PATCH", "PUT"):
            response = client.request(method, url, json=change, headers=plan.key.headers)
            assert response.status_code == 422, (method, change)
            assert sorted(error_fields(response)) == fields, (method, change)
    assert client.get(url, headers=plan.key.headers).json() == created


# --- lists ---------------------------------------------------------------------------------------


@pytest.fixture
def week(client: TestClient, factory: Factory, plan: Plan) -> dict[str, Any]:
    """Work on 2026-03-01..07 for the owner on the plan's project, plus a member's work on another
    project on 03-03 and 03-05."""
    member = factory.user_id(plan.workspace, factory.member(plan.workspace, Role.MEMBER))
    other_project = factory.project(plan.workspace, name="Other")
    by_day = {day: create(client, plan, date=f"2026-03-0{day}")["id"] for day in range(1, 8)}
    theirs = {
        day: create(client, plan, date=f"2026-03-0{day}", userId=member, projectId=other_project)[
            "id"
        ]
        for day in (3, 5)
    }
    return {
        "mine": by_day,
        "theirs": theirs,
        "member": member,
        "other_project": other_project,
    }


def test_a_date_window_returns_exactly_the_work_inside_it(
    client: TestClient, plan: Plan, week: dict[str, Any]
) -> None:
    mine, theirs = week["mine"], week["theirs"]
    inside = listed_ids(client, plan.key, "from=2026-03-03&to=2026-03-05")
    assert sorted(inside) == sorted([mine[3], mine[4], mine[5], theirs[3], theirs[5]])
    assert sorted(listed_ids(client, plan.key, "from=2026-03-06")) == sorted([mine[6], mine[7]])
    assert sorted(listed_ids(client, plan.key, "to=2026-03-01")) == [mine[1]]
    one_day = listed_ids(client, plan.key, "from=2026-03-05&to=2026-03-05")
    assert sorted(one_day) == sorted([mine[5], theirs[5]])
    assert listed_ids(client, plan.key, "from=2026-03-08") == []


def test_user_and_project_filters(client: TestClient, plan: Plan, week: dict[str, Any]) -> None:
    mine, theirs = week["mine"], week["theirs"]
    assert sorted(listed_ids(client, plan.key, f"userId={week['member']}")) == sorted(
        theirs.values()
    )
    assert sorted(listed_ids(client, plan.key, f"projectId={plan.project_id}")) == sorted(
        mine.values()
    )
    combined = listed_ids(
        client,
        plan.key,
        f"userId={plan.user_id}&projectId={plan.project_id}&from=2026-03-02&to=2026-03-03",
    )
    assert sorted(combined) == sorted([mine[2], mine[3]])
    assert (
        listed_ids(client, plan.key, f"userId={week['member']}&projectId={plan.project_id}") == []
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-03-05&to=2026-03-04", "to"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-03-01T00:00:00", "from"),
        ("from=1772409600", "from"),
        ("to=1899-12-31", "to"),
        ("userId=" + "u" * 65, "userId"),
        ("sort=name", "sort"),
    ],
)
def test_bad_list_parameters_are_422(
    client: TestClient, owner_key: Key, query: str, field: str
) -> None:
    response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert response.json()["error"]["errors"][0]["in"] == "query"


def _walk(client: TestClient, key: Key, query: str) -> list[dict[str, Any]]:
    """Every item of a list, following `nextCursor` page after page."""
    page = client.get(f"{BASE}?{query}", headers=key.headers).json()
    items: list[dict[str, Any]] = page["items"]
    while page["nextCursor"]:
        response = client.get(f"{BASE}?{query}&cursor={page['nextCursor']}", headers=key.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
    return items


@pytest.mark.parametrize("sort", ["date", "-date"])
def test_sorting_by_date_pages_with_cursors(
    client: TestClient, plan: Plan, week: dict[str, Any], sort: str
) -> None:
    everything = client.get(f"{BASE}?pageSize=200", headers=plan.key.headers).json()["items"]
    expected = sorted(everything, key=lambda item: (item["date"], item["id"]))
    if sort.startswith("-"):
        expected.reverse()
    walked = _walk(client, plan.key, f"sort={sort}&pageSize=2")
    assert [item["id"] for item in walked] == [item["id"] for item in expected]
    assert len(walked) == 9
    # A filtered window pages the same way.
    window = _walk(client, plan.key, f"sort={sort}&pageSize=1&from=2026-03-03&to=2026-03-05")
    dates = [item["date"] for item in window]
    assert dates == sorted(dates, reverse=sort.startswith("-"))
    assert len(window) == 5


def test_a_date_window_pages_the_same_whichever_way_it_is_read(
    client: TestClient, plan: Plan, week: dict[str, Any], reading: str
) -> None:
    everything = client.get(f"{BASE}?pageSize=200", headers=plan.key.headers).json()["items"]
    window = [item for item in everything if "2026-03-02" <= item["date"] <= "2026-03-06"]
    orders = {
        "createdAt": lambda item: (datetime.fromisoformat(item["createdAt"]), item["id"]),
        "updatedAt": lambda item: (datetime.fromisoformat(item["updatedAt"]), item["id"]),
        "date": lambda item: (item["date"], item["id"]),
    }
    for field, order in orders.items():
        for direction in ("", "-"):
            ordered = sorted(window, key=order, reverse=direction == "-")
            expected = [item["id"] for item in ordered]
            query = f"from=2026-03-02&to=2026-03-06&sort={direction}{field}&pageSize=2"
            first = client.get(f"{BASE}?{query}", headers=plan.key.headers).json()
            assert first["totalCount"] == len(expected) == 7, query
            assert [item["id"] for item in first["items"]] == expected[:2], query
            assert [item["id"] for item in _walk(client, plan.key, query)] == expected, query
            second = client.get(f"{BASE}?{query}&page=2", headers=plan.key.headers).json()
            assert [item["id"] for item in second["items"]] == expected[2:4], query


def test_default_order_is_creation_and_newest_first_on_request(
    client: TestClient, plan: Plan, week: dict[str, Any]
) -> None:
    created_order = [*week["mine"].values(), *week["theirs"].values()]
    assert listed_ids(client, plan.key) == created_order
    assert listed_ids(client, plan.key, "sort=-createdAt") == created_order[::-1]
    assert [i["id"] for i in _walk(client, plan.key, "pageSize=4")] == created_order


def test_deletes_leave_tombstones(client: TestClient, plan: Plan) -> None:
    kept = create(client, plan)
    gone = create(client, plan, date="2026-03-03")
    assert client.delete(f"{BASE}/{gone['id']}", headers=plan.key.headers).status_code == 204
    listed = client.get(f"{BASE}?includeDeleted=true&pageSize=200", headers=plan.key.headers).json()
    assert [item["id"] for item in listed["items"]] == [kept["id"], gone["id"]]
    tombstone = listed["items"][1]
    assert tombstone["deleted"] is True
    assert tombstone["deletedAt"]
    assert listed_ids(client, plan.key) == [kept["id"]]


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    created = create(client, plan)
    url = f"{BASE}/{created['id']}"
    client.patch(url, json={"note": "Moved to the morning"}, headers=plan.key.headers)
    client.put(url, json={"note": "Moved to the morning"}, headers=plan.key.headers)  # no change
    client.delete(url, headers=plan.key.headers)
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws AND type LIKE 'schedule.%'"
        " ORDER BY created_at, id",
        ws=plan.workspace.id,
    )
    assert [e.type for e in events] == ["schedule.created", "schedule.updated", "schedule.deleted"]
    data = [e.data if isinstance(e.data, dict) else json.loads(e.data) for e in events]
    assert data[0]["date"] == "2026-03-02"
    assert data[1]["note"] == "Moved to the morning"
    assert data[2]["id"] == created["id"]
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("schedule.created", "api_key", plan.key.id),
        ("schedule.updated", "api_key", plan.key.id),
        ("schedule.deleted", "api_key", plan.key.id),
    ]


def test_refused_writes_leave_no_event(client: TestClient, factory: Factory, plan: Plan) -> None:
    client.post(BASE, json=body_for(plan, userId="usr_nobody"), headers=plan.key.headers)
    events = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type LIKE 'schedule.%'",
        ws=plan.workspace.id,
    )
    assert events[0][0] == 0


def _data_statements(statements: list[str]) -> list[str]:
    """The statements that read or write data. Transaction control is left out: on SQLite the
    background usage recorder's own `BEGIN` can land inside the measured block (its INSERT is
    already left out by `count_queries`)."""
    return [s for s in statements if s.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, plan: Plan
) -> None:
    def add(count: int) -> None:
        for _ in range(count):
            factory.insert(
                ScheduledWorkRow(
                    workspace_id=plan.workspace.id,
                    user_id=plan.user_id,
                    project_id=plan.project_id,
                    task_id=plan.task_id,
                    work_date=date(2026, 3, 2),
                    planned_seconds=3600,
                )
            )

    add(3)
    query = f"{BASE}?pageSize=200&from=2026-01-01&userId={plan.user_id}"
    with count_queries(client) as small:
        assert client.get(query, headers=plan.key.headers).status_code == 200
    add(40)
    with count_queries(client) as big:
        assert len(client.get(query, headers=plan.key.headers).json()["items"]) == 43
    assert len(_data_statements(small)) == len(_data_statements(big)) == 2  # the page, the count
