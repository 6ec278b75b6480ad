"""Queries on users and memberships. Membership queries always filter by workspace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.kit.pagination import AnySelect
from billabled.models.membership import Membership
from billabled.models.tombstone import Tombstone
from billabled.models.user import User


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def get_membership(
    session: AsyncSession, workspace_id: str, user_id: str
) -> Membership | None:
    result = await session.execute(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    return result.scalar_one_or_none()


def members_query(workspace_id: str, role: str | None = None) -> AnySelect:
    """Members of a workspace as API rows (no password hashes), ready for `paginate`."""
    query = (
        select(
            User.id,
            User.name,
            User.email,
            Membership.role,
            Membership.weekly_capacity_seconds,
            Membership.default_bill_rate_minor,
            Membership.default_cost_rate_minor,
            Membership.created_at,
            Membership.updated_at,
        )
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
    )
    if role is not None:
        query = query.where(Membership.role == role)
    return query


def removed_members_query(workspace_id: str) -> AnySelect:
    return select(Tombstone.entity_id, Tombstone.deleted_at).where(
        Tombstone.workspace_id == workspace_id, Tombstone.entity_type == "user"
    )


async def list_memberships(session: AsyncSession, workspace_id: str) -> Sequence[Row[Any]]:
    rows: Sequence[Row[Any]] = (await session.execute(members_query(workspace_id))).all()
    return rows


async def count_owners(session: AsyncSession, workspace_id: str) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == "owner")
    )
    return int(result.scalar_one())


async def get_membership_by_email(
    session: AsyncSession, workspace_id: str, email: str
) -> tuple[User, Membership] | None:
    result = await session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, User.email == email)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None
