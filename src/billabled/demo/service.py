"""The demo workspace behind `billabled serve --demo`.

Idempotent: a second run finds the demo owner, resets their password and prints the login again.
The realistic agency data (clients, projects, time) is added as those resources are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import SYSTEM
from billabled.kit.passwords import generate_password, hash_password
from billabled.models.membership import Membership, Role
from billabled.models.workspace import Plan
from billabled.user import repository as user_repository
from billabled.workspace.service import create_workspace

DEMO_OWNER_EMAIL = "owner@northwind.example.com"
DEMO_WORKSPACE_NAME = "Northwind Creative (demo)"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    workspace_id: str
    email: str
    password: str
    created: bool


async def ensure_demo_workspace(session: AsyncSession) -> DemoLogin:
    password = generate_password()
    owner = await user_repository.get_user_by_email(session, DEMO_OWNER_EMAIL)
    if owner is not None:
        result = await session.execute(
            select(Membership.workspace_id)
            .where(Membership.user_id == owner.id, Membership.role == Role.OWNER.value)
            .order_by(Membership.created_at)
            .limit(1)
        )
        workspace_id = result.scalar_one_or_none()
        if workspace_id is not None:
            owner.password_hash = hash_password(password)
            return DemoLogin(workspace_id, DEMO_OWNER_EMAIL, password, created=False)
    created = await create_workspace(
        session,
        name=DEMO_WORKSPACE_NAME,
        owner_email=DEMO_OWNER_EMAIL,
        owner_name="Olivia Owner",
        owner_password=password,
        plan=Plan.BUSINESS,
        currency="USD",
        time_zone="America/New_York",
        settings={"demo": True},
        actor=SYSTEM,
    )
    return DemoLogin(created.workspace.id, DEMO_OWNER_EMAIL, password, created=True)
