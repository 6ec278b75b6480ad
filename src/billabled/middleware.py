"""Request context: request id, structured request log, and the last line of defence.

- Every response carries `X-Request-Id`: the client's, when it is sane, or a new `req_…` id.
- Every request is logged once with its id, method, route, status and duration (never headers,
  bodies or query strings, which can hold secrets).
- An exception nobody handled is logged with the request id and answered with a 500 envelope that
  names only the request id; when it says the database cannot serve requests for now, a 503
  with `Retry-After`.

Written as plain ASGI (not BaseHTTPMiddleware): it runs on every request and must cost little.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from typing import Final

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billabled.db import is_unavailable
from billabled.errors import InternalError, ServiceUnavailable
from billabled.kit.apikeys import holds_a_key
from billabled.kit.ids import new_id
from billabled.kit.jsonresponse import JsonResponse

REQUEST_ID_HEADER: Final = "x-request-id"
DATABASE_UNAVAILABLE: Final = "The database cannot serve this request for now; retry shortly."
RETRY_AFTER_SECONDS: Final = 5
# nginx's status for a request the client closed: never sent (no one is there to read it), it
# is what the usage record and the request log say. The API layer marks such a request in its
# state under CLIENT_CLOSED.
CLIENT_CLOSED_REQUEST: Final = 499
CLIENT_CLOSED: Final = "client_closed"
_SANE_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

log = structlog.get_logger("billabled.request")


def _request_id_from(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            try:
                candidate = value.decode("ascii")
            except UnicodeDecodeError:
                break
            # Not an API key sent as the id by mistake: it would be logged, echoed back and
            # stored with the audit records (its body alone too: a helper's secrets audit).
            if _SANE_REQUEST_ID.match(candidate) and not holds_a_key(candidate):
                return candidate
            break
    return new_id("req")


async def answer_unhandled(scope: Scope, receive: Receive, send: Send) -> None:
    """Log the exception being handled, with the request id, and answer a bare 500 envelope,
    or a 503 with `Retry-After` when the database cannot serve requests for now.

    Called from an `except` block by whichever middleware can still answer: the API platform
    layer (so the answer keeps its rate-limit headers) or, for everything else, this one.
    """
    exc = sys.exc_info()[1]
    unavailable = exc is not None and is_unavailable(exc)
    log.exception(
        "database_unavailable" if unavailable else "unhandled_exception",
        method=scope["method"],
        path=scope["path"],
    )
    error = ServiceUnavailable(DATABASE_UNAVAILABLE) if unavailable else InternalError()
    body = error.body()
    body["error"]["requestId"] = scope.get("state", {}).get("request_id")
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if unavailable else None
    await JsonResponse(body, status_code=error.status, headers=headers)(scope, receive, send)


# uvicorn cancels the requests still running when its shutdown time is up.
STOPPED: Final = (
    "The server stopped while handling this request; retry it. If it was a write, it may have "
    "been applied: an Idempotency-Key makes the retry safe."
)


async def answer_stopped(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request cancelled at shutdown, from the `except CancelledError` of whichever
    middleware can still answer: a 503 with `Retry-After` (another instance will take the retry)
    and the connection closed, not uvicorn's plain-text 500 and traceback."""
    body = ServiceUnavailable(STOPPED).body()
    body["error"]["requestId"] = scope.get("state", {}).get("request_id")
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"}
    await JsonResponse(body, status_code=ServiceUnavailable.status, headers=headers)(
        scope, receive, send
    )


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            if response_started:
                log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
            else:
                await answer_unhandled(scope, receive, send_with_request_id)
        except asyncio.CancelledError:
            # Cancelled at shutdown, every layer below unwound (its transaction rolled back). Not
            # raised on: uvicorn would log a traceback, and nothing waits for this task.
            log.warning("request_cancelled", method=scope["method"], path=scope["path"])
            if not response_started:
                await answer_stopped(scope, receive, send_with_request_id)
        finally:
            route = scope.get("route")
            log.info(
                "request",
                method=scope["method"],
                route=getattr(route, "path", None),
                path=scope["path"],
                # The client left (or sent what is not HTTP, which the server answered itself)
                # before an answer began: it was logged as a 500.
                status=CLIENT_CLOSED_REQUEST if scope["state"].get(CLIENT_CLOSED) else status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
