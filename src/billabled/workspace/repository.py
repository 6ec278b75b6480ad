"""Queries on workspaces."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from billabled.models.workspace import Workspace


async def get_workspace(session: AsyncSession, workspace_id: str) -> Workspace | None:
    return await session.get(Workspace, workspace_id)
