"""The Integration API platform layer: what every `/api/v1` request passes through (SPEC §4).

In order: authenticate the key (401s, with the caller's IP rate-limited instead of any key's
budget) → rate-limit the key by plan (429) → bound and type-check the body (413, 415) → honour
`Idempotency-Key` on POST (replay, 422 mismatch, 409 in progress) → run the endpoint. Every
authenticated response carries the rate-limit headers, and every request, whatever its status,
leaves a usage record.

Plain ASGI, because it runs on every request and must cost little.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billabled.auth import authority
from billabled.auth.authenticate import (
    KEY_LOOKUP,
    KEYS_LOOKUP,
    authenticate_key,
    key_from_headers,
    key_hash_of,
)
from billabled.auth.key_lookup import KeyLookup, PostgresKeyLookup, SqliteKeyLookup
from billabled.auth.principal import Principal
from billabled.config import Settings
from billabled.db import Database, async_url, postgres_connect_args
from billabled.errors import (
    BillabledError,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
)
from billabled.idempotency import service as idempotency
from billabled.kit.apikeys import derive_pepper, redact_keys
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.media import is_json_media_type, refused_charset
from billabled.kit.time import utcnow
from billabled.middleware import (
    CLIENT_CLOSED,
    CLIENT_CLOSED_REQUEST,
    answer_stopped,
    answer_unhandled,
)
from billabled.ratelimit import (
    RateLimitDecision,
    RateLimiter,
    WindowCount,
    decide,
    limit_for_plan,
)
from billabled.transaction import FinishedResponse
from billabled.usage.recorder import UsageEntry, UsageRecorder

API_PREFIX: Final = "/api/v1"
PUBLIC_PATHS: Final = frozenset({f"{API_PREFIX}/openapi.json"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class ApiPlatform:
    """The per-process parts of the platform layer, built in the app's lifespan."""

    settings: Settings
    database: Database
    limiter: RateLimiter
    usage: UsageRecorder
    keys: KeyLookup
    pepper: bytes
    # The API's routes, to name the route template of requests refused before routing.
    routes: Sequence[BaseRoute] = ()

    @classmethod
    async def build(
        cls, settings: Settings, database: Database, routes: Sequence[BaseRoute] = ()
    ) -> ApiPlatform:
        secret = settings.resolved_secret_key
        keys: KeyLookup
        if database.is_sqlite:
            keys = SqliteKeyLookup.connect(database.engine.url, KEY_LOOKUP)
        else:
            # The configured URL, query and all: the engine's has lost its libpq options (TLS
            # mode, certificates), which it passes on its own, and the lookups went without them.
            keys = PostgresKeyLookup.for_url(
                async_url(settings.resolved_database_url),
                KEY_LOOKUP,
                KEYS_LOOKUP,
                postgres_connect_args(settings),
            )
        return cls(
            settings=settings,
            database=database,
            limiter=RateLimiter.from_url(settings.redis_url),
            usage=UsageRecorder(
                database.engine,
                secret,
                retention_days=settings.usage_retention_days,
                flush_interval=settings.usage_flush_interval_seconds,
                hourly_purges=[partial(idempotency.purge_expired, database.engine)],
            ),
            keys=keys,
            pepper=derive_pepper(secret),
            routes=routes,
        )

    async def close(self) -> None:
        try:
            await self.usage.stop()
        finally:  # the connections are closed whatever became of the last usage records
            await self.limiter.close()
            await self.keys.close()


def principal_of(scope: Scope) -> Principal | None:
    principal: Principal | None = scope["state"].get("principal")
    return principal


def rate_limit_of(scope: Scope) -> RateLimitDecision | None:
    decision: RateLimitDecision | None = scope["state"].get("rate_limit")
    return decision


# How long a failed claim's release may take before the request's 503 goes out without it.
RELEASE_AFTER_FAILURE_SECONDS: Final = 1.0


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    """The client hung up before its body was complete: the request never arrived whole."""


async def _read_body(receive: Receive, limit: int, seconds: float) -> bytes:
    """The whole body, within `seconds` (a body sent a byte at a time held its connection, and
    its request, forever)."""
    async with asyncio.timeout(seconds):
        return await _body_of(receive, limit)


async def _body_of(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Not the end of the body: a JSON document cut short may still parse, and was run.
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _declared_length(headers: Headers) -> int:
    """The body's `Content-Length`, or 0 when it sends none (chunked) or one that is not a
    number (the server refuses those before the app sees them)."""
    value = headers.get("content-length", "")
    if not (value.isascii() and value.isdigit()):
        return 0
    # More digits than any limit has (and than int() reads past 4,300): too large, unread.
    return int(value) if len(value) <= 18 else 10**18


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# Content codings a client may send by mistake: named in the refusal. Any other value is not
# echoed back (docs/api.md: rejected values are not).
_KNOWN_CODINGS = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress"})


# Every API answer holds a workspace's data or an error about it: no cache may keep one (a key
# sent as `X-Api-Key` is not `Authorization`, which alone keeps shared caches from reusing an
# answer, RFC 9111 §3.5), and no browser may read one as anything but JSON.
_PRIVATE = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


def _encoding_refused(encoding: str) -> str:
    named = f" {encoding!r}" if encoding in _KNOWN_CODINGS else ""
    return f"Content-Encoding{named} is not supported: send the body as is."


class ApiPlatformMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _app_path(scope)
        if scope["type"] != "http" or not path.startswith(API_PREFIX) or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        platform: ApiPlatform = scope["app"].state.platform
        started = time.perf_counter()
        status = 500
        response_started = False
        rate_headers: list[tuple[bytes, bytes]] = []

        async def send_with_limits(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), *_PRIVATE, *rate_headers]
            await send(message)

        async def refuse_body(error: BillabledError) -> None:
            # A wrong path or method is named first (its 404 or 405, which read no body), as
            # for a body that is fine: a mistyped URL was answered "the body must be JSON".
            if _routable(platform, scope):
                await _respond(error, scope, receive, send_with_limits)
            elif "Connection" in error.headers:
                # Its body, which may still come, is not read: the connection is closed.
                await self.app(scope, receive, partial(_closing, send_with_limits))
            else:
                await self.app(scope, receive, send_with_limits)

        principal: Principal | None = None
        refused_key: tuple[str, str] | None = None
        try:
            headers = Headers(scope=scope)
            try:
                raw_key = key_from_headers(
                    headers.getlist("authorization"), headers.getlist("x-api-key")
                )
                key_hash = key_hash_of(platform.pepper, raw_key)
                principal, window = await _authenticate_and_count(platform, key_hash)
            except Unauthorized as exc:
                refused_key = exc.refused_key
                # No valid key: limit the caller's IP, never a key's budget.
                decision = await platform.limiter.hit(
                    f"ip:{_ip_bucket(_client_ip(scope))}",
                    platform.settings.unauthenticated_rate_limit_per_minute,
                    "ip",
                )
                rate_headers = decision.headers()
                error: BillabledError = exc if decision.allowed else _rate_limited(decision)
                await _respond(error, scope, receive, send_with_limits)
                return

            decision = decide(window, limit_for_plan(principal.plan), "key")
            rate_headers = decision.headers()
            if not decision.allowed:
                await _respond(_rate_limited(decision), scope, receive, send_with_limits)
                return
            scope["state"]["principal"] = principal
            scope["state"]["rate_limit"] = decision

            if scope["method"] in _BODY_METHODS:
                if (
                    headers.get("expect", "").lower() == "100-continue"
                    and _declared_length(headers) > platform.settings.max_request_body_bytes
                ):
                    # Refused before the client sends it: it waits for our go-ahead (which the
                    # server gives when the body is first read). Only then: a client that sends
                    # its body at once, answered and cut off before all of it was read, got a
                    # reset that can discard the answer (a helper's review); its body is read
                    # up to the limit and refused below. The connection is closed, as the
                    # client may still send the body.
                    limit = platform.settings.max_request_body_bytes
                    too_large = PayloadTooLarge(
                        f"The request body is larger than {limit} bytes.",
                        headers={"Connection": "close"},
                    )
                    await refuse_body(too_large)
                    return
                try:
                    body = await _read_body(
                        receive,
                        platform.settings.max_request_body_bytes,
                        platform.settings.request_read_timeout_seconds,
                    )
                except TimeoutError:
                    seconds = platform.settings.request_read_timeout_seconds
                    # `Connection: close`: the rest of the body would otherwise be read (and
                    # thrown away) for as long as the client keeps sending it.
                    await _respond(
                        RequestTimeout(
                            f"The request body did not arrive within {seconds:g} s.",
                            headers={"Connection": "close"},
                        ),
                        scope,
                        receive,
                        send_with_limits,
                    )
                    return
                except _ClientGone:
                    status = CLIENT_CLOSED_REQUEST
                    scope["state"][CLIENT_CLOSED] = True  # for the request log
                    return
                except _BodyTooLarge:
                    limit = platform.settings.max_request_body_bytes
                    await refuse_body(
                        PayloadTooLarge(f"The request body is larger than {limit} bytes.")
                    )
                    return
                content_type = headers.get("content-type")
                if body and not is_json_media_type(content_type):
                    await refuse_body(UnsupportedMediaType())
                    return
                charset = refused_charset(content_type) if body and content_type else None
                if charset is not None:
                    await refuse_body(
                        UnsupportedMediaType(
                            f"The body's charset{charset} is not supported: send JSON in UTF-8."
                        )
                    )
                    return
                encoding = headers.get("content-encoding", "identity").strip().lower()
                if body and encoding != "identity":
                    # RFC 9110 §15.5.16: a content coding the server does not apply is a 415.
                    await refuse_body(UnsupportedMediaType(_encoding_refused(encoding)))
                    return
                receive = _replaying(body, receive)
                idempotency_key = headers.get("idempotency-key")
                if scope["method"] == "POST" and idempotency_key is not None:
                    await self._idempotent(
                        platform, principal, idempotency_key, body, scope, receive, send_with_limits
                    )
                    return
            await self.app(scope, receive, send_with_limits)
        except Exception:
            if response_started:
                raise
            # Answered here rather than by the outer middleware, so it keeps the rate-limit headers.
            await answer_unhandled(scope, receive, send_with_limits)
        except asyncio.CancelledError:
            if not response_started:  # here too, for the headers and the usage record's status
                await answer_stopped(scope, receive, send_with_limits)
            raise
        finally:
            _record_usage(platform, scope, principal, refused_key, status, started)

    async def _idempotent(
        self,
        platform: ApiPlatform,
        principal: Principal,
        raw_key: str,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        engine = platform.database.engine
        assert principal.key_id is not None
        key_id = principal.key_id
        try:
            key = idempotency.validate_key(raw_key)
        except BillabledError as exc:
            await _respond(exc, scope, receive, send)
            return
        claimed_at = utcnow()
        try:
            claimed = await idempotency.claim(
                engine,
                api_key_id=key_id,
                workspace_id=principal.workspace_id,
                key=key,
                request_fingerprint=idempotency.fingerprint(
                    scope["method"], scope["path"], scope.get("query_string", b""), body
                ),
                now=claimed_at,
                abandoned_after=timedelta(seconds=platform.settings.idempotency_claim_seconds),
            )
        except BillabledError as exc:
            await _respond(exc, scope, receive, send)
            return
        except Exception:
            # The claim may have committed with its answer lost (the connection cut at COMMIT):
            # left, it refused every retry as in progress until abandoned. Best effort, and
            # briefly: the database may be away, and the 503 must not wait for it twice.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(RELEASE_AFTER_FAILURE_SECONDS):
                    await idempotency.release(engine, key_id, key, claimed_at)
            raise
        if isinstance(claimed, idempotency.Replay):
            if not authority.still_holds(principal, claimed.relied_on):
                # The creator lost a scope or role the first request relied on (SPEC §4: a demoted
                # creator shrinks the key on the next request). Answered as a fresh request is,
                # by the route's own checks; the guard rolls back anything that got past them,
                # so the request never runs twice.
                scope["state"]["before_commit"] = [_refuse_to_run_again]
                await self.app(scope, receive, send)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": claimed.status,
                    "headers": [
                        *claimed.headers,
                        (b"content-length", str(len(claimed.body)).encode()),
                        (b"idempotent-replayed", b"true"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": claimed.body})
            return

        relied_on: set[str] = set()  # filled by the route's checks as they run

        async def store_with_change(session: AsyncSession, response: FinishedResponse) -> None:
            await idempotency.complete_in(session, key_id, key, claimed_at, response, relied_on)

        scope["state"]["before_commit"] = [store_with_change]
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            with authority.recording(relied_on):
                await self.app(scope, receive, capture)
        except BaseException:
            await idempotency.release(engine, key_id, key, claimed_at)
            raise
        status = start["status"] if start else 500
        if status >= 500 or status == 403:
            # A 403 is about the caller's permissions now, which a promotion changes: a retry
            # runs afresh. A server error left nothing behind: a retry may run.
            await idempotency.release(engine, key_id, key, claimed_at)
        elif status >= 400:
            # The change rolled back; remember the refusal so a retry gets the same answer.
            assert start is not None
            response = FinishedResponse(status, list(start.get("headers", [])), b"".join(chunks))
            await idempotency.complete_alone(engine, key_id, key, claimed_at, response, relied_on)


async def _refuse_to_run_again(session: AsyncSession, response: FinishedResponse) -> None:
    raise idempotency.ReplayRefused()


async def _authenticate_and_count(
    platform: ApiPlatform, key_hash: str
) -> tuple[Principal, WindowCount]:
    """Look the key up and count the request against its window. With Redis both are round
    trips, so they overlap; the count is per key hash, so an unknown key charges no real key,
    and its counter is then deleted (made-up keys would otherwise each leave one in Redis for a
    window)."""
    bucket = f"key:{key_hash[:32]}"
    if not platform.limiter.is_shared:
        principal = await authenticate_key(platform.keys, key_hash)
        return principal, await platform.limiter.count(bucket)
    # One task for the count (gather would make two), the lookup on this one.
    counting = asyncio.ensure_future(platform.limiter.count(bucket))
    try:
        principal = await authenticate_key(platform.keys, key_hash)
    except BaseException as exc:
        # The refusal stands whatever the count does; it is awaited only to be finished.
        with contextlib.suppress(Exception):
            await counting
        if isinstance(exc, Unauthorized):
            await platform.limiter.forget(bucket)
        raise
    return principal, await counting


def _rate_limited(decision: RateLimitDecision) -> RateLimited:
    retry_after = max(1, decision.reset_in)
    return RateLimited(
        f"Rate limit of {decision.limit} requests per minute exceeded. "
        f"Retry in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


async def _respond(error: BillabledError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JsonResponse(error.body(), status_code=error.status)
    MutableHeaders(raw=response.raw_headers).update(error.headers)
    await response(scope, receive, send)


def _app_path(scope: Scope) -> str:
    """The request's path within the app: served under a prefix (`--root-path`, a proxy's
    sub-path), the ASGI path includes that prefix, and routing strips it; so must the decision
    whether a request is an API request."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _ip_bucket(ip: str) -> str:
    """Whose budget a keyless request spends: its IPv4 address, or its IPv6 /64 — one host
    holds a whole /64, so per address it could mint budgets without end."""
    if ":" not in ip:
        return ip
    try:
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    except ValueError:
        return ip


async def _closing(send: Send, message: Message) -> None:
    if message["type"] == "http.response.start":
        message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
    await send(message)


def _routable(platform: ApiPlatform, scope: Scope) -> bool:
    """Whether a route answers this path and method (else the router's 404 or 405 does)."""
    return any(route.matches(scope)[0] is Match.FULL for route in platform.routes)


def _route_template(platform: ApiPlatform, scope: Scope) -> str:
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    # Not routed (refused before routing, or no such route): the template it would match.
    for candidate in platform.routes:
        match, _ = candidate.matches(scope)
        if match != Match.NONE:
            return str(getattr(candidate, "path", "(unmatched)"))
    return "(unmatched)"


def _record_usage(
    platform: ApiPlatform,
    scope: Scope,
    principal: Principal | None,
    refused_key: tuple[str, str] | None,
    status: int,
    started: float,
) -> None:
    now = utcnow()
    headers = Headers(scope=scope)
    workspace_id, key_id = (
        (principal.workspace_id, principal.key_id) if principal else refused_key or (None, None)
    )
    platform.usage.record(
        UsageEntry(
            workspace_id=workspace_id,
            api_key_id=key_id,
            endpoint=_route_template(platform, scope),
            method=scope["method"],
            status=status,
            # Stored: a key pasted into it is cut to its prefix, as in the logs.
            user_agent=redact_keys(agent) if (agent := headers.get("user-agent")) else None,
            ip_hash=platform.usage.hash_ip(_client_ip(scope), now),
            latency_us=round((time.perf_counter() - started) * 1_000_000),
            created_at=now,
            key_used=principal is not None,
        )
    )
