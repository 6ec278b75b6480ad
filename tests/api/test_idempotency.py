"""Idempotency-Key on POST: replay, mismatch, in progress, races — on both backends."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from billabled.app import create_app
from billabled.auth.scopes import Scope
from billabled.config import Settings
from billabled.models.membership import Role
from tests.api.conftest import add_test_routes, serve, things_created
from tests.factories import Factory, Key, Workspace
from tests.support import postgres_test_url

URL = "/api/v1/_test/things"


def post(api: TestClient, key: Key, body: dict[str, object], idem: str | None) -> object:
    headers = dict(key.headers)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return api.post(URL, json=body, headers=headers)


def test_a_retry_replays_the_first_response_byte_for_byte(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    first = api.post(
        URL, json={"name": "x"}, headers={**owner_key.headers, "Idempotency-Key": unique}
    )
    again = api.post(
        URL, json={"name": "x"}, headers={**owner_key.headers, "Idempotency-Key": unique}
    )
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == "application/json"
    assert again.headers["x-ratelimit-remaining"]  # a replay is still an authenticated response
    assert things_created(factory, workspace) == 1


def test_without_the_header_each_post_creates(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    for _ in range(2):
        assert api.post(URL, json={"name": "x"}, headers=owner_key.headers).status_code == 201
    assert things_created(factory, workspace) == 2


def test_the_same_key_with_another_body_is_a_mismatch(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    assert api.post(URL, json={"name": "x"}, headers=headers).status_code == 201
    response = api.post(URL, json={"name": "y"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_mismatch"
    assert things_created(factory, workspace) == 1


def test_keys_are_scoped_to_the_api_key(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    other_key = factory.key(workspace, name="second")
    for key in (owner_key, other_key):
        response = api.post(
            URL, json={"name": "x"}, headers={**key.headers, "Idempotency-Key": unique}
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
    assert things_created(factory, workspace) == 2


def test_a_concurrent_duplicate_is_409_in_progress(
    live_api: str, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    results: dict[str, httpx.Response] = {}

    def slow() -> None:
        results["slow"] = httpx.post(
            live_api + URL, json={"name": "x", "sleep": 1.0}, headers=headers, timeout=30
        )

    thread = threading.Thread(target=slow)
    thread.start()
    # Wait until the slow request holds the claim, then send the duplicate.
    deadline = time.monotonic() + 10
    while not factory.sql("SELECT state FROM idempotency_record WHERE key = :k", k=unique):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    duplicate = httpx.post(
        live_api + URL, json={"name": "x", "sleep": 1.0}, headers=headers, timeout=30
    )
    thread.join()
    assert results["slow"].status_code == 201
    if factory.database.is_sqlite:
        # SQLite has one writer: the duplicate's claim waits for the first request to commit,
        # then finds its response and replays it.
        assert duplicate.status_code == 201
        assert duplicate.headers["idempotent-replayed"] == "true"
        assert duplicate.content == results["slow"].content
    else:
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["code"] == "idempotency_in_progress"
        assert duplicate.headers["retry-after"] == "1"
    assert things_created(factory, workspace) == 1


def racing_posts(live_api: str, headers: dict[str, str], racers: int = 6) -> list[httpx.Response]:
    """The answers to `racers` identical slow POSTs sent at once."""
    barrier = threading.Barrier(racers)
    responses: list[httpx.Response] = []

    def race() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            responses.append(
                http.post(live_api + URL, json={"name": "race", "sleep": 0.3}, headers=headers)
            )

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def assert_one_ran(responses: list[httpx.Response]) -> None:
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    fresh = [
        r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(fresh) == 1, statuses  # exactly one request ran; the rest were refused or replays
    assert {r.json()["id"] for r in responses if r.status_code == 201} == {fresh[0].json()["id"]}


def test_two_racing_identical_posts_create_one_record(
    live_api: str, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    assert_one_ran(racing_posts(live_api, headers))
    assert things_created(factory, workspace) == 1


def test_an_expired_key_reused_by_racing_posts_runs_one_of_them(
    live_api: str, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    first = httpx.post(live_api + URL, json={"name": "first"}, headers=headers, timeout=30)
    assert first.status_code == 201, first.text
    # Past the 24 hours the key is kept: it may be used afresh, by one request.
    then = datetime.now(UTC) - timedelta(days=2)
    if factory.database.is_sqlite:  # stored as the app stores it: naive UTC text
        then = then.replace(tzinfo=None)
    factory.sql(
        "UPDATE idempotency_record SET created_at = :then WHERE key = :k", then=then, k=unique
    )

    # Before, each racer that read the expired record claimed it: several ran.
    assert_one_ran(racing_posts(live_api, headers))
    assert things_created(factory, workspace) == 2


def test_a_refusal_is_replayed_and_changes_nothing(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    first = api.post(URL, json={"name": "x", "outcome": "conflict"}, headers=headers)
    again = api.post(URL, json={"name": "x", "outcome": "conflict"}, headers=headers)
    assert first.status_code == again.status_code == 409
    assert first.json()["error"]["code"] == "thing_refused"
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert things_created(factory, workspace) == 0  # the flushed event was rolled back


def test_a_server_error_releases_the_key_so_a_retry_runs(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    crashed = api.post(URL, json={"name": "x", "outcome": "crash"}, headers=headers)
    assert crashed.status_code == 500
    assert things_created(factory, workspace) == 0
    # Same key, different body is allowed now: the first attempt left nothing behind.
    retried = api.post(URL, json={"name": "x"}, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert things_created(factory, workspace) == 1


def test_an_overlong_key_is_refused(api: TestClient, owner_key: Key) -> None:
    response = api.post(
        URL, json={"name": "x"}, headers={**owner_key.headers, "Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert response.json()["error"]["errors"][0]["type"] == "length"


@pytest.mark.parametrize("cut", [0, 4])  # the whole key, or its body and checksum alone
def test_an_api_key_sent_as_the_idempotency_key_is_refused(
    api: TestClient, factory: Factory, owner_key: Key, cut: int
) -> None:
    # It was stored as sent (a helper's secrets audit).
    sent = f"retry-{owner_key.raw[cut:]}"
    response = api.post(
        URL, json={"name": "x"}, headers={**owner_key.headers, "Idempotency-Key": sent}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["type"] == "api_key"
    assert factory.sql("SELECT count(*) FROM idempotency_record WHERE key = :k", k=sent)[0][0] == 0


def test_a_key_with_characters_that_do_not_print_is_refused_as_such(
    api: TestClient, owner_key: Key
) -> None:
    # Was reported as a length problem, which it is not.
    headers = {**owner_key.headers, "Idempotency-Key": b"order-\x85-1"}
    response = api.post(URL, json={"name": "x"}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["type"] == "characters"
    # Beyond ASCII, refused whatever its bytes: "ké" was taken and "ключ" refused, as their
    # UTF-8 bytes fell outside or inside 0x80-0x9F once read as Latin-1.
    for key in ("k\u00e9", "\u043a\u043b\u044e\u0447"):
        headers = {**owner_key.headers, "Idempotency-Key": key.encode()}
        response = api.post(URL, json={"name": "x"}, headers=headers)
        assert response.status_code == 422, (key, response.text)
        assert response.json()["error"]["errors"][0]["type"] == "characters"
    pattern = api.get("/api/v1/openapi.json").json()["components"]["parameters"]["IdempotencyKey"][
        "schema"
    ]["pattern"]
    assert pattern == "^[\\x20-\\x7e]+$"


def test_a_crash_is_a_500_envelope_with_rate_limit_headers(api: TestClient, owner_key: Key) -> None:
    response = api.post(URL, json={"name": "x", "outcome": "crash"}, headers=owner_key.headers)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["requestId"] == response.headers["x-request-id"]
    assert "crashed on purpose" not in response.text
    assert response.headers["x-ratelimit-limit"] == "1000"


def _leave_claim(factory: Factory, key: str, seconds_ago: float) -> None:
    """Turn the key's stored response back into a claim in progress made `seconds_ago`: what a
    process killed mid-request leaves."""
    then = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    if factory.database.is_sqlite:  # stored as the app stores it: naive UTC text
        then = then.replace(tzinfo=None)
    factory.sql(
        "UPDATE idempotency_record SET state = 'in_progress', created_at = :then,"
        " response_status = NULL, response_headers = NULL, response_body = NULL WHERE key = :k",
        then=then,
        k=key,
    )


def test_a_claim_left_by_a_crashed_process_is_taken_over_after_its_time(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    """A process killed mid-request left its claim in progress, and every retry was 409 for
    five minutes (a helper's operations audit). Now for `idempotency_claim_seconds` (30)."""
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    assert api.post(URL, json={"name": "x"}, headers=headers).status_code == 201

    _leave_claim(factory, unique, seconds_ago=5)
    young = api.post(URL, json={"name": "x"}, headers=headers)
    assert young.status_code == 409, young.text
    assert young.json()["error"]["code"] == "idempotency_in_progress"
    assert young.headers["retry-after"] == "1"

    _leave_claim(factory, unique, seconds_ago=31)
    retried = api.post(URL, json={"name": "x"}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = api.post(URL, json={"name": "x"}, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == retried.content
    assert things_created(factory, workspace) == 2  # the first, and the retry of the "crash"


@pytest.mark.skipif(
    postgres_test_url() is None, reason="concurrent writers: PostgreSQL (CI's second pass)"
)
def test_a_request_that_outlives_its_claim_rolls_back_and_the_retry_counts(
    settings: Settings, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    """A retry may take over a claim past its time while the first request is in fact still
    running: the first must not commit too, or the key would have run twice."""
    app = create_app(settings.model_copy(update={"idempotency_claim_seconds": 1.0}))
    add_test_routes(app)
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    body = {"name": "slow", "sleep": 2.0}
    answers: dict[str, httpx.Response] = {}
    with serve(app) as url:

        def first() -> None:
            answers["first"] = httpx.post(url + URL, json=body, headers=headers, timeout=30)

        thread = threading.Thread(target=first)
        thread.start()
        time.sleep(1.3)  # the first holds its claim past its 1 s, and is still running
        answers["retry"] = httpx.post(url + URL, json=body, headers=headers, timeout=30)
        thread.join()
        again = httpx.post(url + URL, json=body, headers=headers, timeout=30)

    assert answers["retry"].status_code == 201, answers["retry"].text
    assert answers["first"].status_code == 409, answers["first"].text
    assert answers["first"].json()["error"]["code"] == "idempotency_in_progress"
    assert answers["first"].headers["retry-after"] == "1"
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == answers["retry"].content
    assert things_created(factory, workspace) == 1


# --- the caller's permissions now, not when the key was first used (SPEC §4) ----------------------


def test_a_replay_is_refused_to_a_creator_demoted_below_what_the_request_needed(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    admin = factory.member(workspace, Role.ADMIN)
    key = factory.key(workspace, email=admin)
    headers = {**key.headers, "Idempotency-Key": "create-acme"}
    created = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert created.status_code == 201

    factory.set_role(workspace, admin, Role.MEMBER)
    replayed = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    # As a fresh request would be: the stored 201 (and the record in it) is not handed out.
    assert replayed.status_code == 403
    assert replayed.json()["error"]["requiredScope"] == "write:clients"
    assert "idempotent-replayed" not in replayed.headers
    assert len(factory.sql("SELECT id FROM client WHERE workspace_id = :w", w=workspace.id)) == 1

    factory.set_role(workspace, admin, Role.ADMIN)  # promoted back: the stored answer again
    again = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == created.content


def test_a_replay_of_time_logged_for_someone_else_is_refused_once_the_creator_is_a_member(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    manager = factory.member(workspace, Role.MANAGER)
    someone = factory.user_id(workspace, factory.member(workspace, Role.MEMBER))
    project = factory.project(workspace)
    key = factory.key(workspace, email=manager, scopes=frozenset({Scope.WRITE_TIME}))
    body = {"userId": someone, "projectId": project, "date": "2026-12-04", "durationSeconds": 120}
    headers = {**key.headers, "Idempotency-Key": "log-for-someone"}
    assert client.post("/api/v1/time-entries", json=body, headers=headers).status_code == 201

    factory.set_role(workspace, manager, Role.MEMBER)  # write:time stays; others' time does not
    replayed = client.post("/api/v1/time-entries", json=body, headers=headers)
    assert replayed.status_code == 403
    assert replayed.json()["error"]["code"] == "forbidden_user"
    assert "rateMinor" not in replayed.text

    # Time for themselves is still theirs to replay.
    mine = {**body, "userId": factory.user_id(workspace, manager)}
    own_headers = {**key.headers, "Idempotency-Key": "log-for-me"}
    factory.set_role(workspace, manager, Role.MANAGER)
    first = client.post("/api/v1/time-entries", json=mine, headers=own_headers)
    factory.set_role(workspace, manager, Role.MEMBER)
    again = client.post("/api/v1/time-entries", json=mine, headers=own_headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"


def test_a_refusal_for_the_callers_permissions_is_not_kept_so_a_promotion_lets_the_retry_run(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    manager = factory.member(workspace, Role.MANAGER)
    key = factory.key(workspace, email=manager, scopes=frozenset({Scope.WRITE_CLIENTS}))
    factory.set_role(workspace, manager, Role.MEMBER)
    headers = {**key.headers, "Idempotency-Key": "acme-later"}
    refused = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert refused.status_code == 403

    factory.set_role(workspace, manager, Role.MANAGER)
    created = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert created.status_code == 201
    assert "idempotent-replayed" not in created.headers
    again = client.post("/api/v1/clients", json={"name": "Acme"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == created.content


@pytest.mark.parametrize("recorded", ["write:invoices", "write:something-to-come"])
def test_a_replay_the_key_may_not_have_never_runs_the_request_again(
    api: TestClient, factory: Factory, workspace: Workspace, unique: str, recorded: str
) -> None:
    # A record relying on a scope the route does not check (or one this release does not know):
    # the route's checks let the request through, and the safeguard rolls it back.
    key = factory.key(workspace, scopes=frozenset({Scope.WRITE_CLIENTS}))
    headers = {**key.headers, "Idempotency-Key": unique}
    assert api.post(URL, json={"name": "x"}, headers=headers).status_code == 201
    factory.sql(
        "UPDATE idempotency_record SET relied_on = :needs WHERE key = :k",
        needs=f'["write:clients", "{recorded}"]',
        k=unique,
    )
    refused = api.post(URL, json={"name": "x"}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert things_created(factory, workspace) == 1


def test_a_refusal_kept_for_someone_elses_time_is_not_replayed_once_the_creator_is_a_member(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    # A 422 is kept, with what the request relied on: a manager's right to others' time.
    manager = factory.member(workspace, Role.MANAGER)
    someone = factory.user_id(workspace, factory.member(workspace, Role.MEMBER))
    key = factory.key(workspace, email=manager, scopes=frozenset({Scope.WRITE_TIME}))
    body = {"userId": someone, "projectId": "proj_nope", "date": "2026-12-04", "durationSeconds": 9}
    headers = {**key.headers, "Idempotency-Key": "refused-for-someone"}
    assert client.post("/api/v1/time-entries", json=body, headers=headers).status_code == 422
    factory.set_role(workspace, manager, Role.MEMBER)
    again = client.post("/api/v1/time-entries", json=body, headers=headers)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "forbidden_user"


def test_a_403_kept_by_an_earlier_release_lets_the_retry_run(
    api: TestClient, factory: Factory, workspace: Workspace, owner_key: Key, unique: str
) -> None:
    # Releases before 0014 kept 403s (and a process of one may still, during a rolling deploy).
    headers = {**owner_key.headers, "Idempotency-Key": unique}
    assert api.post(URL, json={"name": "x", "outcome": "conflict"}, headers=headers).status_code
    factory.sql(
        "UPDATE idempotency_record SET response_status = 403, relied_on = NULL WHERE key = :k",
        k=unique,
    )
    retried = api.post(URL, json={"name": "x", "outcome": "conflict"}, headers=headers)
    assert retried.status_code == 409  # ran again: the refusal it gives now, not the old 403
    assert "idempotent-replayed" not in retried.headers
    replayed = api.post(URL, json={"name": "x", "outcome": "conflict"}, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
