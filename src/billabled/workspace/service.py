"""Workspaces: the tenants.

Invariants:
- a workspace is created together with its first member, an owner, in one transaction;
- plan, currency, time zone and week start are validated before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import Actor, record_audit
from billabled.errors import ValidationFailed
from billabled.kit.currency import is_currency
from billabled.kit.text import checked_name
from billabled.models.membership import Membership, Role
from billabled.models.user import User
from billabled.models.workspace import Plan, Workspace
from billabled.user.service import add_member


@dataclass(frozen=True, slots=True)
class NewWorkspace:
    workspace: Workspace
    owner: User
    membership: Membership
    owner_created: bool


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"field": field, "in": "body", "message": message, "type": "value_error"}]
    )


def parse_plan(raw: str) -> Plan:
    try:
        return Plan(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(plan.value for plan in Plan)
        raise _invalid("plan", f"Unknown plan {raw!r}; use one of: {allowed}.") from None


def _check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("timeZone", f"Unknown time zone {name!r}.") from None
    if name not in available_timezones() and name != "UTC":
        raise _invalid("timeZone", f"Unknown time zone {name!r}.")
    return name


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "plan": workspace.plan,
        "currency": workspace.currency,
        "timeZone": workspace.time_zone,
        "weekStart": workspace.week_start,
    }


async def create_workspace(
    session: AsyncSession,
    *,
    name: str,
    owner_email: str,
    actor: Actor,
    owner_name: str | None = None,
    owner_password: str | None = None,
    plan: Plan = Plan.FREE,
    currency: str = "USD",
    time_zone: str = "UTC",
    week_start: int = 1,
    settings: dict[str, Any] | None = None,
) -> NewWorkspace:
    name = checked_name(name)  # the API's rule for names: NFC, trimmed, no control characters
    currency = currency.strip().upper()
    if not is_currency(currency):
        raise _invalid("currency", "The currency must be an ISO 4217 code such as USD or EUR.")
    if not 1 <= week_start <= 7:
        raise _invalid("weekStart", "The week start is an ISO weekday, 1 (Monday) to 7 (Sunday).")
    workspace = Workspace(
        name=name,
        plan=plan.value,
        currency=currency,
        time_zone=_check_time_zone(time_zone),
        week_start=week_start,
        settings=settings or {},
    )
    session.add(workspace)
    await session.flush()
    record_audit(
        session,
        workspace_id=workspace.id,
        actor=actor,
        action="workspace.created",
        entity_type="workspace",
        entity_id=workspace.id,
        after=workspace_json(workspace),
    )
    member = await add_member(
        session,
        workspace_id=workspace.id,
        email=owner_email,
        role=Role.OWNER,
        actor=actor,
        name=owner_name,
        password=owner_password,
    )
    return NewWorkspace(
        workspace=workspace,
        owner=member.user,
        membership=member.membership,
        owner_created=member.user_created,
    )
