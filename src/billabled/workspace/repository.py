"""Queries on workspaces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.workspace import Workspace


async def get_workspace(session: AsyncSession, workspace_id: str) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def lock_workspace(session: AsyncSession, workspace_id: str) -> None:
    """Hold the workspace's row until the transaction ends, so that a rule over the whole
    workspace (at least one owner) is checked by one change at a time. `FOR NO KEY UPDATE`:
    rows that only refer to the workspace (time entries, keys…) are written meanwhile."""
    await session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
    )
