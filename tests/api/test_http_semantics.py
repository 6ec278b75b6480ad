"""What every API answer says about itself, and which refusal a request meets first (a helper's
HTTP-semantics audit): caches are told to keep nothing, a body in a charset other than UTF-8 is
refused rather than misread, a wrong path or method is named before the body is judged, and a
body or query string that could be read two ways is refused rather than read one way."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from billabled.app import create_app
from billabled.auth.scopes import Scope
from billabled.config import Settings
from tests.factories import Factory, Key, Workspace

CLIENTS = "/api/v1/clients"
TAGS = "/api/v1/tags"


def _tag_names(client: TestClient, key: Key) -> list[str]:
    response = client.get(TAGS, params={"pageSize": 200}, headers=key.headers)
    assert response.status_code == 200, response.text
    return [tag["name"] for tag in response.json()["items"]]


# --- caching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        ("GET", "/api/v1/me", True, 200),
        ("GET", CLIENTS, True, 200),
        ("GET", "/api/v1/clients/cli_0000000000000000000000", True, 404),
        ("GET", "/api/v1/me", False, 401),
        ("DELETE", "/api/v1/me", True, 405),
    ],
)
def test_no_api_answer_may_be_kept_by_a_cache(
    client: TestClient, owner_key: Key, method: str, path: str, authenticated: bool, status: int
) -> None:
    """A key sent as `X-Api-Key` is not `Authorization`, which alone keeps shared caches from
    reusing an answer (RFC 9111 §3.5): a proxy or CDN caching heuristically could serve one
    workspace's records to another caller."""
    headers = owner_key.headers if authenticated else {}
    response = client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_replayed_answer_is_not_kept_by_a_cache_either(
    client: TestClient, owner_key: Key
) -> None:
    headers = {**owner_key.headers, "Idempotency-Key": "cache-replay"}
    first = client.post(CLIENTS, json={"name": "Cached Co"}, headers=headers)
    again = client.post(CLIENTS, json={"name": "Cached Co"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers.get_list("cache-control") == ["no-store"]
    assert again.headers.get_list("x-content-type-options") == ["nosniff"]


def test_the_openapi_document_may_be_cached(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")
    assert response.headers["x-content-type-options"] == "nosniff"  # as every API answer


# --- charset -------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["iso-8859-1", "latin1", "utf-16", "windows-1252"])
def test_a_body_declared_in_another_charset_is_a_415_and_stores_nothing(
    client: TestClient, owner_key: Key, charset: str
) -> None:
    """`charset=iso-8859-1` was ignored and the bytes read as UTF-8: "CafÃ©" in Latin-1 was
    stored as "Café", other Latin-1 text was a 400 "not valid JSON"."""
    body = '{"name": "CafÃ© N"}'.encode("latin-1")
    response = client.post(
        TAGS,
        content=body,
        headers={**owner_key.headers, "content-type": f"application/json; charset={charset}"},
    )
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert charset in error["message"]
    assert "UTF-8" in error["message"]
    assert "Café N" not in _tag_names(client, owner_key)


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8", "us-ascii"])
def test_a_body_declared_in_utf8_is_read(
    client: TestClient, owner_key: Key, unique: str, charset: str
) -> None:
    name = f"Ünïcode {unique}"
    response = client.post(
        TAGS,
        content=f'{{"name": "{name}"}}'.encode(),
        headers={**owner_key.headers, "content-type": f"application/json; charset={charset}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


# --- which refusal comes first ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/clinets", 404),
        ("PUT", CLIENTS, 405),
        ("PATCH", "/api/v1/me", 405),
    ],
)
def test_a_wrong_path_or_method_is_named_before_the_body_type(
    client: TestClient, owner_key: Key, method: str, path: str, status: int
) -> None:
    """curl's `-d` sends a form: a mistyped URL was answered "the body must be JSON"."""
    response = client.request(
        method,
        path,
        content=b"name=Acme",
        headers={**owner_key.headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == status, response.text
    if status == 405:
        assert response.headers["allow"]
        assert method not in response.headers["allow"]


def test_a_wrong_path_is_named_before_the_body_size(
    client: TestClient, owner_key: Key, settings: object
) -> None:
    body = b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/clinets", content=body, headers=owner_key.headers)
    assert response.status_code == 404, response.text


def test_a_known_route_still_refuses_a_body_of_another_type(
    client: TestClient, owner_key: Key
) -> None:
    response = client.post(
        CLIENTS,
        content=b"name=Acme",
        headers={**owner_key.headers, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415, response.text


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE"])
def test_a_static_files_405_names_get_and_head(client: TestClient, method: str) -> None:
    """The error handler replaced the `Allow` of Starlette's static files with an empty one."""
    response = client.request(method, "/static/vendor/swagger-ui/swagger-ui.css")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET, HEAD"


# --- bodies and query strings read one way -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "First N", "name": "Second N"}', "name"),
        (
            b'{"items": [{"description": "a"}, {"description": "b", "description": "c"}]}',
            "items.1.description",
        ),
    ],
)
def test_a_key_sent_twice_in_one_object_is_a_422_naming_it(
    client: TestClient, owner_key: Key, body: bytes, field: str
) -> None:
    """The last one silently won: a proxy or WAF reading the first saw other data than was
    stored (RFC 8259 §4: names "SHOULD be unique"; parsers disagree on which counts)."""
    path = "/api/v1/time-entries/bulk" if b"items" in body else TAGS
    headers = {**owner_key.headers, "content-type": "application/json"}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["errors"]
    assert {"field": field, "in": "body", "type": "duplicate_key"} in [
        {k: e[k] for k in ("field", "in", "type")} for e in errors
    ]
    assert "Second N" not in _tag_names(client, owner_key)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("name=%E9quipe", "name"),  # é in Latin-1
        ("name=%ZZ", "name"),
        ("name=ok%2", "name"),
        ("sort=name&name=a%C3", "name"),
    ],
)
def test_a_query_value_not_percent_encoded_utf8_is_a_422_naming_it(
    client: TestClient, owner_key: Key, query: str, field: str
) -> None:
    """Starlette replaced undecodable bytes with U+FFFD and kept `%ZZ` as text: the list
    answered "no such records" where a body would have been refused."""
    response = client.get(f"{TAGS}?{query}", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["errors"]
    assert [(e["field"], e["in"]) for e in errors] == [(field, "query")]
    assert "UTF-8" in errors[0]["message"]


def test_a_query_value_percent_encoded_utf8_is_read(client: TestClient, owner_key: Key) -> None:
    response = client.get(f"{TAGS}?name=%C3%A9quipe%20%2B1", headers=owner_key.headers)
    assert response.status_code == 200, response.text


def test_the_answers_of_a_live_server_carry_the_same_headers(live_api: str, owner_key: Key) -> None:
    response = httpx.get(f"{live_api}/api/v1/me", headers=owner_key.headers)
    assert response.headers["cache-control"] == "no-store"


# --- query parameters an endpoint does not take ------------------------------------------------


def test_a_delete_refuses_a_parameter_it_does_not_take_and_deletes_nothing(
    client: TestClient, owner_key: Key, unique: str
) -> None:
    """Ignored, `?dryRun=true` deleted the tag (a helper's schemathesis run)."""
    created = client.post(TAGS, json={"name": f"Keep {unique}"}, headers=owner_key.headers)
    assert created.status_code == 201, created.text
    tag = f"{TAGS}/{created.json()['id']}"
    response = client.delete(f"{tag}?dryRun=true", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    errors = response.json()["error"]["errors"]
    assert [(e["field"], e["in"], e["type"]) for e in errors] == [
        ("dryRun", "query", "extra_forbidden")
    ]
    assert client.get(tag, headers=owner_key.headers).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/me?_=1733600000", f"{CLIENTS}/cli_x?expand=projects"])
def test_a_read_refuses_a_parameter_it_does_not_take(
    client: TestClient, owner_key: Key, path: str
) -> None:
    response = client.get(path, headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["type"] == "extra_forbidden"


def test_a_parameter_with_an_empty_name_is_named_as_sent(
    client: TestClient, owner_key: Key
) -> None:
    # `field` was null, as for an error about the whole body.
    response = client.get("/api/v1/me?=", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["error"]["errors"]
    assert (error["field"], error["in"], error["type"]) == ("", "query", "extra_forbidden")


def test_the_scope_is_checked_before_an_unknown_parameter(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    key = factory.key(workspace, scopes=frozenset({Scope.READ_USERS}))
    response = client.delete(f"{TAGS}/tag_x?dryRun=true", headers=key.headers)
    assert response.status_code == 403, response.text


# --- compression -------------------------------------------------------------------------------


def test_a_large_answer_is_gzipped_for_a_client_that_asks(
    client: TestClient, owner_key: Key, factory: Factory, workspace: Workspace
) -> None:
    for number in range(30):
        factory.client(workspace, name=f"Compressed Client {number:02}")
    plain = client.get(
        f"{CLIENTS}?pageSize=200", headers={**owner_key.headers, "Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 1400

    asked = client.get(
        f"{CLIENTS}?pageSize=200", headers={**owner_key.headers, "Accept-Encoding": "gzip"}
    )
    assert asked.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in asked.headers["vary"]
    assert int(asked.headers["content-length"]) < len(plain.content) / 3
    assert asked.content == plain.content  # decoded by the client: the same bytes


def test_a_small_answer_is_not_compressed(client: TestClient, owner_key: Key) -> None:
    response = client.get("/api/v1/me", headers={**owner_key.headers, "Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("accept", ["gzip;q=0", "gzip;q=0, identity", "identity, gzip; q=0.0"])
def test_gzip_refused_with_a_weight_of_0_is_not_sent(
    client: TestClient, owner_key: Key, factory: Factory, workspace: Workspace, accept: str
) -> None:
    """RFC 9110 §12.5.3: `q=0` is "not acceptable"; Starlette's substring test compressed."""
    for number in range(30):
        factory.client(workspace, name=f"Weighted Client {number:02}")
    response = client.get(
        f"{CLIENTS}?pageSize=200", headers={**owner_key.headers, "Accept-Encoding": accept}
    )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers


def test_an_export_is_never_compressed(settings: Settings, owner_key: Key) -> None:
    """SPEC §9: an export's digest headers name its exact bytes. Stood in for by a route of
    this test's own at the export's path, ahead of the one not built yet."""
    app = create_app(settings)

    async def export(request: Request) -> Response:
        return PlainTextResponse("id,name\r\n" + "cli_x,Acme\r\n" * 500)

    app.router.routes.insert(0, Route("/api/v1/export", export, methods=["GET"]))
    with TestClient(app) as fresh:
        response = fresh.get(
            "/api/v1/export", headers={**owner_key.headers, "Accept-Encoding": "gzip"}
        )
    assert response.status_code == 200, response.text
    assert len(response.content) > 1400
    assert "content-encoding" not in response.headers
