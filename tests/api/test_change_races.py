"""Two changes to one record at once run one after the other (PostgreSQL, where requests run
concurrently; SQLite serialises writers).

Another connection changes the record, or logs time on it, and keeps its transaction open; the
request is sent and seen waiting on the row lock; then the other transaction commits, and the
request must start from its result.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.factories import Factory, Key, Workspace
from tests.support import request_during

pytestmark = pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="concurrent writers: PostgreSQL (CI's second pass)",
)

ENTRIES = "/api/v1/time-entries"


def logged(live_api: str, key: Key, project_id: str, tag_ids: list[str]) -> str:
    body = {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600}
    response = httpx.post(
        f"{live_api}{ENTRIES}", json={**body, "tagIds": tag_ids}, headers=key.headers
    )
    assert response.status_code == 201, response.text
    entry_id: str = response.json()["id"]
    return entry_id


def retagged_meanwhile(entry_id: str, tag_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Another request's change of the entry's description and tags, as it writes them."""
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            "UPDATE time_entry SET description = 'changed meanwhile', updated_at = now() "
            "WHERE id = :id",
            {"id": entry_id},
        ),
        ("DELETE FROM time_entry_tag WHERE time_entry_id = :id", {"id": entry_id}),
    ]
    statements += [
        (
            "INSERT INTO time_entry_tag (time_entry_id, tag_id) VALUES (:id, :tag)",
            {"id": entry_id, "tag": tag_id},
        )
        for tag_id in tag_ids
    ]
    return statements


def time_logged_meanwhile(
    workspace: Workspace, client_id: str, project_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """Time being logged on the project, as the create request holds it: the project locked
    against deletion (FOR KEY SHARE) and the entry written with the project's client."""
    return [
        ("SELECT id FROM project WHERE id = :id FOR KEY SHARE", {"id": project_id}),
        (
            "INSERT INTO time_entry (id, workspace_id, user_id, client_id, project_id, "
            "work_date, duration_seconds, billable, currency, status, created_at, updated_at) "
            "VALUES (:id, :ws, :user, :client, :project, '2026-03-02', 3600, false, "
            "'USD', 'open', now(), now())",
            {
                "id": f"te_{project_id.removeprefix('proj_')}",  # one per project
                "ws": workspace.id,
                "user": workspace.owner_id,
                "client": client_id,
                "project": project_id,
            },
        ),
    ]


def patched_during(
    database_url: str, statements: list[tuple[str, dict[str, Any]]], url: str, body: Any, key: Key
) -> httpx.Response:
    """The answer to `PATCH url` sent while `statements` are in flight in another transaction."""
    return request_during(database_url, statements, "PATCH", url, body, key.headers)


def test_two_changes_of_an_entrys_tags_leave_the_later_ones_tags(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    one, two, three = (factory.tag(workspace, name) for name in ("one", "two", "three"))
    entry_id = logged(live_api, owner_key, project_id, [one])
    url = f"{live_api}{ENTRIES}/{entry_id}"

    response = patched_during(
        database_url, retagged_meanwhile(entry_id, [three]), url, {"tagIds": [two]}, owner_key
    )

    # Before the fix the request read the tags before the other change committed, deleted
    # those, and the entry ended with both requests' tags.
    assert response.status_code == 200, response.text
    assert response.json()["tagIds"] == [two]
    now = httpx.get(url, headers=owner_key.headers).json()
    assert (now["tagIds"], now["description"]) == ([two], "changed meanwhile")


def test_the_same_tags_sent_twice_at_once_are_not_a_500(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    tag_id = factory.tag(workspace, "twice")
    entry_id = logged(live_api, owner_key, project_id, [])
    url = f"{live_api}{ENTRIES}/{entry_id}"

    response = patched_during(
        database_url, retagged_meanwhile(entry_id, [tag_id]), url, {"tagIds": [tag_id]}, owner_key
    )

    # Before the fix: a duplicate key in time_entry_tag, answered with a 500.
    assert response.status_code == 200, response.text
    assert response.json()["tagIds"] == [tag_id]


def test_a_project_does_not_move_client_under_time_being_logged_on_it(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace, "Acme")
    other_client = factory.client(workspace, "Globex")
    project_id = factory.project(workspace, client_id)
    logging = time_logged_meanwhile(workspace, client_id, project_id)

    response = patched_during(
        database_url,
        logging,
        f"{live_api}/api/v1/projects/{project_id}",
        {"clientId": other_client},
        owner_key,
    )

    # Before the fix the move did not wait, counted no entries, and left the new entry on a
    # client its project no longer belonged to.
    assert response.status_code == 409, response.text
    assert response.json()["error"]["dependents"] == {"timeEntries": 1}
    project = httpx.get(f"{live_api}/api/v1/projects/{project_id}", headers=owner_key.headers)
    assert project.json()["clientId"] == client_id


def test_a_clients_currency_does_not_change_under_time_being_logged_for_it(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace, "Acme")
    project_id = factory.project(workspace, client_id)

    response = patched_during(
        database_url,
        time_logged_meanwhile(workspace, client_id, project_id),
        f"{live_api}/api/v1/clients/{client_id}",
        {"currency": "EUR"},
        owner_key,
    )

    assert response.status_code == 409, response.text
    assert response.json()["error"]["dependents"] == {"timeEntries": 1}
    project = httpx.get(f"{live_api}/api/v1/projects/{project_id}", headers=owner_key.headers)
    assert project.json()["currency"] == "USD"


def moved_meanwhile(project_id: str, client_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A project moved to another client, as the PATCH holds it: locked first, then changed."""
    return [
        ("SELECT id FROM project WHERE id = :id FOR UPDATE", {"id": project_id}),
        (
            "UPDATE project SET client_id = :client, updated_at = now() WHERE id = :id",
            {"id": project_id, "client": client_id},
        ),
    ]


@pytest.mark.parametrize("collection", ["/api/v1/time-entries", "/api/v1/schedule"])
def test_work_logged_on_a_project_moving_to_another_client_waits_and_follows_it(
    live_api: str,
    database_url: str,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    collection: str,
) -> None:
    """The lookup joined the project to its client and waited for the move; PostgreSQL then
    re-checked the moved row against the old client and dropped it: `no project 'proj_…'`, a
    422 an Idempotency-Key replayed for 24 hours (a helper's multi-process audit)."""
    project_id = factory.project(workspace, factory.client(workspace, "Acme"))
    other_client = factory.client(workspace, "Globex")
    body: dict[str, Any] = {"projectId": project_id, "date": "2026-03-02"}
    if collection == ENTRIES:
        body["durationSeconds"] = 3600
    else:
        body.update(userId=workspace.owner_id, plannedSeconds=3600)

    response = request_during(
        database_url,
        moved_meanwhile(project_id, other_client),
        "POST",
        f"{live_api}{collection}",
        body,
        owner_key.headers,
    )

    assert response.status_code == 201, response.text
    if collection == ENTRIES:
        assert response.json()["clientId"] == other_client


def test_a_tag_name_taken_by_a_racing_request_is_named_with_its_id(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """The unique index refused the name after the other request committed, and the 409 had
    no `existingId` and named the tag as sent (a helper's multi-process audit)."""
    tag_id = "tag_01racingracingracingracin"
    taking = [
        (
            "INSERT INTO tag (id, workspace_id, name, created_at, updated_at) "
            "VALUES (:id, :ws, 'Alpha', now(), now())",
            {"id": tag_id, "ws": workspace.id},
        )
    ]

    response = request_during(
        database_url,
        taking,
        "POST",
        f"{live_api}/api/v1/tags",
        {"name": "ALPHA"},
        owner_key.headers,
    )

    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["code"], error["existingId"]) == ("tag_name_taken", tag_id)
    assert "'Alpha'" in error["message"]
