"""Tags.

Invariants:
- a tag's name is unique in its workspace ignoring case ("Urgent" and "urgent" are one tag); the
  database index is on the exact name, so the case-insensitive check is made here, and an exact
  duplicate that races past it is still refused (409, never a 500);
- a tag used by projects or time entries cannot be deleted;
- every change writes its event and audit record in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from billabled.api.resources import HasDependents, get_or_404, refuse_delete
from billabled.auth.principal import Principal
from billabled.errors import Conflict
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion
from billabled.kit.pagination import AnySelect
from billabled.models.tag import ProjectTag, Tag, TimeEntryTag
from billabled.tag.schemas import TagCreate, tag_json

ENTITY = "tag"


class TagNameTaken(Conflict):
    code = "tag_name_taken"


def same_name(workspace_id: str, name: str) -> AnySelect:
    """Tags of the workspace with this name, ignoring case. Both sides go through the database's
    `lower()`, so the comparison folds case the same way whatever the backend."""
    return Tag.__table__.select().where(
        Tag.workspace_id == workspace_id,
        func.lower(Tag.name) == func.lower(name),
    )


async def _refuse_taken_name(
    session: AsyncSession, workspace_id: str, name: str, except_id: str | None = None
) -> None:
    query = same_name(workspace_id, name).with_only_columns(Tag.id, Tag.name)
    if except_id is not None:
        query = query.where(Tag.id != except_id)
    taken = (await session.execute(query.limit(1))).first()
    if taken is not None:
        raise _taken(taken.name, taken.id)  # the name as the workspace has it, not as sent


def _taken(name: str, existing_id: str | None) -> TagNameTaken:
    message = f"A tag named {name!r} already exists in this workspace."
    if existing_id is None:
        return TagNameTaken(message)
    return TagNameTaken(message, existingId=existing_id)


async def _flush_or_taken(
    session: AsyncSession, workspace_id: str, name: str, except_id: str | None = None
) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Only the unique name index can fail here: a concurrent request took the name and has
        # committed. This transaction is aborted (PostgreSQL): the tag is read on a connection
        # of its own, to name it as the workspace has it, with its id.
        query = same_name(workspace_id, name).with_only_columns(Tag.id, Tag.name)
        if except_id is not None:
            query = query.where(Tag.id != except_id)
        assert isinstance(session.bind, AsyncEngine)
        async with session.bind.connect() as connection:
            taken = (await connection.execute(query.limit(1))).first()
        raise (_taken(taken.name, taken.id) if taken else _taken(name, None)) from None


async def get_tag(
    session: AsyncSession, principal: Principal, tag_id: str, *, for_change: bool = False
) -> Tag:
    return await get_or_404(
        session, Tag, principal.workspace_id, tag_id, ENTITY, for_change=for_change
    )


async def create_tag(session: AsyncSession, principal: Principal, body: TagCreate) -> Tag:
    await _refuse_taken_name(session, principal.workspace_id, body.name)
    tag = Tag(workspace_id=principal.workspace_id, name=body.name, color=body.color)
    session.add(tag)
    await _flush_or_taken(session, principal.workspace_id, body.name)
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=tag.id,
        action="created",
        after=tag_json(tag),
    )
    return tag


async def update_tag(
    session: AsyncSession, principal: Principal, tag_id: str, changes: dict[str, Any]
) -> Tag:
    tag = await get_tag(session, principal, tag_id, for_change=True)
    name = changes.get("name")
    if name is not None and name != tag.name:
        await _refuse_taken_name(session, principal.workspace_id, name, except_id=tag.id)
    before = tag_json(tag)
    for field, value in changes.items():
        setattr(tag, field, value)
    await _flush_or_taken(session, principal.workspace_id, tag.name, except_id=tag.id)
    after = tag_json(tag)
    if after != before:
        record_change(
            session,
            workspace_id=principal.workspace_id,
            actor=principal.actor,
            entity_type=ENTITY,
            entity_id=tag.id,
            action="updated",
            before=before,
            after=after,
        )
    return tag


async def delete_tag(session: AsyncSession, principal: Principal, tag_id: str) -> None:
    tag = await get_tag(session, principal, tag_id, for_change=True)
    # The tag id is already known to be this workspace's, so its links need no workspace filter;
    # both counts are served by the links' tag_id indexes, in one round trip.
    projects = select(func.count()).select_from(ProjectTag).where(ProjectTag.tag_id == tag.id)
    entries = select(func.count()).select_from(TimeEntryTag).where(TimeEntryTag.tag_id == tag.id)
    counts = (
        await session.execute(select(projects.scalar_subquery(), entries.scalar_subquery()))
    ).one()
    refuse_delete(
        ENTITY,
        {"projects": int(counts[0] or 0), "timeEntries": int(counts[1] or 0)},
        # Tags are not archived.
        remedy="Take it off them first, or rename it.",
    )
    before = tag_json(tag)
    await session.delete(tag)
    try:
        await session.flush()
    except IntegrityError:
        # A project or entry took the tag after the counts (the foreign keys refuse the delete).
        raise HasDependents(
            "This tag cannot be deleted: it was just attached to a record."
        ) from None
    await record_deletion(
        session, workspace_id=principal.workspace_id, entity_type=ENTITY, entity_id=tag.id
    )
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=tag.id,
        action="deleted",
        before=before,
    )
    await session.flush()
