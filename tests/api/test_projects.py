"""/projects: every endpoint's 401, 403, 404, 422 and success; billing rules (retainer, fixed
fee) on create and on update, tags, moving between clients, filters, sorting, tombstones, events
and audit, dependents, and rates that never reprice logged time."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from billabled.models.schedule import ScheduledWork
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/projects"
RETAINER = {"includedSecondsPerMonth": 20 * 3600, "monthlyFeeMinor": 200_000}


def create(client: TestClient, key: Key, client_id: str, **fields: Any) -> dict[str, Any]:
    body = {"clientId": client_id, "name": "Website", **fields}
    response = client.post(BASE, json=body, headers=key.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def insert_scheduled_work(factory: Factory, workspace: Workspace, project_id: str) -> str:
    return str(
        factory.insert(
            ScheduledWork(
                workspace_id=workspace.id,
                user_id=workspace.owner_id,
                project_id=project_id,
                work_date=date(2026, 1, 6),
                planned_seconds=7200,
            )
        )
    )


def errors_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["error"]["errors"]]


# --- the whole life of a project ----------------------------------------------------------------


def test_create_read_update_delete(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace, currency="EUR")
    urgent = factory.tag(workspace, name="Urgent")
    design = factory.tag(workspace, name="Design")
    created = create(
        client,
        owner_key,
        client_id,
        code="WEB",
        hourlyRateMinor=12_000,
        budgetSeconds=100 * 3600,
        budgetAmountMinor=1_200_000,
        tagIds=[design, urgent, design],
    )
    assert created["id"].startswith("proj_")
    assert created == {
        "id": created["id"],
        "clientId": client_id,
        "name": "Website",
        "code": "WEB",
        "billingType": "hourly",
        "currency": "EUR",  # the client's
        "hourlyRateMinor": 12_000,
        "fixedFeeMinor": None,
        "budgetSeconds": 360_000,
        "budgetAmountMinor": 1_200_000,
        "retainer": None,
        "status": "active",
        "tagIds": sorted([urgent, design]),  # a set, in id order
        "createdAt": created["createdAt"],
        "updatedAt": created["updatedAt"],
    }
    url = f"{BASE}/{created['id']}"

    fetched = client.get(url, headers=owner_key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created

    patched = client.patch(url, json={"name": "Web", "code": None}, headers=owner_key.headers)
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["code"]) == ("Web", None)
    assert patched.json()["hourlyRateMinor"] == 12_000  # untouched
    assert patched.json()["tagIds"] == created["tagIds"]

    put = client.put(
        url, json={"status": "archived", "tagIds": [urgent]}, headers=owner_key.headers
    )
    assert put.status_code == 200
    assert (put.json()["status"], put.json()["tagIds"], put.json()["name"]) == (
        "archived",
        [urgent],
        "Web",
    )

    listed = client.get(BASE, headers=owner_key.headers).json()
    assert listed["items"] == [put.json()]
    assert client.get(url, headers=owner_key.headers).json() == put.json()

    assert client.delete(url, headers=owner_key.headers).status_code == 204
    assert client.get(url, headers=owner_key.headers).status_code == 404
    assert client.delete(url, headers=owner_key.headers).status_code == 404
    # Its tag links went with it, so the tag can go too.
    links = factory.sql("SELECT count(*) FROM project_tag WHERE tag_id = :t", t=urgent)
    assert links[0][0] == 0
    assert client.delete(f"/api/v1/tags/{urgent}", headers=owner_key.headers).status_code == 204


def test_retainer_and_fixed_fee_projects(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    client_id = factory.client(workspace)
    retainer = create(
        client,
        owner_key,
        client_id,
        billingType="retainer",
        retainer={**RETAINER, "overageRateMinor": 15_000},
    )
    assert retainer["retainer"] == {**RETAINER, "overageRateMinor": 15_000}
    assert retainer["fixedFeeMinor"] is None
    plain_retainer = create(client, owner_key, client_id, billingType="retainer", retainer=RETAINER)
    assert plain_retainer["retainer"] == {**RETAINER, "overageRateMinor": None}
    fixed = create(client, owner_key, client_id, billingType="fixed_fee", fixedFeeMinor=500_000)
    assert (fixed["fixedFeeMinor"], fixed["retainer"]) == (500_000, None)
    internal = create(client, owner_key, client_id, billingType="non_billable")
    assert internal["billingType"] == "non_billable"
    stored = factory.sql(
        "SELECT retainer_included_seconds, retainer_monthly_fee_minor, retainer_overage_rate_minor"
        " FROM project WHERE id = :id",
        id=retainer["id"],
    )[0]
    assert tuple(stored) == (72_000, 200_000, 15_000)


# --- authentication and scopes --------------------------------------------------------------------


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in [
        ("GET", BASE),
        ("POST", BASE),
        ("GET", f"{BASE}/proj_x"),
        ("PUT", f"{BASE}/proj_x"),
        ("PATCH", f"{BASE}/proj_x"),
        ("DELETE", f"{BASE}/proj_x"),
    ]:
        response = client.request(method, path, json={"name": "x"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    project_id = factory.project(workspace)
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_PROJECTS}))
    nothing = factory.key(workspace, scopes=frozenset({Scope.READ_TAGS, Scope.WRITE_TAGS}))
    for path in (BASE, f"{BASE}/{project_id}"):
        response = client.get(path, headers=nothing.headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["requiredScope"] == "read:projects"
    for method, path in [
        ("POST", BASE),
        ("PUT", f"{BASE}/{project_id}"),
        ("PATCH", f"{BASE}/{project_id}"),
        ("DELETE", f"{BASE}/{project_id}"),
    ]:
        response = client.request(method, path, json={"name": "x"}, headers=reader.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == "write:projects"
    assert client.get(f"{BASE}/{project_id}", headers=reader.headers).status_code == 200


def test_members_may_read_but_not_write(
    client: TestClient, factory: Factory, workspace: Workspace
) -> None:
    client_id = factory.client(workspace)
    project_id = factory.project(workspace, client_id)
    key = factory.key(workspace, email=factory.member(workspace, Role.MEMBER))
    listed = client.get(BASE, headers=key.headers).json()["items"]
    assert [p["id"] for p in listed] == [project_id]
    assert client.get(f"{BASE}/{project_id}", headers=key.headers).status_code == 200
    body = {"clientId": client_id, "name": "x"}
    assert client.post(BASE, json=body, headers=key.headers).status_code == 403
    url = f"{BASE}/{project_id}"
    assert client.patch(url, json={"name": "y"}, headers=key.headers).status_code == 403
    assert client.delete(url, headers=key.headers).status_code == 403
    assert client.get(url, headers=key.headers).json()["name"] == "Website"


def test_managers_may_write(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    key = factory.key(workspace, email=factory.member(workspace, Role.MANAGER))
    created = create(client, key, factory.client(workspace))
    url = f"{BASE}/{created['id']}"
    assert client.patch(url, json={"name": "Shop"}, headers=key.headers).status_code == 200
    assert client.delete(url, headers=key.headers).status_code == 204


# --- tenancy --------------------------------------------------------------------------------------


def test_another_workspaces_project_is_404(
    client: TestClient, factory: Factory, owner_key: Key
) -> None:
    other = factory.workspace()
    their_client = factory.client(other)
    theirs = factory.project(other, their_client, name="Theirs")
    url = f"{BASE}/{theirs}"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(method, url, json={"name": "mine now"}, headers=owner_key.headers)
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    assert client.get(BASE, headers=owner_key.headers).json()["items"] == []
    filtered = client.get(f"{BASE}?clientId={their_client}", headers=owner_key.headers).json()
    assert filtered["items"] == []
    assert factory.sql("SELECT name FROM project WHERE id = :id", id=theirs)[0][0] == "Theirs"


def test_another_workspaces_client_or_tag_is_unknown(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    other = factory.workspace()
    their_client = factory.client(other)
    their_tag = factory.tag(other)
    mine = factory.client(workspace)

    def problem(body: dict[str, Any]) -> tuple[list[str], str]:
        response = client.post(BASE, json={"name": "x", **body}, headers=owner_key.headers)
        return errors_of(response), response.json()["error"]["message"]

    foreign = problem({"clientId": their_client})
    missing = problem({"clientId": "cli_missing"})
    assert foreign[0] == missing[0] == ["clientId"]
    # A foreign client reads exactly like a missing one (only the id differs).
    assert foreign[1].replace(their_client, "ID") == missing[1].replace("cli_missing", "ID")
    assert problem({"clientId": mine, "tagIds": [their_tag]})[0] == ["tagIds"]
    assert problem({"clientId": mine, "tagIds": ["tag_missing"]})[0] == ["tagIds"]
    # Every failing reference is listed, not the first alone (a helper's docs audit).
    both = problem({"clientId": "cli_missing", "tagIds": ["tag_missing"]})
    assert both[0] == ["clientId", "tagIds"]
    # The billing rules' too, in the same 422 (a review of the change).
    retainer_without_terms = {"clientId": "cli_missing", "billingType": "retainer"}
    assert problem(retainer_without_terms)[0] == ["clientId", "retainer"]
    assert "cli_missing" in both[1]
    assert "tag_missing" in both[1]

    project = create(client, owner_key, mine)
    url = f"{BASE}/{project['id']}"
    assert errors_of(
        client.patch(url, json={"clientId": their_client}, headers=owner_key.headers)
    ) == ["clientId"]
    assert errors_of(
        client.patch(url, json={"tagIds": [their_tag]}, headers=owner_key.headers)
    ) == ["tagIds"]
    assert errors_of(
        client.patch(
            url, json={"clientId": their_client, "tagIds": [their_tag]}, headers=owner_key.headers
        )
    ) == ["clientId", "tagIds"]
    assert client.get(url, headers=owner_key.headers).json() == project


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"code": "x" * 51}, "code"),
        ({"billingType": "hourlyish"}, "billingType"),
        ({"status": "paused"}, "status"),
        ({"hourlyRateMinor": -1}, "hourlyRateMinor"),
        ({"hourlyRateMinor": 1.5}, "hourlyRateMinor"),
        ({"budgetSeconds": 0}, "budgetSeconds"),
        ({"budgetAmountMinor": -5}, "budgetAmountMinor"),
        ({"budgetAmountMinor": 3_000_000_000}, "budgetAmountMinor"),
        ({"currency": "EUR"}, "currency"),  # read only: the client's
        ({"tagIds": "tag_x"}, "tagIds"),
        ({"tagIds": [""]}, "tagIds.0"),
        ({"billingType": "fixed_fee", "fixedFeeMinor": -1}, "fixedFeeMinor"),
        # Retainer terms: shape first (pydantic), then the rules (service).
        ({"billingType": "retainer"}, "retainer"),
        ({"billingType": "retainer", "retainer": None}, "retainer"),
        (
            {"billingType": "retainer", "retainer": {**RETAINER, "includedSecondsPerMonth": 0}},
            "retainer.includedSecondsPerMonth",
        ),
        (
            {"billingType": "retainer", "retainer": {"includedSecondsPerMonth": 3600}},
            "retainer.monthlyFeeMinor",
        ),
        (
            {"billingType": "retainer", "retainer": {**RETAINER, "monthlyFeeMinor": -1}},
            "retainer.monthlyFeeMinor",
        ),
        (
            {"billingType": "retainer", "retainer": {**RETAINER, "overageRateMinor": -1}},
            "retainer.overageRateMinor",
        ),
        ({"billingType": "retainer", "retainer": {**RETAINER, "x": 1}}, "retainer.x"),
        ({"retainer": RETAINER}, "retainer"),  # hourly by default
        ({"billingType": "fixed_fee", "retainer": RETAINER}, "retainer"),
        ({"fixedFeeMinor": 100}, "fixedFeeMinor"),
        ({"billingType": "retainer", "retainer": RETAINER, "fixedFeeMinor": 1}, "fixedFeeMinor"),
    ],
)
def test_invalid_create_is_422(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    fields: dict[str, Any],
    field: str,
) -> None:
    body = {"clientId": factory.client(workspace), "name": "Website", **fields}
    assert errors_of(client.post(BASE, json=body, headers=owner_key.headers)) == [field]
    assert client.get(BASE, headers=owner_key.headers).json()["totalCount"] == 0


def test_a_create_without_client_or_name_names_both(client: TestClient, owner_key: Key) -> None:
    assert errors_of(client.post(BASE, json={}, headers=owner_key.headers)) == ["clientId", "name"]


def test_every_billing_problem_is_named_at_once(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    body = {
        "clientId": factory.client(workspace),
        "name": "x",
        "retainer": RETAINER,
        "fixedFeeMinor": 5,
    }
    response = client.post(BASE, json=body, headers=owner_key.headers)
    assert errors_of(response) == ["retainer", "fixedFeeMinor"]
    assert "retainer" in response.json()["error"]["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"clientId": None}, "clientId"),
        ({"billingType": None}, "billingType"),
        ({"status": None}, "status"),
        ({"tagIds": None}, "tagIds"),
        ({"name": ""}, "name"),
        ({"hourlyRateMinor": -1}, "hourlyRateMinor"),
        ({"currency": "EUR"}, "currency"),
        ({"id": "proj_other"}, "id"),
        ({"retainer": RETAINER}, "retainer"),  # the project is hourly
        ({"billingType": "retainer"}, "retainer"),  # ... and has no retainer terms
        ({"fixedFeeMinor": 1}, "fixedFeeMinor"),
    ],
)
def test_invalid_update_is_422(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    body: dict[str, Any],
    field: str,
) -> None:
    created = create(client, owner_key, factory.client(workspace), hourlyRateMinor=100)
    url = f"{BASE}/{created['id']}"
    for method in ("PATCH", "PUT"):
        response = client.request(method, url, json=body, headers=owner_key.headers)
        assert errors_of(response) == [field], method
    assert client.get(url, headers=owner_key.headers).json() == created  # nothing changed


def test_a_long_id_in_the_path_is_422(client: TestClient, owner_key: Key) -> None:
    response = client.get(f"{BASE}/{'x' * 65}", headers=owner_key.headers)
    assert errors_of(response) == ["project_id"]


# --- billing type changes -------------------------------------------------------------------------


def test_changing_the_billing_type_rechecks_the_resulting_record(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project = create(
        client, owner_key, factory.client(workspace), billingType="retainer", retainer=RETAINER
    )
    url = f"{BASE}/{project['id']}"

    def patch(body: dict[str, Any]) -> Any:
        return client.patch(url, json=body, headers=owner_key.headers)

    # Leaving retainer terms on an hourly project is refused; clearing them with it is fine.
    assert errors_of(patch({"billingType": "hourly"})) == ["retainer"]
    assert errors_of(patch({"retainer": None})) == ["retainer"]  # a retainer needs its terms
    hourly = patch({"billingType": "hourly", "retainer": None, "hourlyRateMinor": 9000})
    assert hourly.status_code == 200, hourly.text
    assert (hourly.json()["billingType"], hourly.json()["retainer"]) == ("hourly", None)
    stored = factory.sql(
        "SELECT retainer_included_seconds, retainer_monthly_fee_minor FROM project WHERE id = :id",
        id=project["id"],
    )[0]
    assert tuple(stored) == (None, None)

    # Fixed fee: the fee comes with the type and must go with it.
    fixed = patch({"billingType": "fixed_fee", "fixedFeeMinor": 300_000})
    assert (fixed.status_code, fixed.json()["fixedFeeMinor"]) == (200, 300_000)
    assert patch({"fixedFeeMinor": 400_000}).json()["fixedFeeMinor"] == 400_000
    assert errors_of(patch({"billingType": "non_billable"})) == ["fixedFeeMinor"]
    back = patch({"billingType": "retainer", "fixedFeeMinor": None, "retainer": RETAINER})
    assert back.status_code == 200, back.text
    assert (back.json()["fixedFeeMinor"], back.json()["retainer"]) == (
        None,
        {**RETAINER, "overageRateMinor": None},
    )

    # Retainer terms are replaced as a whole.
    new_terms = {"includedSecondsPerMonth": 3600, "monthlyFeeMinor": 0, "overageRateMinor": 1}
    assert patch({"retainer": new_terms}).json()["retainer"] == new_terms
    assert errors_of(patch({"retainer": {"monthlyFeeMinor": 5}})) == [
        "retainer.includedSecondsPerMonth"
    ]


def test_unrelated_updates_do_not_recheck_billing(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """A record that predates a rule (here: inserted directly) can still be renamed."""
    project_id = factory.project(workspace, billing_type="hourly", fixed_fee_minor=5)
    response = client.patch(f"{BASE}/{project_id}", json={"name": "x"}, headers=owner_key.headers)
    assert response.status_code == 200


# --- moving between clients -----------------------------------------------------------------------


def test_a_project_without_time_moves_to_another_client(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project = create(client, owner_key, factory.client(workspace, currency="USD"))
    factory.task(workspace, project["id"])  # tasks and schedules move with the project
    insert_scheduled_work(factory, workspace, project["id"])
    other = factory.client(workspace, name="Globex", currency="EUR")
    response = client.patch(
        f"{BASE}/{project['id']}", json={"clientId": other}, headers=owner_key.headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["clientId"], response.json()["currency"]) == (other, "EUR")


def test_an_archived_client_takes_no_new_projects(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    archived = factory.client(workspace, name="Former", archived=True)
    response = client.post(
        BASE,
        json={"clientId": archived, "name": "Revival", "billingType": "hourly"},
        headers=owner_key.headers,
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
        ("clientId", "client_archived")
    ]
    project = create(client, owner_key, factory.client(workspace))
    moved = client.patch(
        f"{BASE}/{project['id']}", json={"clientId": archived}, headers=owner_key.headers
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["error"]["errors"][0]["type"] == "client_archived"
    # A project the client already had stays editable.
    kept = factory.project(workspace, archived, name="Old site")
    renamed = client.patch(
        f"{BASE}/{kept}", json={"name": "Old site (2019)"}, headers=owner_key.headers
    )
    assert renamed.status_code == 200, renamed.text


def test_a_project_with_time_stays_with_its_client(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    first = factory.client(workspace)
    project_id = factory.project(workspace, first)
    factory.time_entry(workspace, project_id)
    factory.time_entry(workspace, project_id)
    other = factory.client(workspace, name="Globex")
    url = f"{BASE}/{project_id}"
    response = client.patch(url, json={"clientId": other}, headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"timeEntries": 2}
    assert "2 time entries" in error["message"]
    assert client.get(url, headers=owner_key.headers).json()["clientId"] == first
    # Sending its current client is no move.
    same = client.patch(url, json={"clientId": first, "name": "x"}, headers=owner_key.headers)
    assert same.status_code == 200


def test_a_project_with_billable_time_cannot_become_non_billable(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """Its billable entries would have stayed billable (and growing) on a project whose time
    cannot be made billable: `non_billable` projects have no billable time."""
    project_id = factory.project(workspace, factory.client(workspace))
    entry_id = factory.time_entry(workspace, project_id)
    url = f"{BASE}/{project_id}"
    before = client.get(url, headers=owner_key.headers).json()

    refused = client.patch(url, json={"billingType": "non_billable"}, headers=owner_key.headers)

    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["dependents"]) == ("has_dependents", {"billableTimeEntries": 1})
    assert client.get(url, headers=owner_key.headers).json() == before
    # Once its time is not billable, it may.
    unbill = client.patch(
        f"/api/v1/time-entries/{entry_id}", json={"billable": False}, headers=owner_key.headers
    )
    assert unbill.status_code == 200, unbill.text
    switched = client.patch(url, json={"billingType": "non_billable"}, headers=owner_key.headers)
    assert switched.status_code == 200, switched.text
    assert switched.json()["billingType"] == "non_billable"


# --- rates ----------------------------------------------------------------------------------------


def test_a_new_rate_never_reprices_logged_time(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace, hourly_rate_minor=10_000)
    entry_id = factory.time_entry(workspace, project_id, rate_minor=10_000)
    url = f"{BASE}/{project_id}"
    response = client.patch(url, json={"hourlyRateMinor": 20_000}, headers=owner_key.headers)
    assert response.status_code == 200
    assert client.get(url, headers=owner_key.headers).json()["hourlyRateMinor"] == 20_000
    rate = factory.sql("SELECT rate_minor FROM time_entry WHERE id = :id", id=entry_id)[0][0]
    assert rate == 10_000


# --- tags -----------------------------------------------------------------------------------------


def test_tags_are_replaced_as_a_set_and_show_in_updated_at(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    a, b, c = (factory.tag(workspace, name=name) for name in "abc")
    project = create(client, owner_key, factory.client(workspace), tagIds=[a, b])
    url = f"{BASE}/{project['id']}"
    changed = client.patch(url, json={"tagIds": [c, b]}, headers=owner_key.headers).json()
    assert changed["tagIds"] == sorted([b, c])
    assert changed["updatedAt"] > project["updatedAt"]
    assert client.get(url, headers=owner_key.headers).json()["tagIds"] == sorted([b, c])
    rows = factory.sql(
        "SELECT tag_id FROM project_tag WHERE project_id = :id ORDER BY tag_id", id=project["id"]
    )
    assert [r[0] for r in rows] == sorted([b, c])
    cleared = client.put(url, json={"tagIds": []}, headers=owner_key.headers).json()
    assert cleared["tagIds"] == []
    events = factory.sql(
        "SELECT data FROM event WHERE workspace_id = :ws AND type = 'project.updated'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert len(events) == 2


# --- lists ----------------------------------------------------------------------------------------


def test_filters(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    acme = factory.client(workspace)
    globex = factory.client(workspace, name="Globex")
    hourly = factory.project(workspace, acme)
    retainer = factory.project(
        workspace,
        acme,
        billing_type="retainer",
        retainer_included_seconds=3600,
        retainer_monthly_fee_minor=100,
    )
    archived = factory.project(workspace, globex, status="archived")
    fixed = factory.project(workspace, globex, billing_type="fixed_fee")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids("") == [hourly, retainer, archived, fixed]
    assert ids(f"clientId={acme}") == [hourly, retainer]
    assert ids(f"clientId={globex}") == [archived, fixed]
    assert ids("clientId=cli_missing") == []
    assert ids("status=active") == [hourly, retainer, fixed]
    assert ids("status=archived") == [archived]
    assert ids("billingType=retainer") == [retainer]
    assert ids("billingType=hourly") == [hourly, archived]
    assert ids(f"clientId={globex}&status=active&billingType=fixed_fee") == [fixed]
    assert ids("billingType=non_billable") == []
    retainer_row = client.get(f"{BASE}?billingType=retainer", headers=owner_key.headers).json()
    assert retainer_row["items"][0]["retainer"] == {
        "includedSecondsPerMonth": 3600,
        "monthlyFeeMinor": 100,
        "overageRateMinor": None,
    }
    for query, field in [
        ("status=paused", "status"),
        ("billingType=hourlyish", "billingType"),
        ("clientId=" + "x" * 65, "clientId"),
        ("sort=code", "sort"),
    ]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert errors_of(response) == [field], query
        assert response.json()["error"]["errors"][0]["in"] == "query"


def test_sorting(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    b = factory.project(workspace, name="b")
    c = factory.project(workspace, name="c")
    a = factory.project(workspace, name="a")

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids("") == [b, c, a]
    assert ids("sort=-createdAt") == [a, c, b]
    assert ids("sort=name") == [a, b, c]
    assert ids("sort=-name") == [c, b, a]
    client.patch(f"{BASE}/{b}", json={"code": "B"}, headers=owner_key.headers)
    assert ids("sort=updatedAt")[-1] == b
    assert ids("sort=-updatedAt")[0] == b
    # Cursor pages walk the same order.
    first = client.get(f"{BASE}?sort=name&pageSize=2", headers=owner_key.headers).json()
    rest = client.get(
        f"{BASE}?sort=name&pageSize=2&cursor={first['nextCursor']}", headers=owner_key.headers
    ).json()
    assert [p["id"] for p in first["items"] + rest["items"]] == [a, b, c]


def test_deletes_leave_tombstones(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tag = factory.tag(workspace)
    kept = create(client, owner_key, factory.client(workspace), name="Kept", tagIds=[tag])
    gone = create(client, owner_key, factory.client(workspace), name="Gone")
    assert client.delete(f"{BASE}/{gone['id']}", headers=owner_key.headers).status_code == 204
    listed = client.get(f"{BASE}?includeDeleted=true", headers=owner_key.headers).json()
    tombstone = {"id": gone["id"], "deleted": True, "deletedAt": listed["items"][1]["deletedAt"]}
    assert listed["items"] == [kept, tombstone]
    plain = client.get(BASE, headers=owner_key.headers).json()
    assert [p["id"] for p in plain["items"]] == [kept["id"]]


def test_a_list_page_runs_a_constant_number_of_queries(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tags = [factory.tag(workspace) for _ in range(3)]
    client_id = factory.client(workspace)

    def add_projects(count: int) -> None:
        for i in range(count):
            project_id = factory.project(workspace, client_id, name=f"P{i}")
            for tag_id in tags[: i % 4]:
                factory.sql(
                    "INSERT INTO project_tag (project_id, tag_id) VALUES (:p, :t)",
                    p=project_id,
                    t=tag_id,
                )

    add_projects(3)
    with count_queries(client) as small:
        assert client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).status_code == 200
    add_projects(40)
    with count_queries(client) as big:
        listed = client.get(f"{BASE}?pageSize=200", headers=owner_key.headers).json()
    assert len(listed["items"]) == 43
    assert listed["items"][3]["tagIds"] == []
    assert listed["items"][6]["tagIds"] == sorted(tags[:3])
    assert len(small) == len(big) <= 4
    assert sum("project_tag" in statement for statement in big) == 1  # the page's tags, at once


# --- events, audit, dependents --------------------------------------------------------------------


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    created = create(client, owner_key, factory.client(workspace))
    url = f"{BASE}/{created['id']}"
    client.patch(url, json={"name": "B"}, headers=owner_key.headers)
    client.patch(url, json={"name": "B"}, headers=owner_key.headers)  # no change, no event
    client.delete(url, headers=owner_key.headers)
    events = factory.sql(
        "SELECT type FROM event WHERE workspace_id = :ws AND type LIKE 'project.%'"
        " ORDER BY created_at, id",
        ws=workspace.id,
    )
    assert [e.type for e in events] == ["project.created", "project.updated", "project.deleted"]
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("project.created", "api_key", owner_key.id),
        ("project.updated", "api_key", owner_key.id),
        ("project.deleted", "api_key", owner_key.id),
    ]


def test_the_created_event_carries_the_project(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    tag = factory.tag(workspace)
    created = create(client, owner_key, factory.client(workspace), tagIds=[tag])
    rows = factory.sql(
        "SELECT data FROM event WHERE workspace_id = :ws AND type = 'project.created'",
        ws=workspace.id,
    )
    data = rows[0][0]
    data = json.loads(data) if isinstance(data, str) else data
    assert data == created


def test_a_project_with_tasks_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    factory.task(workspace, project_id)
    response = client.delete(f"{BASE}/{project_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_dependents"
    assert error["dependents"] == {"tasks": 1}
    assert "Archive it instead" in error["message"]
    assert client.get(f"{BASE}/{project_id}", headers=owner_key.headers).status_code == 200


def test_a_project_with_schedule_or_time_cannot_be_deleted(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    project_id = factory.project(workspace)
    insert_scheduled_work(factory, workspace, project_id)
    for _ in range(3):
        factory.time_entry(workspace, project_id)
    response = client.delete(f"{BASE}/{project_id}", headers=owner_key.headers)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["dependents"] == {"scheduledWork": 1, "timeEntries": 3}
    assert "1 scheduled work, 3 time entries" in error["message"]
    deleted = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type = 'project.deleted'",
        ws=workspace.id,
    )
    assert deleted[0][0] == 0


def test_a_dependent_the_counts_miss_is_still_a_409(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    """The foreign keys are the last word: a reference the counts cannot see refuses the delete
    with a 409, never a 500. Here a subtask filed under this project but under a task of
    another (the counts look at tasks, schedule and time) stands in for one. (A row filed under
    another workspace was the stand-in until the keys included the workspace.)"""
    project_id = factory.project(workspace)
    elsewhere = factory.task(workspace, factory.project(workspace, name="Elsewhere"))
    subtask_id = factory.subtask(workspace, elsewhere)
    factory.sql("UPDATE subtask SET project_id = :p WHERE id = :id", p=project_id, id=subtask_id)
    response = client.delete(f"{BASE}/{project_id}", headers=owner_key.headers)
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "has_dependents"
    assert client.get(f"{BASE}/{project_id}", headers=owner_key.headers).status_code == 200
    tombstones = factory.sql("SELECT count(*) FROM tombstone WHERE entity_id = :id", id=project_id)
    assert tombstones[0][0] == 0
