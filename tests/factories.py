"""Factories: make workspaces, members and API keys through the real services.

They run on one event loop in a background thread (the app under test runs on its own), so
setting up a test costs milliseconds and never goes around the services' rules.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text, update

from billabled.api_key.service import create_api_key, revoke_api_key
from billabled.audit.service import SYSTEM
from billabled.auth.scopes import ALL_SCOPES, Scope, ceiling
from billabled.config import Settings
from billabled.db import Database, create_app_engine
from billabled.kit.apikeys import derive_pepper
from billabled.models.api_key import ApiKey
from billabled.models.membership import Role
from billabled.models.workspace import Plan
from billabled.user.service import add_member, change_role, remove_member
from billabled.workspace.service import create_workspace

T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    id: str
    raw: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.raw}


@dataclass(frozen=True)
class Workspace:
    id: str
    owner_email: str
    owner_id: str


class Factory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pepper = derive_pepper(settings.resolved_secret_key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.database: Database = self.run(self._make_database())

    async def _make_database(self) -> Database:
        return Database(
            create_app_engine(self.settings),
            sync_clock_margin_seconds=self.settings.sync_clock_margin_seconds,
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def close(self) -> None:
        self.run(self.database.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def in_transaction(self, work: Callable[[Any], Awaitable[T]]) -> T:
        async def runner() -> T:
            async with self.database.transaction() as session:
                return await work(session)

        return self.run(runner())

    def sql(self, statement: str, **params: Any) -> list[Any]:
        async def runner() -> list[Any]:
            async with self.database.engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []

        return self.run(runner())

    # --- workspaces and members ---------------------------------------------------------------

    def workspace(self, plan: Plan = Plan.FREE, name: str = "Agency") -> Workspace:
        email = f"owner-{uuid.uuid4().hex[:12]}@example.com"

        async def work(session: Any) -> Workspace:
            created = await create_workspace(
                session, name=name, owner_email=email, plan=plan, actor=SYSTEM
            )
            return Workspace(created.workspace.id, email, created.owner.id)

        return self.in_transaction(work)

    def member(self, workspace: Workspace, role: Role, name: str | None = None) -> str:
        email = f"{role.value}-{uuid.uuid4().hex[:12]}@example.com"

        async def work(session: Any) -> str:
            await add_member(
                session, workspace_id=workspace.id, email=email, role=role, name=name, actor=SYSTEM
            )
            return email

        return self.in_transaction(work)

    def add(self, workspace: Workspace, email: str, role: Role) -> None:
        """Add the person with this email (again) to the workspace."""

        async def work(session: Any) -> None:
            await add_member(
                session, workspace_id=workspace.id, email=email, role=role, actor=SYSTEM
            )

        self.in_transaction(work)

    def set_role(self, workspace: Workspace, email: str, role: Role) -> None:
        async def work(session: Any) -> None:
            await change_role(
                session, workspace_id=workspace.id, email=email, role=role, actor=SYSTEM
            )

        self.in_transaction(work)

    def remove(self, workspace: Workspace, email: str) -> None:
        async def work(session: Any) -> None:
            await remove_member(session, workspace_id=workspace.id, email=email, actor=SYSTEM)

        self.in_transaction(work)

    # --- keys ------------------------------------------------------------------------------------

    def key(
        self,
        workspace: Workspace,
        *,
        email: str | None = None,
        scopes: frozenset[Scope] | None = None,
        expires_at: datetime | None = None,
        name: str = "test key",
    ) -> Key:
        """A key made by `email` (default: the owner) with `scopes` (default: all its role may)."""
        creator_email = email or workspace.owner_email

        async def work(session: Any) -> Key:
            from billabled.user import repository

            found = await repository.get_membership_by_email(session, workspace.id, creator_email)
            assert found is not None
            user, membership = found
            created = await create_api_key(
                session,
                pepper=self.pepper,
                workspace_id=workspace.id,
                creator_user_id=user.id,
                creator_role=membership.role,
                name=name,
                scopes=scopes if scopes is not None else ceiling(membership.role),
                expires_at=expires_at,
                actor=SYSTEM,
            )
            return Key(created.api_key.id, created.raw_key)

        return self.in_transaction(work)

    def expire(self, key: Key) -> None:
        """Move a key's expiry into the past (the service refuses to create one there)."""

        async def work(session: Any) -> None:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id)
                .values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
            )

        self.in_transaction(work)

    # --- the work record (plain inserts, for setting up tests of other resources) -----------------

    def insert(self, row: Any) -> Any:
        """Insert one model object as it is (no service rules) and return its id."""

        async def work(session: Any) -> Any:
            session.add(row)
            await session.flush()
            return row.id

        return self.in_transaction(work)

    def client(self, workspace: Workspace, name: str = "Acme", **fields: Any) -> str:
        from billabled.models.client import Client

        return str(
            self.insert(
                Client(
                    workspace_id=workspace.id,
                    name=name,
                    currency=fields.pop("currency", "USD"),
                    **fields,
                )
            )
        )

    def project(
        self,
        workspace: Workspace,
        client_id: str | None = None,
        name: str = "Website",
        **fields: Any,
    ) -> str:
        """A project (hourly at 100.00/h unless told otherwise), for a new client if none given."""
        from billabled.models.project import Project

        fields.setdefault("hourly_rate_minor", 10_000)
        fields.setdefault("currency", "USD")
        return str(
            self.insert(
                Project(
                    workspace_id=workspace.id,
                    client_id=client_id or self.client(workspace),
                    name=name,
                    **fields,
                )
            )
        )

    def task(
        self, workspace: Workspace, project_id: str, name: str = "Design", **fields: Any
    ) -> str:
        from billabled.models.task import Task

        return str(
            self.insert(Task(workspace_id=workspace.id, project_id=project_id, name=name, **fields))
        )

    def subtask(
        self, workspace: Workspace, task_id: str, name: str = "Wireframes", **fields: Any
    ) -> str:
        from billabled.models.task import SubTask, Task

        async def project_of(session: Any) -> str:
            task = await session.get(Task, task_id)
            return str(task.project_id)

        project_id = self.in_transaction(project_of)
        return str(
            self.insert(
                SubTask(
                    workspace_id=workspace.id,
                    task_id=task_id,
                    project_id=project_id,
                    name=name,
                    **fields,
                )
            )
        )

    def time_entry(self, workspace: Workspace, project_id: str, **fields: Any) -> str:
        """An hour of billable time on the project (at 100.00/h unless told otherwise), the
        owner's, straight into the table: for tests of what depends on time, whose own rules are
        tested through the API."""
        from datetime import date

        from billabled.models.time_entry import TimeEntry

        client_id = self.sql("SELECT client_id FROM project WHERE id = :id", id=project_id)[0][0]
        values: dict[str, Any] = {
            "user_id": workspace.owner_id,
            "client_id": client_id,
            "work_date": date(2026, 1, 5),
            "duration_seconds": 3600,
            "billable": True,
            "rate_minor": 10_000,
            "currency": "USD",
            **fields,
        }
        return str(
            self.insert(TimeEntry(workspace_id=workspace.id, project_id=project_id, **values))
        )

    def tag(self, workspace: Workspace, name: str | None = None, color: str | None = None) -> str:
        from billabled.models.tag import Tag

        return str(
            self.insert(
                Tag(
                    workspace_id=workspace.id,
                    name=name or f"tag-{uuid.uuid4().hex[:8]}",
                    color=color,
                )
            )
        )

    def user_id(self, workspace: Workspace, email: str) -> str:
        async def work(session: Any) -> str:
            from billabled.user import repository

            found = await repository.get_membership_by_email(session, workspace.id, email)
            assert found is not None
            return str(found[0].id)

        return self.in_transaction(work)

    def revoke(self, key: Key) -> None:
        async def work(session: Any) -> None:
            await revoke_api_key(session, key_id=key.id, actor=SYSTEM)

        self.in_transaction(work)


__all__ = ["ALL_SCOPES", "Factory", "Key", "Workspace"]
