"""Events and audit records commit or roll back with the change they describe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from billabled.audit.service import SYSTEM, Actor, record_audit
from billabled.config import Settings
from billabled.db import Database, create_app_engine
from billabled.event.service import record_event
from billabled.models.audit import AuditRecord
from billabled.models.event import Event
from billabled.models.membership import Role
from billabled.user.service import AlreadyMember, add_member
from billabled.workspace.service import create_workspace

T = TypeVar("T")


def run(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def runner() -> T:
        database = Database(create_app_engine(settings))
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(runner())


async def _new_workspace(database: Database, unique: str) -> str:
    async with database.transaction() as session:
        created = await create_workspace(
            session, name="Outbox", owner_email=f"o{unique}@example.com", actor=SYSTEM
        )
        return created.workspace.id


async def _counts(database: Database, workspace_id: str) -> tuple[int, int]:
    async with database.transaction(write=False) as session:
        events = await session.scalar(
            select(func.count()).select_from(Event).where(Event.workspace_id == workspace_id)
        )
        audits = await session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.workspace_id == workspace_id)
        )
        return events or 0, audits or 0


def test_event_and_audit_commit_with_the_change(settings: Settings, unique: str) -> None:
    async def work(database: Database) -> tuple[int, int]:
        workspace_id = await _new_workspace(database, unique)
        before = await _counts(database, workspace_id)
        async with database.transaction() as session:
            record_event(
                session, workspace_id=workspace_id, type="client.created", data={"id": "c"}
            )
            record_audit(
                session,
                workspace_id=workspace_id,
                actor=Actor("user", "usr_x"),
                action="client.created",
                entity_type="client",
                entity_id="cli_x",
                after={"id": "cli_x"},
            )
        after = await _counts(database, workspace_id)
        return after[0] - before[0], after[1] - before[1]

    assert run(settings, work) == (1, 1)


def test_event_and_audit_roll_back_with_a_failed_change(settings: Settings, unique: str) -> None:
    async def work(database: Database) -> tuple[tuple[int, int], tuple[int, int]]:
        workspace_id = await _new_workspace(database, unique)
        before = await _counts(database, workspace_id)

        async def failing_change() -> None:
            async with database.transaction() as session:
                record_event(session, workspace_id=workspace_id, type="x.created", data={})
                # The first member is added (with its audit row); re-adding the owner then fails.
                await add_member(
                    session,
                    workspace_id=workspace_id,
                    email=f"fresh{unique}@example.com",
                    role=Role.MEMBER,
                    actor=SYSTEM,
                )
                await add_member(
                    session,
                    workspace_id=workspace_id,
                    email=f"o{unique}@example.com",
                    role=Role.MEMBER,
                    actor=SYSTEM,
                )

        with pytest.raises(AlreadyMember):
            await failing_change()
        return before, await _counts(database, workspace_id)

    before, after = run(settings, work)
    assert after == before


def test_workspace_creation_is_audited(settings: Settings, unique: str) -> None:
    async def work(database: Database) -> list[str]:
        workspace_id = await _new_workspace(database, unique)
        async with database.transaction(write=False) as session:
            rows = await session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.workspace_id == workspace_id)
                .order_by(AuditRecord.created_at, AuditRecord.id)
            )
            return list(rows)

    assert run(settings, work) == ["workspace.created", "membership.created"]
