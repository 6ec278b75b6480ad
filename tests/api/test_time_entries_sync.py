"""Large syncs of /time-entries: keyset cursors over 10,000 entries return each exactly once, and
`updatedSince` + `includeDeleted` replays every create, update and delete, oldest first."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from billabled.models.membership import Role
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/time-entries"
Json = dict[str, Any]


def item(project_id: str, i: int, **fields: Any) -> Json:
    return {
        "projectId": project_id,
        "date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "durationSeconds": 60 * (1 + i % 480),
        "description": f"item {i}",
        **fields,
    }


def bulk(client: TestClient, key: Key, items: list[Json]) -> list[Json]:
    response = client.post(f"{BASE}/bulk", json={"items": items}, headers=key.headers)
    assert response.status_code == 201, response.text
    created: list[Json] = response.json()["items"]
    return created


def logged_before_a_moment(
    client: TestClient, key: Key, project_id: str
) -> tuple[list[Json], datetime]:
    """Thirty entries, then a moment clearly after them (and before anything logged next)."""
    before = bulk(client, key, [item(project_id, i) for i in range(30)])
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.01)
    return before, since


def page_through(client: TestClient, key: Key, query: str) -> list[Json]:
    """Every item of a list, following `nextCursor` until `hasMore` is false."""
    items: list[Json] = []
    url = f"{BASE}?{query}"
    pages = 0
    while True:
        response = client.get(url, headers=key.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        items += page["items"]
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            return items
        assert page["nextCursor"]
        assert pages < 10_000, "the cursor does not advance"
        url = f"{BASE}?{query}&cursor={page['nextCursor']}"


def test_cursor_paging_over_10000_entries_returns_each_exactly_once(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    created: list[str] = []
    for batch in range(20):
        items = [item(project_id, batch * 500 + i) for i in range(500)]
        created += [entry["id"] for entry in bulk(client, owner_key, items)]
    assert len(set(created)) == 10_000

    first = client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).json()
    assert first["totalCount"] == 10_000

    # The default order (createdAt, id): the order they were created in.
    by_creation = page_through(client, owner_key, "pageSize=200")
    assert [entry["id"] for entry in by_creation] == created

    # By date, newest first: only 336 distinct dates, so the id tie-break carries the cursor.
    by_date = page_through(client, owner_key, "sort=-date&pageSize=200")
    ids = [entry["id"] for entry in by_date]
    assert len(ids) == len(set(ids)) == 10_000
    assert set(ids) == set(created)
    keys = [(entry["date"], entry["id"]) for entry in by_date]
    assert keys == sorted(keys, reverse=True)


def test_updated_since_with_deletions_replays_every_change_once_oldest_first(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    before, since = logged_before_a_moment(client, owner_key, project_id)

    # Every change after `since`, in order; an entity's last change decides where it appears.
    last_change: dict[str, int] = {}
    final: dict[str, Json | None] = {}  # None: deleted
    step = 0

    def changed(entry_id: str, state: Json | None) -> None:
        nonlocal step
        step += 1
        last_change[entry_id] = step
        final[entry_id] = state

    for entry in bulk(client, owner_key, [item(project_id, 100 + i) for i in range(20)]):
        changed(entry["id"], entry)
    after = list(last_change)
    old_updated = [entry["id"] for entry in before[0:10]]
    old_deleted = [entry["id"] for entry in before[10:15]]
    for entry_id in [*old_updated, *after[0:5], old_updated[0], after[0]]:  # some twice
        response = client.patch(
            f"{BASE}/{entry_id}",
            json={"description": f"changed at {step}"},
            headers=owner_key.headers,
        )
        assert response.status_code == 200
        changed(entry_id, response.json())
    for entry_id in [*old_deleted, after[5], after[6], old_updated[1]]:
        assert client.delete(f"{BASE}/{entry_id}", headers=owner_key.headers).status_code == 204
        changed(entry_id, None)

    query = f"updatedSince={quote(since.isoformat())}&includeDeleted=true&pageSize=7"
    first = client.get(f"{BASE}?{query}", headers=owner_key.headers).json()
    assert first["totalCount"] == len(final)
    replay = page_through(client, owner_key, query)

    expected_order = sorted(final, key=lambda entry_id: last_change[entry_id])
    assert [entry["id"] for entry in replay] == expected_order
    for entry in replay:
        state = final[entry["id"]]
        if state is None:
            assert entry["deleted"] is True
            assert set(entry) == {"id", "deleted", "deletedAt"}
        else:
            assert entry == state  # its latest state, not an older one
    stamps = [
        datetime.fromisoformat(entry.get("deletedAt") or entry["updatedAt"]) for entry in replay
    ]
    assert stamps == sorted(stamps)
    # Numbered pages give the same sequence (merged in SQL, page by page).
    numbered: list[Json] = []
    for page in range(1, first["totalCount"] // 7 + 2):
        body = client.get(f"{BASE}?{query}&page={page}", headers=owner_key.headers).json()
        assert body["hasMore"] == (page * 7 < len(final))
        numbered += body["items"]
    assert numbered == replay
    # Untouched entries logged before `since` are not replayed.
    untouched = {entry["id"] for entry in before[15:]} - set(final)
    assert untouched
    assert untouched.isdisjoint(entry["id"] for entry in replay)


def test_a_member_replays_only_the_deletions_of_their_own_time(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A member's key sees only its creator's entries, so its `includeDeleted` sync gets only the
    tombstones of their entries: another member's deleted entry ids and times are not theirs."""
    project_id = factory.project(workspace)
    alice = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    bob = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    since = datetime.now(UTC)
    mine = bulk(client, alice, [item(project_id, i) for i in range(3)])
    theirs = bulk(client, bob, [item(project_id, 10 + i) for i in range(3)])
    for entry in (mine[0], theirs[0], theirs[1]):
        response = client.delete(f"{BASE}/{entry['id']}", headers=owner_key.headers)
        assert response.status_code == 204

    query = f"updatedSince={quote(since.isoformat())}&includeDeleted=true"
    for key, own, own_deleted in (
        (alice, mine, [mine[0]["id"]]),
        (bob, theirs, [theirs[0]["id"], theirs[1]["id"]]),
    ):
        page = client.get(f"{BASE}?{query}", headers=key.headers).json()
        tombstones = [entry["id"] for entry in page["items"] if entry.get("deleted")]
        live = [entry["id"] for entry in page["items"] if not entry.get("deleted")]
        assert sorted(tombstones) == sorted(own_deleted)
        assert sorted(live) == sorted(e["id"] for e in own if e["id"] not in own_deleted)
        assert page["totalCount"] == len(page["items"])

    manager_view = client.get(f"{BASE}?{query}", headers=owner_key.headers).json()
    assert {e["id"] for e in manager_view["items"] if e.get("deleted")} == {
        mine[0]["id"],
        theirs[0]["id"],
        theirs[1]["id"],
    }


def test_an_entry_moved_to_another_member_leaves_the_first_members_sync(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A member's mirror holds only their entries: when a manager gives one to someone else, their
    next sync replays it as deleted (for them), the new owner's as created, and managers — who
    still see it — get no tombstone for it. Given back, it is live again for the first member."""
    project_id = factory.project(workspace)
    alice = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    bob_email = factory.member(workspace, Role.MEMBER)
    bob = factory.key(workspace, email=bob_email)
    bob_id = factory.user_id(workspace, bob_email)
    (entry,) = bulk(client, alice, [item(project_id, 1)])
    alice_id = entry["userId"]

    def sync(key: Key, since: datetime) -> tuple[list[str], list[str]]:
        query = f"updatedSince={quote(since.isoformat())}&includeDeleted=true"
        page = client.get(f"{BASE}?{query}", headers=key.headers).json()
        assert page["totalCount"] == len(page["items"])
        live = [e["id"] for e in page["items"] if not e.get("deleted")]
        gone = [e["id"] for e in page["items"] if e.get("deleted")]
        return live, gone

    since = datetime.now(UTC)
    moved = client.patch(
        f"{BASE}/{entry['id']}", json={"userId": bob_id}, headers=owner_key.headers
    )
    assert moved.status_code == 200, moved.text
    assert sync(alice, since) == ([], [entry["id"]])
    assert sync(bob, since) == ([entry["id"]], [])
    assert sync(owner_key, since) == ([entry["id"]], [])

    since = datetime.now(UTC)
    back = client.patch(
        f"{BASE}/{entry['id']}", json={"userId": alice_id}, headers=owner_key.headers
    )
    assert back.status_code == 200, back.text
    assert sync(alice, since) == ([entry["id"]], [])
    assert sync(bob, since) == ([], [entry["id"]])
    assert sync(owner_key, since) == ([entry["id"]], [])


def test_an_entry_moved_and_then_deleted_is_replayed_as_deleted_to_both_members(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """Moved from one member to another, then deleted by the second before the first synced:
    each member's sync replays it as deleted once, and managers see one deletion."""
    project_id = factory.project(workspace)
    alice = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    bob_email = factory.member(workspace, Role.MEMBER)
    bob = factory.key(workspace, email=bob_email)
    (entry,) = bulk(client, alice, [item(project_id, 1)])
    since = datetime.now(UTC)
    moved = client.patch(
        f"{BASE}/{entry['id']}",
        json={"userId": factory.user_id(workspace, bob_email)},
        headers=owner_key.headers,
    )
    assert moved.status_code == 200, moved.text
    assert client.delete(f"{BASE}/{entry['id']}", headers=bob.headers).status_code == 204

    query = f"updatedSince={quote(since.isoformat())}&includeDeleted=true"
    for key in (alice, bob, owner_key):
        page = client.get(f"{BASE}?{query}", headers=key.headers).json()
        assert [(e["id"], e.get("deleted")) for e in page["items"]] == [(entry["id"], True)]
        assert page["totalCount"] == 1


def test_updated_since_under_the_creation_order_lists_the_changed_entries_in_that_order(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, reading: str
) -> None:
    project_id = factory.project(workspace)
    before, since = logged_before_a_moment(client, owner_key, project_id)
    after = bulk(client, owner_key, [item(project_id, 100 + i) for i in range(12)])
    # Entries logged before `since` and changed after it come first: the order is creation's.
    for entry in [before[20], before[3], before[11]]:
        response = client.patch(
            f"{BASE}/{entry['id']}", json={"description": "changed"}, headers=owner_key.headers
        )
        assert response.status_code == 200
    changed = [before[3], before[11], before[20], *after]
    expected = [entry["id"] for entry in changed]
    by_date = [entry["id"] for entry in sorted(changed, key=lambda e: (e["date"], e["id"]))]

    for sort, order in (
        ("", expected),
        ("&sort=-createdAt", expected[::-1]),
        ("&sort=date", by_date),
    ):
        query = f"updatedSince={quote(since.isoformat())}&pageSize=4{sort}"
        first = client.get(f"{BASE}?{query}", headers=owner_key.headers).json()
        assert first["totalCount"] == len(expected)
        assert [entry["id"] for entry in first["items"]] == order[:4]
        assert [entry["id"] for entry in page_through(client, owner_key, query)] == order
        third = client.get(f"{BASE}?{query}&page=3", headers=owner_key.headers).json()
        assert [entry["id"] for entry in third["items"]] == order[8:12]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_filtered_lists_give_the_same_pages_whichever_way_the_rows_are_read(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, reading: str
) -> None:
    # A filter that follows time (dates, status) or names a person, project or client, alone or
    # with others, read both ways: every order, direction and page must answer the same, and the
    # cursor pages that follow them (time-following filters read through the order's index
    # after a cursor both times; a person's, project's or client's rows first when few).
    first_project, second_project = factory.project(workspace), factory.project(workspace)
    member_email = factory.member(workspace, Role.MEMBER)
    member = factory.key(workspace, email=member_email)
    member_id = factory.user_id(workspace, member_email)
    entries = bulk(client, owner_key, [item(first_project, i) for i in range(25)])
    time.sleep(0.01)
    entries += bulk(client, owner_key, [item(second_project, 40 + i) for i in range(15)])
    time.sleep(0.01)
    entries += bulk(
        client, owner_key, [item(first_project, 60 + i, userId=member_id) for i in range(14)]
    )
    # Later changes reorder `updatedAt` against creation.
    time.sleep(0.01)
    since = datetime.now(UTC)
    for entry in (entries[30], entries[2], entries[45]):
        response = client.patch(
            f"{BASE}/{entry['id']}", json={"description": "changed"}, headers=owner_key.headers
        )
        assert response.status_code == 200
        entry.update(response.json())

    orders = {
        "createdAt": lambda e: (_instant(e["createdAt"]), e["id"]),
        "updatedAt": lambda e: (_instant(e["updatedAt"]), e["id"]),
        "date": lambda e: (e["date"], e["id"]),
    }

    def spring(entry: Json) -> bool:
        return "2026-03-01" <= entry["date"] <= "2026-06-30"

    def mine(entry: Json) -> bool:
        return entry["userId"] == member_id

    cases: list[tuple[Key, str, Callable[[Json], bool]]] = [
        (owner_key, "from=2026-03-01&to=2026-06-30", spring),
        (
            owner_key,
            f"projectId={first_project}&to=2026-09-30",
            lambda e: e["projectId"] == first_project and e["date"] <= "2026-09-30",
        ),
        (
            owner_key,
            f"projectId={second_project}&from=2026-03-01",
            lambda e: e["projectId"] == second_project and e["date"] >= "2026-03-01",
        ),
        (owner_key, f"userId={member_id}&from=2026-01-01", mine),
        (
            owner_key,
            f"status=open&updatedSince={quote(since.isoformat())}",
            lambda e: e["id"] in {entries[30]["id"], entries[2]["id"], entries[45]["id"]},
        ),
        (owner_key, "status=open&to=2026-06-30", lambda e: e["date"] <= "2026-06-30"),
        (member, "from=2026-03-01", lambda e: mine(e) and e["date"] >= "2026-03-01"),
        # Spread over time: a project's, a person's, a client's, a member's own.
        (owner_key, f"projectId={second_project}", lambda e: e["projectId"] == second_project),
        (owner_key, f"userId={member_id}", mine),
        (
            owner_key,
            f"clientId={entries[0]['clientId']}",
            lambda e: e["clientId"] == entries[0]["clientId"],
        ),
        (member, "billable=true", mine),
    ]
    for key, filters, wanted in cases:
        chosen = [entry for entry in entries if wanted(entry)]
        assert chosen, filters
        for field, order in orders.items():
            for direction in ("", "-"):
                ordered = sorted(chosen, key=order, reverse=direction == "-")
                expected = [entry["id"] for entry in ordered]
                query = f"{filters}&sort={direction}{field}&pageSize=4"
                first = client.get(f"{BASE}?{query}", headers=key.headers).json()
                assert first["totalCount"] == len(expected), query
                assert [entry["id"] for entry in first["items"]] == expected[:4], query
                assert [entry["id"] for entry in page_through(client, key, query)] == expected
                third = client.get(f"{BASE}?{query}&page=3", headers=key.headers).json()
                assert [entry["id"] for entry in third["items"]] == expected[8:12], query


def test_a_mirror_paging_in_another_order_misses_no_change_made_between_its_pages(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """Each page took its own horizon: under the creation order, a change made between two
    pages to a row already passed was skipped, while a later change to a row still ahead was
    listed, and the mirror's mark (the largest time it applied) moved past the first for good
    (a helper's review). The pages of one pass now keep the first page's horizon."""
    project_id = factory.project(workspace)
    first, second, third = bulk(
        client, owner_key, [item(project_id, i, description=f"v1 {i}") for i in range(3)]
    )
    query = f"updatedSince={quote(first['createdAt'])}&pageSize=1"
    mirror: dict[str, Json] = {}
    page = client.get(f"{BASE}?{query}", headers=owner_key.headers).json()
    assert [entry["id"] for entry in page["items"]] == [first["id"]]
    mirror.update((entry["id"], entry) for entry in page["items"])
    for entry in (first, third):
        changed = client.patch(
            f"{BASE}/{entry['id']}", json={"description": "v2"}, headers=owner_key.headers
        )
        assert changed.status_code == 200, changed.text
    while page["hasMore"]:
        url = f"{BASE}?{query}&cursor={page['nextCursor']}"
        page = client.get(url, headers=owner_key.headers).json()
        mirror.update((entry["id"], entry) for entry in page["items"])
    mark = max(entry["updatedAt"] for entry in mirror.values())

    # The mirror polls again, from its mark, until it has every change (a change reaches a sync
    # once the writes begun before it have finished: other requests', the usage recorder's).
    # Before the fix the mark had passed the first row's change, and no poll brought it.
    expected = {first["id"]: "v2", second["id"]: "v1 1", third["id"]: "v2"}
    deadline = time.monotonic() + 5
    while {entry["id"]: entry["description"] for entry in mirror.values()} != expected:
        assert time.monotonic() < deadline, mirror
        again = page_through(client, owner_key, f"updatedSince={quote(mark)}")
        mirror.update((entry["id"], entry) for entry in again)
        mark = max([mark, *(entry["updatedAt"] for entry in again)])
        time.sleep(0.05)


def test_a_cursor_continues_only_the_kind_of_list_it_was_made_for(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A sync's cursor sent without `updatedSince` listed changes made after its pass began,
    and a mirror that followed `nextCursor` alone lost changes under concurrent writes; a list's
    cursor sent with `updatedSince` took a new horizon on every page (a helper's audit)."""
    project_id = factory.project(workspace)
    first, _ = bulk(client, owner_key, [item(project_id, i) for i in range(2)])
    since = f"updatedSince={quote(first['createdAt'])}"
    sync = client.get(f"{BASE}?{since}&pageSize=1", headers=owner_key.headers).json()
    listing = client.get(f"{BASE}?pageSize=1", headers=owner_key.headers).json()

    for cursor, query in ((sync["nextCursor"], ""), (listing["nextCursor"], f"&{since}")):
        refused = client.get(f"{BASE}?cursor={cursor}{query}", headers=owner_key.headers)
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["error"]["errors"]
        assert error["field"] == "cursor"
        assert "updatedSince" in error["message"]
    # As its first page was asked: the pass goes on.
    again = client.get(f"{BASE}?cursor={sync['nextCursor']}&{since}", headers=owner_key.headers)
    assert again.status_code == 200
