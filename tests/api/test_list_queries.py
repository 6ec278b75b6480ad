"""Every list's query string (kit.query): a filter that does not validate is a 422 naming it, a
paging parameter too, a key without the list's scope is a 403, and a filter naming another
workspace's record finds nothing (lists have no path id to 404 on)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from tests.factories import Factory, Key, Workspace

LISTS = [
    ("/api/v1/clients", "archived=perhaps", "archived", Scope.READ_CLIENTS),
    ("/api/v1/projects", "billingType=barter", "billingType", Scope.READ_PROJECTS),
    ("/api/v1/tasks", "status=bogus", "status", Scope.READ_TASKS),
    ("/api/v1/subtasks", f"taskId={'x' * 65}", "taskId", Scope.READ_TASKS),
    ("/api/v1/tags", "name=", "name", Scope.READ_TAGS),
    ("/api/v1/schedule", "from=yesterday", "from", Scope.READ_SCHEDULE),
    ("/api/v1/time-entries", "invoiced=maybe", "invoiced", Scope.READ_TIME),
    ("/api/v1/users", "role=boss", "role", Scope.READ_USERS),
]


@pytest.mark.parametrize(("path", "query", "field", "scope"), LISTS)
def test_a_bad_filter_or_page_size_is_422_naming_it(
    client: TestClient, owner_key: Key, path: str, query: str, field: str, scope: Scope
) -> None:
    response = client.get(f"{path}?{query}&pageSize=0", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert sorted(e["field"] for e in error["errors"]) == sorted([field, "pageSize"])
    assert {e["in"] for e in error["errors"]} == {"query"}


@pytest.mark.parametrize(("path", "query", "field", "scope"), LISTS)
def test_a_key_without_the_scope_is_403(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    path: str,
    query: str,
    field: str,
    scope: Scope,
) -> None:
    other = Scope.READ_CLIENTS if scope != Scope.READ_CLIENTS else Scope.READ_USERS
    key = factory.key(workspace, scopes=frozenset({other}))
    response = client.get(path, headers=key.headers)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["requiredScope"] == scope.value


def test_a_filter_naming_another_workspaces_project_finds_nothing(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    elsewhere = factory.workspace()
    elsewhere_key = factory.key(elsewhere)
    project_id = factory.project(elsewhere)
    factory.task(elsewhere, project_id)
    logged = client.post(
        "/api/v1/time-entries",
        json={"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600},
        headers=elsewhere_key.headers,
    )
    assert logged.status_code == 201, logged.text
    for path in ("/api/v1/tasks", "/api/v1/time-entries"):
        query = f"{path}?projectId={project_id}"
        assert client.get(query, headers=elsewhere_key.headers).json()["items"], path
        response = client.get(query, headers=owner_key.headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == [], path


BOOLEAN_FILTERS = [
    ("/api/v1/clients", "archived"),
    ("/api/v1/time-entries", "billable"),
    ("/api/v1/time-entries", "invoiced"),
    ("/api/v1/users", "includeDeleted"),
]


@pytest.mark.parametrize(("path", "name"), BOOLEAN_FILTERS)
def test_a_boolean_is_true_or_false_only(
    client: TestClient, owner_key: Key, path: str, name: str
) -> None:
    # yes/on/1/t and their opposites were read as booleans: one spelling, as the reference says.
    for value in ("yes", "on", "1", "t", "no", "0", "True", ""):
        response = client.get(f"{path}?{name}={value}", headers=owner_key.headers)
        assert response.status_code == 422, (value, response.text)
        assert [e["field"] for e in response.json()["error"]["errors"]] == [name]
    for value in ("true", "false"):
        response = client.get(f"{path}?{name}={value}", headers=owner_key.headers)
        assert response.status_code == 200, (value, response.text)


SENTINEL = "Secret4Echo"


@pytest.mark.parametrize("path", [path for path, *_ in LISTS])
def test_rejected_query_values_are_not_echoed_back(
    client: TestClient, owner_key: Key, path: str
) -> None:
    """A secret pasted into the wrong parameter must not come back in the error (and so in the
    integrator's logs). `sort` repeated it ("Cannot sort by 'Secret4Echo'")."""
    for parameter in ("sort", "pageSize", "page", "updatedSince", "cursor", "includeDeleted"):
        response = client.get(f"{path}?{parameter}={SENTINEL}", headers=owner_key.headers)
        assert response.status_code == 422, (parameter, response.text)
        assert SENTINEL.lower() not in response.text.lower(), (parameter, response.text)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        # Both listed things (clients whose reference is "", no tag), where docs/api.md says an
        # empty filter is a 422 (a helper's audit).
        ("/api/v1/clients", "externalRef=", "externalRef"),
        ("/api/v1/tags", "name=%20%20", "name"),
        ("/api/v1/projects", "clientId=", "clientId"),
        ("/api/v1/tasks", "projectId=", "projectId"),
        ("/api/v1/subtasks", "taskId=", "taskId"),
        ("/api/v1/time-entries", "userId=", "userId"),
    ],
)
def test_an_empty_filter_is_422_not_a_filter_that_matches_nothing(
    client: TestClient, owner_key: Key, path: str, query: str, field: str
) -> None:
    response = client.get(f"{path}?{query}", headers=owner_key.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["error"]["errors"]] == [field]
