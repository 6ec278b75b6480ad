"""The route class of every Integration API router.

`ApiRoute` is FastAPI's `APIRoute` with two shortcuts on the request path, both measured under the
benchmark (issue #5, docs/decisions.md §20):

- it turns away a path that does not start with its template's literal part before FastAPI's own
  matching, which costs ~0.7 µs for every route tried (the app tries its ~80 routes in order);
- it calls its endpoint directly. Every API endpoint has the same shape: dependencies that take
  only the request (the key's scope check, the request's session, the list's query model), at most
  a few path parameters and at most one JSON body model. For that shape `DirectCall` does what
  FastAPI's general handler does — in the same order, with the same validation and the same
  errors, but a body taken by its fields' aliases only (decisions §41) — without re-examining
  the declaration on every request. An endpoint of any other shape
  keeps FastAPI's handler (`test_every_api_route_is_called_directly` keeps ours on that path).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from billabled.kit import json_names
from billabled.kit.media import is_json_media_type
from billabled.kit.nul import NUL, nul_error, nul_errors
from billabled.kit.query import ANY_QUERY_ATTRIBUTE, query_model_of, unknown_parameter_errors

# What FastAPI's ModelField offers: a name, the alias the client uses, and validation that
# answers (value, errors) with each error's location under `loc`.
Field = Any
Dependency = Callable[[Request], Awaitable[Any]]

_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class DirectCall:
    """How to call one endpoint: its request-only dependencies in declaration order, its path
    parameters, its body model."""

    endpoint: Callable[..., Awaitable[Any]]
    dependencies: tuple[tuple[str | None, Dependency], ...]
    request_name: str | None
    path_fields: tuple[Field, ...]
    # The body's parameter name and model: validated by the names clients use only (below).
    body: tuple[str, TypeAdapter[Any]] | None
    # No query model: the endpoint takes no query parameters, and refuses any (decisions §33).
    takes_query: bool

    @classmethod
    def of(cls, route: APIRoute) -> DirectCall | None:
        """The direct call of `route`, or None when its endpoint has another shape."""
        dependant = route.dependant
        if (
            route.response_field is not None
            or not _only_request(dependant, allow_path_and_body=True)
            or not inspect.iscoroutinefunction(dependant.call)
            or len(dependant.body_params) > 1
        ):
            return None
        dependencies: list[tuple[str | None, Dependency]] = []
        for sub in dependant.dependencies:
            if not (
                _only_request(sub, allow_path_and_body=False)
                and sub.dependencies == []
                and inspect.iscoroutinefunction(sub.call)
                and sub.request_param_name is not None
            ):
                return None
            dependencies.append((sub.name, _bound_to_request(sub)))
        body_field = dependant.body_params[0] if dependant.body_params else None
        if body_field is not None and (
            type(body_field.field_info) is not params.Body
            or getattr(body_field.field_info, "embed", False)
            or not body_field.field_info.is_required()
            or body_field.field_info.metadata  # constraints `TypeAdapter(annotation)` would drop
        ):
            return None
        body = None
        if body_field is not None:
            annotation = body_field.field_info.annotation
            if annotation is None:
                return None
            body = (body_field.name, TypeAdapter(annotation))
        if any(_is_model(field) for field in dependant.path_params):
            return None
        assert dependant.call is not None
        return cls(
            endpoint=dependant.call,
            dependencies=tuple(dependencies),
            request_name=dependant.request_param_name,
            path_fields=tuple(dependant.path_params),
            body=body,
            takes_query=getattr(dependant.call, ANY_QUERY_ATTRIBUTE, False)
            or any(
                query_model_of(sub.call) is not None
                for sub in dependant.dependencies
                if sub.call is not None
            ),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        # FastAPI's order: the body is read and parsed first (malformed JSON is a 422 before any
        # dependency runs), then the dependencies, then the path and body are validated together.
        body = await _json_body(request) if self.body is not None else _MISSING
        values: dict[str, Any] = {}
        for name, dependency in self.dependencies:
            solved = await dependency(request)
            if name is not None:
                values[name] = solved
        errors: list[Any] = []
        if scope["query_string"] and not self.takes_query:
            errors.extend(unknown_parameter_errors(request))
        if self.path_fields:
            path_params = scope.get("path_params", {})
            for field in self.path_fields:
                raw = path_params.get(field.alias)
                if isinstance(raw, str) and NUL in raw:
                    errors.append(nul_error(("path", field.alias)))
                    continue
                value, field_errors = field.validate(raw, values, loc=("path", field.alias))
                if field_errors:
                    errors.extend(field_errors)
                else:
                    values[field.name] = value
        if self.body is not None:
            body_name, body_type = self.body
            if body is _MISSING:
                errors.append(
                    {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
                )
            else:
                # By the names clients use only: a model also takes its fields' Python names
                # (`populate_by_name`, for our own code), and `project_id` was a second
                # spelling of `projectId`, though unknown names are refused (decisions §41).
                try:
                    values[body_name] = body_type.validate_python(
                        body, from_attributes=True, by_name=False
                    )
                except ValidationError as exc:
                    errors.extend(
                        {**error, "loc": ("body", *error["loc"])}
                        for error in exc.errors(include_url=False)
                    )
        if errors:
            raise RequestValidationError(errors, body=None if body is _MISSING else body)
        if self.request_name is not None:
            values[self.request_name] = request
        response = await self.endpoint(**values)
        if not isinstance(response, Response):
            raise TypeError(f"{self.endpoint.__qualname__} must return a Response")
        await response(scope, receive, send)


def _only_request(dependant: Dependant, *, allow_path_and_body: bool) -> bool:
    """True when `dependant` takes nothing FastAPI would have to build but the request (and, for
    an endpoint, its path parameters and body)."""
    return not (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or (not allow_path_and_body and (dependant.path_params or dependant.body_params))
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _bound_to_request(sub: Dependant) -> Dependency:
    call = sub.call
    name = sub.request_param_name
    assert call is not None
    assert name is not None
    if list(inspect.signature(call).parameters) == [name]:
        return call

    async def with_keyword(request: Request) -> Any:
        return await call(**{name: request})

    return with_keyword


def _is_model(field: Field) -> bool:
    annotation = field.field_info.annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


async def _json_body(request: Request) -> Any:
    """The body as FastAPI's handler reads it: `_MISSING` when empty, parsed JSON when the
    content type says JSON, the bytes otherwise (which no body model accepts)."""
    raw = await request.body()
    if not raw:
        return _MISSING
    if not is_json_media_type(request.headers.get("content-type")):
        return raw
    try:
        # UTF-8 strictly, as RFC 8259 requires: `json.loads` of the bytes guessed UTF-16 and
        # UTF-32 (and took them), and let UTF-8-encoded surrogates through to a 422. A leading
        # byte order mark is ignored, as RFC 8259 allows (files saved by Windows tools).
        document, repeats = json_names.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise _malformed(exc.pos, exc.msg) from exc
    # Not UTF-8; an integer past Python's 4,300 digits (ValueError); nested past the parser.
    except (ValueError, RecursionError) as exc:
        raise _malformed(0, str(exc)) from exc
    if repeats:
        raise RequestValidationError(json_names.repeated_name_errors(document, ("body",)))
    # JSON sends a NUL only as the escape `\u0000`: documents without one are not walked.
    if b"\\u0000" in raw:
        errors = nul_errors(document, ("body",))
        if errors:
            raise RequestValidationError(errors, body=None)
    return document


def _malformed(position: int, reason: str) -> RequestValidationError:
    """The error FastAPI raises for a body that is not JSON (answered 400 `malformed_json`)."""
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": reason},
            }
        ],
        body=None,
    )


class ApiRoute(APIRoute):
    """An APIRoute that matches by its literal prefix first and calls its endpoint directly."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.literal_prefix = self.path.split("{", 1)[0]
        # Paths other routes name literally, which this one's parameters must not take
        # (`reserve_literal_paths`).
        self.reserved_paths: frozenset[str] = frozenset()
        self.direct_call = DirectCall.of(self)
        if self.direct_call is not None:
            # Starlette's Route.handle sends the request to `self.app`. Exceptions go on to the
            # app's ExceptionMiddleware, which renders them with the same handlers FastAPI's
            # per-route wrapper would have used.
            self.app = self.direct_call

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Behind a root_path (a proxy's prefix) FastAPI's own matching decides alone.
        if not scope.get("root_path") and not scope["path"].startswith(self.literal_prefix):
            return Match.NONE, {}
        if scope["path"] in self.reserved_paths:
            return Match.NONE, {}
        match, child_scope = super().matches(scope)
        if match is Match.PARTIAL and self._answers_head(scope):
            return Match.FULL, child_scope
        return match, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._answers_head(scope):
            await self.app(scope, receive, send)
        else:
            await super().handle(scope, receive, send)

    def _answers_head(self, scope: Scope) -> bool:
        """HEAD is GET without the body (RFC 9110 §9.3.2), on every route that answers GET:
        the server (uvicorn) sends the headers, `Content-Length` included, and not the body.
        Not a method of its own, so the reference lists no HEAD operations."""
        return scope["method"] == "HEAD" and "GET" in (self.methods or ())


def reserve_literal_paths(routes: Sequence[Any]) -> None:
    """Keep each API route's path parameters off the paths other routes name literally:
    `GET /time-entries/bulk` was taken by `GET /time-entries/{entry_id}` (a 404 "no time entry
    'bulk'"), where the path is POST's only: a 405 naming it."""
    api_routes = [route for route in routes if isinstance(route, ApiRoute)]
    literal = frozenset(route.path for route in api_routes if "{" not in route.path)
    for route in api_routes:
        if "{" in route.path:
            route.reserved_paths = literal


def directly_called(routes: Sequence[Any]) -> list[str]:
    """The API routes (as `METHOD path`) that call their endpoint directly."""
    return [
        f"{','.join(sorted(route.methods or ()))} {route.path}"
        for route in routes
        if isinstance(route, ApiRoute) and route.direct_call is not None
    ]
