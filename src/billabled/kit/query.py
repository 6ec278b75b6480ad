"""Query strings validated in one pydantic call (issue #5).

FastAPI extracts and validates every declared query parameter on its own, repeating its type
introspection of each parameter on every request: the 14 parameters of the time-entry list cost
~120 µs a request on the benchmark host, where one `model_validate` of the whole query string
costs ~3 µs. So a list endpoint declares its query as a `QueryModel` subclass and depends on
`query_params(Model)`:

- a value that does not validate is a 422 naming it as FastAPI would, with `("query", alias)`
  locations, so the envelope names the parameter exactly as before;
- a parameter the model does not name is a 422 (`extra_forbidden`), as an unknown body field
  is: ignored, a misspelt filter listed everything (decisions §33); a repeated parameter counts
  by its last value, as with FastAPI;
- FastAPI cannot see these parameters, so `api/openapi.py` documents each field of the model as a
  query parameter (`openapi_parameters`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import unquote, unquote_to_bytes

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from starlette.requests import Request

from billabled.errors import ValidationFailed, validation_errors
from billabled.kit.nul import NUL, nul_error
from billabled.kit.schema import without_null

# The attribute of a `query_params` dependency naming its model, for the OpenAPI builder.
QUERY_MODEL_ATTRIBUTE: Final = "billabled_query_model"

JsonObject = dict[str, Any]


def _true_or_false(value: Any) -> Any:
    # pydantic alone also reads yes/no, on/off, 1/0, t/f and y/n: one spelling, as documented.
    if isinstance(value, bool) or value in ("true", "false"):
        return value
    raise ValueError("must be true or false")


# A query string's boolean: `true` or `false`, nothing else.
QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]


def _digits(value: Any) -> Any:
    # Python's int() also reads `1_0` (10), `+1`, ` 1` and `٣` (a helper's schemathesis run).
    if isinstance(value, int) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        return value
    raise ValueError("must be a whole number written in digits")


# A query string's whole number: ASCII digits, nothing else.
QueryInt = Annotated[int, BeforeValidator(_digits)]


class QueryModel(BaseModel):
    """A query string's parameters; fields use `alias` for their camelCase names."""

    model_config = ConfigDict(extra="forbid", frozen=True)


QueryModelT = TypeVar("QueryModelT", bound=QueryModel)


_NOT_UTF8: Final = "must be percent-encoded UTF-8 (a `%` begins an escape of two hex digits)"
# A `%` that does not begin an escape of two hex digits.
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _badly_encoded(query_string: bytes) -> list[dict[str, Any]]:
    """An error for each parameter whose value is not percent-encoded UTF-8. Starlette reads a
    broken escape (`%ZZ`) as text and bytes that are not UTF-8 (`%E9`, Latin-1) as U+FFFD: the
    list answered "no such records" where a body in that form is refused."""
    if _BROKEN_ESCAPE.search(query_string) is None:
        # The whole string at once: when it decodes, every part of it does.
        with contextlib.suppress(UnicodeDecodeError):
            unquote_to_bytes(query_string).decode("utf-8")
            return []
    errors = []
    named: set[str] = set()
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            if _BROKEN_ESCAPE.search(pair) is not None:
                raise ValueError
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
            unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
        except ValueError:
            where = unquote(name.decode("latin-1"), errors="replace")
            if where in named:  # a parameter repeated is named once
                continue
            named.add(where)
            errors.append(
                {
                    "type": "string_encoding",
                    "loc": ("query", where),
                    "msg": _NOT_UTF8,
                    "input": None,
                }
            )
    return errors


def query_params(model: type[QueryModelT]) -> Callable[[Request], Awaitable[QueryModelT]]:
    """A dependency that answers the request's query string as `model`."""

    # Async: FastAPI would run a plain function in its thread pool.
    async def parse(request: Request) -> QueryModelT:
        query = dict(request.query_params)
        raw: bytes = request.scope["query_string"]
        if b"%" in raw:
            badly_encoded = _badly_encoded(raw)
            if badly_encoded:
                raise _refused(badly_encoded)
        if b"%00" in raw:  # how a NUL travels in a query string
            nuls = [nul_error(("query", name)) for name, value in query.items() if NUL in value]
            if nuls:
                raise _refused(nuls)
        try:
            return model.model_validate(query)
        except ValidationError as exc:
            errors = [
                {**error, "loc": ("query", *error["loc"])}
                for error in exc.errors(include_url=False)
            ]
            raise _refused(errors) from None

    setattr(parse, QUERY_MODEL_ATTRIBUTE, model)
    return parse


def _refused(errors: list[dict[str, Any]]) -> ValidationFailed:
    # Our own 422, rendered as FastAPI's `RequestValidationError` is: this module is imported by
    # the command line too, which does not import the web framework.
    return ValidationFailed(errors=validation_errors(errors))


# Set on an endpoint that answers whatever its query string holds (not built yet: a 501 of the
# reference's own parameters, which it does not declare).
ANY_QUERY_ATTRIBUTE: Final = "billabled_any_query"


def unknown_parameter_errors(request: Request) -> list[dict[str, Any]]:
    """A 422 error for each parameter sent to an endpoint that takes none (a record by id,
    `/me`, a DELETE): ignored, `DELETE /tags/{id}?dryRun=true` deleted the tag. Shaped as the
    model's own `extra_forbidden`, which a list answers for a parameter it does not take."""
    return [
        {"type": "extra_forbidden", "loc": ("query", name), "msg": _EXTRA, "input": None}
        for name in dict.fromkeys(request.query_params.keys())
    ]


_EXTRA: Final = "Extra inputs are not permitted"  # pydantic's words for a list's unknown one


def query_model_of(call: Callable[..., Any]) -> type[QueryModel] | None:
    model: type[QueryModel] | None = getattr(call, QUERY_MODEL_ATTRIBUTE, None)
    return model


def openapi_parameters(model: type[QueryModel]) -> tuple[list[JsonObject], JsonObject]:
    """The model's fields as OpenAPI query parameters, shaped as FastAPI shapes its own (the
    description on the parameter and in its schema, no schema title, no `null` default), and the
    schemas they refer to (enums), for `components.schemas`. A query string cannot send `null`
    (a parameter left out is `None`), so no schema admits it."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = {
            key: value for key, value in without_null(field_schema).items() if key != "title"
        }
        # A default is the server's, said in words: code generators send a parameter's default
        # when the caller leaves it out, and `page=1` beside a cursor is a 422 (a helper's SDK
        # audit; as is `includeDeleted=false` beside a sync cursor).
        default = field_schema.pop("default", None)
        if default is not None:
            shown = orjson.dumps(default).decode()
            field_schema["description"] = (
                f"{field_schema.get('description', '').rstrip()} Default `{shown}`.".lstrip()
            )
        parameter: JsonObject = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field_schema,
        }
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return parameters, schema.get("$defs", {})
