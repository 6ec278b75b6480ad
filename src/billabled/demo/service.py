"""The demo workspace behind `billabled serve --demo`, and `billabled demo` for any workspace.

Invariants:
- `ensure_demo_workspace` is idempotent: a second run finds the demo owner, resets their password,
  revokes the previous demo key and prints a new login and key. The agency data
  (`billabled.demo.agency`) is added once, in the transaction that creates the workspace, so the
  demo workspace is never left empty and never filled twice.
- `fill_workspace` fills an existing workspace only when it has no clients, so demo data is never
  mixed into real data; the workspace row is locked first, so two concurrent runs cannot both pass
  that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api_key.service import create_api_key, revoke_api_key
from billabled.audit.service import SYSTEM
from billabled.auth.scopes import ALL_SCOPES
from billabled.demo.agency import DemoCounts, seed_agency
from billabled.errors import Conflict, NotFound
from billabled.kit.passwords import generate_password, hash_password
from billabled.models.api_key import ApiKey
from billabled.models.client import Client
from billabled.models.membership import Membership, Role
from billabled.models.user import User
from billabled.models.workspace import Plan, Workspace
from billabled.user import repository as user_repository
from billabled.workspace.service import create_workspace

DEMO_OWNER_EMAIL = "owner@northwind.example.com"
# Any constant works; it only has to be the same in every process (and not the migrations').
_DEMO_LOCK_ID = 7_264_510_332
DEMO_WORKSPACE_NAME = "Northwind Creative (demo)"


DEMO_KEY_NAME = "Demo key (all scopes)"


class WorkspaceNotEmpty(Conflict):
    code = "workspace_not_empty"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    workspace_id: str
    email: str
    password: str
    api_key: str
    created: bool
    # What the agency data added: set only on the run that created the workspace.
    counts: DemoCounts | None = None


async def fill_workspace(
    session: AsyncSession, workspace_id: str, *, today: date | None = None
) -> DemoCounts:
    """Fill an existing workspace with the demo agency; refuse one that already has clients."""
    workspace = (
        await session.execute(
            select(Workspace).where(Workspace.id == workspace_id).with_for_update()
        )
    ).scalar_one_or_none()
    if workspace is None:
        raise NotFound(f"workspace {workspace_id!r} not found")
    has_clients = await session.scalar(
        select(Client.id).where(Client.workspace_id == workspace_id).limit(1)
    )
    if has_clients is not None:
        raise WorkspaceNotEmpty(
            f"workspace {workspace_id} already has clients; demo data only goes into a workspace "
            "without any"
        )
    return await seed_agency(session, workspace, today=today)


async def ensure_demo_workspace(
    session: AsyncSession, pepper: bytes, *, fill: bool = True
) -> DemoLogin:
    """Create the demo workspace (or find it), reset its login and issue a fresh API key.

    A newly created workspace is filled with the demo agency unless `fill` is false.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Two servers started with --demo at once on one empty database: both found no demo
        # owner, and the second failed on the unique email. The second now waits for the
        # first's commit, then finds its workspace (SQLite takes one writer at a time).
        await session.execute(select(func.pg_advisory_xact_lock(_DEMO_LOCK_ID)))
    password = generate_password()
    owner = await user_repository.get_user_by_email(session, DEMO_OWNER_EMAIL)
    workspace_id: str | None = None
    if owner is not None:
        result = await session.execute(
            select(Membership.workspace_id)
            .where(Membership.user_id == owner.id, Membership.role == Role.OWNER.value)
            .order_by(Membership.created_at)
            .limit(1)
        )
        workspace_id = result.scalar_one_or_none()
    created = workspace_id is None
    if owner is not None and workspace_id is not None:
        owner.password_hash = hash_password(password)
    else:
        owner, workspace_id = await _create_demo_workspace(session, password)
    counts = await fill_workspace(session, workspace_id) if created and fill else None
    # One demo key at a time: earlier ones are revoked, so each run prints the only live one.
    previous = await session.execute(
        select(ApiKey.id).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.name == DEMO_KEY_NAME,
            ApiKey.revoked_at.is_(None),
        )
    )
    for key_id in previous.scalars():
        await revoke_api_key(session, key_id=key_id, workspace_id=workspace_id, actor=SYSTEM)
    key = await create_api_key(
        session,
        pepper=pepper,
        workspace_id=workspace_id,
        creator_user_id=owner.id,
        creator_role=Role.OWNER.value,
        name=DEMO_KEY_NAME,
        scopes=ALL_SCOPES,
        actor=SYSTEM,
    )
    return DemoLogin(
        workspace_id, DEMO_OWNER_EMAIL, password, key.raw_key, created=created, counts=counts
    )


async def _create_demo_workspace(session: AsyncSession, password: str) -> tuple[User, str]:
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
    return created.owner, created.workspace.id
