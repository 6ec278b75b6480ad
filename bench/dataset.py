"""The benchmark dataset: a fresh database holding a million-entry workspace (and a small one).

Run as::

    .venv/bin/python -m bench.dataset --database-url URL [--entries N] [--quick] [--manifest PATH]

- The database is created fresh: on PostgreSQL the database named in the URL (``billabled_bench``
  when the URL names none or ``postgres``) is dropped and created again; on SQLite the file is
  deleted. Its name must contain ``bench`` so a real database is never dropped.
- The schema comes only from our migrations (``billabled.migrations.upgrade``).
- The rows are written by bulk SQL on the sync driver: ``COPY … FROM STDIN`` on PostgreSQL,
  ``executemany`` in large transactions on SQLite (``synchronous=OFF`` during the load only).
- API keys are made by the real service, with ``BENCH_SECRET_KEY``: the benchmark server must run
  with ``BILLABLED_SECRET_KEY`` set to it.
- A manifest (JSON) tells the scenario runner what to ask for: ids, keys, a busy project-month and
  a person's busy weeks.

The data is seeded: the same scale built on the same day gives the same rows and ids (ids
encode the rows' creation times); only the API keys differ from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import psycopg
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from billabled.api_key.service import create_api_key
from billabled.audit.service import SYSTEM
from billabled.auth.scopes import ALL_SCOPES, ceiling
from billabled.config import Settings
from billabled.db import Database, create_app_engine, create_sync_engine, sync_url
from billabled.kit.apikeys import derive_pepper
from billabled.migrations import upgrade
from billabled.time_entry.rates import effective_rate_minor

BENCH_SECRET_KEY: Final = "bench-secret-key-" + "0123456789abcdefghijklmnopqrstuv"
DEFAULT_PG_DATABASE: Final = "billabled_bench"
CURRENCY: Final = "USD"
SEED: Final = 20261122
QUARTER: Final = 15 * 60
PERIOD_DAYS: Final = 28  # people work on a handful of projects per four-week period
RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"

# --- scale ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    entries: int
    people: int
    clients: int
    projects: int
    tags: int = 30
    tasks_per_project: int = 10


FULL: Final = Scale(entries=1_000_000, people=200, clients=500, projects=2_000)
QUICK: Final = Scale(entries=50_000, people=40, clients=25, projects=100)
SMALL: Final = Scale(entries=3_000, people=6, clients=8, projects=15, tags=8, tasks_per_project=5)

# --- ids and values ---------------------------------------------------------------------------

# Standard base32 (RFC 4648) → lower-case Crockford, the alphabet of our ULID-based ids.
_CROCKFORD: Final = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def ulid_at(moment: datetime, rng: random.Random) -> str:
    """A ULID (lower-case Crockford) for a naive-UTC moment: what `new_id` makes, but for a
    chosen time and fast (a million of these take about a second)."""
    millis = (moment - _EPOCH) // timedelta(milliseconds=1)
    value = (millis << 80) | rng.getrandbits(80)
    # 160 bits → 32 base32 characters; the first 6 encode the 30 leading zero bits.
    return base64.b32encode(value.to_bytes(20, "big"))[6:].translate(_CROCKFORD).decode()


def make_id(prefix: str, moment: datetime, rng: random.Random) -> str:
    return f"{prefix}_{ulid_at(moment, rng)}"


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


Row = tuple[Any, ...]
Converter = Callable[[Any], Any]


# --- loading ----------------------------------------------------------------------------------


class Loader(Protocol):
    """Writes rows into a table by the fastest route of its backend."""

    backend: str

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> int: ...

    def close(self) -> None: ...


def _pg_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):  # naive UTC
        return value.isoformat(" ", "microseconds") + "+00"
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    elif not isinstance(value, str):
        return str(value)
    escaped: str = (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )
    return escaped


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value  # bool is an int to sqlite3


class PostgresLoader:
    backend = "postgresql"

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.raw_connection()
        self.driver: psycopg.Connection[Any] = self.connection.driver_connection  # type: ignore[assignment]

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> int:
        count = 0
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        buffer: list[str] = []
        with self.driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                buffer.append("\t".join([_pg_text(value) for value in row]))
                count += 1
                if len(buffer) >= 20_000:
                    copy.write("\n".join(buffer) + "\n")
                    buffer.clear()
            if buffer:
                copy.write("\n".join(buffer) + "\n")
        self.driver.commit()
        return count

    def close(self) -> None:
        self.connection.close()


class SqliteLoader:
    backend = "sqlite"

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.raw_connection()
        driver = self.connection.driver_connection
        assert driver is not None
        self.driver: Any = driver  # sqlite3.Connection, in autocommit: we BEGIN and COMMIT
        # For the load only (this connection): no fsync, a big page cache.
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=OFF",
            "PRAGMA cache_size=-1000000",
            "PRAGMA temp_store=MEMORY",
        ):
            self.driver.execute(pragma)

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> int:
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        count = 0
        batch: list[Row] = []
        self.driver.execute("BEGIN")
        for row in rows:
            batch.append(tuple([_sqlite_value(value) for value in row]))
            if len(batch) >= 50_000:
                self.driver.executemany(statement, batch)
                count += len(batch)
                batch.clear()
                if count % 500_000 == 0:
                    self.driver.execute("COMMIT")
                    self.driver.execute("BEGIN")
        if batch:
            self.driver.executemany(statement, batch)
            count += len(batch)
        self.driver.execute("COMMIT")
        return count

    def close(self) -> None:
        if self.driver.in_transaction:  # a build stopped half-way: nothing of it is kept
            self.driver.execute("ROLLBACK")
        self.driver.execute("PRAGMA synchronous=NORMAL")
        self.connection.close()


# --- the workspace model in memory -----------------------------------------------------------

FIRST_NAMES: Final = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Ben",
    "Carla",
    "Chen",
    "Dana",
    "Diego",
    "Eli",
    "Emma",
    "Farah",
    "Felix",
    "Grace",
    "Hana",
    "Ivan",
    "Jade",
    "Jonas",
    "Kai",
    "Kenji",
    "Lara",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mei",
    "Nadia",
    "Nico",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Sara",
    "Tariq",
    "Tess",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zoe",
]
LAST_NAMES: Final = [
    "Abbott",
    "Baker",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quintero",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
]
COMPANY_WORDS: Final = [
    "Acme",
    "Apex",
    "Beacon",
    "Birch",
    "Cobalt",
    "Crescent",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Horizon",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Northwind",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Union",
    "Vertex",
    "Willow",
    "Zenith",
]
COMPANY_KINDS: Final = (
    "Labs",
    "Foods",
    "Health",
    "Logistics",
    "Media",
    "Bank",
    "Studios",
    "Energy",
    "Retail",
    "Capital",
    "Software",
    "Travel",
)
PROJECT_KINDS: Final = (
    "Website redesign",
    "Mobile app",
    "Brand refresh",
    "Data platform",
    "SEO retainer",
    "Support retainer",
    "Campaign",
    "E-commerce build",
    "Design system",
    "Analytics setup",
    "CRM migration",
    "Internal tools",
)
TASK_NAMES: Final = (
    "Project management",
    "Meetings",
    "Discovery",
    "Design",
    "Development",
    "QA",
    "Content",
    "Deployment",
    "Support",
    "Research",
)
SUBTASK_NAMES: Final = ("Wireframes", "Review", "Revisions", "Handover")
DESCRIPTIONS: Final = (
    "Weekly status call",
    "Sprint planning",
    "Implemented feature",
    "Code review",
    "Bug fixing",
    "Client workshop",
    "Design iteration",
    "Copy edits",
    "Deployment and smoke tests",
    "Research and notes",
    "Email and coordination",
    "Estimate for change request",
    "Performance tuning",
    "Accessibility fixes",
    "Stakeholder demo",
    None,
)
TAG_NAMES: Final = [
    "urgent",
    "overtime",
    "onsite",
    "remote",
    "travel",
    "research",
    "rework",
    "bugfix",
    "feature",
    "meeting",
    "workshop",
    "design",
    "frontend",
    "backend",
    "devops",
    "qa",
    "content",
    "seo",
    "analytics",
    "strategy",
    "support",
    "training",
    "discovery",
    "audit",
    "launch",
    "migration",
    "accessibility",
    "performance",
    "security",
    "legal",
]


@dataclass(slots=True)
class Person:
    user_id: str
    membership_id: str
    name: str
    email: str
    role: str
    capacity_seconds: int
    bill_rate: int | None
    cost_rate: int
    intensity: float  # entries per working day, on average
    start_minute: int  # when their day starts (UTC minutes)
    created_at: datetime


@dataclass(slots=True)
class ClientRec:
    id: str
    rate: int | None
    archived: bool = False  # its projects take no new time


@dataclass(slots=True)
class TaskRec:
    id: str
    billable: bool | None
    subtasks: list[tuple[str, bool | None]] = field(default_factory=list)


@dataclass(slots=True)
class ProjectRec:
    id: str
    client: ClientRec
    billing_type: str
    hourly_rate: int | None
    overage_rate: int | None
    first_period: int
    last_period: int
    weight: float
    tasks: list[TaskRec] = field(default_factory=list)
    archived: bool = False  # no time may be logged on it


@dataclass(slots=True)
class Stats:
    """What the manifest needs, counted while the entries are generated."""

    project_month: Counter[tuple[str, str]] = field(default_factory=Counter)
    user_week: Counter[tuple[str, date]] = field(default_factory=Counter)


@dataclass(slots=True)
class Built:
    workspace_id: str
    people: list[Person]
    projects: list[ProjectRec]
    stats: Stats


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


class WorkspaceBuilder:
    """Generates one workspace's rows, table by table, in dependency order."""

    def __init__(
        self, loader: Loader, scale: Scale, name: str, seed: int, today: date, domain: str
    ) -> None:
        self.loader = loader
        self.scale = scale
        self.name = name
        self.rng = random.Random(seed)
        self.today = today
        self.yesterday = today - timedelta(days=1)
        self.first_day = self.yesterday.replace(year=self.yesterday.year - 2) + timedelta(days=1)
        self.periods = (self.yesterday - self.first_day).days // PERIOD_DAYS + 1
        self.domain = domain
        self.origin = datetime.combine(self.first_day, datetime.min.time()) - timedelta(days=90)
        self.now = utc_naive(datetime.now(UTC))
        self.workspace_id = make_id("ws", self.origin, self.rng)
        self.people: list[Person] = []
        self.clients: list[ClientRec] = []
        self.projects: list[ProjectRec] = []
        self.tag_ids: list[str] = []
        self.stats = Stats()
        self.counts: Counter[str] = Counter()

    # helpers

    def _load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        self.counts[table] += self.loader.load(table, columns, rows)

    def _before(self, day: date, max_days: int) -> datetime:
        """A business-hours moment some days before `day`, never before the workspace."""
        moment = datetime.combine(day, datetime.min.time()) - timedelta(
            days=self.rng.randint(1, max_days), minutes=self.rng.randint(8 * 60, 18 * 60)
        )
        return max(moment, self.origin + timedelta(minutes=self.rng.randint(1, 600)))

    def period_start(self, period: int) -> date:
        return self.first_day + timedelta(days=period * PERIOD_DAYS)

    # tables

    def build(self) -> Built:
        self.workspace()
        self.members()
        self.clients_table()
        self.projects_and_tasks()
        self.tags()
        self.schedule()
        self.time_entries()
        return Built(self.workspace_id, self.people, self.projects, self.stats)

    def workspace(self) -> None:
        columns = ("id", "name", "plan", "currency", "time_zone", "week_start", "settings")
        row: Row = (self.workspace_id, self.name, "business", CURRENCY, "UTC", 1, {})
        self._load(
            "workspace", (*columns, "created_at", "updated_at"), [(*row, self.origin, self.origin)]
        )

    def members(self) -> None:
        rng = self.rng
        n = self.scale.people
        admins = max(1, round(n * 0.02))
        managers = max(1, round(n * 0.1))
        used: set[str] = set()
        for index in range(n):
            role = (
                "owner"
                if index == 0
                else "admin"
                if index <= admins
                else "manager"
                if index <= admins + managers
                else "member"
            )
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}".lower()
            while email in used:
                email = f"{first}.{last}{rng.randint(2, 999)}".lower()
            used.add(email)
            created = self.origin + timedelta(days=rng.randint(0, 80), minutes=rng.randint(0, 1439))
            if index == 0:
                created = self.origin
            part_time = rng.random() < 0.1
            self.people.append(
                Person(
                    user_id=make_id("usr", created, rng),
                    membership_id=make_id("mem", created, rng),
                    name=f"{first} {last}",
                    email=f"{email}@{self.domain}",
                    role=role,
                    capacity_seconds=(24 if part_time else rng.choice((35, 37, 40, 40, 40))) * 3600,
                    bill_rate=None if rng.random() < 0.2 else rng.randrange(9_000, 22_001, 500),
                    cost_rate=rng.randrange(3_500, 9_001, 250),
                    intensity=rng.uniform(0.6, 1.4) * (0.6 if part_time else 1.0),
                    start_minute=rng.choice(
                        (7 * 60 + 30, 8 * 60, 8 * 60 + 30, 9 * 60, 9 * 60 + 30)
                    ),
                    created_at=created,
                )
            )
        users = (
            (p.user_id, p.email, p.name, None, p.created_at, p.created_at) for p in self.people
        )
        self._load(
            "user_account",
            ("id", "email", "name", "password_hash", "created_at", "updated_at"),
            users,
        )
        memberships = (
            (
                p.membership_id,
                self.workspace_id,
                p.user_id,
                p.role,
                p.capacity_seconds,
                p.bill_rate,
                p.cost_rate,
                p.created_at,
                p.created_at,
            )
            for p in self.people
        )
        self._load(
            "membership",
            (
                "id",
                "workspace_id",
                "user_id",
                "role",
                "weekly_capacity_seconds",
                "default_bill_rate_minor",
                "default_cost_rate_minor",
                "created_at",
                "updated_at",
            ),
            memberships,
        )

    def clients_table(self) -> None:
        rng = self.rng
        rows: list[Row] = []
        for index in range(self.scale.clients):
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {index + 1}"
            created = self._before(self.first_day + timedelta(days=rng.randint(0, 600)), 60)
            rate = rng.randrange(10_000, 25_001, 500) if rng.random() < 0.6 else None
            client = ClientRec(make_id("cli", created, rng), rate)
            self.clients.append(client)
            # In the order the generator has always drawn them: the same seed, the same data.
            address = f"{rng.randint(1, 999)} Market Street\nSuite {rng.randint(1, 40)}"
            client.archived = rng.random() < 0.05
            rows.append(
                (
                    client.id,
                    self.workspace_id,
                    name,
                    f"billing@client{index + 1}.example.com",
                    CURRENCY,
                    address,
                    rate,
                    client.archived,
                    f"CRM-{100000 + index}" if rng.random() < 0.5 else None,
                    created,
                    created,
                )
            )
        rows.sort(key=lambda row: row[0])
        self._load(
            "client",
            (
                "id",
                "workspace_id",
                "name",
                "email",
                "currency",
                "address",
                "default_hourly_rate_minor",
                "archived",
                "external_ref",
                "created_at",
                "updated_at",
            ),
            rows,
        )

    def projects_and_tasks(self) -> None:
        rng = self.rng
        client_weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(self.clients))]
        project_rows: list[Row] = []
        task_rows: list[Row] = []
        subtask_rows: list[Row] = []
        last_period = self.periods - 1
        for index in range(self.scale.projects):
            client = rng.choices(self.clients, client_weights)[0]
            billing_type = rng.choices(
                ("hourly", "fixed_fee", "retainer", "non_billable"), (55, 15, 15, 15)
            )[0]
            if billing_type == "retainer" or rng.random() < 0.1:  # long-running
                first, last = rng.randint(0, last_period // 3), last_period
            else:
                first = rng.randint(0, last_period)
                last = min(last_period, first + rng.randint(2, 9))
            start_day = self.period_start(first)
            created = self._before(start_day, 20)
            hourly = fixed = budget_s = budget_a = r_incl = r_fee = r_over = None
            if billing_type == "hourly":
                hourly = rng.randrange(10_000, 25_001, 500) if rng.random() < 0.7 else None
                budget_s = rng.randrange(40, 801, 20) * 3600 if rng.random() < 0.5 else None
            elif billing_type == "fixed_fee":
                fixed = rng.randrange(500_000, 5_000_001, 50_000)
                hourly = rng.randrange(10_000, 20_001, 500) if rng.random() < 0.5 else None
                budget_a = fixed
            elif billing_type == "retainer":
                r_incl = rng.randrange(10, 81, 5) * 3600
                r_fee = rng.randrange(200_000, 1_500_001, 50_000)
                r_over = rng.randrange(12_000, 25_001, 500) if rng.random() < 0.7 else None
                hourly = rng.randrange(10_000, 20_001, 500) if rng.random() < 0.5 else None
            archived = last < last_period - 1
            project = ProjectRec(
                id=make_id("proj", created, rng),
                client=client,
                billing_type=billing_type,
                hourly_rate=hourly,
                overage_rate=r_over,
                first_period=first,
                last_period=last,
                weight=1.0 / (index % 97 + 1) ** 0.7 * rng.uniform(0.5, 1.5),
                archived=archived,
            )
            self.projects.append(project)
            updated = created if not archived else self._before(self.period_start(last + 1), 5)
            project_rows.append(
                (
                    project.id,
                    self.workspace_id,
                    client.id,
                    f"{rng.choice(PROJECT_KINDS)} {index + 1}",
                    f"P{index + 1:05d}",
                    billing_type,
                    CURRENCY,
                    hourly,
                    fixed,
                    budget_s,
                    budget_a,
                    r_incl,
                    r_fee,
                    r_over,
                    "archived" if archived else "active",
                    created,
                    max(created, updated),
                )
            )
            for t, task_name in enumerate(TASK_NAMES[: self.scale.tasks_per_project]):
                billable = False if task_name == "Meetings" and rng.random() < 0.3 else None
                task_created = created + timedelta(minutes=t + 1)
                task = TaskRec(make_id("task", task_created, rng), billable)
                project.tasks.append(task)
                task_rows.append(
                    (
                        task.id,
                        self.workspace_id,
                        project.id,
                        task_name,
                        billable,
                        rng.randrange(4, 121, 4) * 3600 if rng.random() < 0.6 else None,
                        "done" if archived else "open",
                        task_created,
                        task_created,
                    )
                )
                if t in (3, 4) and rng.random() < 0.4:  # design/development split up
                    for s, sub_name in enumerate(SUBTASK_NAMES):
                        sub_created = task_created + timedelta(seconds=s + 1)
                        sub_id = make_id("sub", sub_created, rng)
                        sub_billable = (
                            False if sub_name == "Revisions" and rng.random() < 0.3 else None
                        )
                        task.subtasks.append((sub_id, sub_billable))
                        subtask_rows.append(
                            (
                                sub_id,
                                self.workspace_id,
                                task.id,
                                project.id,
                                sub_name,
                                sub_billable,
                                None,
                                "done" if archived else "open",
                                sub_created,
                                sub_created,
                            )
                        )
        project_rows.sort(key=lambda row: row[0])
        self._load(
            "project",
            (
                "id",
                "workspace_id",
                "client_id",
                "name",
                "code",
                "billing_type",
                "currency",
                "hourly_rate_minor",
                "fixed_fee_minor",
                "budget_seconds",
                "budget_amount_minor",
                "retainer_included_seconds",
                "retainer_monthly_fee_minor",
                "retainer_overage_rate_minor",
                "status",
                "created_at",
                "updated_at",
            ),
            project_rows,
        )
        task_columns = ("id", "workspace_id", "project_id", "name", "billable", "estimate_seconds")
        self._load(
            "task",
            (*task_columns, "status", "created_at", "updated_at"),
            sorted(task_rows, key=lambda row: row[0]),
        )
        self._load(
            "subtask",
            (
                "id",
                "workspace_id",
                "task_id",
                "project_id",
                "name",
                "billable",
                "estimate_seconds",
                "status",
                "created_at",
                "updated_at",
            ),
            sorted(subtask_rows, key=lambda row: row[0]),
        )

    def tags(self) -> None:
        rng = self.rng
        rows: list[Row] = []
        for name in TAG_NAMES[: self.scale.tags]:
            created = self.origin + timedelta(days=rng.randint(1, 80))
            tag_id = make_id("tag", created, rng)
            self.tag_ids.append(tag_id)
            rows.append(
                (
                    tag_id,
                    self.workspace_id,
                    name,
                    f"#{rng.randrange(0x1000000):06x}",
                    created,
                    created,
                )
            )
        self._load("tag", ("id", "workspace_id", "name", "color", "created_at", "updated_at"), rows)
        links = []
        for project in self.projects:
            if rng.random() < 0.4:
                for tag_id in rng.sample(self.tag_ids, rng.randint(1, 2)):
                    links.append((project.id, tag_id))
        self._load("project_tag", ("project_id", "tag_id"), links)

    def _assignments(self) -> list[list[tuple[list[ProjectRec], list[float]]]]:
        """For each period and person: the projects they work on and how much."""
        rng = self.rng
        result: list[list[tuple[list[ProjectRec], list[float]]]] = []
        for period in range(self.periods):
            active = [p for p in self.projects if p.first_period <= period <= p.last_period]
            weights = [p.weight for p in active]
            per_person = []
            for _person in self.people:
                chosen: list[ProjectRec] = []
                for _ in range(rng.randint(2, 5)):
                    candidate = rng.choices(active, weights)[0]
                    if candidate not in chosen:
                        chosen.append(candidate)
                per_person.append((chosen, [rng.uniform(0.3, 1.0) for _ in chosen]))
            result.append(per_person)
        return result

    def schedule(self) -> None:
        rng = self.rng
        assignments = self._assignments()
        self._period_assignments = assignments
        current = assignments[-1]
        rows: list[Row] = []
        for offset in range(-14, 29):
            day = self.today + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for person, (projects, _weights) in zip(self.people, current, strict=True):
                remaining = 16  # half hours
                for project in rng.sample(projects, min(len(projects), rng.randint(1, 2))):
                    planned = rng.randint(2, remaining)
                    remaining -= planned
                    created = min(
                        self.now - timedelta(minutes=rng.randint(5, 600)), self._before(day, 10)
                    )
                    task = rng.choice(project.tasks) if rng.random() < 0.5 else None
                    rows.append(
                        (
                            make_id("sch", created, rng),
                            self.workspace_id,
                            person.user_id,
                            project.id,
                            task.id if task else None,
                            day,
                            planned * 1800,
                            "Planned in weekly resourcing" if rng.random() < 0.2 else None,
                            created,
                            created,
                        )
                    )
                    if remaining < 2:
                        break
        rows.sort(key=lambda row: row[0])
        self._load(
            "scheduled_work",
            (
                "id",
                "workspace_id",
                "user_id",
                "project_id",
                "task_id",
                "work_date",
                "planned_seconds",
                "note",
                "created_at",
                "updated_at",
            ),
            rows,
        )

    def _daily_counts(self) -> dict[tuple[int, int], int]:
        """Entries per (person, day index): most working days, the total exactly the target."""
        rng = self.rng
        days = (self.yesterday - self.first_day).days + 1
        slots: list[tuple[int, int]] = []
        for p in range(len(self.people)):
            for d in range(days):
                if (self.first_day + timedelta(days=d)).weekday() < 5 and rng.random() < 0.92:
                    slots.append((p, d))
        if not len(slots) <= self.scale.entries <= 16 * len(slots):
            raise SystemExit(
                f"{self.scale.entries:,} entries do not fit {len(self.people)} people's working "
                f"days (1 to 16 entries a day): change --entries or drop --quick"
            )
        mean_intensity = sum(self.people[p].intensity for p, _ in slots) / len(slots)
        per_slot = self.scale.entries / len(slots) / mean_intensity
        counts: dict[tuple[int, int], int] = {}
        for slot in slots:
            wanted = self.people[slot[0]].intensity * per_slot
            counts[slot] = max(1, min(16, round(rng.gauss(wanted, 1.5))))
        diff = self.scale.entries - sum(counts.values())
        while diff != 0:
            slot = slots[rng.randrange(len(slots))]
            if diff > 0 and counts[slot] < 16:
                counts[slot] += 1
                diff -= 1
            elif diff < 0 and counts[slot] > 1:
                counts[slot] -= 1
                diff += 1
        return counts

    def time_entries(self) -> None:
        self.entry_tags: list[tuple[str, str]] = []
        columns = (
            "id",
            "workspace_id",
            "user_id",
            "client_id",
            "project_id",
            "task_id",
            "subtask_id",
            "start_at",
            "end_at",
            "work_date",
            "duration_seconds",
            "description",
            "billable",
            "rate_minor",
            "currency",
            "status",
            "invoice_id",
            "created_at",
            "updated_at",
        )
        self._load("time_entry", columns, self._entry_rows())
        self.entry_tags.sort()
        self._load("time_entry_tag", ("time_entry_id", "tag_id"), self.entry_tags)

    def _entry_rows(self) -> Iterator[Row]:
        rng = self.rng
        counts = self._daily_counts()
        # Older work is approved (about 45% of it); the last thirteen months are open.
        approved_before = self.today - timedelta(days=395)
        rates: dict[tuple[str, int], int | None] = {}
        project_month = self.stats.project_month
        user_week = self.stats.user_week
        ws = self.workspace_id
        days = (self.yesterday - self.first_day).days + 1
        for d in range(days):
            day = self.first_day + timedelta(days=d)
            if day.weekday() >= 5:
                continue
            midnight = datetime.combine(day, datetime.min.time())
            period = min(d // PERIOD_DAYS, self.periods - 1)
            month = day.strftime("%Y-%m")
            week = monday(day)
            approved = day < approved_before
            approved_at = datetime.combine(week + timedelta(days=8), datetime.min.time())
            day_rows: list[Row] = []
            for p, person in enumerate(self.people):
                count = counts.get((p, d))
                if not count:
                    continue
                projects, weights = self._period_assignments[period][p]
                total_q = max(count, min(48, round(rng.gauss(31, 3))))
                cuts = sorted(rng.sample(range(1, total_q), count - 1)) if count > 1 else []
                bounds = [0, *cuts, total_q]
                clock = midnight + timedelta(minutes=person.start_minute)
                timed = rng.random() < 0.85  # the rest log a date and a duration
                user_week[(person.user_id, week)] += count
                for i in range(count):
                    seconds = (bounds[i + 1] - bounds[i]) * QUARTER
                    project = rng.choices(projects, weights)[0]
                    task = project.tasks[min(int(rng.expovariate(0.35)), len(project.tasks) - 1)]
                    subtask = (
                        rng.choice(task.subtasks) if task.subtasks and rng.random() < 0.6 else None
                    )
                    if project.billing_type == "non_billable":
                        billable = False
                    elif subtask is not None and subtask[1] is not None:
                        billable = subtask[1]
                    elif task.billable is not None:
                        billable = task.billable
                    else:
                        billable = rng.random() > 0.03
                    rate = None
                    if billable:
                        key = (project.id, p)
                        if key not in rates:
                            rates[key] = effective_rate_minor(
                                billing_type=project.billing_type,
                                project_hourly_rate_minor=project.hourly_rate,
                                project_retainer_overage_rate_minor=project.overage_rate,
                                client_default_hourly_rate_minor=project.client.rate,
                                member_default_bill_rate_minor=person.bill_rate,
                            )
                        rate = rates[key]
                    start = clock
                    if i and rng.random() < 0.12:
                        start += timedelta(minutes=rng.choice((15, 30, 45, 60)))
                    end = start + timedelta(seconds=seconds)
                    clock = end
                    created = end + timedelta(seconds=rng.randint(60, 1200))
                    entry_id = make_id("te", created, rng)
                    if rng.random() < 0.1:
                        self.entry_tags.append((entry_id, rng.choice(self.tag_ids)))
                    day_rows.append(
                        (
                            entry_id,
                            ws,
                            person.user_id,
                            project.client.id,
                            project.id,
                            task.id,
                            subtask[0] if subtask else None,
                            start if timed else None,
                            end if timed else None,
                            day,
                            seconds,
                            rng.choice(DESCRIPTIONS),
                            billable,
                            rate,
                            CURRENCY,
                            "approved" if approved else "open",
                            None,
                            created,
                            approved_at + timedelta(minutes=rng.randint(540, 1000))
                            if approved
                            else created,
                        )
                    )
                    project_month[(project.id, month)] += 1
            day_rows.sort(key=lambda row: row[0])  # ids (by created_at) ascend, as in life
            yield from day_rows


# --- database lifecycle ------------------------------------------------------------------------


def target_url(raw: str) -> str:
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if not url.database or url.database == "postgres":
            url = url.set(database=DEFAULT_PG_DATABASE)
        name = url.database or ""
    elif backend == "sqlite":
        name = Path(url.database or "").name
    else:
        raise SystemExit(f"unsupported database URL: {raw}")
    if "bench" not in name:
        raise SystemExit(
            f"refusing to drop {name!r}: the benchmark database's name must contain 'bench'"
        )
    # The URL as given (no driver suffix): it is also the server's BILLABLED_DATABASE_URL.
    return url.render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    maintenance = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        maintenance.render_as_string(hide_password=False), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


async def _create_keys(
    url: str, workspace_id: str, owner: Person, member: Person
) -> tuple[str, str]:
    settings = Settings(database_url=url, secret_key=BENCH_SECRET_KEY)
    pepper = derive_pepper(BENCH_SECRET_KEY.encode())
    database = Database(create_app_engine(settings))
    try:
        async with database.transaction() as session:
            owner_key = await create_api_key(
                session,
                pepper=pepper,
                workspace_id=workspace_id,
                creator_user_id=owner.user_id,
                creator_role=owner.role,
                name="Benchmark (owner, all scopes)",
                scopes=ALL_SCOPES,
                actor=SYSTEM,
            )
            member_key = await create_api_key(
                session,
                pepper=pepper,
                workspace_id=workspace_id,
                creator_user_id=member.user_id,
                creator_role=member.role,
                name="Benchmark (member)",
                scopes=ceiling(member.role),
                actor=SYSTEM,
            )
        return owner_key.raw_key, member_key.raw_key
    finally:
        await database.dispose()


def busy_project_month(built: Built, today: date) -> tuple[str, date, date, int]:
    """A project with a busy, complete month: ~250 entries (150 to 400) if there is one."""
    last_complete = built_month_start(today)
    candidates = [
        (abs(count - 250), project_id, month, count)
        for (project_id, month), count in built.stats.project_month.items()
        if date.fromisoformat(f"{month}-01") < last_complete
    ]
    _, project_id, month, count = min(candidates)
    first = date.fromisoformat(f"{month}-01")
    last = built_month_start(first + timedelta(days=32)) - timedelta(days=1)
    return project_id, first, last, count


def write_project(built: Built, preferred: str) -> str:
    """An active project for the write scenarios to log time on (an archived one, or one of an
    archived client, refuses it): the month's project when active, else the active project with
    the most entries."""
    active = {
        project.id
        for project in built.projects
        if not project.archived and not project.client.archived
    }
    if preferred in active:
        return preferred
    entries: Counter[str] = Counter()
    for (project_id, _), count in built.stats.project_month.items():
        if project_id in active:
            entries[project_id] += count
    return entries.most_common(1)[0][0]


def built_month_start(day: date) -> date:
    return day.replace(day=1)


def busy_person(built: Built, today: date) -> tuple[Person, date, date, int, int]:
    """A member with about 40 entries in an early week and in the last complete week."""
    yesterday = today - timedelta(days=1)
    current = monday(yesterday) - timedelta(days=7 if yesterday.weekday() < 6 else 0)
    first_day = yesterday.replace(year=yesterday.year - 2) + timedelta(days=1)
    first_monday = monday(first_day) + timedelta(days=7 if first_day.weekday() else 0)
    early_weeks = [first_monday + timedelta(days=7 * n) for n in range(4)]
    weeks = built.stats.user_week
    best: tuple[int, Person, date] | None = None
    for person in built.people:
        if person.role != "member":
            continue
        for early in early_weeks:
            score = abs(weeks[(person.user_id, early)] - 40) + abs(
                weeks[(person.user_id, current)] - 40
            )
            if best is None or score < best[0]:
                best = (score, person, early)
    assert best is not None
    _, person, early = best
    return (
        person,
        early,
        current,
        weeks[(person.user_id, early)],
        weeks[(person.user_id, current)],
    )


def finish(engine: Engine, backend: str) -> dict[str, int]:
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        # On the driver's connection, outside any transaction (our engine's `begin` hook would
        # open one): statistics, then the load's write-ahead log folded into the database file.
        raw = engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            driver.execute("ANALYZE")
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    tables = sorted(t for t in inspect(engine).get_table_names() if t != "alembic_version")
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


class Phases:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.last = self.started

    def done(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  {name:<34} {now - self.last:8.1f} s", flush=True)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="1/20 scale (50,000 entries)")
    parser.add_argument("--manifest", type=Path, default=None)
    args = parser.parse_args(argv)

    scale = QUICK if args.quick else FULL
    if args.entries is not None:
        scale = Scale(args.entries, scale.people, scale.clients, scale.projects)
    url = target_url(args.database_url)
    backend = sync_url(url).get_backend_name()
    manifest_path = args.manifest or RESULTS_DIR / f"dataset-{backend}.json"
    today = datetime.now(UTC).date()
    print(f"Building {scale.entries:,} entries on {backend} ({make_url(url).render_as_string()})")

    phases = Phases()
    recreate_database(url)
    phases.done("fresh database")
    upgrade(url)
    phases.done("migrations")

    engine = create_sync_engine(url)
    loader: Loader = PostgresLoader(engine) if backend == "postgresql" else SqliteLoader(engine)
    try:
        big = WorkspaceBuilder(loader, scale, "Northwind Agency", SEED, today, "northwind.example")
        big.workspace()
        big.members()
        big.clients_table()
        big.projects_and_tasks()
        big.tags()
        big.schedule()
        phases.done("people, clients, projects, tasks")
        big.time_entries()
        phases.done(f"time entries ({big.counts['time_entry']:,})")
        small = WorkspaceBuilder(loader, SMALL, "Tiny Studio", SEED + 1, today, "tiny.example")
        built_small = small.build()
        phases.done("small workspace")
    finally:
        loader.close()
    built = Built(big.workspace_id, big.people, big.projects, big.stats)

    member, early, current, early_count, current_count = busy_person(built, today)
    owner = built.people[0]
    api_key, member_key = asyncio.run(_create_keys(url, built.workspace_id, owner, member))
    phases.done("API keys")
    counts = finish(engine, backend)
    engine.dispose()
    phases.done("ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE")
    total = phases.total()
    print(f"  {'total':<34} {total:8.1f} s")

    project_id, month_first, month_last, month_count = busy_project_month(built, today)
    writes_to = write_project(built, project_id)
    manifest = {
        "backend": backend,
        "databaseUrl": url,
        "secretKey": BENCH_SECRET_KEY,
        "workspaceId": built.workspace_id,
        "apiKey": api_key,
        "memberApiKey": member_key,
        "smallWorkspaceId": built_small.workspace_id,
        "project": {
            "id": project_id,
            "from": month_first.isoformat(),
            "to": month_last.isoformat(),
        },
        "writeProject": writes_to,
        "user": {
            "id": member.user_id,
            "earlyWeek": {"from": early.isoformat(), "to": (early + timedelta(days=6)).isoformat()},
            "currentWeek": {
                "from": current.isoformat(),
                "to": (current + timedelta(days=6)).isoformat(),
            },
        },
        "counts": counts,
        "seconds": round(total, 1),
    }
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"project {project_id}: {month_count} entries in {month_first:%Y-%m}; "
        f"user {member.user_id}: {early_count} / {current_count} entries in weeks "
        f"{early} / {current}; writes log time on {writes_to}"
    )
    print(f"counts: {json.dumps(counts)}")
    print(f"manifest: {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
