"""/time-entries and /time-entries/{id}: every endpoint's 401, 403, 404, 422 and success, and the
rules of time: the two ways to log, who may log and read what, the work-item checks, billable
defaults, the rate snapshot and its fallbacks, locks, filters, events and audit records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billabled.auth.scopes import Scope
from billabled.models.membership import Role
from tests.api.conftest import count_queries
from tests.factories import Factory, Key, Workspace

BASE = "/api/v1/time-entries"
Json = dict[str, Any]


@dataclass(frozen=True)
class Setup:
    """A workspace's work record: an hourly project (100.00/h) of a client, a task, a subtask
    and a tag, with the owner's key."""

    ws: Workspace
    key: Key
    client_id: str
    project_id: str
    task_id: str
    subtask_id: str
    tag_id: str


@pytest.fixture
def s(factory: Factory, workspace: Workspace, owner_key: Key) -> Setup:
    client_id = factory.client(workspace)
    project_id = factory.project(workspace, client_id)
    task_id = factory.task(workspace, project_id)
    subtask_id = factory.subtask(workspace, task_id)
    return Setup(
        workspace, owner_key, client_id, project_id, task_id, subtask_id, factory.tag(workspace)
    )


def day_entry(project_id: str, **fields: Any) -> Json:
    return {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 3600, **fields}


def log(client: TestClient, key: Key, body: Json) -> Json:
    response = client.post(BASE, json=body, headers=key.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


def fields_of(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["error"]["errors"]]


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def statements(sql: list[str]) -> list[str]:
    return [statement for statement in sql if statement.strip() != "BEGIN"]


def member_key(factory: Factory, ws: Workspace, role: Role = Role.MEMBER) -> tuple[Key, str]:
    email = factory.member(ws, role)
    return factory.key(ws, email=email), factory.user_id(ws, email)


# --- logging: the two shapes -------------------------------------------------------------------


def test_log_with_start_and_end(client: TestClient, s: Setup) -> None:
    created = log(
        client,
        s.key,
        {
            "projectId": s.project_id,
            "taskId": s.task_id,
            "subtaskId": s.subtask_id,
            "start": "2026-03-02T09:00:00+01:00",
            "end": "2026-03-02T10:30:00+01:00",
            "description": "Homepage wireframes",
            "tagIds": [s.tag_id, s.tag_id],
        },
    )
    assert created["id"].startswith("te_")
    assert created["userId"] == s.ws.owner_id  # the key's creator by default
    assert created["clientId"] == s.client_id
    assert (created["start"], created["end"]) == ("2026-03-02T08:00:00Z", "2026-03-02T09:30:00Z")
    assert created["date"] == "2026-03-02"
    assert created["durationSeconds"] == 5400
    assert created["billable"] is True
    assert (created["rateMinor"], created["currency"], created["amountMinor"]) == (
        10_000,
        "USD",
        15_000,
    )
    assert created["status"] == "open"
    assert created["invoiceId"] is None
    assert created["invoiced"] is False
    assert created["locked"] is False
    assert created["tagIds"] == [s.tag_id]
    assert created["description"] == "Homepage wireframes"

    fetched = client.get(f"{BASE}/{created['id']}", headers=s.key.headers)
    assert fetched.status_code == 200
    assert fetched.json() == created
    listed = client.get(BASE, headers=s.key.headers).json()
    assert listed["items"] == [created]
    assert listed["totalCount"] == 1


def test_log_with_date_and_duration(client: TestClient, s: Setup) -> None:
    created = log(client, s.key, day_entry(s.project_id, durationSeconds=2700))
    assert (created["start"], created["end"]) == (None, None)
    assert created["date"] == "2026-03-02"
    assert created["durationSeconds"] == 2700
    assert created["amountMinor"] == 7500
    assert created["taskId"] is None
    assert created["subtaskId"] is None
    assert created["tagIds"] == []
    assert client.get(f"{BASE}/{created['id']}", headers=s.key.headers).json() == created


def test_the_date_of_a_start_is_in_the_workspace_time_zone(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    factory.sql("UPDATE workspace SET time_zone = 'America/New_York' WHERE id = :id", id=s.ws.id)
    evening = log(
        client,
        s.key,
        {"projectId": s.project_id, "start": "2026-03-10T02:30:00Z", "end": "2026-03-10T03:00:00Z"},
    )
    assert evening["date"] == "2026-03-09"  # 22:30 the day before in New York
    morning = log(
        client,
        s.key,
        {
            "projectId": s.project_id,
            "start": "2026-03-10T23:00:00+09:00",
            "end": "2026-03-11T00:00:00+09:00",
        },
    )
    assert morning["date"] == "2026-03-10"  # 10:00 in New York
    assert morning["start"] == "2026-03-10T14:00:00Z"
    # The years of work hold for the date of work: 03:00 UTC on the first day of 1900 is a day of
    # 1899 in New York (was stored as one).
    first_day = {"start": "1900-01-01T03:00:00Z", "end": "1900-01-01T04:00:00Z"}
    response = client.post(
        BASE, json={"projectId": s.project_id, **first_day}, headers=s.key.headers
    )
    assert response.status_code == 422, response.text
    assert fields_of(response) == ["start"]
    assert "1899-12-31" in response.json()["error"]["errors"][0]["message"]


def test_a_duration_from_start_and_end_is_rounded_to_the_second(
    client: TestClient, s: Setup
) -> None:
    created = log(
        client,
        s.key,
        {
            "projectId": s.project_id,
            "start": "2026-03-02T09:00:00.400Z",
            "end": "2026-03-02T10:00:00.900Z",
        },
    )
    assert created["durationSeconds"] == 3601  # 3600.5 s, half up
    full_day = log(
        client,
        s.key,
        {"projectId": s.project_id, "start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
    )
    assert full_day["durationSeconds"] == 86_400


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ["start", "date"]),  # neither shape
        (
            {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z", "date": "2026-03-02"},
            ["start", "end", "date"],
        ),
        ({"start": "2026-03-02T09:00:00Z", "durationSeconds": 60}, ["start", "durationSeconds"]),
        ({"start": "2026-03-02T09:00:00Z"}, ["end"]),
        ({"end": "2026-03-02T09:00:00Z"}, ["start"]),
        ({"date": "2026-03-02"}, ["durationSeconds"]),
        ({"durationSeconds": 60}, ["date"]),
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}, ["end"]),
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T10:00:00Z"}, ["end"]),
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T10:00:00.200Z"}, ["end"]),
        # Half a second would round up to the one second it falls short of: was billed.
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T10:00:00.500Z"}, ["end"]),
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-03T10:00:01Z"}, ["end"]),
        # Under half a second past 24 hours rounded to 86,400 s: was taken (a helper's audit).
        ({"start": "2026-03-02T10:00:00Z", "end": "2026-03-03T10:00:00.499999Z"}, ["end"]),
        # A leap second: refused, saying so (was "a valid datetime or date, extra characters").
        ({"start": "2016-12-31T23:59:60Z", "end": "2017-01-01T00:30:00Z"}, ["start"]),
        ({"start": "2016-12-31T23:59:61Z", "end": "2017-01-01T00:30:00Z"}, ["start"]),
        ({"start": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00Z"}, ["start"]),
        ({"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00"}, ["end"]),
        ({"start": "0001-01-01T00:30:00+01:00", "end": "0001-01-01T01:00:00+01:00"}, None),
        # In the years as written but not in UTC, where they are stored: were taken as 1899/3000.
        ({"start": "1900-01-01T00:00:00+14:00", "end": "1900-01-01T01:00:00+14:00"}, None),
        ({"start": "2999-12-31T22:00:00-12:00", "end": "2999-12-31T23:00:00-12:00"}, None),
        ({"date": "2026-02-30", "durationSeconds": 60}, ["date"]),
        ({"date": "\uff12\uff10\uff12\uff16-03-02", "durationSeconds": 60}, ["date"]),  # full width
        ({"date": "1066-10-14", "durationSeconds": 60}, ["date"]),
        ({"date": "2026-03-02", "durationSeconds": 0}, ["durationSeconds"]),
        ({"date": "2026-03-02", "durationSeconds": 86_401}, ["durationSeconds"]),
        ({"date": "2026-03-02", "durationSeconds": 1.5}, ["durationSeconds"]),
        ({"start": 1772442000, "end": "2026-03-02T10:00:00Z"}, ["start"]),  # a Unix time: was taken
        ({"start": "2026-03-02T09:00:00Z", "end": "1772445600"}, ["end"]),  # as text: was taken
        # Not RFC 3339 (a helper's docs audit): no seconds, an offset without its colon, a week
        # date, digits of another script. Were taken as 09:00:00Z and 08:00:00Z.
        ({"start": "2026-03-02T09:00Z", "end": "2026-03-02T10:00:00Z"}, ["start"]),
        ({"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00+0100"}, ["end"]),
        ({"start": "2026-W10-1T09:00:00Z", "end": "2026-03-02T10:00:00Z"}, ["start"]),
        ({"start": "٢٠٢٦-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z"}, ["start"]),
    ],
)
def test_the_shape_of_the_time_is_checked(
    client: TestClient, s: Setup, fields: Json, expected: list[str] | None
) -> None:
    response = client.post(BASE, json={"projectId": s.project_id, **fields}, headers=s.key.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    if expected is not None:
        assert fields_of(response) == expected
    else:
        assert set(fields_of(response)) == {"start", "end"}
    for error in response.json()["error"]["errors"]:
        if ":60" in str(fields):
            assert "a leap second (:60) is not taken" in error["message"]
        if ":61" in str(fields):
            assert "seconds must be 00 to 59" in error["message"]
        if "\uff12" in str(fields):  # the rule that refuses every other non-date, by name
            assert error["type"] == "value_error"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-02T09:00:00Z", "2026-03-02T10:00:00.000Z"),
        ("2026-03-02t10:00:00+01:00", "2026-03-02 10:00:00z"),  # RFC 3339 allows t, z, space
        ("2026-03-02T04:00:00.000000001-05:00", "2026-03-02T05:00:00.4-05:00"),
    ],
)
def test_rfc_3339_times_are_taken_in_every_form_it_allows(
    client: TestClient, s: Setup, start: str, end: str
) -> None:
    response = client.post(
        BASE, json={"projectId": s.project_id, "start": start, "end": end}, headers=s.key.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["start"] == "2026-03-02T09:00:00Z"
    assert response.json()["durationSeconds"] == 3600


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"projectId": None}, "projectId"),
        ({"projectId": ""}, "projectId"),
        ({"description": "x" * 10_001}, "description"),
        ({"billable": "perhaps"}, "billable"),
        # Values of another type were converted (a helper's schemathesis run): now refused.
        ({"billable": "yes"}, "billable"),
        ({"billable": 1}, "billable"),
        ({"date": 1772409600}, "date"),
        ({"date": "2026-03-02T00:00:00"}, "date"),
        ({"durationSeconds": "3600"}, "durationSeconds"),
        ({"durationSeconds": True}, "durationSeconds"),
        ({"tagIds": [f"tag_{i}" for i in range(21)]}, "tagIds"),
        ({"tagIds": "tag_x"}, "tagIds"),
        ({"rateMinor": 1}, "rateMinor"),
        ({"status": "approved"}, "status"),
        ({"invoiceId": "inv_x"}, "invoiceId"),
        ({"clientId": "cli_x"}, "clientId"),
        ({"amountMinor": 5}, "amountMinor"),
        ({"color": "red"}, "color"),
    ],
)
def test_invalid_fields_are_422(client: TestClient, s: Setup, fields: Json, field: str) -> None:
    response = client.post(BASE, json=day_entry(s.project_id, **fields), headers=s.key.headers)
    assert response.status_code == 422
    assert fields_of(response) == [field]


@pytest.mark.parametrize(
    ("fragment", "field"),
    [
        ('"description": "half a pair \\ud800"', "description"),  # no column can store it
        ('"durationSeconds": NaN', "durationSeconds"),  # not JSON, but Python's parser takes it
        ('"durationSeconds": 123456789012345678901234567890', "durationSeconds"),
    ],
)
def test_values_no_column_could_hold_are_422_naming_the_field(
    client: TestClient, s: Setup, fragment: str, field: str
) -> None:
    """What JSON parsers disagree on (an unpaired surrogate, NaN, an integer beyond 64 bits)
    reaches validation exactly and is refused there, on the single and the bulk endpoint alike;
    nothing is written."""
    fields = f'"projectId": "{s.project_id}", "date": "2026-03-02"'
    if field != "durationSeconds":
        fields += ', "durationSeconds": 3600'
    body = "{" + fields + ", " + fragment + "}"
    headers = {**s.key.headers, "Content-Type": "application/json"}
    single = client.post(BASE, content=body.encode(), headers=headers)
    assert single.status_code == 422, single.text
    assert fields_of(single) == [field]
    bulk = client.post(f"{BASE}/bulk", content=f'{{"items": [{body}]}}'.encode(), headers=headers)
    assert bulk.status_code == 422, bulk.text
    assert bulk.json()["error"]["code"] == "bulk_invalid"
    assert client.get(BASE, headers=s.key.headers).json()["items"] == []


# --- logging: what the time is on --------------------------------------------------------------


def test_references_must_be_of_the_workspace(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    other = factory.workspace()
    their_project = factory.project(other)
    their_task = factory.task(other, their_project)
    their_subtask = factory.subtask(other, their_task)
    their_tag = factory.tag(other)
    their_user = other.owner_id
    cases = [
        ({"projectId": their_project}, "projectId"),
        ({"projectId": "proj_01jd3x0000000000000000000"}, "projectId"),
        ({"taskId": their_task}, "taskId"),
        ({"taskId": s.task_id, "subtaskId": their_subtask}, "subtaskId"),
        ({"tagIds": [s.tag_id, their_tag]}, "tagIds"),
        ({"userId": their_user}, "userId"),
        ({"userId": "usr_nobody"}, "userId"),
    ]
    for fields, field in cases:
        body = day_entry(s.project_id) | fields
        response = client.post(BASE, json=body, headers=s.key.headers)
        assert response.status_code == 422, fields
        errors = response.json()["error"]["errors"]
        assert [e["field"] for e in errors] == [field], fields
        assert errors[0]["type"] == "not_found"
        assert "in this workspace" in errors[0]["message"]
    # Another workspace's id reads exactly like a missing one.
    missing = client.post(BASE, json=day_entry("proj_missing"), headers=s.key.headers).json()
    theirs = client.post(BASE, json=day_entry(their_project), headers=s.key.headers).json()
    assert missing["error"]["errors"][0]["message"].replace("proj_missing", "X") == theirs["error"][
        "errors"
    ][0]["message"].replace(their_project, "X")
    assert client.get(BASE, headers=s.key.headers).json()["items"] == []


def test_task_must_be_in_the_project_and_subtask_in_the_task(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    other_project = factory.project(s.ws, s.client_id, name="Other")
    other_task = factory.task(s.ws, other_project)
    other_subtask = factory.subtask(s.ws, other_task)
    cases = [
        ({"taskId": other_task}, "taskId", "not_in_project"),
        ({"taskId": s.task_id, "subtaskId": other_subtask}, "subtaskId", "not_in_task"),
        ({"subtaskId": s.subtask_id}, "subtaskId", "missing"),
    ]
    for fields, field, kind in cases:
        response = client.post(BASE, json=day_entry(s.project_id, **fields), headers=s.key.headers)
        assert response.status_code == 422, fields
        assert [(e["field"], e["type"]) for e in response.json()["error"]["errors"]] == [
            (field, kind)
        ]
    ok = log(client, s.key, day_entry(other_project, taskId=other_task, subtaskId=other_subtask))
    assert (ok["projectId"], ok["taskId"], ok["subtaskId"]) == (
        other_project,
        other_task,
        other_subtask,
    )


def test_an_archived_project_is_refused(client: TestClient, factory: Factory, s: Setup) -> None:
    archived = factory.project(s.ws, s.client_id, status="archived")
    response = client.post(BASE, json=day_entry(archived), headers=s.key.headers)
    assert response.status_code == 422
    error = response.json()["error"]["errors"][0]
    assert (error["field"], error["type"]) == ("projectId", "project_archived")
    assert "archived" in error["message"]


def test_a_project_of_an_archived_client_takes_no_new_time(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    # Was taken: archiving a client left its active projects open to time.
    entry = log(client, s.key, day_entry(s.project_id))
    factory.sql("UPDATE client SET archived = true WHERE id = :id", id=s.client_id)
    response = client.post(BASE, json=day_entry(s.project_id), headers=s.key.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]["errors"][0]
    assert (error["field"], error["type"]) == ("projectId", "client_archived")
    # Time already there can still be corrected.
    corrected = client.patch(
        f"{BASE}/{entry['id']}", json={"description": "fixed"}, headers=s.key.headers
    )
    assert corrected.status_code == 200, corrected.text
    # And moved onto it from elsewhere it is new to the project: refused.
    elsewhere = log(client, s.key, day_entry(factory.project(s.ws, name="Elsewhere")))
    moved = client.patch(
        f"{BASE}/{elsewhere['id']}", json={"projectId": s.project_id}, headers=s.key.headers
    )
    assert moved.status_code == 422, moved.text
    assert moved.json()["error"]["errors"][0]["type"] == "client_archived"


def test_every_problem_of_an_entry_is_reported_at_once(client: TestClient, s: Setup) -> None:
    response = client.post(
        BASE,
        json={"projectId": "proj_missing", "taskId": "task_missing", "tagIds": ["tag_missing"]},
        headers=s.key.headers,
    )
    assert response.status_code == 422
    assert fields_of(response) == ["start", "date", "projectId", "taskId", "tagIds"]
    assert "projectId" in response.json()["error"]["message"]


# --- billable ----------------------------------------------------------------------------------


def test_billable_defaults(client: TestClient, factory: Factory, s: Setup) -> None:
    unbilled_task = factory.task(s.ws, s.project_id, billable=False)
    billed_subtask = factory.subtask(s.ws, unbilled_task, billable=True)
    plain_subtask = factory.subtask(s.ws, unbilled_task)
    internal = factory.project(s.ws, s.client_id, billing_type="non_billable")
    internal_billed_task = factory.task(s.ws, internal, billable=True)
    fixed = factory.project(s.ws, s.client_id, billing_type="fixed_fee")
    retainer = factory.project(s.ws, s.client_id, billing_type="retainer")

    def billable_of(project_id: str, **fields: Any) -> tuple[bool, int | None]:
        created = log(client, s.key, day_entry(project_id, **fields))
        return created["billable"], created["rateMinor"]

    assert billable_of(s.project_id) == (True, 10_000)
    assert billable_of(s.project_id, taskId=s.task_id) == (True, 10_000)  # task: not set
    assert billable_of(s.project_id, taskId=unbilled_task) == (False, None)
    assert billable_of(s.project_id, taskId=unbilled_task, subtaskId=billed_subtask) == (
        True,
        10_000,
    )
    assert billable_of(s.project_id, taskId=unbilled_task, subtaskId=plain_subtask) == (
        False,
        None,
    )
    assert billable_of(s.project_id, billable=False) == (False, None)
    assert billable_of(s.project_id, taskId=unbilled_task, billable=True) == (True, 10_000)
    assert billable_of(internal) == (False, None)
    # A non-billable project caps a task that says billable.
    assert billable_of(internal, taskId=internal_billed_task) == (False, None)
    assert billable_of(fixed)[0] is True
    assert billable_of(retainer)[0] is True

    refused = client.post(BASE, json=day_entry(internal, billable=True), headers=s.key.headers)
    assert refused.status_code == 422
    assert [(e["field"], e["type"]) for e in refused.json()["error"]["errors"]] == [
        ("billable", "non_billable_project")
    ]


def test_a_non_billable_entry_has_no_rate_or_amount(client: TestClient, s: Setup) -> None:
    created = log(client, s.key, day_entry(s.project_id, billable=False))
    assert (created["rateMinor"], created["amountMinor"], created["currency"]) == (
        None,
        None,
        "USD",
    )


# --- rates -------------------------------------------------------------------------------------


def test_the_rate_falls_back_from_project_to_client_to_member(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    email = factory.member(s.ws, Role.MEMBER)
    member_id = factory.user_id(s.ws, email)
    factory.sql(
        "UPDATE membership SET default_bill_rate_minor = 5000"
        " WHERE workspace_id = :ws AND user_id = :user",
        ws=s.ws.id,
        user=member_id,
    )
    rated_client = factory.client(s.ws, default_hourly_rate_minor=8000)
    plain_client = factory.client(s.ws)

    def rate(client_id: str, **project: Any) -> int | None:
        project_id = factory.project(s.ws, client_id, **project)
        created = log(client, s.key, day_entry(project_id, userId=member_id))
        assert created["userId"] == member_id
        value: int | None = created["rateMinor"]
        return value

    assert rate(rated_client, hourly_rate_minor=12_000) == 12_000  # the project's
    assert rate(rated_client, hourly_rate_minor=None) == 8000  # the client's
    assert rate(plain_client, hourly_rate_minor=None) == 5000  # the member's
    assert (
        rate(
            rated_client,
            billing_type="retainer",
            hourly_rate_minor=12_000,
            retainer_overage_rate_minor=15_000,
        )
        == 15_000
    )
    assert rate(rated_client, billing_type="retainer", hourly_rate_minor=12_000) == 12_000
    assert rate(rated_client, billing_type="retainer", hourly_rate_minor=None) == 8000
    assert rate(plain_client, billing_type="fixed_fee", hourly_rate_minor=9000) == 9000
    assert rate(plain_client, billing_type="fixed_fee", hourly_rate_minor=None) == 5000
    # Nobody set a rate: billable time without a rate.
    project_id = factory.project(s.ws, plain_client, hourly_rate_minor=None)
    owners = log(client, s.key, day_entry(project_id))
    assert (owners["billable"], owners["rateMinor"], owners["amountMinor"]) == (True, None, None)


def test_the_currency_is_the_projects(client: TestClient, factory: Factory, s: Setup) -> None:
    project_id = factory.project(s.ws, s.client_id, currency="EUR", hourly_rate_minor=9000)
    created = log(client, s.key, day_entry(project_id))
    assert (created["currency"], created["rateMinor"]) == ("EUR", 9000)


def set_bill_rate(factory: Factory, ws: Workspace, user_id: str, rate: int) -> None:
    factory.sql(
        "UPDATE membership SET default_bill_rate_minor = :rate"
        " WHERE workspace_id = :ws AND user_id = :user",
        rate=rate,
        ws=ws.id,
        user=user_id,
    )


def test_a_members_rate_never_prices_work_billed_in_another_currency(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    """The member's rate is in the workspace's currency (USD here): on a EUR project without a
    rate of its own it would have been stamped as EUR 135 for $135 of work."""
    set_bill_rate(factory, s.ws, s.ws.owner_id, 13_500)
    euro_client = factory.client(s.ws, currency="EUR")
    euro_project = factory.project(s.ws, euro_client, currency="EUR", hourly_rate_minor=None)
    dollar_project = factory.project(s.ws, factory.client(s.ws), hourly_rate_minor=None)

    euro = log(client, s.key, day_entry(euro_project))
    dollar = log(client, s.key, day_entry(dollar_project))

    assert (euro["currency"], euro["rateMinor"], euro["amountMinor"]) == ("EUR", None, None)
    assert (dollar["currency"], dollar["rateMinor"]) == ("USD", 13_500)


def test_time_priced_by_its_members_rate_takes_the_new_members_when_reassigned(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    _, member_id = member_key(factory, s.ws)
    set_bill_rate(factory, s.ws, s.ws.owner_id, 13_500)
    set_bill_rate(factory, s.ws, member_id, 9_000)
    unpriced = factory.project(s.ws, factory.client(s.ws), hourly_rate_minor=None)
    created = log(client, s.key, day_entry(unpriced))
    assert created["rateMinor"] == 13_500

    url = f"{BASE}/{created['id']}"
    moved = client.patch(url, json={"userId": member_id}, headers=s.key.headers)

    assert moved.status_code == 200, moved.text
    assert (moved.json()["rateMinor"], moved.json()["amountMinor"]) == (9_000, 9_000)


def test_reassigned_time_follows_what_priced_it_when_logged_not_the_rates_of_today(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    """Whether the member's rate priced an entry was judged by the client's and project's rates
    of today: time priced by its member's rate kept the former member's once the client got a
    rate, and time priced by the client's rate took the new member's once the client's was
    cleared (a helper's correctness audit)."""
    _, member_id = member_key(factory, s.ws)
    set_bill_rate(factory, s.ws, s.ws.owner_id, 22_500)
    set_bill_rate(factory, s.ws, member_id, 13_500)
    by_member_client = factory.client(s.ws, "By member")
    by_client_client = factory.client(s.ws, "By client", default_hourly_rate_minor=10_000)
    by_member = log(
        client, s.key, day_entry(factory.project(s.ws, by_member_client, hourly_rate_minor=None))
    )
    by_client = log(
        client, s.key, day_entry(factory.project(s.ws, by_client_client, hourly_rate_minor=None))
    )
    assert (by_member["rateMinor"], by_client["rateMinor"]) == (22_500, 10_000)
    for client_id, rate in ((by_member_client, 10_000), (by_client_client, None)):
        changed = client.patch(
            f"/api/v1/clients/{client_id}",
            json={"defaultHourlyRateMinor": rate},
            headers=s.key.headers,
        )
        assert changed.status_code == 200, changed.text

    given = {
        entry["id"]: client.patch(
            f"{BASE}/{entry['id']}", json={"userId": member_id}, headers=s.key.headers
        ).json()["rateMinor"]
        for entry in (by_member, by_client)
    }

    assert given == {by_member["id"]: 13_500, by_client["id"]: 10_000}


def test_time_logged_before_rate_sources_were_kept_follows_todays_rates_when_reassigned(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    _, member_id = member_key(factory, s.ws)
    set_bill_rate(factory, s.ws, s.ws.owner_id, 22_500)
    set_bill_rate(factory, s.ws, member_id, 13_500)
    unpriced = factory.project(s.ws, factory.client(s.ws), hourly_rate_minor=None)
    created = log(client, s.key, day_entry(unpriced))
    factory.sql("UPDATE time_entry SET rate_source = NULL WHERE id = :id", id=created["id"])

    given = client.patch(
        f"{BASE}/{created['id']}", json={"userId": member_id}, headers=s.key.headers
    )

    assert given.json()["rateMinor"] == 13_500
    source = factory.sql("SELECT rate_source FROM time_entry WHERE id = :id", id=created["id"])
    assert source[0][0] == "member"


def test_the_rate_snapshot_survives_rate_changes(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id))
    url = f"{BASE}/{created['id']}"
    factory.sql("UPDATE project SET hourly_rate_minor = 20000 WHERE id = :id", id=s.project_id)
    factory.sql(
        "UPDATE client SET default_hourly_rate_minor = 30000 WHERE id = :id", id=s.client_id
    )

    assert client.get(url, headers=s.key.headers).json()["rateMinor"] == 10_000
    listed = client.get(BASE, headers=s.key.headers).json()["items"][0]
    assert (listed["rateMinor"], listed["amountMinor"]) == (10_000, 10_000)
    # Changing the time, description, subtask or tags keeps the snapshot.
    patched = client.patch(
        url,
        json={
            "durationSeconds": 7200,
            "description": "more",
            "subtaskId": s.subtask_id,
            "tagIds": [s.tag_id],
        },
        headers=s.key.headers,
    ).json()
    assert (patched["rateMinor"], patched["amountMinor"]) == (10_000, 20_000)
    # The new rate is taken only by new time.
    assert log(client, s.key, day_entry(s.project_id))["rateMinor"] == 20_000


@pytest.mark.parametrize("change", ["project", "task", "user", "billable"])
def test_the_rate_is_retaken_when_the_project_changes_not_task_user_or_billable(
    client: TestClient, factory: Factory, s: Setup, change: str
) -> None:
    other_project = factory.project(s.ws, s.client_id, hourly_rate_minor=11_000)
    other_task = factory.task(s.ws, s.project_id, name="Build")
    _, member_id = member_key(factory, s.ws)
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id))
    url = f"{BASE}/{created['id']}"
    factory.sql("UPDATE project SET hourly_rate_minor = 20000 WHERE id = :id", id=s.project_id)
    if change == "billable":
        off = client.patch(url, json={"billable": False}, headers=s.key.headers).json()
        assert (off["billable"], off["rateMinor"], off["amountMinor"]) == (False, None, None)
        body: Json = {"billable": True}
        expected = 10_000  # the rate of when it was logged (it was re-taken: 20_000)
    else:
        body, expected = {
            "project": ({"projectId": other_project, "taskId": None}, 11_000),
            # The task plays no part in the rate: the logged rate stays (SPEC §4).
            "task": ({"taskId": other_task}, 10_000),
            # The project sets the rate: who did the work does not change it (SPEC §4).
            "user": ({"userId": member_id}, 10_000),
        }[change]
    response = client.patch(url, json=body, headers=s.key.headers)
    assert response.status_code == 200, response.text
    assert response.json()["rateMinor"] == expected


def test_time_logged_not_billable_bills_at_the_rate_of_when_it_was_logged(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    created = log(client, s.key, day_entry(s.project_id, billable=False))
    assert (created["rateMinor"], created["amountMinor"]) == (None, None)
    factory.sql("UPDATE project SET hourly_rate_minor = 20000 WHERE id = :id", id=s.project_id)

    url = f"{BASE}/{created['id']}"
    billed = client.patch(url, json={"billable": True}, headers=s.key.headers).json()

    assert (billed["rateMinor"], billed["amountMinor"]) == (10_000, 10_000)
    listed = client.get(BASE, headers=s.key.headers).json()["items"][0]
    assert (listed["rateMinor"], listed["amountMinor"]) == (10_000, 10_000)


def test_amounts_are_rounded_half_up_alike_in_lists_and_reads(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    cases = {  # rate, seconds → amount (rate * seconds / 3600, half up)
        (1, 1800): 1,  # 0.5
        (1, 1799): 0,  # 0.4997
        (3, 600): 1,  # 0.5
        (5, 1800): 3,  # 2.5
        (10_001, 1799): 4998,  # 4997.6
        (100_000_000, 86_400): 2_400_000_000,  # past 32-bit integers
        (7, 1): 0,
    }
    ids = {}
    for (rate, seconds), _ in cases.items():
        project_id = factory.project(s.ws, s.client_id, hourly_rate_minor=rate)
        ids[log(client, s.key, day_entry(project_id, durationSeconds=seconds))["id"]] = (
            rate,
            seconds,
        )
    listed = client.get(f"{BASE}?pageSize=200", headers=s.key.headers).json()["items"]
    assert len(listed) == len(cases)
    for item in listed:
        expected = cases[ids[item["id"]]]
        assert item["amountMinor"] == expected, ids[item["id"]]
        single = client.get(f"{BASE}/{item['id']}", headers=s.key.headers).json()
        assert single == item


# --- who ---------------------------------------------------------------------------------------


def test_members_log_read_and_change_only_their_own_time(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    member, member_id = member_key(factory, s.ws)
    _, colleague_id = member_key(factory, s.ws)
    mine = log(client, member, day_entry(s.project_id))
    assert mine["userId"] == member_id
    assert log(client, member, day_entry(s.project_id, userId=member_id))["userId"] == member_id
    theirs = log(client, s.key, day_entry(s.project_id, userId=colleague_id))
    owners = log(client, s.key, day_entry(s.project_id))

    forbidden = client.post(
        BASE, json=day_entry(s.project_id, userId=colleague_id), headers=member.headers
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden_user"
    assert "managers and above" in forbidden.json()["error"]["message"]

    # Lists and reads show their own time only.
    listed = client.get(f"{BASE}?pageSize=200", headers=member.headers).json()
    assert {item["userId"] for item in listed["items"]} == {member_id}
    assert listed["totalCount"] == 2
    assert client.get(f"{BASE}?userId={colleague_id}", headers=member.headers).json()["items"] == []
    for other in (theirs, owners):
        url = f"{BASE}/{other['id']}"
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            response = client.request(
                method, url, json={"description": "x"}, headers=member.headers
            )
            assert response.status_code == 404, method
            assert response.json()["error"]["code"] == "not_found"
    assert client.get(f"{BASE}/{theirs['id']}", headers=s.key.headers).json() == theirs

    # Their own: change it, but not hand it to someone else.
    url = f"{BASE}/{mine['id']}"
    assert (
        client.patch(url, json={"description": "mine"}, headers=member.headers).json()[
            "description"
        ]
        == "mine"
    )
    moved = client.patch(url, json={"userId": colleague_id}, headers=member.headers)
    assert moved.status_code == 403
    assert moved.json()["error"]["code"] == "forbidden_user"
    assert client.patch(url, json={"userId": member_id}, headers=member.headers).status_code == 200
    assert client.delete(url, headers=member.headers).status_code == 204


def test_managers_log_and_read_everyones_time(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    manager, manager_id = member_key(factory, s.ws, Role.MANAGER)
    _, member_id = member_key(factory, s.ws)
    for_member = log(client, manager, day_entry(s.project_id, userId=member_id))
    assert for_member["userId"] == member_id
    assert log(client, manager, day_entry(s.project_id))["userId"] == manager_id
    log(client, s.key, day_entry(s.project_id))
    listed = client.get(BASE, headers=manager.headers).json()
    assert listed["totalCount"] == 3
    only = client.get(f"{BASE}?userId={member_id}", headers=manager.headers).json()["items"]
    assert [item["id"] for item in only] == [for_member["id"]]
    url = f"{BASE}/{for_member['id']}"
    assert client.patch(url, json={"userId": manager_id}, headers=manager.headers).json()[
        "userId"
    ] == (manager_id)
    assert client.delete(url, headers=manager.headers).status_code == 204


def test_a_removed_member_cannot_be_given_time(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    email = factory.member(s.ws, Role.MEMBER)
    user_id = factory.user_id(s.ws, email)
    entry = log(client, s.key, day_entry(s.project_id, userId=user_id))
    factory.remove(s.ws, email)
    response = client.post(
        BASE, json=day_entry(s.project_id, userId=user_id), headers=s.key.headers
    )
    assert response.status_code == 422
    assert fields_of(response) == ["userId"]
    # Their logged time can still be corrected.
    url = f"{BASE}/{entry['id']}"
    assert (
        client.patch(url, json={"description": "fixed"}, headers=s.key.headers).status_code == 200
    )


# --- updates -----------------------------------------------------------------------------------


def test_put_and_patch_change_only_the_fields_sent(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    second_tag = factory.tag(s.ws)
    created = log(client, s.key, day_entry(s.project_id, description="draft", tagIds=[s.tag_id]))
    url = f"{BASE}/{created['id']}"
    put = client.put(url, json={"description": "final"}, headers=s.key.headers)
    assert put.status_code == 200
    assert put.json() == created | {"description": "final", "updatedAt": put.json()["updatedAt"]}
    assert moment(put.json()["updatedAt"]) > moment(created["updatedAt"])
    patched = client.patch(
        url, json={"tagIds": [second_tag], "description": None}, headers=s.key.headers
    ).json()
    assert patched["tagIds"] == [second_tag]
    assert patched["description"] is None
    assert client.get(url, headers=s.key.headers).json() == patched
    cleared = client.patch(url, json={"tagIds": []}, headers=s.key.headers).json()
    assert cleared["tagIds"] == []


def test_an_update_can_switch_between_the_two_shapes(client: TestClient, s: Setup) -> None:
    created = log(client, s.key, day_entry(s.project_id))
    url = f"{BASE}/{created['id']}"
    timed = client.patch(
        url,
        json={"start": "2026-03-05T09:00:00Z", "end": "2026-03-05T09:45:00Z"},
        headers=s.key.headers,
    ).json()
    assert (timed["date"], timed["durationSeconds"], timed["amountMinor"]) == (
        "2026-03-05",
        2700,
        7500,
    )
    later = client.patch(url, json={"end": "2026-03-05T10:00:00Z"}, headers=s.key.headers).json()
    assert (later["start"], later["durationSeconds"]) == ("2026-03-05T09:00:00Z", 3600)
    by_day = client.patch(url, json={"durationSeconds": 600}, headers=s.key.headers).json()
    assert (by_day["start"], by_day["end"], by_day["date"], by_day["durationSeconds"]) == (
        None,
        None,
        "2026-03-05",
        600,
    )
    # A date entry has no start to keep: an end alone is not enough.
    response = client.patch(url, json={"end": "2026-03-05T10:00:00Z"}, headers=s.key.headers)
    assert response.status_code == 422
    assert fields_of(response) == ["start"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"projectId": None}, ["projectId"]),
        ({"billable": None, "tagIds": None}, ["billable", "tagIds"]),
        ({"durationSeconds": None}, ["durationSeconds"]),
        ({"date": "2026-03-02", "start": "2026-03-02T09:00:00Z"}, ["start", "date"]),
        ({"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T08:00:00Z"}, ["end"]),
        ({"durationSeconds": 0}, ["durationSeconds"]),
        ({"start": "2026-03-02T09:00:00"}, ["start"]),
        ({"status": "approved"}, ["status"]),
        ({"rateMinor": 1}, ["rateMinor"]),
        ({"projectId": "proj_missing"}, ["projectId"]),
        ({"taskId": "task_missing"}, ["taskId"]),
        ({"tagIds": ["tag_missing"]}, ["tagIds"]),
        ({"userId": "usr_missing"}, ["userId"]),
        ({"subtaskId": "sub_missing"}, ["subtaskId"]),
    ],
)
def test_invalid_updates_are_422_and_change_nothing(
    client: TestClient, s: Setup, body: Json, fields: list[str]
) -> None:
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id))
    url = f"{BASE}/{created['id']}"
    response = client.patch(url, json=body, headers=s.key.headers)
    assert response.status_code == 422, response.text
    assert fields_of(response) == fields
    assert client.get(url, headers=s.key.headers).json() == created


def test_moving_time_keeps_the_work_item_consistent(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    other_project = factory.project(s.ws, factory.client(s.ws, name="Beta"))
    other_task = factory.task(s.ws, other_project)
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id, subtaskId=s.subtask_id))
    url = f"{BASE}/{created['id']}"
    # The task stays behind on the old project unless it is changed too.
    stale = client.patch(url, json={"projectId": other_project}, headers=s.key.headers)
    assert stale.status_code == 422
    assert fields_of(stale) == ["taskId"]
    moved = client.patch(
        url,
        json={"projectId": other_project, "taskId": other_task, "subtaskId": None},
        headers=s.key.headers,
    ).json()
    assert (moved["projectId"], moved["taskId"], moved["subtaskId"]) == (
        other_project,
        other_task,
        None,
    )
    assert moved["clientId"] != s.client_id  # follows the project
    archived = factory.project(s.ws, s.client_id, status="archived")
    response = client.patch(
        url, json={"projectId": archived, "taskId": None}, headers=s.key.headers
    )
    assert response.status_code == 422
    assert fields_of(response) == ["projectId"]


def test_an_entry_on_a_project_archived_since_can_still_be_corrected(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    created = log(client, s.key, day_entry(s.project_id))
    factory.sql("UPDATE project SET status = 'archived' WHERE id = :id", id=s.project_id)
    url = f"{BASE}/{created['id']}"
    response = client.patch(url, json={"durationSeconds": 1800}, headers=s.key.headers)
    assert response.status_code == 200
    assert response.json()["amountMinor"] == 5000


def test_an_archived_task_or_subtask_takes_no_new_time(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    archived_task = factory.task(s.ws, s.project_id, name="Old phase")
    archived_subtask = factory.subtask(s.ws, s.task_id, name="Old step")
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id))
    url = f"{BASE}/{created['id']}"
    for table, record in (("task", archived_task), ("subtask", archived_subtask)):
        factory.sql(f"UPDATE {table} SET status = 'archived' WHERE id = :id", id=record)

    for body, field in (
        ({"taskId": archived_task}, "taskId"),
        ({"taskId": s.task_id, "subtaskId": archived_subtask}, "subtaskId"),
    ):
        logged = client.post(BASE, json=day_entry(s.project_id, **body), headers=s.key.headers)
        moved = client.patch(url, json=body, headers=s.key.headers)
        for response in (logged, moved):
            assert response.status_code == 422, response.text
            (error,) = response.json()["error"]["errors"]
            assert (error["field"], error["type"]) == (field, "archived")
    # Time already on a task archived since can still be corrected.
    factory.sql("UPDATE task SET status = 'archived' WHERE id = :id", id=s.task_id)
    corrected = client.patch(url, json={"durationSeconds": 1800}, headers=s.key.headers)
    assert corrected.status_code == 200, corrected.text


def test_billable_chosen_against_the_default_is_kept_when_the_task_changes(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    """Both tasks leave billable to the project (billable): `false` was someone's choice, and
    moving the entry to the other task made it billable."""
    other_task = factory.task(s.ws, s.project_id, name="Build")
    created = log(client, s.key, day_entry(s.project_id, taskId=s.task_id, billable=False))
    url = f"{BASE}/{created['id']}"

    moved = client.patch(url, json={"taskId": other_task}, headers=s.key.headers).json()

    assert (moved["billable"], moved["amountMinor"]) == (False, None)


def test_billable_follows_a_new_work_item_unless_sent(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    unbilled_task = factory.task(s.ws, s.project_id, billable=False)
    internal = factory.project(s.ws, s.client_id, billing_type="non_billable")
    created = log(client, s.key, day_entry(s.project_id))
    url = f"{BASE}/{created['id']}"
    moved = client.patch(url, json={"taskId": unbilled_task}, headers=s.key.headers).json()
    assert (moved["billable"], moved["rateMinor"]) == (False, None)
    kept = client.patch(url, json={"taskId": None, "billable": False}, headers=s.key.headers)
    assert kept.json()["billable"] is False
    back = client.patch(url, json={"billable": True}, headers=s.key.headers).json()
    assert (back["billable"], back["rateMinor"]) == (True, 10_000)
    internal_move = client.patch(url, json={"projectId": internal}, headers=s.key.headers).json()
    assert (internal_move["billable"], internal_move["rateMinor"]) == (False, None)
    refused = client.patch(url, json={"billable": True}, headers=s.key.headers)
    assert refused.status_code == 422
    assert fields_of(refused) == ["billable"]


# --- locks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "reason", "says"),
    [
        ("status", "submitted", "submitted", "submitted for approval"),
        ("status", "approved", "approved", "has been approved"),
        (
            "invoice_id",
            "inv_01jd3x0000000000000000000",
            "invoiced",
            "inv_01jd3x0000000000000000000",
        ),
    ],
)
def test_submitted_approved_or_invoiced_time_is_locked(
    client: TestClient,
    factory: Factory,
    s: Setup,
    column: str,
    value: str,
    reason: str,
    says: str,
) -> None:
    created = log(client, s.key, day_entry(s.project_id))
    factory.sql(
        f"UPDATE time_entry SET {column} = :value WHERE id = :id", value=value, id=created["id"]
    )
    url = f"{BASE}/{created['id']}"
    fetched = client.get(url, headers=s.key.headers).json()
    assert fetched["locked"] is True
    assert fetched["invoiced"] is (reason == "invoiced")
    for method in ("PUT", "PATCH", "DELETE"):
        response = client.request(method, url, json={"description": "x"}, headers=s.key.headers)
        assert response.status_code == 409, method
        error = response.json()["error"]
        assert (error["code"], error["reason"]) == ("locked", reason)
        assert error["message"].startswith("This time entry is locked")
        assert says in error["message"]
    assert client.get(url, headers=s.key.headers).json() == fetched
    events = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type LIKE 'time_entry.%'",
        ws=s.ws.id,
    )
    assert events[0][0] == 1  # only its creation


# --- deletes, events, audit --------------------------------------------------------------------


def test_delete_leaves_a_tombstone(client: TestClient, s: Setup) -> None:
    created = log(client, s.key, day_entry(s.project_id, tagIds=[s.tag_id]))
    url = f"{BASE}/{created['id']}"
    assert client.delete(url, headers=s.key.headers).status_code == 204
    assert client.get(url, headers=s.key.headers).status_code == 404
    assert client.delete(url, headers=s.key.headers).status_code == 404
    listed = client.get(f"{BASE}?includeDeleted=true", headers=s.key.headers).json()["items"]
    assert [(item["id"], item.get("deleted")) for item in listed] == [(created["id"], True)]


def test_changes_write_events_and_audit_records(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    created = log(client, s.key, day_entry(s.project_id))
    url = f"{BASE}/{created['id']}"
    updated = client.patch(url, json={"description": "B"}, headers=s.key.headers).json()
    # Sending what is already there changes nothing and announces nothing.
    assert client.patch(url, json={"description": "B"}, headers=s.key.headers).json() == updated
    client.delete(url, headers=s.key.headers)
    events = factory.sql(
        "SELECT type, data FROM event WHERE workspace_id = :ws AND type LIKE 'time_entry.%'"
        " ORDER BY created_at, id",
        ws=s.ws.id,
    )
    assert [e.type for e in events] == [
        "time_entry.created",
        "time_entry.updated",
        "time_entry.deleted",
    ]
    data = [e.data if isinstance(e.data, dict) else json.loads(e.data) for e in events]
    assert data == [created, updated, updated]
    audits = factory.sql(
        "SELECT action, actor_type, actor_id FROM audit_record WHERE entity_id = :id"
        " ORDER BY created_at, id",
        id=created["id"],
    )
    assert [(a.action, a.actor_type, a.actor_id) for a in audits] == [
        ("time_entry.created", "api_key", s.key.id),
        ("time_entry.updated", "api_key", s.key.id),
        ("time_entry.deleted", "api_key", s.key.id),
    ]


def test_a_tag_change_alone_moves_updated_at(client: TestClient, s: Setup) -> None:
    created = log(client, s.key, day_entry(s.project_id))
    patched = client.patch(
        f"{BASE}/{created['id']}", json={"tagIds": [s.tag_id]}, headers=s.key.headers
    ).json()
    assert moment(patched["updatedAt"]) > moment(created["updatedAt"])
    since = client.get(
        f"{BASE}?updatedSince={created['updatedAt']}&sort=updatedAt", headers=s.key.headers
    ).json()["items"]
    assert [item["tagIds"] for item in since] == [[s.tag_id]]


# --- the usual refusals ------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", BASE),
    ("POST", BASE),
    ("GET", f"{BASE}/te_x"),
    ("PUT", f"{BASE}/te_x"),
    ("PATCH", f"{BASE}/te_x"),
    ("DELETE", f"{BASE}/te_x"),
]


def test_no_key_is_401(client: TestClient) -> None:
    for method, path in ENDPOINTS:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "api_key_missing"


def test_missing_scope_is_403(client: TestClient, factory: Factory, workspace: Workspace) -> None:
    reader = factory.key(workspace, scopes=frozenset({Scope.READ_TIME}))
    writer = factory.key(workspace, scopes=frozenset({Scope.WRITE_TIME}))
    for method, path in ENDPOINTS:
        key, scope = (writer, "read:time") if method == "GET" else (reader, "write:time")
        response = client.request(method, path, json={"description": "x"}, headers=key.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["requiredScope"] == scope


def test_another_workspaces_entry_is_404_and_never_listed(
    client: TestClient, factory: Factory, s: Setup
) -> None:
    other = factory.workspace()
    other_key = factory.key(other)
    theirs = log(client, other_key, day_entry(factory.project(other)))
    mine = log(client, s.key, day_entry(s.project_id))
    url = f"{BASE}/{theirs['id']}"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(
            method, url, json={"description": "mine now"}, headers=s.key.headers
        )
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    listed = client.get(f"{BASE}?pageSize=200", headers=s.key.headers).json()["items"]
    assert [item["id"] for item in listed] == [mine["id"]]
    assert client.get(url, headers=other_key.headers).json() == theirs  # untouched


# --- lists -------------------------------------------------------------------------------------


def test_filters(client: TestClient, factory: Factory, s: Setup) -> None:
    _, member_id = member_key(factory, s.ws)
    beta = factory.client(s.ws, name="Beta")
    beta_project = factory.project(s.ws, beta)
    a = log(client, s.key, day_entry(s.project_id, date="2026-03-01"))
    b = log(client, s.key, day_entry(s.project_id, date="2026-03-02", billable=False))
    c = log(client, s.key, day_entry(beta_project, date="2026-03-03", userId=member_id))
    d = log(client, s.key, day_entry(beta_project, date="2026-03-04"))
    factory.sql("UPDATE time_entry SET status = 'approved' WHERE id = :id", id=c["id"])
    factory.sql(
        "UPDATE time_entry SET status = 'approved', invoice_id = 'inv_1' WHERE id = :id", id=d["id"]
    )

    def ids(query: str) -> list[str]:
        response = client.get(f"{BASE}?{query}", headers=s.key.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("") == [a["id"], b["id"], c["id"], d["id"]]
    assert ids("from=2026-03-02") == [b["id"], c["id"], d["id"]]
    assert ids("to=2026-03-02") == [a["id"], b["id"]]
    assert ids("from=2026-03-02&to=2026-03-03") == [b["id"], c["id"]]
    assert ids("from=2026-03-02&to=2026-03-02") == [b["id"]]
    assert ids(f"userId={member_id}") == [c["id"]]
    assert ids(f"projectId={beta_project}") == [c["id"], d["id"]]
    assert ids(f"clientId={s.client_id}") == [a["id"], b["id"]]
    assert ids(f"clientId={beta}&userId={s.ws.owner_id}") == [d["id"]]
    assert ids("billable=false") == [b["id"]]
    assert ids("billable=true") == [a["id"], c["id"], d["id"]]
    assert ids("status=approved") == [c["id"], d["id"]]
    assert ids("status=open") == [a["id"], b["id"]]
    assert ids("invoiced=true") == [d["id"]]
    assert ids("invoiced=false") == [a["id"], b["id"], c["id"]]
    assert ids("status=submitted") == []
    assert ids("sort=-date") == [d["id"], c["id"], b["id"], a["id"]]
    assert ids("sort=date&pageSize=2&page=2") == [c["id"], d["id"]]
    assert ids("sort=-createdAt") == [d["id"], c["id"], b["id"], a["id"]]

    # Date cursors page through the whole list in order.
    seen: list[str] = []
    url = f"{BASE}?sort=-date&pageSize=1"
    while url:
        page = client.get(url, headers=s.key.headers).json()
        seen += [item["id"] for item in page["items"]]
        url = f"{BASE}?sort=-date&pageSize=1&cursor={page['nextCursor']}" if page["hasMore"] else ""
    assert seen == [d["id"], c["id"], b["id"], a["id"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        # Dates as the schedule takes them (were taken: a time, a Unix time, any year).
        ("from=2026-03-01T00:00:00", "from"),
        ("from=1772409600", "from"),
        ("to=1899-12-31", "to"),
        ("status=invoiced", "status"),
        ("billable=maybe", "billable"),
        ("invoiced=sometimes", "invoiced"),
        ("sort=amount", "sort"),
        ("userId=" + "u" * 65, "userId"),
    ],
)
def test_invalid_filters_are_422(
    client: TestClient, owner_key: Key, query: str, field: str
) -> None:
    response = client.get(f"{BASE}?{query}", headers=owner_key.headers)
    assert response.status_code == 422
    assert fields_of(response) == [field]


def test_a_list_page_runs_a_constant_number_of_queries(client: TestClient, s: Setup) -> None:
    body = day_entry(s.project_id, tagIds=[s.tag_id])
    log(client, s.key, body)
    with count_queries(client) as small:
        client.get(f"{BASE}?pageSize=200", headers=s.key.headers)
    client.post(f"{BASE}/bulk", json={"items": [body] * 60}, headers=s.key.headers)
    with count_queries(client) as big:
        page = client.get(f"{BASE}?pageSize=200", headers=s.key.headers).json()
    assert len(page["items"]) == 61
    assert all(item["tagIds"] == [s.tag_id] for item in page["items"])
    # The page, its count and the page's tag ids. (BEGINs are left out: on SQLite the background
    # usage recorder's transactions show up among them.)
    assert len(statements(small)) == len(statements(big)) == 3
