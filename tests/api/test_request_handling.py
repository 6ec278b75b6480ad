"""How an API endpoint is called (api/routing.DirectCall): every API route takes the direct path,
and on it a request's body, path and dependencies are handled as FastAPI's own handler did —
the same order, the same statuses, the same error envelopes."""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import sqlite3
import time
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from billabled.api.platform import API_PREFIX
from billabled.api.routing import ApiRoute, directly_called
from billabled.app import create_app
from billabled.auth.scopes import Scope
from billabled.config import Settings
from billabled.http_protocol import BoundedHttpToolsProtocol
from tests.api.conftest import serve
from tests.api.test_usage import usage_rows
from tests.factories import Factory, Key, Workspace
from tests.support import postgres_test_url

CLIENTS = "/api/v1/clients"


def test_every_api_route_is_called_directly(api_app: FastAPI) -> None:
    api_routes = [
        route
        for route in api_app.routes
        if isinstance(route, ApiRoute) and route.path.startswith(API_PREFIX)
    ]
    assert len(api_routes) > 70
    called = set(directly_called(api_app.routes))
    assert {f"{','.join(sorted(r.methods))} {r.path}" for r in api_routes} <= called


def _post(
    client: TestClient, key: Key, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return client.post(CLIENTS, content=body, headers={**key.headers, "content-type": content_type})


def test_malformed_json_is_a_400_malformed_json(client: TestClient, owner_key: Key) -> None:
    response = _post(client, owner_key, b'{"name": "Acme", ')
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "\xff\xfe"}',
        b"[" * 100_000 + b"]" * 100_000,
        # Past Python's 4,300 digits for an integer (a helper's schemathesis run).
        b'{"name": "Big", "defaultHourlyRateMinor": ' + b"9" * 4301 + b"}",
        # UTF-16 and UTF-32 were guessed and taken, a UTF-8-encoded surrogate was a 422 (a
        # helper's schemathesis run): JSON is UTF-8 (RFC 8259 §8.1).
        '{"name": "UTF-16"}'.encode("utf-16"),
        '{"name": "UTF-32"}'.encode("utf-32"),
        b'{"name": "A\xed\xa0\x80B"}',
    ],
    ids=[
        "not UTF-8",
        "nested past the parser",
        "an integer too long to read",
        "UTF-16",
        "UTF-32",
        "an encoded surrogate",
    ],
)
def test_a_body_that_cannot_be_json_is_a_400_malformed_json(
    client: TestClient, owner_key: Key, body: bytes
) -> None:
    response = _post(client, owner_key, body)
    assert response.status_code == 400, response.text
    # Was `bad_request`, "There was an error parsing the body".
    assert response.json()["error"]["code"] == "malformed_json"


def test_a_body_led_by_a_byte_order_mark_is_read(client: TestClient, owner_key: Key) -> None:
    # RFC 8259 lets a parser ignore it, and files saved by Windows tools start with one: it was
    # refused as malformed once bodies were read as UTF-8 strictly (a helper's review).
    response = _post(client, owner_key, b'\xef\xbb\xbf{"name": "Byte order mark"}')
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Byte order mark"


def test_a_compressed_body_is_a_415(client: TestClient, owner_key: Key) -> None:
    body = gzip.compress(b'{"name": "Acme"}')
    headers = {**owner_key.headers, "content-type": "application/json", "content-encoding": "gzip"}
    response = client.post(CLIENTS, content=body, headers=headers)
    # Was a 400 `bad_request`: the gzip bytes were read as JSON.
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "gzip" in response.json()["error"]["message"]


def test_an_unknown_content_encoding_is_a_415_that_does_not_echo_it(
    client: TestClient, owner_key: Key
) -> None:
    headers = {**owner_key.headers, "content-type": "application/json"}
    headers["content-encoding"] = "sk_live_pasted_here"
    response = client.post(CLIENTS, content=b'{"name": "Acme"}', headers=headers)
    assert response.status_code == 415, response.text
    # Was quoted in the message (a helper's security audit).
    assert "sk_live" not in response.text


@pytest.mark.parametrize(
    ("method", "url", "body", "where", "field"),
    [
        ("POST", "/api/v1/tags", b'{"name": "a\\u0000b"}', "body", "name"),
        ("POST", CLIENTS, b'{"name": "Acme", "address": "\\u0000"}', "body", "address"),
        ("POST", "/api/v1/projects", b'{"tagIds": ["tag_\\u0000"]}', "body", "tagIds.0"),
        ("GET", f"{CLIENTS}/cli_%00", None, "path", "client_id"),
        ("GET", f"{CLIENTS}?externalRef=%00", None, "query", "externalRef"),
        ("GET", "/api/v1/time-entries?projectId=a%00b", None, "query", "projectId"),
    ],
)
def test_a_nul_character_anywhere_is_a_422_naming_where(
    client: TestClient,
    owner_key: Key,
    method: str,
    url: str,
    body: bytes | None,
    where: str,
    field: str,
) -> None:
    """PostgreSQL refuses U+0000 in text (a 500 before); SQLite kept it (a 201). Now both 422."""
    headers = {**owner_key.headers, "content-type": "application/json"}
    response = client.request(method, url, content=body, headers=headers)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["errors"]
    assert {"field": field, "in": where, "type": "string_nul"} in [
        {key: error[key] for key in ("field", "in", "type")} for error in errors
    ]


def test_a_backslash_before_u0000_is_text_not_a_nul(client: TestClient, owner_key: Key) -> None:
    response = _post(client, owner_key, b'{"name": "C:\\\\u0000"}')
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "C:\\u0000"


def test_a_cursor_holding_a_nul_is_a_422(client: TestClient, owner_key: Key) -> None:
    payload = b'{"s": "name", "v": "a\\u0000b", "i": "x"}'
    cursor = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    response = client.get(f"/api/v1/tags?sort=name&cursor={cursor}", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["field"] == "cursor"


def test_an_empty_body_is_a_422_naming_the_body(client: TestClient, owner_key: Key) -> None:
    response = _post(client, owner_key, b"")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"] == [
        {"field": None, "in": "body", "message": "Field required", "type": "missing"}
    ]


@pytest.mark.parametrize("body", [b"[]", b'"Acme"', b"null", b"42"])
def test_a_body_that_is_not_an_object_is_a_422(
    client: TestClient, owner_key: Key, body: bytes
) -> None:
    response = _post(client, owner_key, body)
    assert response.status_code == 422, response.text
    [error] = response.json()["error"]["errors"]
    assert error["in"] == "body"
    assert error["type"] == "model_attributes_type"


def test_fields_are_named_as_documented_only(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    # `project_id` was a second spelling of `projectId`, though docs/api.md names fields in
    # camelCase and refuses unknown ones; the query string already refused `user_id`.
    project = factory.project(workspace, factory.client(workspace))
    snake = {"project_id": project, "date": "2026-11-02", "duration_seconds": 60}
    created = client.post("/api/v1/time-entries", json=snake, headers=owner_key.headers)
    assert created.status_code == 422, created.text
    assert sorted((e["field"], e["type"]) for e in created.json()["error"]["errors"]) == [
        ("duration_seconds", "extra_forbidden"),
        ("projectId", "missing"),
        ("project_id", "extra_forbidden"),
    ]
    bulk = client.post(
        "/api/v1/time-entries/bulk", json={"items": [snake]}, headers=owner_key.headers
    )
    assert bulk.status_code == 422, bulk.text
    assert bulk.json()["error"]["code"] == "bulk_invalid"
    entry = factory.time_entry(workspace, project)
    patched = client.patch(
        f"/api/v1/time-entries/{entry}", json={"duration_seconds": 90}, headers=owner_key.headers
    )
    assert patched.status_code == 422, patched.text
    [error] = patched.json()["error"]["errors"]
    assert (error["field"], error["type"]) == ("duration_seconds", "extra_forbidden")


@pytest.mark.parametrize("where", ["/api/v1/clients/{key}", "/{key}", "/api/v1/me?{key}=1"])
@pytest.mark.parametrize("how", ["as issued", "prefix in capitals", "without its prefix"])
def test_a_key_put_where_it_does_not_belong_is_not_echoed_whole(
    client: TestClient, owner_key: Key, where: str, how: str
) -> None:
    # The logs cut it to its prefix; the answer's message or field named it whole (a helper's
    # secrets audit), and the logs a key with its prefix in capitals or left out.
    body = owner_key.raw[4:]
    sent = {"as issued": owner_key.raw, "prefix in capitals": f"BLB_{body}"}.get(how, body)
    response = client.get(where.format(key=sent), headers=owner_key.headers)
    assert response.status_code in (404, 422), response.text
    assert body not in response.text
    assert body[:8] in response.text


def test_a_json_media_type_with_a_suffix_and_parameters_is_json(
    client: TestClient, owner_key: Key
) -> None:
    response = _post(
        client, owner_key, b'{"name": "Acme"}', "Application/Vnd.Acme+JSON; charset=utf-8"
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("content_type", ["text/plain", "text/x+json", "application/jsonx"])
def test_a_body_of_another_media_type_is_415(
    client: TestClient, owner_key: Key, content_type: str
) -> None:
    response = _post(client, owner_key, b'{"name": "Acme"}', content_type)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_the_scope_is_checked_before_the_body_is_validated(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace, scopes=frozenset({Scope.READ_CLIENTS}))
    response = _post(client, key, b'{"name": ""}')
    assert response.status_code == 403, response.text
    assert response.json()["error"]["requiredScope"] == Scope.WRITE_CLIENTS.value


def test_a_path_id_and_a_body_that_fail_are_one_422_naming_both(
    client: TestClient, owner_key: Key
) -> None:
    response = client.patch(f"{CLIENTS}/{'c' * 65}", json={"name": ""}, headers=owner_key.headers)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["errors"]
    assert sorted((e["in"], e["field"]) for e in errors) == [
        ("body", "name"),
        ("path", "client_id"),
    ]


def test_another_workspaces_id_in_the_path_is_404(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    elsewhere = factory.workspace()
    created = client.post(CLIENTS, json={"name": "Theirs"}, headers=factory.key(elsewhere).headers)
    assert created.status_code == 201, created.text
    response = client.get(f"{CLIENTS}/{created.json()['id']}", headers=owner_key.headers)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.skipif(postgres_test_url() is not None, reason="SQLite's write lock")
def test_a_write_that_waits_out_the_lock_is_503_with_retry_after(
    client: TestClient, settings: Settings, owner_key: Key
) -> None:
    """Another process holding SQLite's write lock past the busy timeout: retry later."""
    path = make_url(settings.resolved_database_url).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = client.post(
            "/api/v1/clients", json={"name": "Locked"}, headers=owner_key.headers
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"
    retried = client.post("/api/v1/clients", json={"name": "Locked"}, headers=owner_key.headers)
    assert retried.status_code == 201


@pytest.mark.skipif(postgres_test_url() is None, reason="a connection lost at COMMIT: PostgreSQL")
def test_a_connection_lost_at_commit_is_503_and_writes_nothing(
    client: TestClient, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The database went away during COMMIT (a deferred trigger ends its own connection there):
    the answer was a 500 without Retry-After (a helper's failure audit); every other lost
    connection was already a 503. With an Idempotency-Key the retry then runs the request once."""
    name = f"commit-lost-{unique}"
    factory.sql(
        "CREATE FUNCTION end_own_connection() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
    )
    factory.sql(
        "CREATE CONSTRAINT TRIGGER end_connection_at_commit AFTER INSERT ON client"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
        f" WHEN (NEW.name = '{name}') EXECUTE FUNCTION end_own_connection()"
    )
    headers = {**owner_key.headers, "Idempotency-Key": name}
    try:
        response = client.post(CLIENTS, json={"name": name}, headers=headers)
    finally:
        factory.sql("DROP TRIGGER end_connection_at_commit ON client")
        factory.sql("DROP FUNCTION end_own_connection()")

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"
    assert "x-ratelimit-remaining" in response.headers
    assert factory.sql("SELECT id FROM client WHERE name = :name", name=name) == []
    retried = client.post(CLIENTS, json={"name": name}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert len(factory.sql("SELECT id FROM client WHERE name = :name", name=name)) == 1


def test_a_body_cut_short_by_the_client_runs_nothing(
    live_api: str, factory: Factory, owner_key: Key, unique: str
) -> None:
    """The client sent a whole JSON document but less than its Content-Length, and hung up: the
    disconnect was taken for the end of the body and the entries were created (a helper's failure
    audit). A request that never arrived whole is not run; its usage record says 499, as nginx
    logs a client that closed the request."""
    agent = f"cut-short/{unique}"
    body = json.dumps({"name": f"Cut short {unique}"}).encode()
    host, port = urlsplit(live_api).hostname, urlsplit(live_api).port
    assert host is not None
    assert port is not None
    with socket.create_connection((host, port)) as connection:
        connection.sendall(
            b"POST /api/v1/clients HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\nUser-Agent: {agent}\r\n".encode()
            + f"Content-Length: {len(body) + 100}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.2)  # the server has read what was sent and waits for the rest
    rows = usage_rows(factory, agent, 1)
    assert [(row.endpoint, row.status) for row in rows] == [("/api/v1/clients", 499)]
    assert factory.sql("SELECT id FROM client WHERE name = :n", n=f"Cut short {unique}") == []


def _connect(base: str) -> socket.socket:
    """A raw connection to the server at `base`, to send what an HTTP client would not."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    assert host is not None
    assert port is not None
    return socket.create_connection((host, port), timeout=10)


def test_a_body_that_does_not_arrive_in_time_is_a_408(
    settings: Settings, factory: Factory, owner_key: Key, unique: str
) -> None:
    """A body sent a byte every few seconds held its request (and its connection) forever (a
    helper's failure audit); nothing of it is run."""
    name = f"Slow body {unique}"
    body = json.dumps({"name": name}).encode()
    quick = Settings(**{**settings.model_dump(), "request_read_timeout_seconds": 1})
    with serve(create_app(quick)) as base, _connect(base) as connection:
        connection.sendall(
            b"POST /api/v1/clients HTTP/1.1\r\nHost: test\r\n"
            + b"Content-Type: application/json\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        started = time.monotonic()
        answer = connection.recv(65536)
        waited = time.monotonic() - started
        # And the connection is closed: it was kept, reading the rest of the body for as
        # long as the client sent it (a helper's review).
        assert connection.recv(65536) == b""
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert b"x-ratelimit-limit" in answer.lower()
    assert waited < 5
    assert factory.sql("SELECT id FROM client WHERE name = :n", n=name) == []


def test_a_body_declared_too_large_is_a_413_before_it_is_sent(
    settings: Settings, owner_key: Key
) -> None:
    """A client that waits for `100 Continue` before sending `Content-Length: 999999999` was
    made to wait for the read timeout (60 s), then a 408 (a helper's schemathesis run). Now
    refused at once (the socket gives up after 10 s), and the connection closed."""
    with serve(create_app(settings)) as base, _connect(base) as connection:
        connection.sendall(
            b"POST /api/v1/clients HTTP/1.1\r\nHost: test\r\n"
            + b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\nContent-Length: 999999999\r\n\r\n".encode()
        )
        answer = connection.recv(65536)
        assert connection.recv(65536) == b""
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("request_line", "status"),
    [(b"POST /api/v1/clinets", b"404"), (b"PUT /api/v1/clients", b"405")],
)
def test_a_body_declared_too_large_for_a_wrong_path_is_its_404_and_the_connection_closed(
    settings: Settings, owner_key: Key, request_line: bytes, status: bytes
) -> None:
    """The wrong path is named first, and the connection still closed: the client may send
    its body, which was otherwise read to the end (200 MB) and thrown away (a helper's
    review)."""
    with serve(create_app(settings)) as base, _connect(base) as connection:
        connection.sendall(
            request_line
            + b" HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + b"Expect: 100-continue\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\nContent-Length: 999999999\r\n\r\n".encode()
        )
        answer = connection.recv(65536)
        assert connection.recv(65536) == b""
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer[:200]
    assert b"\r\nconnection: close\r\n" in answer.lower()


def test_a_body_sent_whole_over_the_limit_is_answered_413_not_reset(
    settings: Settings, owner_key: Key
) -> None:
    """A client that sends its whole body before reading (urllib, a raw socket) must get the
    413. Refused at once and closed with the body unread, it got a reset instead (a helper's
    review of the early 413)."""
    small = Settings(**{**settings.model_dump(), "max_request_body_bytes": 64 * 1024})
    body = b'{"name": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    with serve(create_app(small)) as base, _connect(base) as connection:
        connection.sendall(
            b"POST /api/v1/clients HTTP/1.1\r\nHost: test\r\n"
            + b"Content-Type: application/json\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = connection.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_bytes_that_are_not_http_inside_a_body_end_its_request_at_once(
    settings: Settings, factory: Factory, owner_key: Key, unique: str
) -> None:
    """A chunked body whose next chunk is not one: the 400 waited until the request being read
    had given up on its body, a minute later (a helper's review). Nothing of it is run."""
    name = f"Broken chunk {unique}"
    first = json.dumps({"name": name}).encode()[:6]
    with (
        serve(create_app(settings), http=BoundedHttpToolsProtocol) as base,
        _connect(base) as connection,
    ):
        connection.sendall(
            b"POST /api/v1/clients HTTP/1.1\r\nHost: test\r\n"
            + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            + f"X-Api-Key: {owner_key.raw}\r\n\r\n".encode()
            + f"{len(first):x}\r\n".encode()
            + first
            + b"\r\n"
        )
        time.sleep(0.2)  # the request runs, waiting for the rest of its body
        started = time.monotonic()
        connection.sendall(b"not a chunk size\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "malformed_request"
    assert waited < 5
    assert factory.sql("SELECT id FROM client WHERE name = :n", n=name) == []


def test_bytes_that_are_not_http_in_a_body_the_request_does_not_read_follow_its_answer(
    settings: Settings, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A DELETE does not read a body: broken chunks after it were answered 400 at once while the
    delete ran and committed (a helper's review). Its answer comes first, then the 400."""
    client_id = factory.client(workspace, "Doomed")
    with (
        serve(create_app(settings), http=BoundedHttpToolsProtocol) as base,
        _connect(base) as connection,
    ):
        connection.sendall(
            f"DELETE /api/v1/clients/{client_id} HTTP/1.1\r\nHost: test\r\n".encode()
            + f"X-Api-Key: {owner_key.raw}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"2\r\n{}\r\nnot a chunk size\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    assert statuses == [204, 400], answer[:400]
    assert factory.sql("SELECT id FROM client WHERE id = :id", id=client_id) == []


def test_head_is_get_without_the_body(
    live_api: str, owner_key: Key, factory: Factory, workspace: Workspace
) -> None:
    """RFC 9110 §9.1: a server supports GET and HEAD; uptime checks and SDKs probe with HEAD,
    which was a 405 whose `Allow` named GET."""
    factory.client(workspace, name="Head Start")
    for path, headers in (
        ("/api/v1/clients", owner_key.headers),
        ("/api/v1/me", owner_key.headers),
        ("/api/v1/openapi.json", {}),
        ("/readyz", {}),
        ("/docs", {}),
    ):
        get = httpx.get(live_api + path, headers=headers)
        head = httpx.head(live_api + path, headers=headers)
        assert (get.status_code, head.status_code) == (200, 200), path
        assert head.content == b"", path
        for name in ("content-type", "content-length", "x-total-count"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)
    # A key is needed as for GET, and a HEAD counts as a request like any other.
    assert httpx.head(live_api + "/api/v1/clients").status_code == 401
    head = httpx.head(live_api + "/api/v1/me", headers=owner_key.headers)
    assert "x-ratelimit-remaining" in head.headers
