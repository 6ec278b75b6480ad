"""`billabled demo --workspace …` (and `serve --demo`): a realistic agency, in seconds.

The command runs once per module (it is the expensive part); the tests then read what it wrote.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from billabled.demo.service import DEMO_OWNER_EMAIL, ensure_demo_workspace, fill_workspace
from billabled.errors import NotFound
from billabled.models.workspace import Plan
from tests.factories import Factory, Workspace
from tests.support import CliResult, run_cli


@dataclass(frozen=True)
class Seeded:
    workspace: Workspace
    result: CliResult
    seconds: float

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = json.loads(self.result.stdout)["counts"]
        return counts


@pytest.fixture(scope="module")
def seeded(factory: Factory, cli_env: dict[str, str]) -> Seeded:
    workspace = factory.workspace(plan=Plan.BUSINESS, name="Demo target")
    started = time.monotonic()
    result = run_cli(["demo", "--workspace", workspace.id, "--json"], cli_env)
    return Seeded(workspace, result, time.monotonic() - started)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)  # SQLite keeps naive UTC


def _one(factory: Factory, statement: str, **params: Any) -> Any:
    return factory.sql(statement, **params)[0][0]


# --- the command ----------------------------------------------------------------------------------


def test_demo_prints_the_counts_as_one_json_object(seeded: Seeded) -> None:
    assert seeded.result.exit_code == 0, seeded.result.stderr
    body = json.loads(seeded.result.stdout)
    assert body["workspaceId"] == seeded.workspace.id
    counts = seeded.counts
    assert counts["people"] >= 12
    assert counts["clients"] >= 20
    assert counts["projects"] >= 50
    assert counts["tasks"] >= 3 * counts["projects"]
    assert counts["subtasks"] > 0
    assert counts["tags"] >= 5
    assert counts["scheduledWork"] > 100
    assert counts["timeEntries"] > 2000
    assert counts["loggedSeconds"] > 3000 * 3600


def test_demo_takes_seconds_not_minutes(seeded: Seeded) -> None:
    assert seeded.result.exit_code == 0, seeded.result.stderr
    assert seeded.seconds < 20


def test_demo_counts_match_the_database(seeded: Seeded, factory: Factory) -> None:
    ws = seeded.workspace.id
    counts = seeded.counts
    for table, key in (
        ("client", "clients"),
        ("project", "projects"),
        ("task", "tasks"),
        ("subtask", "subtasks"),
        ("tag", "tags"),
        ("scheduled_work", "scheduledWork"),
        ("time_entry", "timeEntries"),
    ):
        assert (
            _one(factory, f"SELECT count(*) FROM {table} WHERE workspace_id = :ws", ws=ws)
            == (counts[key])
        ), table
    people = _one(factory, "SELECT count(*) FROM membership WHERE workspace_id = :ws", ws=ws)
    assert people == counts["people"]


def test_a_second_run_is_refused_and_changes_nothing(
    seeded: Seeded, factory: Factory, cli_env: dict[str, str]
) -> None:
    ws = seeded.workspace.id
    again = run_cli(["demo", "--workspace", ws, "--json"], cli_env)
    assert again.exit_code == 1
    assert again.stdout == ""
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: workspace {ws} already has clients")
    entries = "SELECT count(*) FROM time_entry WHERE workspace_id = :ws"
    assert _one(factory, entries, ws=ws) == seeded.counts["timeEntries"]


# --- what it contains -----------------------------------------------------------------------------


def test_people_have_roles_capacities_and_rates(seeded: Seeded, factory: Factory) -> None:
    rows = factory.sql(
        "SELECT role, weekly_capacity_seconds, default_bill_rate_minor, default_cost_rate_minor "
        "FROM membership WHERE workspace_id = :ws",
        ws=seeded.workspace.id,
    )
    roles = [row[0] for row in rows]
    assert len(rows) >= 12
    assert roles.count("owner") == 1
    assert roles.count("admin") >= 1
    assert roles.count("manager") >= 2
    assert roles.count("member") >= 8
    assert all(row[2] and row[3] and row[3] < row[2] for row in rows)  # costs below bill rates
    capacities = {row[1] for row in rows}
    assert 40 * 3600 in capacities
    assert capacities & {24 * 3600, 32 * 3600}  # some part-time


def test_clients_and_projects_cover_every_billing_type(seeded: Seeded, factory: Factory) -> None:
    ws = seeded.workspace.id
    clients = factory.sql(
        "SELECT email, archived, default_hourly_rate_minor, currency FROM client "
        "WHERE workspace_id = :ws",
        ws=ws,
    )
    assert len(clients) >= 20
    assert sum(1 for row in clients if row[1]) >= 2
    assert all(row[0].endswith(".example.com") for row in clients)
    assert any(row[2] for row in clients)
    assert any(row[2] is None for row in clients)
    assert {row[3] for row in clients} == {"USD"}

    projects = factory.sql(
        "SELECT billing_type, status, hourly_rate_minor, fixed_fee_minor, budget_seconds, "
        "retainer_included_seconds, retainer_monthly_fee_minor, retainer_overage_rate_minor "
        "FROM project WHERE workspace_id = :ws",
        ws=ws,
    )
    by_type: dict[str, list[Any]] = defaultdict(list)
    for row in projects:
        by_type[row[0]].append(row)
    assert len(projects) >= 50
    assert set(by_type) == {"hourly", "fixed_fee", "retainer", "non_billable"}
    assert all(row[3] and row[4] for row in by_type["fixed_fee"])
    assert all(row[5] and row[6] for row in by_type["retainer"])
    assert any(row[7] for row in by_type["retainer"])
    assert any(row[2] for row in by_type["hourly"])
    assert any(not row[2] for row in by_type["hourly"])
    assert any(row[4] for row in projects if row[0] != "fixed_fee")  # budgets beyond fixed fees
    assert sum(1 for row in projects if row[1] == "archived") >= 3

    untagged = (
        "SELECT count(*) FROM project p WHERE p.workspace_id = :ws AND NOT EXISTS "
        "(SELECT 1 FROM project_tag pt WHERE pt.project_id = p.id)"
    )
    assert _one(factory, untagged, ws=ws) == 0
    colors = factory.sql("SELECT color FROM tag WHERE workspace_id = :ws", ws=ws)
    assert all(row[0] and row[0].startswith("#") for row in colors)


def test_every_project_has_tasks_and_some_have_subtasks(seeded: Seeded, factory: Factory) -> None:
    ws = seeded.workspace.id
    per_project = factory.sql(
        "SELECT p.id, count(t.id) FROM project p LEFT JOIN task t ON t.project_id = p.id "
        "WHERE p.workspace_id = :ws GROUP BY p.id",
        ws=ws,
    )
    assert all(2 <= count <= 8 for _, count in per_project)
    assert _one(factory, "SELECT count(*) FROM task WHERE workspace_id = :ws "
                "AND estimate_seconds IS NOT NULL", ws=ws) > 0  # fmt: skip
    mismatched = (
        "SELECT count(*) FROM subtask s JOIN task t ON t.id = s.task_id "
        "WHERE s.workspace_id = :ws AND s.project_id <> t.project_id"
    )
    assert _one(factory, mismatched, ws=ws) == 0


def test_the_schedule_covers_the_past_two_weeks_and_the_next_two(
    seeded: Seeded, factory: Factory
) -> None:
    rows = factory.sql(
        "SELECT work_date, planned_seconds, user_id FROM scheduled_work WHERE workspace_id = :ws",
        ws=seeded.workspace.id,
    )
    days = sorted({_day(row[0]) for row in rows})
    today = datetime.now(UTC).date()
    assert days[0] <= today - timedelta(days=10)
    assert days[-1] >= today + timedelta(days=10)
    assert all(day.weekday() < 5 for day in days)
    assert all(0 < row[1] <= 86400 for row in rows)
    assert len({row[2] for row in rows}) >= 6  # most people


def test_time_covers_three_months_of_working_days(seeded: Seeded, factory: Factory) -> None:
    rows = factory.sql(
        "SELECT work_date, duration_seconds, start_at, end_at, status, currency, invoice_id "
        "FROM time_entry WHERE workspace_id = :ws",
        ws=seeded.workspace.id,
    )
    days = sorted({_day(row[0]) for row in rows})
    today = datetime.now(UTC).date()
    assert days[-1] < today + timedelta(days=1)  # up to yesterday (UTC workspace; clock skew)
    assert (days[-1] - days[0]).days >= 85
    assert all(day.weekday() < 5 for day in days)
    assert all(row[1] % 900 == 0 and 0 < row[1] <= 86400 for row in rows)
    assert {(row[4], row[5], row[6]) for row in rows} == {("open", "USD", None)}
    timed = [row for row in rows if row[2] is not None]
    assert 0 < len(timed) < len(rows) / 2  # some with start and end, most date + duration
    assert all((_moment(row[3]) - _moment(row[2])).total_seconds() == row[1] for row in timed)


def test_each_person_logs_most_of_their_capacity_with_a_few_gaps(
    seeded: Seeded, factory: Factory
) -> None:
    rows = factory.sql(
        "SELECT m.weekly_capacity_seconds, te.user_id, te.work_date, sum(te.duration_seconds), "
        "count(DISTINCT te.project_id) FROM time_entry te JOIN membership m "
        "ON m.workspace_id = te.workspace_id AND m.user_id = te.user_id "
        "WHERE te.workspace_id = :ws GROUP BY m.weekly_capacity_seconds, te.user_id, te.work_date",
        ws=seeded.workspace.id,
    )
    logged = sum(row[3] for row in rows)
    capacity = sum(row[0] / 5 for row in rows)
    assert 0.75 < logged / capacity <= 1.05
    assert all(1 <= row[4] <= 3 for row in rows)
    days_per_person: dict[str, set[date]] = defaultdict(set)
    for row in rows:
        days_per_person[row[1]].add(_day(row[2]))
    all_days = set().union(*days_per_person.values())
    assert any(len(days) < len(all_days) * 0.8 for days in days_per_person.values())  # late joiner
    assert sum(len(all_days - days) for days in days_per_person.values()) > 12  # missing days


def test_every_entry_belongs_to_its_projects_client(seeded: Seeded, factory: Factory) -> None:
    mismatched = (
        "SELECT count(*) FROM time_entry te JOIN project p ON p.id = te.project_id "
        "WHERE te.workspace_id = :ws AND (te.client_id <> p.client_id "
        "OR p.workspace_id <> te.workspace_id)"
    )
    assert _one(factory, mismatched, ws=seeded.workspace.id) == 0
    wrong_task = (
        "SELECT count(*) FROM time_entry te LEFT JOIN task t ON t.id = te.task_id "
        "LEFT JOIN subtask s ON s.id = te.subtask_id WHERE te.workspace_id = :ws AND "
        "((te.task_id IS NOT NULL AND t.project_id <> te.project_id) "
        "OR (te.subtask_id IS NOT NULL AND s.task_id <> te.task_id))"
    )
    assert _one(factory, wrong_task, ws=seeded.workspace.id) == 0


def test_rates_and_billable_follow_the_api_rules(seeded: Seeded, factory: Factory) -> None:
    rows = factory.sql(
        "SELECT te.billable, te.rate_minor, te.rate_source, p.billing_type, p.hourly_rate_minor, "
        "p.retainer_overage_rate_minor, c.default_hourly_rate_minor, m.default_bill_rate_minor, "
        "t.billable, s.billable FROM time_entry te "
        "JOIN project p ON p.id = te.project_id JOIN client c ON c.id = te.client_id "
        "JOIN membership m ON m.workspace_id = te.workspace_id AND m.user_id = te.user_id "
        "LEFT JOIN task t ON t.id = te.task_id LEFT JOIN subtask s ON s.id = te.subtask_id "
        "WHERE te.workspace_id = :ws",
        ws=seeded.workspace.id,
    )
    sources: dict[str, int] = defaultdict(int)
    misclassified = 0
    for row in rows:
        billable, rate, rate_source, billing, hourly, overage, client_rate, member_rate = row[:8]
        task, sub = row[8:]
        follows = sub if sub is not None else task if task is not None else True
        expected_billable = billing != "non_billable" and bool(follows)
        assert not billable or expected_billable  # never billable against the rules
        misclassified += bool(expected_billable and not billable)
        if not billable:
            assert rate is None
            continue
        project_rate = (overage or hourly) if billing == "retainer" else hourly
        expected = project_rate or client_rate or member_rate
        assert rate == expected
        source = "project" if project_rate else "client" if client_rate else "member"
        assert rate_source == source  # what a reassignment reprices by (time_entry.rates)
        sources[source] += 1
    assert set(sources) == {"project", "client", "member"}  # every branch of the rule is used
    assert 0 < misclassified < len(rows) * 0.1  # a few non-billable entries on billable work


def test_retainers_end_under_used_near_the_limit_and_over(seeded: Seeded, factory: Factory) -> None:
    today = datetime.now(UTC).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    rows = factory.sql(
        "SELECT p.id, p.retainer_included_seconds, te.work_date, te.duration_seconds "
        "FROM project p JOIN time_entry te ON te.project_id = p.id "
        "WHERE p.workspace_id = :ws AND p.billing_type = 'retainer'",
        ws=seeded.workspace.id,
    )
    used: dict[str, float] = defaultdict(float)
    for project_id, included, work_date, seconds in rows:
        day = _day(work_date)
        if (day.year, day.month) == (last_month_end.year, last_month_end.month):
            used[project_id] += seconds / included
    assert any(share < 0.7 for share in used.values())
    assert any(0.8 <= share <= 1.0 for share in used.values())
    assert any(share > 1.1 for share in used.values())


def test_seeding_writes_one_audit_record_and_no_events(seeded: Seeded, factory: Factory) -> None:
    ws = seeded.workspace.id
    audits = factory.sql(
        "SELECT actor_type, entity_id, after FROM audit_record "
        "WHERE workspace_id = :ws AND action = 'demo.seeded'",
        ws=ws,
    )
    assert len(audits) == 1
    actor, entity, after = audits[0]
    assert (actor, entity) == ("system", ws)
    after = json.loads(after) if isinstance(after, str) else after
    assert after["timeEntries"] == seeded.counts["timeEntries"]
    record_events = (
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND "
        "(type LIKE 'client.%' OR type LIKE 'project.%' OR type LIKE 'time_entry.%')"
    )
    assert _one(factory, record_events, ws=ws) == 0
    per_row_audit = (
        "SELECT count(*) FROM audit_record WHERE workspace_id = :ws AND entity_type IN "
        "('client', 'project', 'task', 'time_entry', 'schedule')"
    )
    assert _one(factory, per_row_audit, ws=ws) == 0


# --- in-process: the service door ----------------------------------------------------------------


def test_an_existing_tag_of_the_same_name_is_reused(factory: Factory) -> None:
    workspace = factory.workspace()
    design = factory.tag(workspace, name="design")  # names are unique ignoring case
    counts = factory.in_transaction(lambda session: fill_workspace(session, workspace.id))
    tags = factory.sql("SELECT id, name FROM tag WHERE workspace_id = :ws", ws=workspace.id)
    assert counts.tags == len(tags) - 1
    assert (design, "design") in [tuple(row) for row in tags]
    tagged = "SELECT count(*) FROM project_tag WHERE tag_id = :tag"
    assert _one(factory, tagged, tag=design) > 0


def test_an_unknown_workspace_is_not_found(factory: Factory) -> None:
    missing = "ws_01jd3x0000000000000000000"
    with pytest.raises(NotFound, match="not found"):
        factory.in_transaction(lambda session: fill_workspace(session, missing))


def test_serve_demo_fills_the_demo_workspace_once(factory: Factory) -> None:
    first = factory.in_transaction(lambda session: ensure_demo_workspace(session, factory.pepper))
    second = factory.in_transaction(lambda session: ensure_demo_workspace(session, factory.pepper))
    assert first.email == DEMO_OWNER_EMAIL
    assert first.created
    assert first.counts is not None
    assert first.counts.clients >= 20
    assert not second.created
    assert second.counts is None
    assert second.workspace_id == first.workspace_id
    clients = "SELECT count(*) FROM client WHERE workspace_id = :ws"
    assert _one(factory, clients, ws=first.workspace_id) == first.counts.clients
    assert "time entries" in first.counts.summary()
