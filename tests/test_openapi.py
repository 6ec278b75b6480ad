"""The API reference: the OpenAPI 3.1 document, and Swagger UI and Redoc on local assets."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

import jsonschema
import pytest
from fastapi import APIRouter, Path
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from billabled.api.openapi import OPENAPI_PATH
from billabled.api.platform import API_PREFIX
from billabled.app import create_app
from billabled.auth.dependencies import ClientsWrite, TimeWrite
from billabled.config import Settings
from billabled.kit.schema import ApiModel
from tests.factories import Key

Json = dict[str, Any]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
RATE_LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)
ERROR_REF = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
def document(client: TestClient) -> Json:
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    body: Json = response.json()
    return body


def operations(document: Json) -> Iterator[tuple[str, str, Json]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: Json, node: Json) -> Json:
    while "$ref" in node:
        _, *parts = node["$ref"].split("/")
        target: Json = document
        for part in parts:
            target = target[part]
        node = target
    return node


# --- The document ------------------------------------------------------------------------------


def test_the_document_is_public_and_openapi_3_1(client: TestClient) -> None:
    response = client.get(OPENAPI_PATH)  # no key
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    for topic in ("Authentication", "Scopes", "Errors", "Pagination", "Rate limits", "Idemp"):
        assert f"## {topic}" in document["info"]["description"]


def test_the_document_is_valid_openapi_3_1(document: Json) -> None:
    # Was not: the not-built endpoints' path parameters were undeclared (14 errors).
    validate(document, cls=OpenAPIV31SpecValidator)


def test_a_bulk_refusal_matches_the_documented_error(
    client: TestClient, document: Json, owner_key: Key
) -> None:
    """`bulk_invalid` lists items with their errors, not fields: the schema says so (it did
    not, and schemathesis flagged every such answer)."""
    response = client.post(
        "/api/v1/time-entries/bulk", json={"items": [{"projectId": "0"}]}, headers=owner_key.headers
    )
    assert response.status_code == 422, response.text
    schema = {
        **document["components"]["schemas"]["ErrorResponse"],
        "components": document["components"],
    }
    jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)


def test_every_delete_that_can_be_refused_documents_its_409(document: Json) -> None:
    refusable = {
        f"{API_PREFIX}/{path}"
        for path in (
            "clients/{client_id}",
            "customers/{client_id}",
            "projects/{project_id}",
            "tasks/{task_id}",
            "subtasks/{subtask_id}",
            "tags/{tag_id}",
            "time-entries/{entry_id}",
        )
    }
    undocumented = [
        path
        for path, method, operation in operations(document)
        if method == "delete" and path in refusable and "409" not in operation["responses"]
    ]
    assert not undocumented  # were all but the time entry's


def test_the_statuses_operations_answer_are_documented(document: Json) -> None:
    """A helper's docs audit: `/me?x=1` answered a 422 the reference did not list, a 409's
    `Retry-After` was undeclared, and the not-built creates promised 200."""
    assert "422" in document["paths"][f"{API_PREFIX}/me"]["get"]["responses"]
    # A GET not built yet answers 501 whatever its query (a helper's review).
    assert "422" not in document["paths"][f"{API_PREFIX}/events"]["get"]["responses"]
    assert "Retry-After" in document["components"]["responses"]["Conflict"]["headers"]
    for collection in ("invoices", "webhooks"):
        responses = document["paths"][f"{API_PREFIX}/{collection}"]["post"]["responses"]
        assert "201" in responses
        assert "200" not in responses


def test_generated_sdks_send_only_what_the_caller_sets(document: Json) -> None:
    """A helper's SDK audit: a client generated from the reference sent each parameter's default
    when left out, and `page=1` beside a cursor is a 422. Defaults are said in words."""
    parameters = [
        parameter
        for _, _, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if "$ref" not in parameter
    ]
    assert [p["name"] for p in parameters if "default" in p.get("schema", {})] == []
    page = next(p for p in parameters if p["name"] == "page")
    assert page["description"].endswith("Default `1`.")


def test_integer_bounds_are_integers(document: Json) -> None:
    # FastAPI's document model wrote `maximum: 86400.0` on integers (a helper's SDK audit).
    floats: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("minimum", "maximum") and isinstance(value, float):
                    floats.append(f"{where}/{key}")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}/{index}")

    walk(document, "")
    assert floats == []


def test_a_taken_tag_name_is_named_in_the_reference(document: Json) -> None:
    for method in ("post", "put", "patch"):
        path = f"{API_PREFIX}/tags" + ("" if method == "post" else "/{tag_id}")
        conflict = document["paths"][path][method]["responses"]["409"]
        assert "tag_name_taken" in conflict["description"], method


def test_sdk_names_are_stable(document: Json) -> None:
    """Generated SDKs name sort values by position (`VALUE_1`) and not-built endpoints after
    placeholders (`notBuiltPostInvoicesInvoiceIdMarkPaid`): both would change under them."""
    sort = next(
        p
        for p in document["paths"][f"{API_PREFIX}/time-entries"]["get"]["parameters"]
        if p.get("name") == "sort"
    )["schema"]
    names = dict(zip(sort["enum"], sort["x-enum-varnames"], strict=True))
    assert (names["-createdAt"], names["date"]) == ("CREATED_AT_DESC", "DATE_ASC")
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert "markInvoicePaid" in ids
    assert not [name for name in ids if name.startswith("notBuilt")]


def test_only_the_api_is_documented(document: Json) -> None:
    assert document["paths"]
    assert all(path.startswith(f"{API_PREFIX}/") for path in document["paths"])
    assert OPENAPI_PATH not in document["paths"]


def test_both_ways_of_sending_a_key_are_security_schemes(document: Json) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        **schemes["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "blb_…",
    }
    assert schemes["apiKeyHeader"] == {
        **schemes["apiKeyHeader"],
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }


def test_listing_users_documents_its_scope(document: Json) -> None:
    operation = document["paths"][f"{API_PREFIX}/users"]["get"]
    assert operation["x-required-scope"] == "read:users"
    assert operation["security"] == [
        {"bearerAuth": ["read:users"]},
        {"apiKeyHeader": ["read:users"]},
    ]
    assert operation["description"].endswith("Requires the `read:users` scope.")


def test_me_needs_any_valid_key_and_no_scope(document: Json) -> None:
    operation = document["paths"][f"{API_PREFIX}/me"]["get"]
    assert "x-required-scope" not in operation
    assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert "403" not in operation["responses"]


def test_every_operation_but_me_declares_its_scope(document: Json) -> None:
    """A new endpoint that forgets `require(scope)` fails here."""
    unscoped = [
        f"{method.upper()} {path}"
        for path, method, operation in operations(document)
        if "x-required-scope" not in operation and path != f"{API_PREFIX}/me"
    ]
    assert unscoped == []
    for _, _, operation in operations(document):
        scope = operation.get("x-required-scope")
        if scope:
            assert operation["security"] == [{"bearerAuth": [scope]}, {"apiKeyHeader": [scope]}]
            assert resolve(document, operation["responses"]["403"])["content"]


def test_errors_share_one_envelope(document: Json) -> None:
    error = document["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]
    assert resolve(document, error["properties"]["error"])["required"] == ["code", "message"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in operations(document):
        statuses = {"401", "429", "500"} | ({"403"} if "x-required-scope" in operation else set())
        assert statuses <= set(operation["responses"]), f"{method} {path}"
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = resolve(document, response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{method} {path} {status}"
        rate_limited = resolve(document, operation["responses"]["429"])
        assert "Retry-After" in rate_limited["headers"]


def test_every_response_documents_request_id_and_rate_limit_headers(document: Json) -> None:
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = resolve(document, response)["headers"]
            for name in ("X-Request-Id", *RATE_LIMIT_HEADERS):
                assert name in headers, f"{method} {path} {status} lacks {name}"
                assert resolve(document, headers[name])["schema"]


def test_the_headers_creates_and_401s_send_are_documented(
    document: Json, client: TestClient
) -> None:
    """`Location` and `WWW-Authenticate` were sent and promised by docs/api.md, but not in
    the document (a helper's schemathesis run)."""
    creates = [
        "/api/v1/clients",
        "/api/v1/customers",
        "/api/v1/projects",
        "/api/v1/tasks",
        "/api/v1/subtasks",
        "/api/v1/tags",
        "/api/v1/schedule",
        "/api/v1/time-entries",
    ]
    for path in creates:
        created = document["paths"][path]["post"]["responses"]["201"]
        assert "Location" in created["headers"], path
    bulk = document["paths"]["/api/v1/time-entries/bulk"]["post"]["responses"]["201"]
    assert "Location" not in bulk["headers"]
    unauthorized = document["components"]["responses"]["Unauthorized"]["headers"]
    assert "WWW-Authenticate" in unauthorized
    assert client.get("/api/v1/me").headers["www-authenticate"].startswith("Bearer ")


def test_list_operations_document_paging(document: Json) -> None:
    listed = []
    for path, method, operation in operations(document):
        parameters = {p["name"]: p for p in operation.get("parameters", []) if "name" in p}
        if "pageSize" not in parameters:
            continue
        listed.append(path)
        assert parameters["pageSize"]["schema"]["maximum"] == 200
        assert {"page", "cursor", "sort", "updatedSince", "includeDeleted"} <= set(parameters)
        assert "X-Total-Count" in operation["responses"]["200"]["headers"], f"{method} {path}"
    assert f"{API_PREFIX}/users" in listed


def test_list_filters_are_documented_with_their_constraints(document: Json) -> None:
    # The lists validate their query in one model (kit.query), which FastAPI cannot see.
    operation = document["paths"][f"{API_PREFIX}/time-entries"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {
        "from",
        "to",
        "userId",
        "projectId",
        "clientId",
        "billable",
        "status",
        "invoiced",
    } <= set(parameters)
    assert all(p["in"] == "query" and p["required"] is False for p in parameters.values())
    assert parameters["from"]["description"] == "Only on or after this date (YYYY-MM-DD)."
    # A query string cannot send null: no parameter's schema admits it.
    assert parameters["from"]["schema"]["format"] == "date"
    assert parameters["projectId"]["schema"]["maxLength"] == 64
    assert not [p for p in parameters.values() if "anyOf" in p["schema"]]
    assert parameters["pageSize"]["description"] == "Items per page (max 200). Default `50`."
    assert "title" not in parameters["pageSize"]["schema"]
    assert resolve(document, parameters["status"]["schema"])["enum"]
    tags = document["paths"][f"{API_PREFIX}/tags"]["get"]["parameters"]
    (name,) = [p for p in tags if p["name"] == "name"]
    assert (name["schema"]["minLength"], name["schema"]["maxLength"]) == (1, 100)


def test_each_list_documents_the_fields_it_sorts_by(document: Json) -> None:
    # Each value is accepted (tests/api/test_every_endpoint.py sends them all).
    def sort_values(path: str) -> list[str]:
        (sort,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "sort"]
        values: list[str] = sort["schema"]["enum"]
        return values

    assert sort_values(f"{API_PREFIX}/time-entries") == [
        "createdAt",
        "-createdAt",
        "updatedAt",
        "-updatedAt",
        "date",
        "-date",
    ]
    assert "email" in sort_values(f"{API_PREFIX}/users")


def test_rules_beyond_a_type_are_in_the_schemas(document: Json) -> None:
    """ISO 4217's codes and the years a date of work may fall in, which the server enforces."""
    schemas = document["components"]["schemas"]
    currency = schemas["ClientUpdate"]["properties"]["currency"]
    assert "EUR" in currency["enum"]
    assert "ZZZ" not in currency["enum"]
    for date_field in (
        schemas["ScheduledWorkCreate"]["properties"]["date"],
        schemas["TimeEntryUpdate"]["properties"]["date"],
        schemas["TimeEntryUpdate"]["properties"]["start"],
    ):
        years = re.compile(date_field["pattern"])
        assert years.match("1900-01-01")
        assert years.match("2999-12-31T23:00:00Z")
        assert not years.match("1899-12-31")
        assert not years.match("3000-01-01")


def test_updates_say_which_fields_cannot_be_cleared_and_give_no_defaults(document: Json) -> None:
    # Leaving a field out of a PATCH keeps it; a default would say it resets.
    update = document["components"]["schemas"]["ClientUpdate"]["properties"]
    assert update["name"]["type"] == "string"  # `null` is a 422 `not_null`
    assert {"type": "null"} in update["email"]["anyOf"]  # `null` clears it
    assert not [name for name, field in update.items() if "default" in field]


def test_the_document_is_cached(client: TestClient) -> None:
    assert client.get(OPENAPI_PATH).content == client.get(OPENAPI_PATH).content


# --- Writes (no real write endpoint exists yet: a test app adds two) ---------------------------


class GadgetCreate(ApiModel):
    name: str


@pytest.fixture(scope="module")
def write_document(settings: Settings) -> Json:
    app = create_app(settings)
    router = APIRouter(prefix=f"{API_PREFIX}/_test")

    @router.post("/gadgets", status_code=201)
    async def create_gadget(principal: ClientsWrite, body: GadgetCreate) -> dict[str, str]:
        return {"name": body.name}

    @router.patch("/gadgets/{gadget_id}", responses={409: {"description": "The gadget is locked."}})
    async def update_gadget(
        principal: TimeWrite, gadget_id: Annotated[str, Path(max_length=64)]
    ) -> dict[str, str]:
        return {"id": gadget_id}

    app.include_router(router)
    with TestClient(app) as client:
        response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    body: Json = response.json()
    return body


def test_posts_take_an_idempotency_key_and_document_body_errors(write_document: Json) -> None:
    operation = write_document["paths"][f"{API_PREFIX}/_test/gadgets"]["post"]
    assert operation["x-required-scope"] == "write:clients"
    parameters = [resolve(write_document, p) for p in operation["parameters"]]
    (idempotency,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert idempotency["in"] == "header"
    assert idempotency["required"] is False
    assert idempotency["schema"]["maxLength"] == 255
    responses = operation["responses"]
    assert {"400", "401", "403", "409", "413", "415", "422", "429", "500"} <= set(responses)
    assert "Idempotent-Replayed" in responses["201"]["headers"]


def test_declared_error_responses_keep_their_words_and_get_the_envelope(
    write_document: Json,
) -> None:
    operation = write_document["paths"][f"{API_PREFIX}/_test/gadgets/{{gadget_id}}"]["patch"]
    assert operation["x-required-scope"] == "write:time"
    locked = operation["responses"]["409"]
    assert locked["description"] == "The gadget is locked."
    assert locked["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
    assert "X-Request-Id" in locked["headers"]
    assert "404" in operation["responses"]  # the path names a record
    assert not any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))


# --- The pages and their assets ----------------------------------------------------------------

LOCAL_URL = re.compile(r"^/(?!/)[^\s\"'<>]*$")
ATTRIBUTE_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_reference_only_local_urls(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    assert OPENAPI_PATH in html
    urls = ATTRIBUTE_URL.findall(html)
    assert urls
    assert all(LOCAL_URL.match(url) for url in urls), urls
    # The browser is told to fetch nothing from anywhere else.
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert "http" not in policy


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_a_page_uses_is_served(client: TestClient, page: str) -> None:
    urls = ATTRIBUTE_URL.findall(client.get(page).text)
    bundles = 0
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url.split("?", 1)[0][url.rfind(".") :]
        assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        if suffix == ".js":
            bundles += 1
            assert len(response.content) > 100_000, url
    assert bundles == 1


def test_swagger_ui_is_configured_for_trying_requests(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    for setting in (
        '"persistAuthorization": true',
        '"tryItOutEnabled": true',
        '"displayRequestDuration": true',
        '"deepLinking": true',
        '"validatorUrl": null',  # no online validator
    ):
        assert setting in html


def test_redoc_uses_system_fonts(client: TestClient) -> None:
    html = client.get("/redoc").text
    assert "/static/vendor/redoc/redoc.standalone.js" in html
    assert '"fontFamily": "system-ui' in html
    assert "fonts.googleapis" not in html


def test_assets_are_compressed_and_revalidated_without_a_version(client: TestClient) -> None:
    response = client.get(
        "/static/vendor/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["cache-control"] == "no-cache"
    assert response.num_bytes_downloaded < len(response.content) / 2
    assert client.get("/static/vendor/redoc/LICENSE").status_code == 200
    assert client.get("/static/vendor/swagger-ui/no-such-file.js").status_code == 404
    assert client.get("/static/vendor/../../app.py").status_code == 404


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_code_the_server_sends_is_in_the_reference(document: Json) -> None:
    # `idempotency_key_invalid`, `forbidden_user` (but in a field's words), the HTTP layer's own
    # codes and 501 were missing (a helper's docs audit).
    import importlib
    import pkgutil

    import billabled
    from billabled import http_protocol
    from billabled.errors import BillabledError

    for module in pkgutil.walk_packages(billabled.__path__, "billabled."):
        if ".migrations." not in module.name:
            importlib.import_module(module.name)

    # Raised by the CLI's services only (people and keys are not managed over the API yet), and
    # the base classes' generic codes, which the server sends under a specific code.
    not_sent = {"already_member", "api_key_not_found", "last_owner", "not_a_member",
                "scope_exceeds_role", "workspace_not_empty",
                "bad_request", "conflict", "unauthorized"}  # fmt: skip
    codes = {
        error.code
        for error in _subclasses(BillabledError)
        if error.__module__.startswith("billabled.") and error.code not in not_sent
    }
    codes |= {code for _, _, code in http_protocol.REFUSALS}
    text = json.dumps(document)  # a code is named in `words` or is an example's "code"
    missing = sorted(code for code in codes if not re.search(f'[`"]{code}[`"]', text))
    assert missing == [], missing
    statuses = re.search(r"Statuses: (.*?)\n\n", document["info"]["description"], re.S)
    assert statuses is not None
    for status in ("400", "401", "403", "404", "405", "408", "409", "413", "415", "422", "429",
                   "431", "500", "501", "503"):  # fmt: skip
        assert f"`{status}`" in statuses.group(1), status
