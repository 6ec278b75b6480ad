"""A record deleted while a request that refers to it is in flight: the request answers a 422
naming the missing reference, never a 500 from the foreign key (PostgreSQL, where requests run
concurrently; SQLite serialises writers).

Another connection deletes the record and keeps its transaction open; the request is sent and
seen waiting on the row lock; then the deletion commits.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import pytest

from tests.factories import Factory, Key, Workspace
from tests.support import request_during, transaction_in_flight, wait_for_a_blocked_request

pytestmark = pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="concurrent writers: PostgreSQL (CI's second pass)",
)


def post_during_deletion(
    database_url: str, table: str, record_id: str, url: str, body: dict[str, Any], key: Key
) -> httpx.Response:
    deletion = (f"DELETE FROM {table} WHERE id = :id", {"id": record_id})
    return request_during(database_url, [deletion], "POST", url, body, key.headers)


def test_scheduling_on_a_task_being_deleted_is_a_422(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    task_id = factory.task(workspace, project_id)
    body = {
        "userId": workspace.owner_id,
        "projectId": project_id,
        "taskId": task_id,
        "date": "2026-03-02",
        "plannedSeconds": 3600,
    }
    response = post_during_deletion(
        database_url, "task", task_id, f"{live_api}/api/v1/schedule", body, owner_key
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["field"] == "taskId"


def test_tagging_a_project_with_a_tag_being_deleted_is_a_422(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tag_id = factory.tag(workspace, "Going away")
    client_id = factory.client(workspace)
    body = {"clientId": client_id, "name": "Tagged", "billingType": "hourly", "tagIds": [tag_id]}
    response = post_during_deletion(
        database_url, "tag", tag_id, f"{live_api}/api/v1/projects", body, owner_key
    )
    assert response.status_code == 422, response.text
    assert "tagIds" in response.text


@pytest.mark.parametrize("deleted", ["project", "task"])
def test_logging_time_on_work_being_deleted_is_a_422(
    live_api: str,
    database_url: str,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    deleted: str,
) -> None:
    # A single entry's references are looked up in one statement (locking WITH parts): a record
    # deleted meanwhile must still make it wait, then report the field.
    project_id = factory.project(workspace)
    body = {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600}
    record_id = project_id
    if deleted == "task":
        record_id = body["taskId"] = factory.task(workspace, project_id)
    response = post_during_deletion(
        database_url, deleted, record_id, f"{live_api}/api/v1/time-entries", body, owner_key
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["field"] == f"{deleted}Id"


@pytest.mark.parametrize(
    ("url", "table", "fields"),
    [
        ("/api/v1/time-entries", "time_entry", {"durationSeconds": 3600}),
        ("/api/v1/schedule", "scheduled_work", {"plannedSeconds": 3600}),
    ],
)
def test_a_client_archived_while_work_is_added_to_its_project_waits_for_it(
    live_api: str,
    database_url: str,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    url: str,
    table: str,
    fields: dict[str, Any],
) -> None:
    """Logging or scheduling work locked the project but not its client: archiving the client
    went through while the work was being written, which then committed on an archived client
    (a helper's correctness audit). Now the archive waits for the work, or the work sees the
    archive."""
    client_id = factory.client(workspace, "Acme")
    project_id = factory.project(workspace, client_id)
    answers: dict[str, httpx.Response] = {}

    def send(name: str, method: str, path: str, body: dict[str, Any]) -> None:
        answers[name] = httpx.request(
            method, f"{live_api}{path}", json=body, headers=owner_key.headers, timeout=30
        )

    work = {"userId": workspace.owner_id, "projectId": project_id, "date": "2026-03-02", **fields}
    adding = threading.Thread(target=send, args=("work", "POST", url, work))
    archiving = threading.Thread(
        target=send, args=("archive", "PATCH", f"/api/v1/clients/{client_id}", {"archived": True})
    )
    # The work's request holds its references, then waits to write the work.
    with transaction_in_flight(database_url, (f"LOCK TABLE {table} IN SHARE MODE", {})):
        adding.start()
        wait_for_a_blocked_request(database_url)
        archiving.start()
        archiving.join(1.5)
        # Before the fix the client was archived here, under the work being written.
        assert archiving.is_alive(), answers["archive"].text
    adding.join(30)
    archiving.join(30)
    assert answers["work"].status_code == 201, answers["work"].text
    assert answers["archive"].status_code == 200, answers["archive"].text
    assert answers["work"].json()["createdAt"] < answers["archive"].json()["updatedAt"]


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/api/v1/time-entries", {"durationSeconds": 3600}),
        ("/api/v1/schedule", {"plannedSeconds": 3600}),
    ],
)
def test_work_added_while_its_clients_currency_changes_does_not_deadlock(
    live_api: str,
    database_url: str,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    url: str,
    fields: dict[str, Any],
) -> None:
    """A currency change locks the client, then its projects; logging or scheduling work locked
    the project, then the client: each waited on the other, and PostgreSQL ended one, a 500
    (a helper's review). Work now locks the client first, and waits for the change."""
    client_id = factory.client(workspace, "Acme")
    project_id = factory.project(workspace, client_id)
    work = {"userId": workspace.owner_id, "projectId": project_id, "date": "2026-03-02", **fields}
    answers: list[httpx.Response] = []

    def log_time() -> None:
        answers.append(
            httpx.post(f"{live_api}{url}", json=work, headers=owner_key.headers, timeout=30)
        )

    logging = threading.Thread(target=log_time)
    # The currency change as it runs: the client locked, then (once time waits) its projects.
    change = [("SELECT id FROM client WHERE id = :id FOR UPDATE", {"id": client_id})]
    with transaction_in_flight(database_url, *change) as in_flight:
        logging.start()
        wait_for_a_blocked_request(database_url)
        in_flight("SELECT id FROM project WHERE client_id = :id FOR UPDATE", {"id": client_id})
    logging.join(30)
    assert answers, "the request did not finish"
    assert answers[0].status_code == 201, answers[0].text
