"""The demo agency, "Northwind Creative": a believable workspace generated in one transaction.

What it makes: a dozen people (the workspace's owner plus an admin, two managers and eight
members, with weekly capacities and default bill/cost rates), two dozen clients (two archived) and
an internal client, 50+ projects of every billing type (hourly, fixed fee, monthly retainers
paced to end under-used, near their limit or over it, non-billable), their tasks and subtasks,
tags, a month of scheduled work (the past two weeks and the next two) and three months of time up
to yesterday.

Invariants:
- **Deterministic shape.** Every choice comes from one seeded `random.Random`; dates are relative
  to `today` in the workspace's time zone, working days are Monday to Friday. Two runs on the same
  day make the same data (only ids and the owner differ).
- **An import, not a stream of edits.** Rows are bulk-inserted through the ORM tables
  (`session.execute(insert(Model), rows)` in batches): no outbox events and no per-row audit
  records, or webhooks would announce thousands of fake changes. One audit record `demo.seeded`
  (actor: system) states how many of each were created.
- **Back-dated history.** `created_at`/`updated_at` are when the record would have been made (an
  entry: the end of its timer, or the evening of its day, a few days later for some), and ids are
  minted from those times, so ids stay time-sortable with `created_at`. Memberships are dated
  before the history starts (one member joined during it and has no time before joining).
- **Time entries obey the API's rules.** `client_id` is the project's client, `currency` the
  workspace's, `status` open; `billable` follows subtask → task → project (except a few entries
  deliberately logged non-billable on billable work); the rate snapshot is the project's rate
  (for a retainer its overage rate, else its hourly rate), else the client's default rate, else
  the member's default bill rate, and null when the entry is not billable.
- Nothing here commits: the caller's transaction holds the whole import, so a failure leaves no
  half-filled workspace.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from billabled.audit.service import SYSTEM, record_audit
from billabled.demo import catalog
from billabled.kit.time import utcnow
from billabled.models.client import Client
from billabled.models.membership import Membership, Role
from billabled.models.project import BillingType, Project, ProjectStatus
from billabled.models.schedule import ScheduledWork
from billabled.models.tag import ProjectTag, Tag, TimeEntryTag
from billabled.models.task import SubTask, Task, TaskStatus
from billabled.models.time_entry import TimeEntry, TimeEntryStatus
from billabled.models.user import User
from billabled.models.workspace import Workspace
from billabled.time_entry.rates import RateSource, effective_rate

SEED: Final = 20_261_122
HISTORY_DAYS: Final = 91  # three months of time, up to yesterday
SCHEDULE_PAST_DAYS: Final = 14
SCHEDULE_FUTURE_DAYS: Final = 14
BATCH: Final = 1000
QUARTER: Final = 900  # time is logged in quarter hours
HOUR: Final = 3600
PEOPLE_DOMAIN: Final = "northwind.example.com"

# name, role, discipline, weekly hours, bill rate, cost rate (minor units), share of entries timed.


@dataclass(frozen=True, slots=True)
class DemoCounts:
    """What one seeding created (also the `after` of the `demo.seeded` audit record)."""

    people: int
    clients: int
    projects: int
    tasks: int
    subtasks: int
    tags: int
    project_tags: int
    scheduled_work: int
    time_entries: int
    time_entry_tags: int
    logged_seconds: int
    time_from: date
    time_to: date
    schedule_from: date
    schedule_to: date

    def as_json(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "clients": self.clients,
            "projects": self.projects,
            "tasks": self.tasks,
            "subtasks": self.subtasks,
            "tags": self.tags,
            "projectTags": self.project_tags,
            "scheduledWork": self.scheduled_work,
            "timeEntries": self.time_entries,
            "timeEntryTags": self.time_entry_tags,
            "loggedSeconds": self.logged_seconds,
            "timeFrom": self.time_from.isoformat(),
            "timeTo": self.time_to.isoformat(),
            "scheduleFrom": self.schedule_from.isoformat(),
            "scheduleTo": self.schedule_to.isoformat(),
        }

    def summary(self) -> str:
        return (
            f"{self.people} people, {self.clients} clients, {self.projects} projects, "
            f"{self.tasks} tasks, {self.subtasks} subtasks, {self.tags} tags, "
            f"{self.scheduled_work} scheduled items, {self.time_entries} time entries "
            f"({self.logged_seconds // HOUR} h, {self.time_from} to {self.time_to})"
        )


@dataclass(slots=True)
class _Person:
    user_id: str
    name: str
    discipline: str
    daily_seconds: int
    bill_rate: int | None
    joined: date
    timer_share: float  # share of their entries logged with a timer (start and end)
    scheduled: bool


@dataclass(slots=True)
class _Task:
    id: str
    name: str
    billable: bool | None
    subtasks: list[tuple[str, bool | None]] = field(default_factory=list)


@dataclass(slots=True)
class _Project:
    id: str
    client_id: str
    client_name: str
    kind: str
    billing_type: BillingType
    hourly_rate: int | None
    overage_rate: int | None  # retainers only
    client_rate: int | None
    starts: date
    ends: date | None
    weight: float
    included_seconds: int = 0
    use: float = 0.0  # retainers: the share of the included hours used in a month
    assignees: list[int] = field(default_factory=list)
    tasks: list[_Task] = field(default_factory=list)

    def active(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day <= self.ends)

    @property
    def internal(self) -> bool:
        return self.kind == "internal"

    @property
    def billable(self) -> bool:
        return self.billing_type is not BillingType.NON_BILLABLE


Plan = dict[int, list[tuple[_Project, int]]]  # person index -> (project, seconds) for one day


def rate_snapshot(
    project: _Project, member_rate: int | None, billable: bool
) -> tuple[int | None, RateSource]:
    """The rate an entry keeps and where it came from: the API's own rule
    (billabled.time_entry.rates); the demo's non-billable time has none."""
    rate, source = effective_rate(
        billing_type=project.billing_type,
        project_hourly_rate_minor=project.hourly_rate,
        project_retainer_overage_rate_minor=project.overage_rate,
        client_default_hourly_rate_minor=project.client_rate,
        member_default_bill_rate_minor=member_rate,
    )
    return (rate if billable else None), source


def entry_billable(project: _Project, task: _Task | None, subtask_billable: bool | None) -> bool:
    """Subtask, then task, then project decide; nothing on a non-billable project is billable."""
    if not project.billable:
        return False
    for level in (subtask_billable, task.billable if task else None):
        if level is not None:
            return level
    return True


class _Seeder:
    """Builds every row in memory (ids known up front), then `insert_all` writes them in batches."""

    def __init__(self, workspace: Workspace, today: date, now: datetime) -> None:
        self.rng = random.Random(SEED)
        self.workspace_id = workspace.id
        self.currency = workspace.currency
        self.zone = ZoneInfo(workspace.time_zone)
        self.today = today
        self.now = now
        self.time_from = today - timedelta(days=HISTORY_DAYS)
        self.schedule_from = today - timedelta(days=SCHEDULE_PAST_DAYS)
        self.schedule_to = today + timedelta(days=SCHEDULE_FUTURE_DAYS - 1)
        self.rows: dict[type[Any], list[dict[str, Any]]] = defaultdict(list)
        self.people: list[_Person] = []
        self.owner_index: int | None = None
        self.projects: list[_Project] = []
        self.tag_ids: dict[str, str] = {}
        self.new_tags = 0
        self.month_variation: dict[tuple[str, tuple[int, int]], float] = {}

    # --- helpers ----------------------------------------------------------------------------

    def at(self, day: date, hour: float) -> datetime:
        """A moment of a local day, in UTC; never later than now (history is in the past)."""
        local = datetime.combine(day, time(), self.zone) + timedelta(hours=hour)
        return min(local.astimezone(UTC), self.now - timedelta(minutes=1))

    def days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    def add(self, model: type[Any], made_at: datetime, **values: Any) -> str:
        """Queue one row; its id carries `made_at`, like an id minted at that moment."""
        prefix: str = model.id_prefix
        row_id = f"{prefix}_{str(ULID.from_datetime(made_at)).lower()}"
        row = {"id": row_id, "created_at": made_at, "updated_at": made_at, **values}
        self.rows[model].append(row)
        return row_id

    # --- people, tags, clients, projects, tasks ---------------------------------------------

    def add_owner(self, user_id: str, name: str, membership: Membership) -> None:
        self.owner_index = len(self.people)
        self.people.append(
            _Person(
                user_id=user_id,
                name=name,
                discipline="strategy",
                daily_seconds=membership.weekly_capacity_seconds // 5,
                bill_rate=membership.default_bill_rate_minor,
                joined=self.time_from,
                timer_share=0.1,
                scheduled=False,
            )
        )

    def make_people(self, email_suffix: str) -> None:
        for name, role, discipline, hours, bill, cost, timer in catalog.PEOPLE:
            late = name == catalog.LATE_JOINER
            joined = self.days_ago(40, 45) if late else self.days_ago(200, 1200)
            made = self.at(joined, 9)
            user_id = self.add(
                User, made, email=person_email(name, email_suffix), name=name, password_hash=None
            )
            self.add(
                Membership,
                made,
                workspace_id=self.workspace_id,
                user_id=user_id,
                role=role.value,
                weekly_capacity_seconds=hours * HOUR,
                default_bill_rate_minor=bill,
                default_cost_rate_minor=cost,
            )
            self.people.append(
                _Person(
                    user_id=user_id,
                    name=name,
                    discipline=discipline,
                    daily_seconds=hours * HOUR // 5,
                    bill_rate=bill,
                    joined=joined,
                    timer_share=timer,
                    # Admins and managers plan the work; members' days are what gets scheduled.
                    scheduled=role is Role.MEMBER,
                )
            )

    def make_tags(self, existing: dict[str, str]) -> None:
        """`existing`: the workspace's tag ids by lower-cased name."""
        made = self.at(self.time_from - timedelta(days=1200), 10)
        for name, color in catalog.TAGS:
            if name.lower() in existing:  # the workspace already has this tag: reuse it
                self.tag_ids[name] = existing[name.lower()]
                continue
            self.tag_ids[name] = self.add(
                Tag, made, workspace_id=self.workspace_id, name=name, color=color
            )
            self.new_tags += 1

    def make_clients(self) -> None:
        rng = self.rng
        for index, (name, rate, archived, specs) in enumerate(catalog.CLIENTS):
            city, state, zip_code = catalog.CITIES[index % len(catalog.CITIES)]
            street = f"{rng.randint(10, 980)} {rng.choice(catalog.STREETS)}"
            client_made = self.at(self.days_ago(150, 900), 11)
            client_id = self.add(
                Client,
                client_made,
                workspace_id=self.workspace_id,
                name=name,
                email=f"accounts@{_slug(name)}.example.com",
                currency=self.currency,
                address=f"{street}\n{city}, {state} {zip_code}\nUnited States",
                default_hourly_rate_minor=rate,
                archived=archived,
                external_ref=f"CUST-{1001 + index}",
            )
            if archived:  # archiving was the client's last change
                self.rows[Client][-1]["updated_at"] = self.at(self.days_ago(60, 70), 16)
            for number, (project_name, kind, code) in enumerate(specs, start=1):
                code_name = f"{_slug(name)[:3].upper()}-{number}"
                self.make_project(
                    client_id, client_made, name, rate, project_name, kind, code, code_name
                )
        internal_made = self.at(self.time_from - timedelta(days=900), 9)
        internal_id = self.add(
            Client,
            internal_made,
            workspace_id=self.workspace_id,
            name=catalog.INTERNAL_CLIENT,
            email=f"studio@{PEOPLE_DOMAIN}",
            currency=self.currency,
            address=None,
            default_hourly_rate_minor=None,
            archived=False,
            external_ref=None,
        )
        for number, (name, tasks, weight) in enumerate(catalog.INTERNAL, start=1):
            code = "nonbillable-done" if number == len(catalog.INTERNAL) else "nonbillable"
            project = self.make_project(
                internal_id,
                internal_made,
                catalog.INTERNAL_CLIENT,
                None,
                name,
                "internal",
                code,
                f"INT-{number}",
                tasks,
            )
            project.weight = weight

    def make_project(
        self,
        client_id: str,
        client_made: datetime,
        client_name: str,
        client_rate: int | None,
        name: str,
        kind: str,
        code: str,
        code_name: str,
        internal_tasks: Sequence[str] = (),
    ) -> _Project:
        rng = self.rng
        billing, _, profile = code.partition("-")
        done = profile == "done"
        rate = rng.choice((14000, 15000, 16500, 17500, 19000))
        money: dict[str, int | None] = dict.fromkeys(
            (
                "hourly_rate_minor", "fixed_fee_minor", "budget_seconds", "budget_amount_minor",
                "retainer_included_seconds", "retainer_monthly_fee_minor",
                "retainer_overage_rate_minor",
            )
        )  # fmt: skip
        weight = rng.uniform(1.5, 3.0)
        included, use = 0, 0.0
        if billing == "hourly":
            billing_type = BillingType.HOURLY
            money["hourly_rate_minor"] = None if profile == "open" else rate
            if rng.random() < 0.5:
                money["budget_seconds"] = rng.choice((60, 80, 120, 160)) * HOUR
        elif billing == "fixed":
            billing_type = BillingType.FIXED_FEE
            hours = rng.choice((60, 90, 120, 160, 200))
            money["fixed_fee_minor"] = money["budget_amount_minor"] = hours * rate // 100 * 100
            money["budget_seconds"] = hours * HOUR
            money["hourly_rate_minor"] = rate if rng.random() < 0.5 else None
            weight = rng.uniform(2.0, 4.0)
        elif billing == "retainer":
            billing_type = BillingType.RETAINER
            hours = rng.choice((15, 20, 30, 40))
            included, use = hours * HOUR, catalog.RETAINER_USE[profile]
            money["retainer_included_seconds"] = included
            money["retainer_monthly_fee_minor"] = hours * rate * 9 // 10 // 100 * 100
            # Most bill overage at their own rate; some fall back down the rate rule.
            variant = sum(1 for p in self.projects if p.included_seconds) % 5
            if variant == 3:
                money["hourly_rate_minor"] = rate
            elif variant != 4:
                money["retainer_overage_rate_minor"] = rate + 1500
        else:  # "pitch" (pre-sales for a client) or "nonbillable" (internal)
            billing_type = BillingType.NON_BILLABLE
            weight = 0.6
            if billing == "pitch":
                money["budget_seconds"] = 20 * HOUR
        ends: date | None = None
        if kind == "internal":
            starts = self.time_from - timedelta(days=400)
            ends = self.days_ago(45, 55) if done else None
        elif done:
            ends = self.days_ago(70, 80) if billing == "hourly" else self.days_ago(35, 60)
            starts = ends - timedelta(days=rng.randint(60, 120))
        elif billing == "fixed" and rng.random() < 0.4:
            starts = self.days_ago(20, 60)  # won during the history
        else:
            starts = self.days_ago(100, 400)
        # Set up a little before the work starts, and never before its client existed.
        made = self.at(starts - timedelta(days=rng.randint(3, 14)), 10)
        made = max(made, client_made + timedelta(days=1, hours=2))
        project_id = self.add(
            Project,
            made,
            workspace_id=self.workspace_id,
            client_id=client_id,
            name=name,
            code=code_name,
            billing_type=billing_type.value,
            currency=self.currency,
            status=(ProjectStatus.ARCHIVED if done else ProjectStatus.ACTIVE).value,
            **money,
        )
        if ends is not None:  # archived once the work was over
            self.rows[Project][-1]["updated_at"] = self.at(ends + timedelta(days=2), 15)
        project = _Project(
            id=project_id,
            client_id=client_id,
            client_name=client_name,
            kind=kind,
            billing_type=billing_type,
            hourly_rate=money["hourly_rate_minor"],
            overage_rate=money["retainer_overage_rate_minor"],
            client_rate=client_rate,
            starts=starts,
            ends=ends,
            weight=weight,
            included_seconds=included,
            use=use,
        )
        for tag in catalog.KIND_TAGS[kind]:
            self.rows[ProjectTag].append({"project_id": project_id, "tag_id": self.tag_ids[tag]})
        self.assign(project)
        templates = [(task, None) for task in internal_tasks] or self.pick_tasks(kind)
        self.make_tasks(project, templates, made, done, estimated=billing == "fixed")
        self.projects.append(project)
        return project

    def assign(self, project: _Project) -> None:
        rng, people = self.rng, self.people
        if project.internal:
            project.assignees = list(range(len(people)))
            return
        # Managers lead client projects; the operations director (admin) leads some too.
        managers = [i for i, p in enumerate(people) if p.discipline in ("pm", "ops")]
        makers = [
            i for i, p in enumerate(people) if p.discipline in catalog.DISCIPLINES[project.kind]
        ]
        chosen = rng.sample(makers, min(len(makers), rng.randint(2, 3)))
        project.assignees = [managers[len(self.projects) % len(managers)], *chosen]
        strategic = project.kind in ("brand", "app", "campaign")
        if self.owner_index is not None and strategic and rng.random() < 0.35:
            project.assignees.append(self.owner_index)  # the owner sits in on strategy work

    def pick_tasks(self, kind: str) -> list[tuple[str, bool | None]]:
        full = catalog.TASKS[kind]
        keep = self.rng.randint(min(3, len(full)), min(8, len(full)))
        # The order of the work is kept; a few steps are dropped.
        return [full[i] for i in sorted(self.rng.sample(range(len(full)), keep))]

    def make_tasks(
        self,
        project: _Project,
        templates: Sequence[tuple[str, bool | None]],
        made: datetime,
        done: bool,
        *,
        estimated: bool,
    ) -> None:
        rng = self.rng
        for position, (name, billable) in enumerate(templates):
            # Archived projects are finished; long running ones have finished their first step.
            finished = done or (position == 0 and len(templates) > 4)
            status = (TaskStatus.DONE if finished else TaskStatus.OPEN).value
            task_made = made + timedelta(minutes=position)
            task_id = self.add(
                Task,
                task_made,
                workspace_id=self.workspace_id,
                project_id=project.id,
                name=name,
                billable=billable,
                estimate_seconds=rng.choice((8, 12, 16, 24, 40)) * HOUR if estimated else None,
                status=status,
            )
            task = _Task(task_id, name, billable)
            for sub_position, (sub_name, sub_billable) in enumerate(catalog.SUBTASKS.get(name, ())):
                estimate = rng.choice((4, 6, 8)) * HOUR if rng.random() < 0.5 else None
                sub_id = self.add(
                    SubTask,
                    task_made + timedelta(seconds=sub_position + 1),
                    workspace_id=self.workspace_id,
                    task_id=task_id,
                    project_id=project.id,
                    name=sub_name,
                    billable=sub_billable,
                    estimate_seconds=estimate,
                    status=status,
                )
                task.subtasks.append((sub_id, sub_billable))
            project.tasks.append(task)

    # --- the days ---------------------------------------------------------------------------

    def make_days(self) -> None:
        """Plan every working day; log the past ones and schedule the month around today."""
        days = _working_days(self.time_from, self.schedule_to)
        by_month: dict[tuple[int, int], list[date]] = defaultdict(list)
        for day in days:
            by_month[(day.year, day.month)].append(day)
        used: dict[tuple[str, tuple[int, int]], int] = defaultdict(int)
        for day in days:
            month = (day.year, day.month)
            # Retainers are paced on the whole month's working days, so a month cut by the
            # history's edges owes only its share.
            whole_month = len(_working_days(date(*month, 1), _month_end(*month)))
            progress = (by_month[month].index(day) + 1) / whole_month
            plan = self.plan_day(day, used, month, progress)
            done = self.log_day(day, plan) if day < self.today else plan
            for items in done.values():
                for project, seconds in items:
                    if project.included_seconds:
                        used[(project.id, month)] += seconds
            if day >= self.schedule_from:
                self.schedule_day(day, plan)

    def retainer_target(self, project: _Project, month: tuple[int, int]) -> float:
        """Included hours times the project's use; earlier months vary a little around it."""
        key = (project.id, month)
        if key not in self.month_variation:
            current = month == (self.today.year, self.today.month)
            self.month_variation[key] = 1.0 if current else self.rng.uniform(0.9, 1.08)
        return project.included_seconds * project.use * self.month_variation[key]

    def plan_day(
        self,
        day: date,
        used: dict[tuple[str, tuple[int, int]], int],
        month: tuple[int, int],
        progress: float,
    ) -> Plan:
        rng = self.rng
        plan: Plan = {}
        left: dict[int, int] = {}
        for index, someone in enumerate(self.people):
            if someone.joined <= day:
                plan[index] = []
                left[index] = _quarters(someone.daily_seconds * rng.uniform(0.86, 1.0))
        # Retainers first, paced evenly through the month so their use lands where intended.
        retainers = [p for p in self.projects if p.included_seconds and p.active(day)]
        for project in rng.sample(retainers, len(retainers)):
            due = self.retainer_target(project, month) * progress - used[(project.id, month)]
            for _ in range(3):
                free = [i for i in project.assignees if left.get(i, 0) >= HOUR and len(plan[i]) < 2]
                if due < 0.75 * HOUR or not free:
                    break
                # Someone not yet on a retainer today, when there is such a person.
                person = rng.choice([i for i in free if not plan[i]] or free)
                size = rng.choice((1, 1.5, 2, 2.5, 3, 4)) * HOUR
                chunk = _quarters(min(due + QUARTER, size, left[person]))
                plan[person].append((project, chunk))
                left[person] -= chunk
                due -= chunk
        # Then everyone fills the rest of their day on one to three projects in all.
        for person, remaining in left.items():
            options = [
                p
                for p in self.projects
                if not p.included_seconds and person in p.assignees and p.active(day)
            ]
            wanted = max(1, rng.choice((1, 2, 2, 3, 3)) - len(plan[person]))
            wanted = min(wanted, remaining // (HOUR // 2), len(options))
            if wanted < 1:
                continue
            weights = [self.weight_for(p, person) for p in options]
            chosen = _weighted_sample(rng, options, weights, wanted)
            for project, chunk in zip(
                chosen, _split(rng, remaining, len(chosen), HOUR // 2), strict=True
            ):
                plan[person].append((project, chunk))
        return plan

    def weight_for(self, project: _Project, person: int) -> float:
        if not project.internal:
            return project.weight
        # The owner and the admin run the business; everyone else does little internal work.
        runs_business = self.people[person].discipline in ("strategy", "ops")
        return project.weight * (6 if runs_business else 1)

    def log_day(self, day: date, plan: Plan) -> Plan:
        """What people actually logged: the plan, give or take, with a few gaps."""
        rng = self.rng
        logged: Plan = {}
        for person, items in plan.items():
            if rng.random() < 0.03:  # a day nobody logged
                continue
            kept = [
                (project, max(QUARTER, seconds + rng.choice((0, 0, 0, -1, 1, 2)) * QUARTER))
                for project, seconds in items
                if rng.random() >= 0.04  # planned but never logged
            ]
            if len(kept) > 1 and rng.random() < 0.04:  # a short day
                kept = kept[:1]
            logged[person] = kept
            self.write_entries(day, self.people[person], kept)
        return logged

    def write_entries(self, day: date, person: _Person, items: list[tuple[_Project, int]]) -> None:
        rng = self.rng
        pieces: list[tuple[_Project, int]] = []
        for project, seconds in items:
            count = 1 if seconds <= 1.5 * HOUR else rng.choice((1, 2, 2, 3))
            minimum = HOUR // 2 if seconds >= count * HOUR // 2 else QUARTER
            pieces.extend((project, piece) for piece in _split(rng, seconds, count, minimum))
        rng.shuffle(pieces)
        clock = rng.choice((8.5, 8.75, 9.0, 9.25, 9.5))  # local hours
        lunch_taken = False
        evening = rng.uniform(17.25, 19.0)
        late = rng.random() < 0.07  # logged days afterwards
        for project, seconds in pieces:
            if not lunch_taken and clock >= 12.25:
                clock += rng.choice((0.5, 0.75, 1.0))
                lunch_taken = True
            task = rng.choice(project.tasks) if project.tasks and rng.random() < 0.92 else None
            subtask = None
            if task is not None and task.subtasks and rng.random() < 0.6:
                subtask = rng.choice(task.subtasks)
            billable = entry_billable(project, task, subtask[1] if subtask else None)
            if billable and rng.random() < 0.04:
                billable = False  # logged as non-billable by mistake ("misclassified")
            timed = rng.random() < person.timer_share
            start = self.at(day, clock)
            end = start + timedelta(seconds=seconds)
            clock += seconds / HOUR + rng.choice((0, 0, 0.25))
            if late:
                made = self.at(day + timedelta(days=rng.randint(2, 8)), rng.uniform(9, 18))
            elif timed:
                made = min(end + timedelta(seconds=rng.randint(5, 90)), self.now)
            else:
                made = self.at(day, evening)
            rate, rate_source = rate_snapshot(project, person.bill_rate, billable)
            entry_id = self.add(
                TimeEntry,
                made,
                workspace_id=self.workspace_id,
                user_id=person.user_id,
                client_id=project.client_id,
                project_id=project.id,
                task_id=task.id if task else None,
                subtask_id=subtask[0] if subtask else None,
                start_at=start if timed else None,
                end_at=end if timed else None,
                work_date=day,
                duration_seconds=seconds,
                description=self.describe(project, task),
                billable=billable,
                rate_minor=rate,
                rate_source=rate_source.value,
                currency=self.currency,
                status=TimeEntryStatus.OPEN.value,
                invoice_id=None,
            )
            if not project.internal and rng.random() < 0.05:
                tag = self.tag_ids["Urgent" if rng.random() < 0.6 else "Rework"]
                self.rows[TimeEntryTag].append({"time_entry_id": entry_id, "tag_id": tag})

    def describe(self, project: _Project, task: _Task | None) -> str | None:
        rng = self.rng
        if rng.random() < 0.08:
            return None
        if task is None:
            return "Internal work" if project.internal else "General project work"
        if project.internal:
            return catalog.INTERNAL_NOTES.get(task.name, task.name)
        note: str = rng.choice(catalog.NOTES)
        return note.format(task=task.name, task_l=task.name.lower(), client=project.client_name)

    def schedule_day(self, day: date, plan: Plan) -> None:
        rng = self.rng
        for person, items in plan.items():
            if not self.people[person].scheduled:
                continue
            for project, seconds in items:
                if project.internal:
                    continue  # the schedule holds client work
                task = rng.choice(project.tasks) if project.tasks and rng.random() < 0.5 else None
                self.add(
                    ScheduledWork,
                    self.at(day - timedelta(days=rng.randint(3, 9)), rng.uniform(9, 17)),
                    workspace_id=self.workspace_id,
                    user_id=self.people[person].user_id,
                    project_id=project.id,
                    task_id=task.id if task else None,
                    work_date=day,
                    planned_seconds=max(1800, round(seconds / 1800) * 1800),
                    note=rng.choice(catalog.SCHEDULE_NOTES) if rng.random() < 0.15 else None,
                )

    # --- writing ----------------------------------------------------------------------------

    async def insert_all(self, session: AsyncSession) -> None:
        # Parents before children, so foreign keys hold at every statement.
        order = (
            User, Membership, Tag, Client, Project, ProjectTag, Task, SubTask, ScheduledWork,
            TimeEntry, TimeEntryTag,
        )  # fmt: skip
        for model in order:
            # render_nulls: None is written as NULL rather than left out, so every row has the
            # same columns and each batch is one executemany, not a statement per row.
            statement = insert(model).execution_options(render_nulls=True)
            rows = self.rows.get(model, [])
            for start in range(0, len(rows), BATCH):
                await session.execute(statement, rows[start : start + BATCH])

    def counts(self) -> DemoCounts:
        entries = self.rows[TimeEntry]
        return DemoCounts(
            people=len(self.people),
            clients=len(self.rows[Client]),
            projects=len(self.rows[Project]),
            tasks=len(self.rows[Task]),
            subtasks=len(self.rows[SubTask]),
            tags=self.new_tags,
            project_tags=len(self.rows[ProjectTag]),
            scheduled_work=len(self.rows[ScheduledWork]),
            time_entries=len(entries),
            time_entry_tags=len(self.rows[TimeEntryTag]),
            logged_seconds=sum(row["duration_seconds"] for row in entries),
            time_from=min(row["work_date"] for row in entries),
            time_to=max(row["work_date"] for row in entries),
            schedule_from=self.schedule_from,
            schedule_to=self.schedule_to,
        )


def person_email(name: str, suffix: str) -> str:
    local = re.sub(r"[^a-z.]", "", name.lower().replace(" ", "."))
    return f"{local}{suffix}@{PEOPLE_DOMAIN}"


async def seed_agency(
    session: AsyncSession, workspace: Workspace, *, today: date | None = None
) -> DemoCounts:
    """Fill `workspace` with the demo agency (the caller checked it holds no clients)."""
    now = utcnow()
    today = today or now.astimezone(ZoneInfo(workspace.time_zone)).date()
    seeder = _Seeder(workspace, today, now)
    owner = (
        await session.execute(
            select(Membership, User.name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace.id, Membership.role == Role.OWNER.value)
            .order_by(Membership.created_at, Membership.id)
            .limit(1)
        )
    ).first()
    if owner is not None:
        membership, name = owner
        if membership.default_bill_rate_minor is None:
            # An owner without rates gets the demo owner's profile, and joins before the history
            # (time logged before a membership starts is ignored by the analyses).
            membership.weekly_capacity_seconds = catalog.OWNER_HOURS * HOUR
            membership.default_bill_rate_minor = catalog.OWNER_RATES[0]
            membership.default_cost_rate_minor = catalog.OWNER_RATES[1]
            membership.created_at = min(membership.created_at, seeder.at(seeder.time_from, 9))
        seeder.add_owner(membership.user_id, name, membership)
    # Emails are unique across the service: a second demo workspace gets tagged addresses.
    plain = [person_email(name, "") for name, *_ in catalog.PEOPLE]
    taken = await session.scalar(select(User.id).where(User.email.in_(plain)).limit(1))
    seeder.make_people(f"+{workspace.id[-8:]}" if taken else "")
    # Tag names are unique ignoring case: an existing "design" is the demo's "Design".
    existing_tags = await session.execute(
        select(func.lower(Tag.name), Tag.id).where(
            Tag.workspace_id == workspace.id,
            func.lower(Tag.name).in_([name.lower() for name, _ in catalog.TAGS]),
        )
    )
    seeder.make_tags(dict(existing_tags.all()))
    seeder.make_clients()
    seeder.make_days()
    await session.flush()  # the owner's membership, before the bulk rows
    await seeder.insert_all(session)
    counts = seeder.counts()
    record_audit(
        session,
        workspace_id=workspace.id,
        actor=SYSTEM,
        action="demo.seeded",
        entity_type="workspace",
        entity_id=workspace.id,
        after=counts.as_json(),
    )
    await session.flush()
    return counts


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower().replace("&", "and")).strip("-")


def _quarters(seconds: float) -> int:
    return int(seconds // QUARTER) * QUARTER


def _working_days(start: date, end: date) -> list[date]:
    days = (start + timedelta(days=offset) for offset in range((end - start).days + 1))
    return [day for day in days if day.weekday() < 5]


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _split(rng: random.Random, total: int, parts: int, minimum: int) -> list[int]:
    """`total` seconds in `parts` quarter-hour pieces of at least `minimum` (when it fits)."""
    parts = max(1, min(parts, total // max(minimum, QUARTER)))
    spare = (total - parts * minimum) // QUARTER
    if spare < 0:
        return [total]
    cuts = sorted(rng.randint(0, spare) for _ in range(parts - 1))
    bounds = [0, *cuts, spare]
    pieces = [minimum + (bounds[i + 1] - bounds[i]) * QUARTER for i in range(parts)]
    pieces[-1] += total - sum(pieces)  # a remainder below a quarter hour (never, in practice)
    return pieces


def _weighted_sample(
    rng: random.Random, items: Sequence[_Project], weights: Sequence[float], count: int
) -> list[_Project]:
    pool, pool_weights, chosen = list(items), list(weights), []
    for _ in range(min(count, len(pool))):
        index = rng.choices(range(len(pool)), weights=pool_weights)[0]
        chosen.append(pool.pop(index))
        pool_weights.pop(index)
    return chosen
