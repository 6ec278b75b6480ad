"""The list helper, on /users: envelope, limits, sorting, cursors, updatedSince, tombstones."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from billabled.models.membership import Role
from tests.factories import Factory, Key, Workspace


@pytest.fixture
def crowded(factory: Factory) -> tuple[Workspace, Key, list[str]]:
    """A workspace with its owner and 24 more members."""
    workspace = factory.workspace()
    emails = [workspace.owner_email]
    emails += [factory.member(workspace, Role.MEMBER, name=f"Person {i:02d}") for i in range(24)]
    return workspace, factory.key(workspace), emails


def test_page_envelope_and_total_count(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    _, key, _ = crowded
    response = client.get("/api/v1/users?page=2&pageSize=10", headers=key.headers)
    assert response.status_code == 200
    body = response.json()
    assert response.headers["x-total-count"] == "25"
    assert (body["totalCount"], body["page"], body["pageSize"], body["hasMore"]) == (
        25,
        2,
        10,
        True,
    )
    assert len(body["items"]) == 10
    assert body["nextCursor"]
    last = client.get("/api/v1/users?page=3&pageSize=10", headers=key.headers).json()
    assert (len(last["items"]), last["hasMore"], last["nextCursor"]) == (5, False, None)


def cursor_of(created_at: str) -> str:
    """A cursor of the default order encoded as the API encodes one, at any `created_at`."""
    payload = {"s": "createdAt", "v": created_at, "i": "usr_x"}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pageSize=201", "pageSize"),
        ("pageSize=0", "pageSize"),
        ("page=0", "page"),
        # Python's int() read these: `1_0` was page 10 (a helper's schemathesis run).
        ("page=1_0", "page"),
        ("page=%2B1", "page"),
        ("page=%201", "page"),
        ("pageSize=20.0", "pageSize"),
        ("pageSize=%D9%A3", "pageSize"),  # an Arabic-Indic three
        ("cursor=%%%not-base64", "cursor"),
        ("cursor=eyJub3QiOiAiYSBjdXJzb3IifQ", "cursor"),
        ("sort=password", "sort"),
        ("sort=--createdAt", "sort"),  # was read as -createdAt
        # Only the reference's values: were read as createdAt (a helper's schemathesis run).
        ("sort=", "sort"),
        ("sort=%20createdAt", "sort"),
        ("sort=createdAt%20", "sort"),
        # Times are text: Unix times were taken.
        ("updatedSince=1700000000", "updatedSince"),
        ("updatedSince=0.5", "updatedSince"),
        ("updatedSince=yesterday", "updatedSince"),
        ("updatedSince=2026-01-01T00:00:00", "updatedSince"),
        ("updatedSince=2026-01-01T00:00Z", "updatedSince"),  # not RFC 3339: was taken
        ("updatedSince=2026-01-01T00:00:00%2B0100", "updatedSince"),
        # Before the first or after the last moment a timestamp holds, once in UTC: were 500s.
        ("updatedSince=0001-01-01T00:00:00%2B01:00", "updatedSince"),
        ("updatedSince=9999-12-31T23:00:00-05:00", "updatedSince"),
        # Cursors are opaque, but a made-up one is still the caller's mistake: were 500s.
        (
            f"cursor={cursor_of('2026-01-01T00:00:00')}",
            "cursor",
        ),
        (
            f"cursor={cursor_of('0001-01-01T00:00:00+01:00')}",
            "cursor",
        ),
        ("role=boss", "role"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_field(
    client: TestClient, owner_key: Key, query: str, field: str
) -> None:
    response = client.get(f"/api/v1/users?{query}", headers=owner_key.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert [e["field"] for e in error["errors"]] == [field]
    assert error["errors"][0]["in"] == "query"


def test_an_unknown_parameter_is_a_422_naming_it(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    """A misspelt filter was ignored, and the list came back unfiltered: `user_id=` for
    `userId=` listed everyone's time as if it were one person's."""
    _, key, _ = crowded
    response = client.get(
        "/api/v1/users?role=member&page_size=9&Role=admin&colour=", headers=key.headers
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["in"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("page_size", "query", "extra_forbidden"),
        ("Role", "query", "extra_forbidden"),
        ("colour", "query", "extra_forbidden"),
    ]


def test_a_repeated_parameter_counts_by_its_last_value(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    _, key, _ = crowded
    response = client.get("/api/v1/users?pageSize=500&pageSize=3&role=member", headers=key.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pageSize"] == 3
    assert len(body["items"]) == 3
    assert {item["role"] for item in body["items"]} == {"member"}


def _walk(client: TestClient, key: Key, query: str) -> list[str]:
    ids: list[str] = []
    response = client.get(f"/api/v1/users?{query}", headers=key.headers).json()
    ids += [item["id"] for item in response["items"]]
    while response["nextCursor"]:
        response = client.get(
            f"/api/v1/users?{query}&cursor={response['nextCursor']}", headers=key.headers
        ).json()
        assert response["totalCount"] is None  # cursor pages skip the count
        assert response["page"] is None
        ids += [item["id"] for item in response["items"]]
    return ids


@pytest.mark.parametrize("sort", ["createdAt", "-createdAt", "name", "-email", "updatedAt"])
def test_cursor_paging_returns_each_record_exactly_once_in_order(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]], sort: str
) -> None:
    _, key, _ = crowded
    everything = client.get(f"/api/v1/users?pageSize=200&sort={sort}", headers=key.headers).json()
    expected = [item["id"] for item in everything["items"]]
    assert len(expected) == 25
    assert _walk(client, key, f"pageSize=4&sort={sort}") == expected


def test_sort_descending_reverses_the_order(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    _, key, _ = crowded
    names = [
        u["name"]
        for u in client.get("/api/v1/users?pageSize=200&sort=-name", headers=key.headers).json()[
            "items"
        ]
    ]
    assert names == sorted(names, reverse=True)


def test_a_cursor_made_for_another_sort_is_refused(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    _, key, _ = crowded
    cursor = client.get("/api/v1/users?pageSize=3&sort=name", headers=key.headers).json()[
        "nextCursor"
    ]
    response = client.get(
        f"/api/v1/users?pageSize=3&sort=email&cursor={cursor}", headers=key.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "cursor"


def test_page_and_cursor_together_are_refused(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]]
) -> None:
    """The cursor decides where a page starts: `page` beside it was ignored without a word."""
    _, key, _ = crowded
    cursor = client.get("/api/v1/users?pageSize=3", headers=key.headers).json()["nextCursor"]
    response = client.get(f"/api/v1/users?pageSize=3&page=3&cursor={cursor}", headers=key.headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["error"]["errors"]
    assert (error["field"], error["in"]) == ("page", "query")
    assert "not both" in error["message"]


def test_an_offset_whose_plus_became_a_space_says_so(client: TestClient, owner_key: Key) -> None:
    # `updatedSince=2026-01-01T00:00:00+01:00` sent unencoded: the `+` arrives as a space.
    response = client.get(
        "/api/v1/users?updatedSince=2026-01-01T00:00:00+01:00", headers=owner_key.headers
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["error"]["errors"]
    assert error["field"] == "updatedSince"
    assert "%2B" in error["message"]
    encoded = client.get(
        "/api/v1/users?updatedSince=2026-01-01T00:00:00%2B01:00", headers=owner_key.headers
    )
    assert encoded.status_code == 200, encoded.text


def test_a_cursor_made_for_another_list_is_refused(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]], factory: Factory
) -> None:
    """It was taken, and paged the other list from wherever its values fell (a helper's docs
    audit). A cursor made before lists were named in cursors is still taken (`cursor_of`)."""
    workspace, key, _ = crowded
    for n in range(3):
        factory.client(workspace, name=f"Client {n}")
    cursor = client.get("/api/v1/users?pageSize=3", headers=key.headers).json()["nextCursor"]
    response = client.get(f"/api/v1/clients?pageSize=3&cursor={cursor}", headers=key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "cursor"
    assert "another list" in response.json()["error"]["errors"][0]["message"]
    assert client.get(f"/api/v1/users?cursor={cursor}", headers=key.headers).status_code == 200
    legacy = cursor_of("2000-01-01T00:00:00+00:00")
    following = client.get(f"/api/v1/users?pageSize=200&cursor={legacy}", headers=key.headers)
    assert following.status_code == 200, following.text
    assert len(following.json()["items"]) == 25


@pytest.mark.parametrize(
    ("horizon", "status"),
    [
        ("0001-01-01T00:00:00+05:00", 422),  # out of range in UTC: was a 500
        ("9999-12-31T23:59:59-05:00", 422),  # out of range in UTC too
        ("9000-01-01T00:00:00+00:00", 200),  # later than now: held to now
        ("not a time", 422),
        (12, 422),
    ],
)
def test_a_forged_sync_horizon_in_a_cursor_is_refused_or_held_to_now(
    client: TestClient, crowded: tuple[Workspace, Key, list[str]], horizon: object, status: int
) -> None:
    """A sync's cursor carries its first page's horizon ("h"); a forged one was bound as it
    came, and a year out of range in UTC was a 500 (a helper's review)."""
    _, key, _ = crowded
    payload = {"t": "user_account", "s": "updatedAt", "v": "2000-01-01T00:00:00+00:00"}
    cursor = {**payload, "i": "usr_x", "h": horizon}
    encoded = base64.urlsafe_b64encode(json.dumps(cursor).encode()).rstrip(b"=").decode()
    response = client.get(
        f"/api/v1/users?includeDeleted=true&cursor={encoded}", headers=key.headers
    )
    assert response.status_code == status, response.text


def test_updated_since_with_include_deleted_replays_creates_updates_and_deletes(
    client: TestClient, factory: Factory
) -> None:
    workspace = factory.workspace()
    key = factory.key(workspace)
    kept = factory.member(workspace, Role.MEMBER)
    changed = factory.member(workspace, Role.MEMBER)
    removed = factory.member(workspace, Role.MEMBER)
    time.sleep(0.01)
    since = datetime.now(UTC)
    time.sleep(0.01)
    added = factory.member(workspace, Role.MEMBER)
    factory.set_role(workspace, changed, Role.MANAGER)
    factory.remove(workspace, removed)

    def ids_by_email(emails: list[str]) -> dict[str, str]:
        items = client.get("/api/v1/users?pageSize=200", headers=key.headers).json()["items"]
        return {u["email"]: u["id"] for u in items if u["email"] in emails}

    live = ids_by_email([kept, changed, added])
    params = {"updatedSince": since.isoformat(), "includeDeleted": "true", "pageSize": "1"}
    seen: list[dict[str, object]] = []
    response = client.get("/api/v1/users", params=params, headers=key.headers).json()
    seen += response["items"]
    while response["nextCursor"]:
        response = client.get(
            "/api/v1/users",
            params={**params, "cursor": response["nextCursor"]},
            headers=key.headers,
        ).json()
        seen += response["items"]

    by_id = {item["id"]: item for item in seen}
    assert live[kept] not in by_id  # unchanged since
    assert by_id[live[added]]["role"] == "member"
    assert by_id[live[changed]]["role"] == "manager"
    tombstones = [item for item in seen if item.get("deleted")]
    assert len(tombstones) == 1
    assert set(tombstones[0]) == {"id", "deleted", "deletedAt"}
    assert len(seen) == 3
    # Oldest change first: the mirror can apply them in order.
    stamps = [item.get("updatedAt") or item.get("deletedAt") for item in seen]
    assert stamps == sorted(stamps)  # type: ignore[type-var]


def test_include_deleted_without_updated_since_lists_all_with_tombstones(
    client: TestClient, factory: Factory
) -> None:
    workspace = factory.workspace()
    key = factory.key(workspace)
    gone = factory.member(workspace, Role.MEMBER)
    factory.remove(workspace, gone)
    body = client.get("/api/v1/users?includeDeleted=true", headers=key.headers).json()
    assert body["totalCount"] == 2
    assert sum(1 for item in body["items"] if item.get("deleted")) == 1


def test_include_deleted_only_orders_by_update_time(client: TestClient, owner_key: Key) -> None:
    response = client.get("/api/v1/users?includeDeleted=true&sort=name", headers=owner_key.headers)
    assert response.status_code == 422
    assert response.json()["error"]["errors"][0]["field"] == "sort"


def test_a_removed_and_re_added_member_is_live_again(client: TestClient, factory: Factory) -> None:
    workspace = factory.workspace()
    key = factory.key(workspace)
    email = factory.member(workspace, Role.MEMBER)
    factory.remove(workspace, email)
    from billabled.audit.service import SYSTEM
    from billabled.user.service import add_member

    async def readd(session: object) -> None:
        await add_member(
            session, workspace_id=workspace.id, email=email, role=Role.MEMBER, actor=SYSTEM
        )  # type: ignore[arg-type]

    factory.in_transaction(readd)
    body = client.get("/api/v1/users?includeDeleted=true", headers=key.headers).json()
    assert not [item for item in body["items"] if item.get("deleted")]
    assert body["totalCount"] == 2
