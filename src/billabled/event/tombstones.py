"""Tombstone helpers: deletions are recorded so `includeDeleted=true` lists can replay them."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.kit.time import utcnow
from billabled.models.tombstone import Tombstone


async def record_deletion(
    session: AsyncSession,
    *,
    workspace_id: str,
    entity_type: str,
    entity_id: str,
    owner_user_id: str | None = None,
    reassigned: bool = False,
) -> None:
    """`owner_user_id`: whose record it was, where members see only their own (time entries);
    `reassigned`: the record still exists but no longer belongs to them."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(Tombstone).values(
        workspace_id=workspace_id,
        entity_type=entity_type,
        entity_id=entity_id,
        owner_user_id=owner_user_id or "",
        deleted_at=now,
        reassigned=reassigned,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["workspace_id", "entity_type", "entity_id", "owner_user_id"],
            set_={"deleted_at": now, "reassigned": reassigned},
        )
    )


async def clear_deletion(
    session: AsyncSession,
    *,
    workspace_id: str,
    entity_type: str,
    entity_id: str,
    owner_user_id: str | None = None,
) -> None:
    """A record with this id exists again (a member re-added) — or, with `owner_user_id`, belongs
    to that user again (a time entry given back): it is no longer deleted for them."""
    condition = [
        Tombstone.workspace_id == workspace_id,
        Tombstone.entity_type == entity_type,
        Tombstone.entity_id == entity_id,
    ]
    if owner_user_id is not None:
        condition.append(Tombstone.owner_user_id == owner_user_id)
    await session.execute(delete(Tombstone).where(*condition))


async def record_reassignment(
    session: AsyncSession,
    *,
    workspace_id: str,
    entity_type: str,
    entity_id: str,
    from_user_id: str,
    to_user_id: str,
) -> None:
    """A record a member sees only while it is theirs (a time entry) moved to another member: for
    the one it left it is as if deleted; for the one it reached, a tombstone from an earlier move
    away (given back) no longer holds."""
    await record_deletion(
        session,
        workspace_id=workspace_id,
        entity_type=entity_type,
        entity_id=entity_id,
        owner_user_id=from_user_id,
        reassigned=True,
    )
    await clear_deletion(
        session,
        workspace_id=workspace_id,
        entity_type=entity_type,
        entity_id=entity_id,
        owner_user_id=to_user_id,
    )
