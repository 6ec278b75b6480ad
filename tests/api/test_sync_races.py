"""A mirror that follows docs/api.md — `updatedSince` from the largest `updatedAt`/`deletedAt` it
applied — misses nothing when changes commit in another order than their times (PostgreSQL, where
writers run at once; SQLite takes its writers one at a time, each stamped under the lock).

A change is stamped when it is made and visible when it commits: a delete stamped first and
committed last was overtaken by a later update, the mirror moved past it, and the deleted entry
stayed in the mirror for good (a helper's correctness audit).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from billabled.app import create_app
from billabled.config import Settings
from billabled.kit.sql import BACKGROUND_WRITER
from tests.factories import Factory, Key, Workspace
from tests.support import transaction_in_flight, wait_for_a_blocked_request

pytestmark = pytest.mark.skipif(
    not os.environ.get("BILLABLED_TEST_DATABASE_URL"),
    reason="concurrent writers: PostgreSQL (CI's second pass)",
)

ENTRIES = "/api/v1/time-entries"


def _logged(live_api: str, key: Key, project_id: str, description: str) -> dict[str, Any]:
    body = {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600}
    response = httpx.post(
        f"{live_api}{ENTRIES}", json={**body, "description": description}, headers=key.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _poll(live_api: str, key: Key, since: str) -> list[dict[str, Any]]:
    """Every change at or after `since`, deletions included, following the cursors."""
    items: list[dict[str, Any]] = []
    params = {"updatedSince": since, "includeDeleted": "true", "pageSize": "2"}
    while True:
        response = httpx.get(f"{live_api}{ENTRIES}", params=params, headers=key.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["hasMore"]:
            return items
        params["cursor"] = page["nextCursor"]


def _moment(item: dict[str, Any]) -> str:
    moment: str = item["deletedAt"] if item.get("deleted") else item["updatedAt"]
    return moment


def test_a_delete_committed_after_a_later_change_still_reaches_the_mirror(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    doomed = _logged(live_api, owner_key, project_id, "to be deleted")
    kept = _logged(live_api, owner_key, project_id, "to be changed")
    mirror = {item["id"]: item for item in _poll(live_api, owner_key, doomed["createdAt"])}
    assert set(mirror) == {doomed["id"], kept["id"]}
    mark = max(_moment(item) for item in mirror.values())

    deleted: list[int] = []

    def delete() -> None:
        url = f"{live_api}{ENTRIES}/{doomed['id']}"
        deleted.append(httpx.delete(url, headers=owner_key.headers, timeout=30).status_code)

    deleting = threading.Thread(target=delete)
    # The delete is stamped, then waits to write its tombstone (a slow commit, held here).
    with transaction_in_flight(database_url, ("LOCK TABLE tombstone IN SHARE MODE", {})):
        deleting.start()
        wait_for_a_blocked_request(database_url)
        changed = httpx.patch(
            f"{live_api}{ENTRIES}/{kept['id']}",
            json={"description": "changed"},
            headers=owner_key.headers,
        )
        assert changed.status_code == 200, changed.text
        # The mirror polls meanwhile, and remembers the largest time it applied.
        for item in _poll(live_api, owner_key, mark):
            mirror[item["id"]] = item
            mark = max(mark, _moment(item))
    deleting.join(30)
    assert deleted == [204]

    # The mirror polls on until it has both changes (a change reaches a sync once the writes
    # begun before it have finished). Before the fix the poll above took the change, moved
    # past the delete's earlier time, and the deleted entry stayed in the mirror for good.
    deadline = time.monotonic() + 5
    while not (
        mirror[doomed["id"]].get("deleted") is True
        and mirror[kept["id"]].get("description") == "changed"
    ):
        assert time.monotonic() < deadline, mirror
        for item in _poll(live_api, owner_key, mark):
            mirror[item["id"]] = item
            mark = max(mark, _moment(item))
        time.sleep(0.05)


def test_a_change_enters_the_sync_once_the_clock_margin_has_passed(
    settings: Settings, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """The app's clock stamps changes, the database's times the transactions still running: a
    sync lists a change once it is older than the margin allowed between the two (the tests run
    without one)."""
    project_id = factory.project(workspace)
    margin = settings.model_copy(update={"sync_clock_margin_seconds": 1.0})
    with TestClient(create_app(margin)) as client:
        body = {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 60}
        created = client.post(ENTRIES, json=body, headers=owner_key.headers).json()
        params = {"updatedSince": created["updatedAt"]}
        assert client.get(ENTRIES, params=params, headers=owner_key.headers).json()["items"] == []
        time.sleep(1.1)
        listed = client.get(ENTRIES, params=params, headers=owner_key.headers).json()["items"]
        assert [item["id"] for item in listed] == [created["id"]]


def test_a_sync_does_not_wait_for_the_usage_records_being_written(
    live_api: str, database_url: str, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A sync lists changes older than every transaction still running, but the usage
    recorder's and the purges' write no record it lists: waited for, a flush in flight held
    every sync back (and made a test fail now and then)."""
    project_id = factory.project(workspace)
    background = (f"SET LOCAL application_name = '{BACKGROUND_WRITER}'", {})
    with transaction_in_flight(database_url, background, ("SELECT 1", {})):
        created = _logged(live_api, owner_key, project_id, "listed at once")
        listed = _poll(live_api, owner_key, created["createdAt"])
    assert [item["id"] for item in listed] == [created["id"]]
