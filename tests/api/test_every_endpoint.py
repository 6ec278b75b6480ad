"""The rule every endpoint is tested for — missing scope (403), another workspace's id (404), bad
body (422) — checked for every operation of the reference, read from the app's own OpenAPI
document: an endpoint added tomorrow is covered without anyone writing its case by hand.

- 403: a key of the same workspace with every scope but the operation's `x-required-scope`.
  Operations not built yet (they declare a 501) check their scope first: they must give it too.
- 404: each built operation whose path names records gets the ids of real records of another
  workspace; their owner then reads them back unchanged.
- 422: each built operation with a JSON body gets a JSON array instead of an object, an object
  with a field of the wrong type, and `null` in each field the document does not call nullable;
  nothing is written. A field the document calls nullable is never refused as `not_null`.
- Each list takes every `sort` value its document lists, and no other.

The cases are made at collection time from `build_openapi` on an app that never starts (no
database); `test_the_cases_are_the_served_documents_operations` checks that they are exactly the
operations `GET /api/v1/openapi.json` describes.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient

from billabled.api.openapi import OPENAPI_PATH, SCOPE_EXTENSION, build_openapi
from billabled.app import create_app
from billabled.auth.scopes import ALL_SCOPES, Scope
from billabled.config import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.factories import Factory, Key, Workspace

JsonObject = dict[str, Any]

_METHODS: Final = ("get", "put", "post", "delete", "patch")
_SCHEMA_REF: Final = "#/components/schemas/"
# A path parameter that names no kind of record (only operations not built yet may have one).
_PLACEHOLDER_ID: Final = "x_1"


# --- The operations, from the document ----------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, e.g. /api/v1/clients/{client_id}
    scope: str | None
    path_params: tuple[str, ...]
    body: JsonObject | None  # the JSON body's schema, references resolved at the top
    built: bool  # False when the operation declares a 501 (not available yet)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, ids: Mapping[str, str]) -> str:
        return fill(self.path, ids)


def fill(template: str, ids: Mapping[str, str]) -> str:
    """The path with its parameters replaced by these ids (a placeholder for any other)."""
    return re.sub(r"{(\w+)}", lambda match: ids.get(match[1], _PLACEHOLDER_ID), template)


def _resolve(document: JsonObject, schema: JsonObject) -> JsonObject:
    while isinstance(ref := schema.get("$ref"), str) and ref.startswith(_SCHEMA_REF):
        schema = document["components"]["schemas"][ref.removeprefix(_SCHEMA_REF)]
    return schema


def _operations(document: JsonObject) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    scope=operation.get(SCOPE_EXTENSION),
                    path_params=tuple(
                        p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"
                    ),
                    body=_resolve(document, body["schema"]) if body else None,
                    built="501" not in operation["responses"],
                )
            )
    return found


def _reference() -> JsonObject:
    """The app's document, built from its routes: the app is never started, so no database."""
    settings = Settings(
        data_dir=Path(tempfile.gettempdir()), secret_key=TEST_SECRET_KEY, log_level="warning"
    )
    return build_openapi(create_app(settings))


DOCUMENT: Final = _reference()
OPERATIONS: Final = _operations(DOCUMENT)
SCOPED: Final = [op for op in OPERATIONS if op.scope is not None]
NOT_BUILT: Final = [op for op in OPERATIONS if not op.built]
NAMING_RECORDS: Final = [op for op in OPERATIONS if op.built and op.path_params]
WITH_BODY: Final = [op for op in OPERATIONS if op.built and op.body is not None]
# Only these may be called with any valid key (tests/test_openapi.py enforces it too).
UNSCOPED: Final = {"GET /api/v1/me"}


def _cases(operations: list[Operation]) -> list[Any]:
    return [pytest.param(op, id=op.id) for op in operations]


# --- Bad bodies, from each body's schema --------------------------------------------------------


@dataclass(frozen=True)
class BadBody:
    label: str
    body: object
    field: str | None  # the field the errors must name, when there is one


def _admits(document: JsonObject, schema: JsonObject, kind: str) -> bool:
    """Whether a value of this JSON type (`object`, `null`) can satisfy the schema."""
    schema = _resolve(document, schema)
    alternatives = schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", [])
    if alternatives:
        return any(_admits(document, alternative, kind) for alternative in alternatives)
    declared = schema.get("type")
    if declared is None:
        return "enum" not in schema and "const" not in schema  # anything goes
    return declared == kind or (isinstance(declared, list) and kind in declared)


def _bad_bodies(operation: Operation) -> Iterator[BadBody]:
    # An array is no body model's object.
    yield BadBody("an array", [], None)
    # An object where the first field that cannot be an object is one (the other fields may be
    # missing: the errors must name that field among them).
    assert operation.body is not None
    properties = operation.body.get("properties", {})
    for name, schema in properties.items():
        if not _admits(DOCUMENT, schema, "object"):
            yield BadBody(f"{name} of the wrong type", {name: {"wrong": "type"}}, name)
            break
    # Null where the document says a field cannot be null (the server must agree).
    for name, schema in properties.items():
        if not _admits(DOCUMENT, schema, "null"):
            yield BadBody(f"{name} null", {name: None}, name)


BAD_BODY_CASES: Final = [
    pytest.param(op, bad, id=f"{op.id} with {bad.label}")
    for op in WITH_BODY
    for bad in _bad_bodies(op)
]


# --- Records to name ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    """One record of every kind in a workspace, by the path parameter that names it, and the
    owner's key that reads them."""

    key: Key
    ids: dict[str, str]


def make_records(client: TestClient, factory: Factory, workspace: Workspace) -> Records:
    key = factory.key(workspace)
    client_id = factory.client(workspace)
    project_id = factory.project(workspace, client_id)
    task_id = factory.task(workspace, project_id)

    def create(path: str, body: JsonObject) -> str:
        response = client.post(f"/api/v1{path}", json=body, headers=key.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    ids = {
        "client_id": client_id,
        "project_id": project_id,
        "task_id": task_id,
        "subtask_id": factory.subtask(workspace, task_id),
        "tag_id": factory.tag(workspace),
        "user_id": workspace.owner_id,
        "work_id": create(
            "/schedule",
            {
                "userId": workspace.owner_id,
                "projectId": project_id,
                "date": "2026-03-02",
                "plannedSeconds": 3600,
            },
        ),
        "entry_id": create(
            "/time-entries",
            {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600},
        ),
    }
    return Records(key, ids)


def writes(factory: Factory, workspace: Workspace) -> tuple[int, int]:
    """The workspace's events and audit records so far: every change writes both."""
    counts = factory.sql(
        "SELECT (SELECT count(*) FROM event WHERE workspace_id = :ws),"
        " (SELECT count(*) FROM audit_record WHERE workspace_id = :ws)",
        ws=workspace.id,
    )
    return int(counts[0][0]), int(counts[0][1])


def _has_get(path: str) -> bool:
    return "get" in DOCUMENT["paths"].get(path, {})


def _read_back(operation: Operation, ids: Mapping[str, str]) -> str | None:
    """What shows whether the operation changed anything: its own path's GET (the record, or
    the collection), else its parent's (`/time-entries` for `/time-entries/bulk`)."""
    for path in (operation.path, operation.path.rsplit("/", 1)[0]):
        if _has_get(path):
            return fill(path, ids)
    return None


def read(client: TestClient, url: str, key: Key) -> Any:
    response = client.get(url, headers=key.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _valid_body(operation: Operation) -> JsonObject | None:
    """`{}` where a body is taken: every update's fields are optional, so it hides no 404 behind
    a 422 (and the scope is checked before the body is)."""
    return {} if operation.body is not None else None


# --- The cases are the document's operations ------------------------------------------------------


def test_the_cases_are_the_served_documents_operations(client: TestClient) -> None:
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    served = _operations(response.json())
    assert served == OPERATIONS
    assert {op.id for op in served if op.scope is None} == UNSCOPED
    # Every kind of case is there (a document read wrongly would give none).
    assert SCOPED
    assert NOT_BUILT
    assert NAMING_RECORDS
    assert WITH_BODY


# --- 403 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", _cases(SCOPED))
def test_a_key_without_the_operations_scope_is_403(
    client: TestClient, factory: Factory, workspace: Workspace, operation: Operation
) -> None:
    # The workspace's own records: nothing but the scope stands in the way.
    ids = make_records(client, factory, workspace).ids if operation.path_params else {}
    assert operation.scope is not None
    key = factory.key(workspace, scopes=ALL_SCOPES - {Scope(operation.scope)})
    before = writes(factory, workspace)

    response = client.request(
        operation.method, operation.url(ids), json=_valid_body(operation), headers=key.headers
    )

    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert error["requiredScope"] == operation.scope
    assert writes(factory, workspace) == before


@pytest.mark.parametrize("operation", _cases(NOT_BUILT))
def test_what_the_reference_calls_not_built_answers_501(
    client: TestClient, owner_key: Key, operation: Operation
) -> None:
    """The 404 and 422 cases skip these operations: they must really be unbuilt."""
    response = client.request(
        operation.method, operation.url({}), json=_valid_body(operation), headers=owner_key.headers
    )
    assert response.status_code == 501, response.text
    assert response.json()["error"]["code"] == "not_implemented"


# --- 404 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", _cases(NAMING_RECORDS))
def test_another_workspaces_id_is_404(
    client: TestClient, factory: Factory, owner_key: Key, operation: Operation
) -> None:
    other = factory.workspace()
    theirs = make_records(client, factory, other)
    unknown = [name for name in operation.path_params if name not in theirs.ids]
    assert not unknown, f"make_records makes no record for {unknown}: add one"
    url = operation.url(theirs.ids)
    their_view = read(client, url, theirs.key) if _has_get(operation.path) else None
    before = writes(factory, other)

    response = client.request(
        operation.method, url, json=_valid_body(operation), headers=owner_key.headers
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    # Which record was not found: `/users/{id}` did not say (a helper's docs audit).
    assert response.json()["error"]["resource"], response.text
    assert writes(factory, other) == before
    if their_view is not None:
        assert read(client, url, theirs.key) == their_view


# --- 422 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "bad"), BAD_BODY_CASES)
def test_a_bad_body_is_422(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    operation: Operation,
    bad: BadBody,
) -> None:
    ids = make_records(client, factory, workspace).ids if operation.path_params else {}
    read_back = _read_back(operation, ids)
    view = read(client, read_back, owner_key) if read_back else None
    before = writes(factory, workspace)

    response = client.request(
        operation.method, operation.url(ids), json=bad.body, headers=owner_key.headers
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    if bad.field is not None:
        fields = [e["field"] for e in error["errors"]]
        assert any(f == bad.field or f.startswith(f"{bad.field}.") for f in fields), fields
    assert writes(factory, workspace) == before
    if read_back:
        assert read(client, read_back, owner_key) == view


NULLABLE_CASES: Final = [
    pytest.param(op, name, id=f"{op.id} with {name} null")
    for op in WITH_BODY
    for name, schema in (op.body or {}).get("properties", {}).items()
    if _admits(DOCUMENT, schema, "null")
]


@pytest.mark.parametrize(("operation", "field"), NULLABLE_CASES)
def test_null_where_the_reference_allows_it_is_not_refused(
    client: TestClient, factory: Factory, workspace: Workspace, operation: Operation, field: str
) -> None:
    records = make_records(client, factory, workspace)

    response = client.request(
        operation.method,
        operation.url(records.ids),
        json={field: None},
        headers=records.key.headers,
    )

    # Other fields may be missing (a create), but this one is not what is wrong.
    if response.status_code == 422:
        named = [e for e in response.json()["error"]["errors"] if e["field"] == field]
        assert named == [], named
    else:
        assert response.status_code < 300, response.text


# --- Documented values --------------------------------------------------------------------------


def _sort_values(path: str) -> list[str]:
    parameters = DOCUMENT["paths"][path]["get"].get("parameters", [])
    return [value for p in parameters if p["name"] == "sort" for value in p["schema"]["enum"]]


SORTED_LISTS: Final = [
    pytest.param(op, id=op.id) for op in OPERATIONS if op.method == "GET" and _sort_values(op.path)
]


@pytest.mark.parametrize("operation", SORTED_LISTS)
def test_a_list_sorts_by_each_documented_field_and_no_other(
    client: TestClient, owner_key: Key, operation: Operation
) -> None:
    for value in _sort_values(operation.path):
        response = client.get(operation.url({}), params={"sort": value}, headers=owner_key.headers)
        assert response.status_code == 200, (value, response.text)
    response = client.get(operation.url({}), params={"sort": "id"}, headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["field"] == "sort"


def _non_empty_filters(path: str) -> list[str]:
    parameters = DOCUMENT["paths"][path]["get"].get("parameters", [])
    return [p["name"] for p in parameters if p["schema"].get("minLength", 0) >= 1]


NON_EMPTY_FILTERS: Final = [
    pytest.param(op, name, id=f"{op.id} {name}=")
    for op in OPERATIONS
    if op.method == "GET"
    for name in _non_empty_filters(op.path)
]


@pytest.mark.parametrize(("operation", "name"), NON_EMPTY_FILTERS)
def test_an_empty_filter_is_422_not_an_empty_list(
    client: TestClient, owner_key: Key, operation: Operation, name: str
) -> None:
    """`?userId=` matched nobody and answered an empty page, as if the member had no time."""
    response = client.get(operation.url({}), params={name: ""}, headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["field"] == name
