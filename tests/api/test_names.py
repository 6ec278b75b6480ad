"""Names and codes of clients, projects, tasks, subtasks and tags: one stored form (Unicode NFC)
for one text, and no control characters, on create and on update alike."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory, Key, Workspace

COMPOSED = "Caf\u00e9 Cr\u00e8me"  # "Café Crème" as one code point per letter
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)

# Each collection, and what a new record of it needs besides its name.
Parents = Callable[[Factory, Workspace], dict[str, str]]


def _no_parent(factory: Factory, workspace: Workspace) -> dict[str, str]:
    return {}


def _client(factory: Factory, workspace: Workspace) -> dict[str, str]:
    return {"clientId": factory.client(workspace)}


def _project(factory: Factory, workspace: Workspace) -> dict[str, str]:
    return {"projectId": factory.project(workspace, factory.client(workspace))}


def _task(factory: Factory, workspace: Workspace) -> dict[str, str]:
    project_id = factory.project(workspace, factory.client(workspace))
    return {"taskId": factory.task(workspace, project_id)}


COLLECTIONS = [
    pytest.param("/api/v1/clients", _no_parent, "name", id="client name"),
    pytest.param("/api/v1/projects", _client, "name", id="project name"),
    pytest.param("/api/v1/projects", _client, "code", id="project code"),
    pytest.param("/api/v1/tasks", _project, "name", id="task name"),
    pytest.param("/api/v1/subtasks", _task, "name", id="subtask name"),
    pytest.param("/api/v1/tags", _no_parent, "name", id="tag name"),
]


def _body(field: str, value: str, parents: dict[str, str]) -> dict[str, str]:
    body = {"name": "Named", **parents}
    body[field] = value
    return body


@pytest.mark.parametrize(("path", "parents", "field"), COLLECTIONS)
def test_a_decomposed_name_is_stored_composed(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    path: str,
    parents: Parents,
    field: str,
) -> None:
    body = _body(field, f"  {DECOMPOSED}  ", parents(factory, workspace))
    created = client.post(path, json=body, headers=owner_key.headers)
    assert created.status_code == 201, created.text
    assert created.json()[field] == COMPOSED
    url = f"{path}/{created.json()['id']}"
    assert client.get(url, headers=owner_key.headers).json()[field] == COMPOSED

    renamed = client.patch(url, json={field: DECOMPOSED + "!"}, headers=owner_key.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()[field] == COMPOSED + "!"


@pytest.mark.parametrize(("path", "parents", "field"), COLLECTIONS)
@pytest.mark.parametrize(
    ("value", "code_point"),
    [
        pytest.param("Line\none", "U+000A", id="line feed"),
        pytest.param("Tab\tbed", "U+0009", id="tab"),
        pytest.param("Red \x1b[31m", "U+001B", id="terminal escape"),
        pytest.param("Delete\x7f", "U+007F", id="delete"),
        pytest.param("C1 \x9b", "U+009B", id="C1 control"),
    ],
)
def test_a_control_character_is_422_on_create_and_update(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    path: str,
    parents: Parents,
    field: str,
    value: str,
    code_point: str,
) -> None:
    body = _body(field, value, parents(factory, workspace))
    refused = client.post(path, json=body, headers=owner_key.headers)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["error"]["errors"]
    assert (error["field"], error["type"]) == (field, "control_character")
    assert code_point in error["message"]

    created = client.post(path, json=_body(field, "Plain", body), headers=owner_key.headers)
    assert created.status_code == 201, created.text
    url = f"{path}/{created.json()['id']}"
    for method in ("PATCH", "PUT"):
        update = client.request(method, url, json={field: value}, headers=owner_key.headers)
        assert update.status_code == 422, update.text
        assert update.json()["error"]["errors"][0]["type"] == "control_character"
    assert client.get(url, headers=owner_key.headers).json()[field] == "Plain"


def test_a_tag_named_in_either_form_is_one_tag(client: TestClient, owner_key: Key) -> None:
    created = client.post("/api/v1/tags", json={"name": COMPOSED}, headers=owner_key.headers)
    assert created.status_code == 201, created.text

    again = client.post("/api/v1/tags", json={"name": DECOMPOSED}, headers=owner_key.headers)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "tag_name_taken"

    for name in (DECOMPOSED, f" {COMPOSED} "):
        found = client.get("/api/v1/tags", params={"name": name}, headers=owner_key.headers)
        assert found.status_code == 200, found.text
        assert [tag["id"] for tag in found.json()["items"]] == [created.json()["id"]]


def test_the_reference_documents_the_rule(client: TestClient) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    pattern = schemas["TagCreate"]["properties"]["name"]["pattern"]
    assert pattern == "^[^\\x00-\\x1f\\x7f-\\x9f]*$"


def _entry(factory: Factory, workspace: Workspace) -> dict[str, str | int]:
    project_id = factory.project(workspace, factory.client(workspace))
    return {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 60}


def _work(factory: Factory, workspace: Workspace) -> dict[str, str | int]:
    project_id = factory.project(workspace, factory.client(workspace))
    return {
        "userId": workspace.owner_id,
        "projectId": project_id,
        "date": "2026-03-02",
        "plannedSeconds": 60,
    }


FREE_TEXT = [
    pytest.param("/api/v1/time-entries", _entry, "description", id="time entry description"),
    pytest.param("/api/v1/schedule", _work, "note", id="scheduled work note"),
    pytest.param("/api/v1/clients", lambda f, w: {"name": "Named"}, "address", id="client address"),
    pytest.param(
        "/api/v1/clients", lambda f, w: {"name": "Named"}, "externalRef", id="client externalRef"
    ),
]


@pytest.mark.parametrize(("path", "body_of", "field"), FREE_TEXT)
def test_free_text_keeps_its_lines_and_refuses_other_control_characters(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    path: str,
    body_of: Callable[[Factory, Workspace], dict[str, str | int]],
    field: str,
) -> None:
    # A terminal escape or a C1 control in a description reached every list, export and
    # terminal that shows it (names refused them already).
    lines = "Wireframes:\n\t- homepage\r\n\t- pricing"
    created = client.post(path, json={**body_of(factory, workspace), field: lines},
                          headers=owner_key.headers)  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()[field] == lines
    for value, where in (
        ("\x1b[31mred", "U+001B"),
        ("page\x0cbreak", "U+000C"),
        ("\x85", "U+0085"),
    ):
        refused = client.post(path, json={**body_of(factory, workspace), field: value},
                              headers=owner_key.headers)  # fmt: skip
        assert refused.status_code == 422, value
        error = refused.json()["error"]["errors"][0]
        assert (error["field"], error["type"]) == (field, "control_character")
        assert where in error["message"]
        changed = client.patch(f"{path}/{created.json()['id']}", json={field: value},
                               headers=owner_key.headers)  # fmt: skip
        assert changed.status_code == 422
