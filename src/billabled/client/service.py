"""Clients.

Invariants:
- a client belongs to one workspace; its currency defaults to the workspace's;
- a client with projects or time cannot be deleted (archive it instead);
- its projects bill in its currency: a change of it carries to them, and is refused once time is
  logged on the client;
- every change writes its event and audit record in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api.resources import HasDependents, get_or_404, refuse_delete
from billabled.auth.principal import Principal
from billabled.client.schemas import ClientCreate, client_json
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion
from billabled.models.client import Client
from billabled.models.project import Project
from billabled.models.time_entry import TimeEntry
from billabled.project.service import follow_client_currency

ENTITY = "client"


async def get_client(
    session: AsyncSession, principal: Principal, client_id: str, *, for_change: bool = False
) -> Client:
    return await get_or_404(
        session, Client, principal.workspace_id, client_id, ENTITY, for_change=for_change
    )


async def create_client(session: AsyncSession, principal: Principal, body: ClientCreate) -> Client:
    client = Client(
        workspace_id=principal.workspace_id,
        name=body.name,
        email=str(body.email) if body.email else None,
        currency=body.currency or principal.currency,
        address=body.address,
        default_hourly_rate_minor=body.default_hourly_rate_minor,
        archived=body.archived,
        external_ref=body.external_ref,
    )
    session.add(client)
    await session.flush()
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=client.id,
        action="created",
        after=client_json(client),
    )
    return client


async def update_client(
    session: AsyncSession, principal: Principal, client_id: str, changes: dict[str, Any]
) -> Client:
    client = await get_client(session, principal, client_id, for_change=True)
    before = client_json(client)
    currency = changes.get("currency")
    if currency is not None and currency != client.currency:
        await follow_client_currency(session, principal, client, currency)
    for field, value in changes.items():
        setattr(client, field, str(value) if field == "email" and value is not None else value)
    await session.flush()
    after = client_json(client)
    if after != before:
        record_change(
            session,
            workspace_id=principal.workspace_id,
            actor=principal.actor,
            entity_type=ENTITY,
            entity_id=client.id,
            action="updated",
            before=before,
            after=after,
        )
    return client


async def delete_client(session: AsyncSession, principal: Principal, client_id: str) -> None:
    client = await get_client(session, principal, client_id, for_change=True)
    projects = await session.scalar(
        select(func.count())
        .select_from(Project)
        .where(Project.workspace_id == principal.workspace_id, Project.client_id == client.id)
    )
    entries = await session.scalar(
        select(func.count())
        .select_from(TimeEntry)
        .where(TimeEntry.workspace_id == principal.workspace_id, TimeEntry.client_id == client.id)
    )
    refuse_delete(ENTITY, {"projects": projects or 0, "timeEntries": entries or 0})
    before = client_json(client)
    await session.delete(client)
    try:
        await session.flush()
    except IntegrityError:
        # A project or entry took the client after the counts (the foreign keys refuse it).
        raise HasDependents(
            "This client cannot be deleted: records were just added to it. Archive it instead."
        ) from None
    await record_deletion(
        session, workspace_id=principal.workspace_id, entity_type=ENTITY, entity_id=client.id
    )
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=client.id,
        action="deleted",
        before=before,
    )
    await session.flush()
