"""Every error leaves as the envelope with the right status, a request id, and no internals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from billabled.app import create_app
from billabled.config import Settings
from billabled.errors import Conflict
from billabled.kit.apikeys import generate_key
from tests.factories import Key


class Thing(BaseModel):
    name: str = Field(min_length=1)
    count: int


class ThingLocked(Conflict):
    code = "thing_locked"


@pytest.fixture(scope="module")
def raising_client(settings: Settings) -> Iterator[TestClient]:
    """The real app plus a few routes that fail on purpose."""
    app = create_app(settings)

    @app.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM user_account")

    @app.post("/_test/things")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @app.get("/_test/locked")
    async def locked() -> None:
        raise ThingLocked("The thing is locked.", thingId="thg_1")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def assert_envelope(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]


def test_unknown_route_is_a_404_envelope(client: TestClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert_envelope(response.json(), "not_found")
    assert response.headers["x-request-id"]


def test_wrong_method_is_a_405_envelope_with_allow(client: TestClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert_envelope(response.json(), "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD"


def test_allow_names_every_method_of_the_path(client: TestClient, owner_key: Key) -> None:
    # Each method of a path is a route of its own; Allow named only the first's ("GET").
    collection = client.delete("/api/v1/clients", headers=owner_key.headers)
    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, HEAD, POST"
    record = client.post("/api/v1/clients/cli_x", headers=owner_key.headers)
    assert record.status_code == 405
    assert record.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    # A literal path is not an id: `GET /time-entries/bulk` was "no time entry 'bulk'" (404).
    for method in ("GET", "HEAD", "PATCH", "DELETE"):
        bulk = client.request(method, "/api/v1/time-entries/bulk", headers=owner_key.headers)
        assert bulk.status_code == 405, (method, bulk.text)
        assert bulk.headers["allow"] == "POST"


def test_the_pages_outside_the_api_name_their_methods_too(client: TestClient) -> None:
    # `/docs` and `/redoc` came from an included router, one opaque route: `Allow` was empty.
    for path in ("/docs", "/redoc", "/api/v1/openapi.json", "/readyz"):
        response = client.post(path)
        assert response.status_code == 405, path
        assert response.headers["allow"] == "GET, HEAD", path


def test_a_trailing_slash_is_a_404_not_a_redirect(client: TestClient, owner_key: Key) -> None:
    # It was a 307 to an address built from the request's Host header.
    response = client.get(
        "/api/v1/clients/",
        headers={**owner_key.headers, "host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert_envelope(response.json(), "not_found")
    assert "location" not in response.headers


def test_malformed_json_is_a_400_envelope(raising_client: TestClient) -> None:
    response = raising_client.post(
        "/_test/things", content=b'{"name": "a", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert_envelope(response.json(), "malformed_json")


def test_invalid_body_is_a_422_with_the_failing_fields(raising_client: TestClient) -> None:
    response = raising_client.post("/_test/things", json={"name": "", "count": "many"})
    assert response.status_code == 422
    body = response.json()
    assert_envelope(body, "validation_failed")
    fields = {(err["field"], err["in"]) for err in body["error"]["errors"]}
    assert fields == {("name", "body"), ("count", "body")}
    # The rejected input is not echoed back.
    assert "many" not in response.text


def test_our_errors_keep_their_code_status_and_details(raising_client: TestClient) -> None:
    response = raising_client.get("/_test/locked")
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "thing_locked", "message": "The thing is locked.", "thingId": "thg_1"}
    }


def test_a_handler_that_raises_is_a_500_with_the_request_id_and_no_internals(
    raising_client: TestClient,
) -> None:
    response = raising_client.get("/_test/boom", headers={"X-Request-Id": "trace-500"})
    assert response.status_code == 500
    body = response.json()
    assert_envelope(body, "internal_error")
    assert body["error"]["requestId"] == "trace-500"
    assert response.headers["x-request-id"] == "trace-500"
    for leak in ("secret", "SELECT", "Traceback", "RuntimeError", ".py"):
        assert leak not in response.text


def test_request_id_is_generated_when_absent(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert first.startswith("req_")
    assert first != second


@pytest.mark.parametrize("supplied", ["a b", "x" * 200, "<script>", "-leading-dash", "ünïcode"])
def test_insane_request_ids_are_replaced(client: TestClient, supplied: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": supplied.encode("utf-8")})
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("cut", [0, 4])  # a key, or its body and checksum without `blb_`
def test_a_request_id_holding_an_api_key_is_replaced(client: TestClient, cut: int) -> None:
    # Echoed, logged and stored with the audit records (a helper's secrets audit).
    key = generate_key()
    response = client.get("/healthz", headers={"X-Request-Id": f"sync.{key[cut:]}"})
    assert response.headers["x-request-id"].startswith("req_")


def test_sane_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.9:2"})
    assert response.headers["x-request-id"] == "lb-7f3a.9:2"
