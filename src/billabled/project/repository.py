"""Queries on projects and what hangs off them. Every query is bounded by the workspace: either it
filters by `workspace_id` or it starts from project ids already found in the workspace
(`project_tag` has no workspace column; its rows are reached through their project)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.kit.pagination import AnySelect
from billabled.kit.sql import one_of
from billabled.models.client import Client
from billabled.models.project import Project
from billabled.models.schedule import ScheduledWork
from billabled.models.tag import ProjectTag, Tag
from billabled.models.task import Task
from billabled.models.time_entry import TimeEntry


def projects_query(
    workspace_id: str,
    *,
    client_id: str | None = None,
    status: str | None = None,
    billing_type: str | None = None,
) -> AnySelect:
    """The workspace's projects as plain rows (no ORM objects), ready for `paginate`. Each filter
    is served by an index starting with `workspace_id` (client_id; status, billing_type)."""
    query = Project.__table__.select().where(Project.workspace_id == workspace_id)
    if client_id is not None:
        query = query.where(Project.client_id == client_id)
    if status is not None:
        query = query.where(Project.status == status)
    if billing_type is not None:
        query = query.where(Project.billing_type == billing_type)
    return query


async def tag_ids_by_project(
    session: AsyncSession, project_ids: Sequence[str]
) -> dict[str, list[str]]:
    """The tag ids of each project in one query for the whole page, in id order."""
    if not project_ids:
        return {}
    dialect = (await session.connection()).dialect.name
    rows = await session.execute(
        select(ProjectTag.project_id, ProjectTag.tag_id)
        .where(one_of(ProjectTag.project_id, project_ids, dialect))
        .order_by(ProjectTag.project_id, ProjectTag.tag_id)
    )
    found: dict[str, list[str]] = {project_id: [] for project_id in project_ids}
    for project_id, tag_id in rows:
        found[project_id].append(tag_id)
    return found


async def tag_ids_of(session: AsyncSession, project_id: str) -> list[str]:
    return (await tag_ids_by_project(session, [project_id]))[project_id]


async def replace_tags(
    session: AsyncSession, project_id: str, current: Collection[str], wanted: Collection[str]
) -> None:
    """Make the project's tag set `wanted` (only the difference is written)."""
    removed = set(current) - set(wanted)
    added = sorted(set(wanted) - set(current))
    if removed:
        await session.execute(
            delete(ProjectTag).where(
                ProjectTag.project_id == project_id, ProjectTag.tag_id.in_(removed)
            )
        )
    if added:
        await session.execute(
            insert(ProjectTag), [{"project_id": project_id, "tag_id": tag} for tag in added]
        )


async def remove_all_tags(session: AsyncSession, project_id: str) -> None:
    await session.execute(delete(ProjectTag).where(ProjectTag.project_id == project_id))


async def get_client(session: AsyncSession, workspace_id: str, client_id: str) -> Client | None:
    """The client a project is about to refer to, read FOR KEY SHARE until commit (see
    `unknown_tag_ids`)."""
    result = await session.execute(
        select(Client)
        .where(Client.id == client_id, Client.workspace_id == workspace_id)
        .with_for_update(read=True, key_share=True)
    )
    return result.scalar_one_or_none()


async def unknown_tag_ids(
    session: AsyncSession, workspace_id: str, tag_ids: Collection[str]
) -> list[str]:
    """Those of `tag_ids` that are not tags of the workspace (another workspace's included)."""
    if not tag_ids:
        return []
    found = set(
        (
            await session.scalars(
                select(Tag.id)
                .where(Tag.workspace_id == workspace_id, Tag.id.in_(set(tag_ids)))
                # Held until commit: a concurrent tag delete waits (then refuses with a 409), or
                # we wait for it and report the tag missing — never a foreign-key 500.
                .with_for_update(read=True, key_share=True)
            )
        ).all()
    )
    return sorted(set(tag_ids) - found)


async def count_time_entries(
    session: AsyncSession, workspace_id: str, project_id: str, *, billable_only: bool = False
) -> int:
    query = (
        select(func.count())
        .select_from(TimeEntry)
        .where(TimeEntry.workspace_id == workspace_id, TimeEntry.project_id == project_id)
    )
    if billable_only:
        query = query.where(TimeEntry.billable.is_(True))
    return int(await session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class Dependents:
    tasks: int
    scheduled_work: int
    time_entries: int


async def count_dependents(session: AsyncSession, workspace_id: str, project_id: str) -> Dependents:
    """What refers to a project, counted in one round trip (each count on a workspace index)."""

    def counted(model: type[Task] | type[ScheduledWork] | type[TimeEntry]) -> AnySelect:
        return (
            select(func.count())
            .select_from(model)
            .where(model.workspace_id == workspace_id, model.project_id == project_id)
        )

    row = (
        await session.execute(
            select(
                counted(Task).scalar_subquery(),
                counted(ScheduledWork).scalar_subquery(),
                counted(TimeEntry).scalar_subquery(),
            )
        )
    ).one()
    return Dependents(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))
