"""POST /time-entries/bulk: up to 500 entries, all or none, every failing item reported by index,
a fixed number of SQL statements whatever the number of items."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from billabled.api.openapi import OPENAPI_PATH
from billabled.auth.scopes import Scope
from billabled.config import Settings
from billabled.db import create_sync_engine
from billabled.models.membership import Role
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace
from tests.support import postgres_test_url

BULK = "/api/v1/time-entries/bulk"
BASE = "/api/v1/time-entries"
Json = dict[str, Any]


def item(project_id: str, i: int = 0, **fields: Any) -> Json:
    return {
        "projectId": project_id,
        "date": f"2026-03-{1 + i % 28:02d}",
        "durationSeconds": 60 * (1 + i % 600),
        "description": f"item {i}",
        **fields,
    }


def count(factory: Factory, ws: Workspace, table: str = "time_entry") -> int:
    return int(
        factory.sql(f"SELECT count(*) FROM {table} WHERE workspace_id = :ws", ws=ws.id)[0][0]
    )


@pytest.fixture
def project_id(factory: Factory, workspace: Workspace) -> str:
    return factory.project(workspace)


def test_creates_every_item_in_order(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    task_id = factory.task(workspace, project_id)
    tag_a, tag_b = factory.tag(workspace), factory.tag(workspace)
    items = [
        item(project_id, 0, taskId=task_id, tagIds=[tag_a, tag_b]),
        {"projectId": project_id, "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:30:00Z"},
        item(project_id, 2, billable=False),
    ]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [c["description"] for c in created] == ["item 0", None, "item 2"]
    assert created[0]["tagIds"] == sorted([tag_a, tag_b])
    assert created[0]["taskId"] == task_id
    assert created[1]["durationSeconds"] == 1800
    assert (created[2]["billable"], created[2]["rateMinor"]) == (False, None)
    assert all(c["userId"] == workspace.owner_id for c in created)
    # Each is exactly what a read returns, and the default order is the request's.
    for entry in created:
        assert client.get(f"{BASE}/{entry['id']}", headers=owner_key.headers).json() == entry
    listed = client.get(BASE, headers=owner_key.headers).json()["items"]
    assert listed == created


def test_500_items_are_accepted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    tag_id = factory.tag(workspace)
    items = [item(project_id, i, tagIds=[tag_id]) for i in range(500)]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 500
    assert count(factory, workspace) == 500
    links = factory.sql(
        "SELECT count(*) FROM time_entry_tag JOIN time_entry ON time_entry.id = time_entry_id"
        " WHERE workspace_id = :ws",
        ws=workspace.id,
    )
    assert links[0][0] == 500


@pytest.mark.parametrize("size", [0, 501])
def test_an_empty_list_or_more_than_500_is_422(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    project_id: str,
    size: int,
) -> None:
    items = [item(project_id, i) for i in range(size)]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [e["field"] for e in error["errors"]] == ["items"]
    assert count(factory, workspace) == 0


@pytest.mark.parametrize(
    "body", [{}, {"items": "many"}, {"items": [{}], "extra": 1}, [{"projectId": "proj_x"}]]
)
def test_a_malformed_envelope_is_422(client: TestClient, owner_key: Key, body: Any) -> None:
    response = client.post(BULK, json=body, headers=owner_key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


def test_one_invalid_item_creates_nothing_and_is_named(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    items = [item(project_id, i) for i in range(6)]
    items[3]["durationSeconds"] = 0
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "bulk_invalid"
    assert "item 3" in error["message"]
    assert "nothing was created" in error["message"]
    assert error["errors"] == [
        {
            "index": 3,
            "errors": [
                {
                    "field": "durationSeconds",
                    "in": "body",
                    "message": error["errors"][0]["errors"][0]["message"],
                    "type": "greater_than_equal",
                }
            ],
        }
    ]
    assert count(factory, workspace) == 0
    assert count(factory, workspace, "event") == 0
    audits = factory.sql(
        "SELECT count(*) FROM audit_record WHERE workspace_id = :ws AND entity_type = 'time_entry'",
        ws=workspace.id,
    )
    assert audits[0][0] == 0


def test_every_failing_item_is_listed_with_all_its_errors(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    other = factory.workspace()
    their_project = factory.project(other)
    task_id = factory.task(workspace, project_id)
    other_task = factory.task(workspace, factory.project(workspace))
    archived = factory.project(workspace, status="archived")
    internal = factory.project(workspace, billing_type="non_billable")
    items: list[Any] = [
        item(project_id, 0),
        item(their_project, 1),  # another workspace's project: not found
        item(project_id, 2, taskId=other_task),  # task of another project
        item(project_id, 3, start="2026-03-02T09:00:00Z"),  # both shapes
        "not an object",
        item(project_id, 5, rateMinor=100, durationSeconds=-5),  # two field errors
        item(archived, 6),
        item(internal, 7, billable=True),
        item(project_id, 8, taskId=task_id, subtaskId="sub_missing", tagIds=["tag_missing"]),
        {"date": "2026-03-02", "durationSeconds": 60},  # no project
        item(project_id, 10, userId="usr_missing"),
        item(project_id, 11),
    ]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "bulk_invalid"
    failing = {e["index"]: [(x["field"], x["type"]) for x in e["errors"]] for e in error["errors"]}
    assert [e["index"] for e in error["errors"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert failing[1] == [("projectId", "not_found")]
    assert failing[2] == [("taskId", "not_in_project")]
    assert failing[3] == [
        ("start", "conflicting_fields"),
        ("date", "conflicting_fields"),
        (
            "durationSeconds",
            "conflicting_fields",
        ),
    ]
    assert failing[4] == [(None, "model_type")]
    assert sorted(failing[5]) == [
        ("durationSeconds", "greater_than_equal"),
        (
            "rateMinor",
            "extra_forbidden",
        ),
    ]
    assert failing[6] == [("projectId", "project_archived")]
    assert failing[7] == [("billable", "non_billable_project")]
    assert failing[8] == [("subtaskId", "not_found"), ("tagIds", "not_found")]
    assert failing[9] == [("projectId", "missing")]
    assert failing[10] == [("userId", "not_found")]
    assert count(factory, workspace) == 0


def test_ids_are_looked_up_exactly_whatever_their_characters(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    # A batch's ids travel to the database as one JSON array (kit.sql.one_of): an id holding
    # a separator, a quote, a brace or a backslash matches nothing, and never two real records.
    second = factory.project(workspace)
    first_tag, second_tag = factory.tag(workspace, "a"), factory.tag(workspace, "b")
    odd = [f"{project_id},{second}", f"{{{project_id}}}", f'"{project_id}', f"{project_id}\\"]
    items = [item(project_id, 0, tagIds=[first_tag, second_tag])]
    items += [item(odd_id, 1 + i) for i, odd_id in enumerate(odd)]
    items.append(item(second, 5, tagIds=[f"{first_tag},{second_tag}", f'{first_tag}"']))
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 422, response.text
    failing = {
        e["index"]: [(x["field"], x["type"]) for x in e["errors"]]
        for e in response.json()["error"]["errors"]
    }
    assert failing == {
        1: [("projectId", "not_found")],
        2: [("projectId", "not_found")],
        3: [("projectId", "not_found")],
        4: [("projectId", "not_found")],
        5: [("tagIds", "not_found")],
    }
    del items[1:]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 201, response.text
    created = response.json()["items"][0]
    listed = client.get(BASE, params={"projectId": project_id}, headers=owner_key.headers).json()[
        "items"
    ]
    assert [(e["id"], sorted(e["tagIds"])) for e in listed] == [
        (created["id"], sorted([first_tag, second_tag]))
    ]


def test_items_naming_the_same_work_are_each_judged_in_full(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    # Items naming the same work item, tags and billable flag share one decision on them
    # (time_entry.service._resolve); each item still gets its own errors, flag and rate.
    tagged = {"tagIds": ["tag_missing"]}
    items = [
        item(project_id, 0, **tagged),
        item(project_id, 1, start="2026-03-02T09:00:00Z", **tagged),  # both shapes too
        item(project_id, 2, **tagged),
    ]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    failing = {
        e["index"]: [(x["field"], x["type"]) for x in e["errors"]]
        for e in response.json()["error"]["errors"]
    }
    assert failing == {
        0: [("tagIds", "not_found")],
        1: [
            ("start", "conflicting_fields"),
            ("date", "conflicting_fields"),
            ("durationSeconds", "conflicting_fields"),
            ("tagIds", "not_found"),
        ],
        2: [("tagIds", "not_found")],
    }
    items = [item(project_id, 0), item(project_id, 1, billable=False), item(project_id, 2)]
    response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
    assert response.status_code == 201, response.text
    created = response.json()["items"]
    assert [(c["billable"], c["rateMinor"]) for c in created] == [
        (True, 10_000),
        (False, None),
        (True, 10_000),
    ]
    assert [c["amountMinor"] for c in created] == [167, None, 500]  # 1 and 3 minutes at 100/h


def test_members_log_only_their_own_time_in_bulk(
    client: TestClient, factory: Factory, workspace: Workspace, project_id: str
) -> None:
    email = factory.member(workspace, Role.MEMBER)
    key = factory.key(workspace, email=email)
    me = factory.user_id(workspace, email)
    items = [item(project_id, 0), item(project_id, 1, userId=me)]
    created = client.post(BULK, json={"items": items}, headers=key.headers)
    assert created.status_code == 201
    assert {c["userId"] for c in created.json()["items"]} == {me}
    items.append(item(project_id, 2, userId=workspace.owner_id))
    refused = client.post(BULK, json={"items": items}, headers=key.headers)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden_user"
    assert error["indexes"] == [2]
    assert count(factory, workspace) == 2


def test_managers_log_for_members_in_bulk(
    client: TestClient, factory: Factory, workspace: Workspace, project_id: str
) -> None:
    manager = factory.key(workspace, email=factory.member(workspace, Role.MANAGER))
    member = factory.user_id(workspace, factory.member(workspace, Role.MEMBER))
    response = client.post(
        BULK, json={"items": [item(project_id, 0, userId=member)]}, headers=manager.headers
    )
    assert response.status_code == 201
    assert response.json()["items"][0]["userId"] == member


def test_no_key_is_401_and_missing_scope_403(
    client: TestClient, factory: Factory, workspace: Workspace, project_id: str
) -> None:
    body = {"items": [item(project_id)]}
    response = client.post(BULK, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_missing"
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_TIME}))
    response = client.post(BULK, json=body, headers=reader.headers)
    assert response.status_code == 403
    assert response.json()["error"]["requiredScope"] == "write:time"
    assert count(factory, workspace) == 0


def test_one_event_and_one_audit_record_per_entry(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    items = [item(project_id, i) for i in range(5)]
    created = client.post(BULK, json={"items": items}, headers=owner_key.headers).json()["items"]
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["time_entry.created"] * 5
    data = [e.data if isinstance(e.data, dict) else json.loads(e.data) for e in events]
    assert data == created  # in the request's order
    audits = factory.sql(
        "SELECT entity_id, action, actor_type, actor_id, after, before,"
        " request_id FROM audit_record WHERE workspace_id = :ws AND entity_type = 'time_entry'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [a.entity_id for a in audits] == [c["id"] for c in created]
    assert {(a.action, a.actor_type, a.actor_id) for a in audits} == {
        ("time_entry.created", "api_key", owner_key.id)
    }
    # No "before" for a creation: SQL NULL, as single changes store it.
    assert {a.before for a in audits} == {None}
    unset = factory.sql(
        "SELECT count(*) FROM audit_record WHERE workspace_id = :ws"
        " AND entity_type = 'time_entry' AND before IS NULL",
        ws=workspace.id,
    )
    assert unset[0][0] == len(created)
    assert len({a.request_id for a in audits}) == 1
    assert audits[0].request_id is not None
    after = [a.after if isinstance(a.after, dict) else json.loads(a.after) for a in audits]
    assert after == created


def test_the_statement_count_does_not_grow_with_the_items(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    task_id = factory.task(workspace, project_id)
    subtask_id = factory.subtask(workspace, task_id)
    tag_id = factory.tag(workspace)
    member = factory.user_id(workspace, factory.member(workspace, Role.MEMBER))

    def run(n: int) -> list[str]:
        items = [
            item(
                project_id,
                i,
                taskId=task_id,
                subtaskId=subtask_id,
                tagIds=[tag_id],
                userId=member if i % 2 else None,
            )
            for i in range(n)
        ]
        with count_queries(client) as sql:
            response = client.post(BULK, json={"items": items}, headers=owner_key.headers)
        assert response.status_code == 201, response.text
        return [statement for statement in sql if statement.strip() != "BEGIN"]

    small, big = run(10), run(200)
    assert len(small) == len(big)
    # Five lookups (projects with clients, tasks, subtasks, members, tags), then the entries,
    # their tags, their events and their audit records: one statement on PostgreSQL, one INSERT
    # each on SQLite.
    assert tables_inserted(big) == ["time_entry", "time_entry_tag", "event", "audit_record"]
    assert len(big) == (6 if postgres_test_url() else 9), big
    assert count(factory, workspace) == 210


def test_a_single_post_reuses_the_same_statements(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, project_id: str
) -> None:
    with count_queries(client) as sql:
        response = client.post(BASE, json=item(project_id), headers=owner_key.headers)
    assert response.status_code == 201
    assert tables_inserted(sql) == ["time_entry", "event", "audit_record"]
    writes = [statement for statement in sql if "INSERT INTO" in statement]
    assert len(writes) == (1 if postgres_test_url() else 3), writes


def tables_inserted(statements: list[str]) -> list[str]:
    """The tables the statements insert into, in order (PostgreSQL writes several tables in one
    statement with `WITH … AS (INSERT …)` parts)."""
    return [
        table for statement in statements for table in re.findall(r"INSERT INTO (\w+)", statement)
    ]


def test_the_reference_documents_items_as_time_entry_creates(client: TestClient) -> None:
    document = client.get(OPENAPI_PATH).json()
    operation = document["paths"][BULK]["post"]
    assert operation["x-required-scope"] == "write:time"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    body = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    items = body["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 500)
    ref = items["items"]["$ref"].rsplit("/", 1)[-1]
    assert "projectId" in document["components"]["schemas"][ref]["properties"]


def test_a_tag_deleted_while_the_batch_is_checked_is_reported_not_a_crash(
    live_api: str,
    settings: Settings,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    project_id: str,
) -> None:
    """The batch's references stay put until it commits: a delete in flight makes the check wait
    for it, then report the tag missing (not a foreign-key failure, 500)."""
    tag_id = factory.tag(workspace)
    body = {"items": [item(project_id, 0, tagIds=[tag_id])]}
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(httpx.post(f"{live_api}{BULK}", json=body, headers=owner_key.headers))

    engine = create_sync_engine(settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("DELETE FROM tag WHERE id = :id"), {"id": tag_id})
            request = threading.Thread(target=post)
            request.start()
            request.join(timeout=1.5)
            assert request.is_alive()  # waiting for the delete's transaction
            connection.commit()
        request.join(timeout=30)
    finally:
        engine.dispose()
    assert answers[0].status_code == 422, answers[0].text
    errors = answers[0].json()["error"]["errors"]
    assert errors == [{"index": 0, "errors": [errors[0]["errors"][0]]}]
    assert (errors[0]["errors"][0]["field"], errors[0]["errors"][0]["type"]) == (
        "tagIds",
        "not_found",
    )
    assert count(factory, workspace) == 0
