"""The error hierarchy (rendered by `billabled.error_handlers`).

Every error leaves the service as `{"error": {"code", "message", ...}}` with its real status.
Nothing internal (tracebacks, SQL, exception text of unexpected errors) is ever rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from billabled.kit.apikeys import redact_keys


class BillabledError(Exception):
    """Base of every error we raise on purpose. `status` and `code` say how it is rendered."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        # A key the client put where an id belongs (`/clients/blb_…`) is not echoed whole.
        message = redact_keys(self.message, bodies=True)
        return {"error": {"code": self.code, "message": message, **self.details}}


class BadRequest(BillabledError):
    status = 400
    code = "bad_request"


class MalformedJson(BadRequest):
    code = "malformed_json"
    default_message = "The request body is not valid JSON."


class Unauthorized(BillabledError):
    status = 401
    code = "unauthorized"
    default_message = "Authentication is required."
    # RFC 9110 §15.5.2: a 401 names the scheme that would succeed; RFC 6750 adds
    # `error="invalid_token"` when a credential was sent and refused.
    challenge: ClassVar[str] = 'Bearer realm="Billabled API"'
    # (workspace id, key id) of a key that exists but is refused (revoked, expired), for usage.
    refused_key: tuple[str, str] | None = None

    def __init__(
        self, message: str | None = None, *, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        challenge = {"WWW-Authenticate": self.challenge}
        super().__init__(message, headers={**challenge, **(headers or {})}, **details)


class Forbidden(BillabledError):
    status = 403
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(BillabledError):
    status = 404
    code = "not_found"
    default_message = "The resource does not exist."


class MethodNotAllowed(BillabledError):
    status = 405
    code = "method_not_allowed"
    default_message = "The method is not allowed on this resource."


class RequestTimeout(BillabledError):
    status = 408
    code = "request_timeout"
    default_message = "The request did not arrive in time."


class Conflict(BillabledError):
    status = 409
    code = "conflict"
    default_message = "The request conflicts with the current state of the resource."


class PayloadTooLarge(BillabledError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(BillabledError):
    status = 415
    code = "unsupported_media_type"
    default_message = "The request body must be JSON (Content-Type: application/json)."


class ValidationFailed(BillabledError):
    """422 with the failing fields: `errors: [{"field", "message", "type"}]`."""

    status = 422
    code = "validation_failed"
    default_message = "The request is invalid."


# One failing field of a 422: `{"field", "in", "message", "type"}`.
FieldError = dict[str, str]


def field_error(field: str, message: str, type_: str) -> FieldError:
    return {"field": field, "in": "body", "message": message, "type": type_}


def invalid_fields(subject: str, errors: list[FieldError]) -> ValidationFailed:
    """One 422 listing every failing field: the message is the problem's, or lists them."""
    if len(errors) == 1:
        return ValidationFailed(errors[0]["message"], errors=errors)
    listed = "; ".join(f"{error['field']}: {error['message'].rstrip('.')}" for error in errors)
    return ValidationFailed(f"The {subject} is invalid: {listed}.", errors=errors)


class RateLimited(BillabledError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests."


class InternalError(BillabledError):
    status = 500
    code = "internal_error"
    default_message = "Something went wrong on our side. Quote the request id if you contact us."


class NotImplementedYet(BillabledError):
    status = 501
    code = "not_implemented"
    default_message = "This endpoint is not available yet."


class ServiceUnavailable(BillabledError):
    status = 503
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable."


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error dicts as `[{"field", "in", "message", "type"}]` (no input echo)."""
    rendered = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else None
        field_parts = loc[1:] if where else loc
        rendered.append(
            {
                "field": redact_keys(".".join(field_parts), bodies=True) if field_parts else None,
                "in": where or "body",
                "message": err.get("msg", "Invalid value."),
                "type": err.get("type", "value_error"),
            }
        )
    return rendered
