"""The one place errors become responses: our errors (`billabled.errors`) and the framework's
(404, 405, validation, malformed JSON), all in the envelope. Used by the app factory only, so the
command line, which raises the same errors, does not import the web framework."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from billabled.errors import (
    BillabledError,
    MalformedJson,
    ValidationFailed,
    error_body,
    validation_errors,
)
from billabled.kit.apikeys import redact_keys
from billabled.kit.jsonresponse import JsonResponse

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path. Starlette names only the first route that
    matched the path, and each method of a path is a route of its own (`GET /clients` said
    `Allow: GET` to a DELETE, though POST is allowed too)."""
    scope = {**request.scope, "method": "OPTIONS"}  # a method no route has: path matches only
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            allowed |= getattr(route, "methods", None) or set()
    if "GET" in allowed:
        allowed.add("HEAD")  # every GET route answers HEAD (`ApiRoute`)
    return sorted(allowed)


async def _render_billabled_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BillabledError)
    return JsonResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _render_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = exc.headers
    if status == 404:
        message = redact_keys(f"No resource at {request.method} {request.url.path}.", bodies=True)
    elif status == 405:
        message = redact_keys(
            f"{request.method} is not allowed on {request.url.path}.", bodies=True
        )
        # A mount (the static files) names no methods of its own: its `Allow` stands.
        allowed = allowed_methods(request)
        if allowed:
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    else:
        message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    code = _STATUS_CODES.get(status, "error" if status < 500 else "internal_error")
    return JsonResponse(error_body(code, message), status_code=status, headers=headers)


async def _render_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return JsonResponse(MalformedJson().body(), status_code=MalformedJson.status)
    body = ValidationFailed(errors=validation_errors(errors)).body()
    return JsonResponse(body, status_code=ValidationFailed.status)


def install_error_handlers(app: Starlette) -> None:
    """Render our errors and the framework's (404, 405, validation, malformed JSON) as the envelope.

    Unexpected exceptions are caught by RequestContextMiddleware, which logs them with the request
    id and answers 500 without details.
    """
    app.add_exception_handler(BillabledError, _render_billabled_error)
    app.add_exception_handler(StarletteHTTPException, _render_http_exception)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
