"""Queries on API keys, always within one workspace (except the by-id lookup of the CLI)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.api_key import ApiKey
from billabled.models.user import User


async def list_with_creators(
    session: AsyncSession, workspace_id: str
) -> Sequence[Row[ApiKey, str]]:
    result = await session.execute(
        select(ApiKey, User.email)
        .join(User, User.id == ApiKey.created_by_user_id)
        .where(ApiKey.workspace_id == workspace_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return result.all()


async def get(session: AsyncSession, key_id: str, workspace_id: str | None = None) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.id == key_id)
    if workspace_id is not None:
        query = query.where(ApiKey.workspace_id == workspace_id)
    return (await session.execute(query)).scalar_one_or_none()


async def live_key_ids_of(
    session: AsyncSession, workspace_id: str, creator_user_id: str
) -> Sequence[str]:
    """The ids of the keys `creator_user_id` made in the workspace that are not revoked."""
    result = await session.scalars(
        select(ApiKey.id)
        .where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.created_by_user_id == creator_user_id,
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.id)
    )
    return result.all()


async def id_of_hash(session: AsyncSession, key_hash: str) -> str | None:
    """The id of the key whose hash this is, in any workspace (the command line's revoke)."""
    found: str | None = await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash))
    return found
