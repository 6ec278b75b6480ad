"""The Integration API v1 reference: OpenAPI 3.1 at `/api/v1/openapi.json` (SPEC §4).

The document is generated from the `/api/v1` routes, never written by hand, then completed with
what the platform layer does around every endpoint. Invariants:

- It is public (`PUBLIC_PATHS`), built once on first request and cached; nothing outside
  `/api/v1` (health checks, the web app, the docs pages) appears in it.
- Every operation says who may call it: the scope found in its dependencies, recursively
  (`require(scope)`: in `security` with that scope, in `x-required-scope` and in a sentence of
  its description), or else "any valid key" (security with empty scope lists; only `/me` may be
  so, which tests/test_openapi.py enforces). A route that declares two different scopes is a
  programming error and fails the build.
- Every error response (401, 429 and 500 everywhere, 422 but on a bare GET not built yet; 403
  where a scope is needed; 404 where the path names a record; 400 where there is a body;
  409/413/415 on POST, PUT and PATCH)
  has the one `ErrorResponse` envelope. A response an endpoint declares itself
  (`responses={409: {"description": "…"}}`) keeps its description and gets the envelope.
- Every response of every operation lists `X-Request-Id` and the rate-limit headers; list
  operations (those whose query model is a `ListParams`) add `X-Total-Count` to their 200; every
  POST takes an optional `Idempotency-Key` and its 2xx may carry `Idempotent-Replayed`.
- Query parameters declared as a `kit.query.QueryModel` are invisible to FastAPI; each field is
  added here as a parameter.
- Operation ids are the handlers' names in camelCase (`listUsers`) where that is unique, so
  generated clients and Swagger UI's deep links read well.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from fastapi import FastAPI, Response, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from pydantic.alias_generators import to_snake

from billabled.api.platform import API_PREFIX
from billabled.api.routing import ApiRoute
from billabled.auth.authenticate import ApiKeyExpired, ApiKeyInvalid, ApiKeyMissing, ApiKeyRevoked
from billabled.auth.dependencies import SCOPE_ATTRIBUTE, InsufficientScope
from billabled.auth.scopes import ROLE_CEILINGS, Scope
from billabled.errors import (
    BillabledError,
    InternalError,
    MalformedJson,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from billabled.idempotency.service import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    IdempotencyInProgress,
    IdempotencyMismatch,
    InvalidIdempotencyKey,
)
from billabled.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListParams
from billabled.kit.query import QueryModel, openapi_parameters, query_model_of
from billabled.middleware import DATABASE_UNAVAILABLE
from billabled.models.membership import Role
from billabled.models.workspace import Plan
from billabled.ratelimit import PLAN_LIMITS_PER_MINUTE, WINDOW_SECONDS
from billabled.time_entry.validation import FORBIDDEN_USER_MESSAGE, ForbiddenUser

OPENAPI_PATH: Final = f"{API_PREFIX}/openapi.json"
OPENAPI_VERSION: Final = "3.1.0"
SCOPE_EXTENSION: Final = "x-required-scope"

JsonObject = dict[str, Any]

_BODY_METHODS: Final = frozenset({"post", "put", "patch"})
_HTTP_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_VALIDATION_SCHEMAS: Final = ("HTTPValidationError", "ValidationError")


def _ref(kind: str, name: str) -> JsonObject:
    return {"$ref": f"#/components/{kind}/{name}"}


# --- Components --------------------------------------------------------------------------------

_RATE_LIMIT_HEADERS: Final = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "RateLimit-Policy",
    "RateLimit",
)


def _header(description: str, schema: JsonObject, *, required: bool = False) -> JsonObject:
    return {"description": description, "schema": schema} | ({"required": True} if required else {})


_HEADERS: Final[JsonObject] = {
    "X-Request-Id": _header(
        "The request's id: yours when you sent a sane `X-Request-Id`, otherwise a new `req_…` "
        "id. Quote it when you contact support.",
        {"type": "string", "examples": ["req_01JD3S5X6Q2M8ZP4T7V9W0B1C2"]},
        required=True,
    ),
    "Cache-Control": _header(
        "Always `no-store`: no cache, proxy or CDN may keep an answer that holds a workspace's "
        "data (sent with `X-Content-Type-Options: nosniff`).",
        {"type": "string", "const": "no-store"},
        required=True,
    ),
    "X-RateLimit-Limit": _header(
        "Requests allowed per minute (the key's plan, or the per-IP limit for requests without "
        "a valid key).",
        {"type": "integer", "examples": [120]},
    ),
    "X-RateLimit-Remaining": _header(
        "Requests left in the current window.", {"type": "integer", "examples": [119]}
    ),
    "X-RateLimit-Reset": _header(
        "When the current window ends, in Unix epoch seconds.",
        {"type": "integer", "examples": [1767225660]},
    ),
    "RateLimit-Policy": _header(
        "The IETF quota policy: `q` requests per `w` seconds.",
        {"type": "string", "examples": [f'"key";q=120;w={WINDOW_SECONDS}']},
    ),
    "RateLimit": _header(
        "The IETF rate-limit state: `r` requests remaining, the window resets in `t` seconds.",
        {"type": "string", "examples": ['"key";r=119;t=42']},
    ),
    "Location": _header(
        "Where the created record is: `/api/v1/<collection>/<id>` (a create through the "
        "`/customers` alias answers the canonical `/api/v1/clients/<id>`).",
        {"type": "string", "examples": ["/api/v1/clients/cli_01JD3S5X6Q2M8ZP4T7V9W0B1C2"]},
        required=True,
    ),
    "WWW-Authenticate": _header(
        'The scheme that would succeed (RFC 9110): `Bearer realm="Billabled API"`, with '
        '`, error="invalid_token"` when a key was sent and refused (RFC 6750).',
        {"type": "string", "examples": ['Bearer realm="Billabled API", error="invalid_token"']},
        required=True,
    ),
    "Retry-After": _header(
        "Seconds to wait before retrying.",
        {"type": "integer", "minimum": 1, "examples": [17]},
        required=True,
    ),
    "X-Total-Count": _header(
        "Matching records (page mode only; absent in cursor mode).",
        {"type": "integer", "minimum": 0, "examples": [137]},
    ),
    "Idempotent-Replayed": _header(
        "`true` when this is the stored response of an earlier request with the same "
        "`Idempotency-Key`, replayed byte for byte.",
        {"type": "string", "enum": ["true"]},
    ),
}

_SCHEMAS: Final[JsonObject] = {
    # Not `Error`: SDK generators name a class after it, which shadows the language's own
    # (TypeScript) and makes the inner object `ErrorError` (a helper's SDK audit).
    "ErrorResponse": {
        "title": "ErrorResponse",
        "description": 'Every error: `{"error": {"code", "message", …}}` with the real HTTP '
        "status. Branch on `code`, not on `message`.",
        "type": "object",
        "required": ["error"],
        "properties": {"error": _ref("schemas", "ErrorDetail")},
    },
    "ErrorDetail": {
        "title": "ErrorDetail",
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "Stable, machine-readable reason.",
                "examples": ["api_key_invalid", "insufficient_scope", "validation_failed"],
            },
            "message": {"type": "string", "description": "For humans; may change."},
            "errors": {
                "type": "array",
                "description": "The failing fields (`validation_failed`), or the failing "
                "items of a batch with theirs (`bulk_invalid`).",
                "items": {
                    "anyOf": [
                        _ref("schemas", "ErrorField"),
                        _ref("schemas", "BulkItemErrors"),
                    ]
                },
            },
            "requiredScope": {
                "type": "string",
                "description": "The scope the request needs (`insufficient_scope` only).",
            },
            "requestId": {
                "type": "string",
                "description": "The request id (500 and 503), as in `X-Request-Id`.",
            },
            "resource": {
                "type": "string",
                "description": "What was not found (`not_found` of a path's id), e.g. "
                "`time entry`.",
            },
            "reason": {
                "type": "string",
                "enum": ["submitted", "approved", "invoiced"],
                "description": "Why a time entry is `locked`.",
            },
            "dependents": {
                "type": "object",
                "description": "What depends on the record, counted, keyed in camelCase "
                '(`has_dependents`), e.g. `{"projects": 3, "timeEntries": 120}`.',
                "additionalProperties": {"type": "integer"},
            },
            "existingId": {
                "type": "string",
                "description": "The record that already holds the value (`tag_name_taken`).",
            },
            "indexes": {
                "type": "array",
                "description": "The items of a batch the refusal is about "
                "(`forbidden_user` in a bulk request).",
                "items": {"type": "integer"},
            },
        },
        "additionalProperties": True,
    },
    "ErrorField": {
        "title": "ErrorField",
        "type": "object",
        "required": ["field", "in", "message", "type"],
        "properties": {
            "field": {
                "type": ["string", "null"],
                "description": "Dotted path of the field, e.g. `pageSize` or `tagIds.0`.",
            },
            "in": {"type": "string", "enum": ["body", "query", "path", "header", "cookie"]},
            "message": {"type": "string"},
            "type": {"type": "string", "description": "Machine-readable kind of failure."},
        },
    },
    "BulkItemErrors": {
        "title": "BulkItemErrors",
        "type": "object",
        "description": "One failing item of a batch (`bulk_invalid`): its index in `items` and its "
        "fields' errors, named as in a single create.",
        "required": ["index", "errors"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "errors": {"type": "array", "items": _ref("schemas", "ErrorField")},
        },
    },
}


@dataclass(frozen=True, slots=True)
class _ErrorResponse:
    status: int
    description: str
    # Example bodies made by the error classes themselves, so they cannot drift from what is sent.
    examples: tuple[BillabledError, ...]
    headers: tuple[str, ...] = ()

    def component(self) -> JsonObject:
        examples = {error.code: {"value": error.body()} for error in self.examples}
        return {
            "description": self.description,
            "headers": _common_headers(*self.headers),
            "content": _error_content(examples),
        }


_SCOPE_EXAMPLE: Final = Scope.READ_USERS.value
_FIELD_EXAMPLE: Final = {
    "field": "pageSize",
    "in": "query",
    "message": f"Input should be less than or equal to {MAX_PAGE_SIZE}",
    "type": "less_than_equal",
}

_ERROR_RESPONSES: Final = {
    "BadRequest": _ErrorResponse(
        400,
        "The body is not valid JSON (`malformed_json`). Bytes that are not HTTP/1.1 are refused "
        "before routing (`malformed_request`), and the connection closed.",
        (MalformedJson(),),
    ),
    "Unauthorized": _ErrorResponse(
        401,
        "No key, or a key that is malformed, unknown, expired or revoked.",
        (ApiKeyMissing(), ApiKeyInvalid(), ApiKeyExpired(), ApiKeyRevoked()),
        headers=("WWW-Authenticate",),
    ),
    "Forbidden": _ErrorResponse(
        403,
        "The key lacks the scope this operation needs (`insufficient_scope`, naming it in "
        "`requiredScope`): not granted, or not allowed by its creator's current role. On time "
        "entries, a member's key naming another person's `userId` (`forbidden_user`). A stored "
        "`Idempotency-Key` answer the key no longer has the permissions for (`forbidden`, a "
        "safeguard: the checks above answer first).",
        (
            InsufficientScope(
                f"This request needs the {_SCOPE_EXAMPLE} scope: the key was not granted it.",
                requiredScope=_SCOPE_EXAMPLE,
            ),
            ForbiddenUser(FORBIDDEN_USER_MESSAGE),
        ),
    ),
    "NotFound": _ErrorResponse(
        404,
        "No such record in the key's workspace (another workspace's id is simply not found).",
        (NotFound("No user 'usr_01JD3S5X6Q' in this workspace.", resource="user"),),
    ),
    "Conflict": _ErrorResponse(
        409,
        "The request conflicts with the record's state (e.g. `locked`), or a request with the "
        "same `Idempotency-Key` is still in flight (`idempotency_in_progress`, with "
        "`Retry-After`).",
        (IdempotencyInProgress(),),
        headers=("Retry-After",),
    ),
    "PayloadTooLarge": _ErrorResponse(
        413,
        "The body is larger than the server accepts (`payload_too_large`).",
        (PayloadTooLarge(),),
    ),
    "UnsupportedMediaType": _ErrorResponse(
        415,
        "The body is not JSON (`unsupported_media_type`); send `Content-Type: application/json`.",
        (UnsupportedMediaType(),),
    ),
    "ValidationFailed": _ErrorResponse(
        422,
        "Invalid input (`validation_failed`, with the failing fields in `errors`), an "
        "`Idempotency-Key` reused with a different request (`idempotency_mismatch`), or one that "
        "is empty, too long, not printable ASCII or holds an API key (`idempotency_key_invalid`).",
        (
            ValidationFailed(errors=[_FIELD_EXAMPLE]),
            IdempotencyMismatch(),
            InvalidIdempotencyKey(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, and "
                "not an API key."
            ),
        ),
    ),
    "RateLimited": _ErrorResponse(
        429,
        "Over the key's per-minute limit (`rate_limited`); wait `Retry-After` seconds.",
        (
            RateLimited(
                f"Rate limit of {PLAN_LIMITS_PER_MINUTE[Plan.FREE]} requests per minute exceeded. "
                "Retry in 17 seconds."
            ),
        ),
        headers=("Retry-After",),
    ),
    "InternalError": _ErrorResponse(
        500,
        "Something failed on our side; no details are given. Quote `requestId`.",
        (InternalError(requestId="req_01JD3S5X6Q2M8ZP4T7V9W0B1C2"),),
    ),
    "ServiceUnavailable": _ErrorResponse(
        503,
        "The database cannot serve requests for now (`service_unavailable`). "
        "Retry after `Retry-After` seconds.",
        (ServiceUnavailable(DATABASE_UNAVAILABLE, requestId="req_01JD3S5X6Q2M8ZP4T7V9W0B1C2"),),
        headers=("Retry-After",),
    ),
}
_RESPONSE_BY_STATUS: Final = {response.status: name for name, response in _ERROR_RESPONSES.items()}


def _common_headers(*extra: str) -> JsonObject:
    names = ("X-Request-Id", "Cache-Control", *_RATE_LIMIT_HEADERS, *extra)
    return {name: _ref("headers", name) for name in names}


def _error_content(examples: JsonObject | None = None) -> JsonObject:
    media: JsonObject = {"schema": _ref("schemas", "ErrorResponse")}
    if examples:
        media["examples"] = examples
    return {"application/json": media}


def _components() -> JsonObject:
    return {
        "schemas": copy.deepcopy(_SCHEMAS),
        "responses": {name: response.component() for name, response in _ERROR_RESPONSES.items()},
        "headers": copy.deepcopy(_HEADERS),
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes a retry safe: the first response with this key is stored "
                "for at least 24 hours and replayed byte for byte (with "
                "`Idempotent-Replayed: true`). Scoped to the API key. The same key with a "
                "different request → 422 `idempotency_mismatch`; while the first is still "
                "running → 409 `idempotency_in_progress`.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_KEY_LENGTH,
                    "pattern": KEY_PATTERN,
                },
                "example": "6f1c2f7e-0c1b-4f0a-9b1e-2d3c4b5a6978",
            }
        },
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "blb_…",
                "description": "`Authorization: Bearer blb_…` (works with "
                '`curl --oauth2-bearer "$BILLABLED_API_KEY"`).',
            },
            "apiKeyHeader": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Api-Key",
                "description": "The same key in `X-Api-Key: blb_…`.",
            },
        },
    }


# --- The description ---------------------------------------------------------------------------


def _codes(scopes: Iterable[Scope]) -> str:
    return ", ".join(f"`{scope.value}`" for scope in scopes)


def _role_table() -> str:
    """Which scopes each role's keys can use, from the role ceilings (roles with equal ceilings
    share a row; a ceiling is written as what it lacks when that is shorter)."""
    groups: dict[frozenset[Scope], list[str]] = {}
    for role in reversed(Role):  # member first
        groups.setdefault(ROLE_CEILINGS[role], []).append(role.value)
    rows = ["| Role of the key's creator | Scopes its keys can use |", "|---|---|"]
    for ceiling, roles in groups.items():
        lacking = [scope for scope in Scope if scope not in ceiling]
        if not lacking:
            allowed = "all"
        elif len(lacking) < len(ceiling):
            allowed = f"all but {_codes(lacking)}"
        else:
            allowed = _codes(scope for scope in Scope if scope in ceiling)
        rows.append(f"| {', '.join(roles)} | {allowed} |")
    return "\n".join(rows)


def _plan_table() -> str:
    rows = ["| Plan | Requests per minute per key |", "|---|---|"]
    rows += [f"| {plan} | {limit} |" for plan, limit in PLAN_LIMITS_PER_MINUTE.items()]
    return "\n".join(rows)


def _description() -> str:
    return f"""\
Billabled's Integration API: clients, projects, tasks, schedule, time, approvals, invoices,
analytics, webhooks and events of one workspace, for your integrations, ERP syncs and no-code
automations. JSON in and out, camelCase on the wire, times in RFC 3339 (UTC, `Z`).

## Authentication

Create a key in the web app (**Settings → Developers**) or with `billabled keys create`. It is
shown once. Send it on every request, either way:

```
Authorization: Bearer blb_…
X-Api-Key: blb_…
```

A key belongs to one workspace and to the member who created it, so requests never name a
workspace. A missing, malformed, unknown, expired or revoked key is answered `401` with the code
`api_key_missing`, `api_key_invalid`, `api_key_expired` or `api_key_revoked`. `GET /api/v1/me`
accepts any valid key and tells you what it is bound to.

## Scopes

Each operation needs one scope, named in its description and in `x-required-scope`. A key can use
a scope when it was granted it **and** its creator's current role allows it (demoting the creator
shrinks the key). Otherwise: `403 insufficient_scope`, with the scope in `requiredScope`.

The scopes: {_codes(Scope)}.

{_role_table()}

Members' keys read and write their own time only.

## Errors

Every error has the real HTTP status and one shape:

```json
{{
  "error": {{
    "code": "validation_failed",
    "message": "The request is invalid.",
    "errors": [{{"field": "pageSize", "in": "query", "message": "…", "type": "less_than_equal"}}]
  }}
}}
```

Branch on `code`. Statuses: `400` malformed JSON (`malformed_json`) or HTTP
(`malformed_request`), `401` key, `403` scope, `404` not found (also for another workspace's ids),
`405` method (`method_not_allowed`, with `Allow`), `408` the request did not arrive in time
(`request_timeout`), `409` conflict, `413` body too large, `415` not JSON, `422` validation (with
`errors`), `429` rate limit, `431` headers too large (`request_header_fields_too_large`), `500` our
fault (with `requestId`), `501` not built yet (`not_implemented`), `503` the database cannot
serve for now (with `Retry-After`). Every response carries `X-Request-Id`; quote it when you
contact support.

## Pagination

Lists take `?page=1&pageSize={DEFAULT_PAGE_SIZE}` (at most {MAX_PAGE_SIZE}) and answer
`{{items, totalCount, page, pageSize, hasMore, nextCursor}}` plus an `X-Total-Count` header. The
order is stable (`createdAt`, then `id`); `sort=-createdAt` gives newest first (polling triggers).
For large syncs pass the previous page's `nextCursor` as `?cursor=…`: every page costs the same
however deep (no count is taken in cursor mode, so `totalCount` and `page` are null).
`updatedSince` returns only records changed since a time, and with `includeDeleted=true` also
tombstones `{{id, deleted: true, deletedAt}}`, so a mirror can apply deletions too.

## Rate limits

Per key, per {WINDOW_SECONDS}-second window, by the workspace's plan:

{_plan_table()}

Responses report the budget in `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
`X-RateLimit-Reset` (epoch seconds) and the IETF `RateLimit-Policy` / `RateLimit` fields. Over
the limit: `429 rate_limited` with `Retry-After` (seconds). Requests without a valid key are
limited per client IP and never spend a key's budget.

## Idempotency

`POST` accepts an `Idempotency-Key` header (up to {MAX_KEY_LENGTH} printable ASCII characters,
e.g. a UUID). A retry with the same key and body (keys are kept for at least 24 hours) returns
the first response byte for byte, with `Idempotent-Replayed: true`, and creates nothing twice,
while the key still has the scope (and role) the first request needed; a 403 is not kept. The
same key with a different body → `422 idempotency_mismatch`; a duplicate sent while the first is
still running → `409 idempotency_in_progress`.
"""


# --- Building ----------------------------------------------------------------------------------


def _api_routes(app: FastAPI) -> list[routing.RouteContext]:
    """The schema-visible API routes under `/api/v1`, with routers' prefixes and dependencies
    applied (FastAPI keeps included routers unflattened; contexts give the effective route)."""
    contexts = []
    for context in routing.iter_route_contexts(app.routes):
        if not isinstance(context.original_route, routing.APIRoute):
            continue
        path = context.path_format or ""
        if path.startswith(f"{API_PREFIX}/") and context.include_in_schema:
            contexts.append(context)
    return contexts


def _dependency_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _dependency_calls(dependency)


def _required_scope(path: str, calls: Sequence[Callable[..., Any]]) -> Scope | None:
    """The one scope an operation needs, or None for "any valid key"."""
    scopes = {scope for call in calls if (scope := getattr(call, SCOPE_ATTRIBUTE, None))}
    if len(scopes) > 1:
        names = ", ".join(sorted(str(scope) for scope in scopes))
        raise RuntimeError(f"{path} declares several scopes ({names}); SPEC §4 allows one.")
    return Scope(scopes.pop()) if scopes else None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _operations(path_item: JsonObject) -> Iterator[tuple[str, JsonObject]]:
    for method in _HTTP_METHODS:
        operation = path_item.get(method)
        if isinstance(operation, dict):
            yield method, operation


def _is_fastapi_validation_response(response: JsonObject) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == "#/components/schemas/HTTPValidationError")


def _error_statuses(method: str, operation: JsonObject, scope: Scope | None) -> list[int]:
    path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
    statuses = [401]
    if "requestBody" in operation:
        statuses.append(400)
    if scope is not None:
        statuses.append(403)
    if path_params:
        statuses.append(404)
    if method in _BODY_METHODS:
        statuses += [409, 413, 415]
    # Every endpoint: one that takes no query parameters refuses any (decisions §33). One not
    # built yet answers 501 whatever its query: its 422s are a NUL in its path, or a bad
    # Idempotency-Key.
    if "501" not in operation.get("responses", {}) or path_params or method == "post":
        statuses.append(422)
    statuses += [429, 500, 503]
    return sorted(statuses)


def _complete_operation(
    method: str, operation: JsonObject, *, scope: Scope | None, is_list: bool, creates_one: bool
) -> None:
    # Who may call it.
    scopes = [scope.value] if scope else []
    operation["security"] = [{"bearerAuth": scopes}, {"apiKeyHeader": list(scopes)}]
    if scope:
        operation[SCOPE_EXTENSION] = scope.value
        sentence = f"Requires the `{scope.value}` scope."
    else:
        sentence = "Requires any valid API key (no scope)."
    description = str(operation.get("description", "")).rstrip()
    operation["description"] = f"{description}\n\n{sentence}" if description else sentence

    # FastAPI titles parameter schemas after the Python name ("Pagesize"): noise in the UIs.
    for parameter in operation.get("parameters", []):
        parameter.get("schema", {}).pop("title", None)

    # Idempotency on POST.
    if method == "post":
        parameters: list[JsonObject] = operation.setdefault("parameters", [])
        if not any(str(p.get("name", "")).lower() == "idempotency-key" for p in parameters):
            parameters.append(_ref("parameters", "IdempotencyKey"))

    # Errors: the shared envelope, keeping what an endpoint declared itself.
    responses: JsonObject = operation.setdefault("responses", {})
    statuses = _error_statuses(method, operation, scope)
    for status in statuses:
        key = str(status)
        declared = responses.get(key)
        if declared is None or _is_fastapi_validation_response(declared):
            responses[key] = _ref("responses", _RESPONSE_BY_STATUS[status])
        elif "$ref" not in declared and "content" not in declared:
            declared["content"] = _error_content()
    # Other error statuses an endpoint declares itself (e.g. 501) get the envelope too.
    for key, declared in responses.items():
        if key.startswith(("4", "5")) and "$ref" not in declared and "content" not in declared:
            declared["content"] = _error_content()

    # Headers on every inline response (the shared error responses carry their own).
    for key, response in responses.items():
        if "$ref" in response:
            continue
        extra: list[str] = []
        if key.startswith("2") and method == "post":
            extra.append("Idempotent-Replayed")
        if key == "200" and is_list:
            extra.append("X-Total-Count")
        if key == "201" and creates_one:
            extra.append("Location")
        if key == "429":
            extra.append("Retry-After")
        headers: JsonObject = response.setdefault("headers", {})
        for name, header in _common_headers(*extra).items():
            headers.setdefault(name, header)
    operation["responses"] = dict(sorted(responses.items()))


def _add_query_parameters(
    operation: JsonObject, components: JsonObject, model: type[QueryModel]
) -> None:
    """The parameters of a query model (`kit.query`), which FastAPI cannot see, and the schemas
    they refer to."""
    parameters, referenced = openapi_parameters(model)
    if issubclass(model, ListParams):
        for parameter in parameters:
            if parameter["name"] == "sort":
                parameter["description"] = parameter["schema"]["description"] = _sort_description(
                    model
                )
                parameter["schema"]["enum"] = [
                    text for field in model.sortable for text in (field, f"-{field}")
                ]
                # Generated SDKs name enum members by position (`VALUE_1`) without it.
                parameter["schema"]["x-enum-varnames"] = [
                    f"{to_snake(field).upper()}_{order}"
                    for field in model.sortable
                    for order in ("ASC", "DESC")
                ]
    operation.setdefault("parameters", []).extend(parameters)
    schemas: JsonObject = components.setdefault("schemas", {})
    for name, schema in referenced.items():
        schemas.setdefault(name, schema)


def _sort_description(model: type[ListParams]) -> str:
    return (
        f"The field to sort by, `-field` for descending (default `{model.default_sort}`); ties "
        "are broken by id. With `includeDeleted=true`, only `updatedAt`."
    )


def _drop_unreferenced_schemas(document: JsonObject, names: Sequence[str]) -> None:
    """Remove FastAPI's own validation-error schemas once nothing refers to them (in order:
    `HTTPValidationError` refers to `ValidationError`)."""
    schemas: JsonObject = document.get("components", {}).get("schemas", {})
    for name in names:
        definition = schemas.pop(name, None)
        referenced = f'"#/components/schemas/{name}"'.encode() in orjson.dumps(document)
        if definition is not None and referenced:
            schemas[name] = definition


def build_openapi(app: FastAPI) -> JsonObject:
    """The complete document for the app's `/api/v1` routes (uncached; see `install_openapi`)."""
    contexts = _api_routes(app)
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=OPENAPI_VERSION,
        summary="Time tracking and billing for agencies: the Integration API v1.",
        description=_description(),
        routes=contexts,
    )
    components: JsonObject = document.setdefault("components", {})
    for kind, entries in _components().items():
        existing: JsonObject = components.setdefault(kind, {})
        for name, entry in entries.items():
            if name in existing and existing[name] != entry:
                raise RuntimeError(f"components.{kind}.{name} is defined twice in the API.")
            existing[name] = entry

    names = [_camel(context.name or "") for context in contexts]
    unique_names = {name for name in names if name and names.count(name) == 1}
    paths: JsonObject = document.get("paths", {})
    for context in contexts:
        path_item: JsonObject = paths.get(context.path_format or "", {})
        dependant: Dependant = context.dependant
        calls = list(_dependency_calls(dependant))
        scope = _required_scope(context.path_format or "", calls)
        query_models = [model for call in calls if (model := query_model_of(call))]
        is_list = any(issubclass(model, ListParams) for model in query_models)
        methods: set[str] = context.methods or set()
        # `listUsers` rather than `list_users_api_v1_users_get`, when that stays unique.
        operation_name = _camel(context.name or "")
        rename = operation_name in unique_names and len(methods) == 1 and not context.operation_id
        for method, operation in _operations(path_item):
            if method.upper() not in methods:
                continue
            if rename:
                operation["operationId"] = operation_name
            for model in query_models:
                _add_query_parameters(operation, components, model)
            path = context.path_format or ""
            # A create in a collection answers where the record is (not a bulk create).
            creates_one = method == "post" and "{" not in path and not path.endswith("/bulk")
            _complete_operation(
                method, operation, scope=scope, is_list=is_list, creates_one=creates_one
            )

    _drop_unreferenced_schemas(document, _FASTAPI_VALIDATION_SCHEMAS)
    _integral_bounds(document)
    return document


_BOUNDS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


def _integral_bounds(node: Any) -> None:
    """Whole-number bounds as integers: FastAPI's document model holds them as floats
    (`maximum: 86400.0` on an integer), which code generators may take for a float field."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)


def install_openapi(app: FastAPI) -> None:
    """Serve the document at `/api/v1/openapi.json`, built on first request and cached."""
    rendered: list[bytes] = []

    async def openapi_document() -> Response:
        if not rendered:
            rendered.append(orjson.dumps(build_openapi(app)))
        # Not `no-store` (it may be cached), but `nosniff` as every API answer.
        return Response(
            rendered[0],
            media_type="application/json",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app.router.add_api_route(
        OPENAPI_PATH,
        openapi_document,
        methods=["GET"],
        include_in_schema=False,
        name="openapi_document",
        route_class_override=ApiRoute,
    )
