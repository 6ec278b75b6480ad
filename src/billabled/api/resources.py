"""What every resource's endpoints and services share: finding a record in the caller's
workspace (or 404), refusing to delete what others depend on (409), and the list tombstones."""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.errors import Conflict, NotFound
from billabled.kit.pagination import AnySelect, Tombstones
from billabled.models.tombstone import Tombstone

ModelT = TypeVar("ModelT")


class HasDependents(Conflict):
    code = "has_dependents"


# The reference's 409 of a DELETE refused by `refuse_delete`.
DELETE_REFUSED: Final[dict[int | str, dict[str, Any]]] = {
    409: {"description": "Records depend on it (`has_dependents`, with `dependents`): archive it."}
}


async def get_or_404(
    session: AsyncSession,
    model: type[ModelT],
    workspace_id: str,
    record_id: str,
    what: str,
    *,
    for_change: bool = False,
) -> ModelT:
    """The record with this id in this workspace; another workspace's id is simply not found.

    `for_change`: the caller will update or delete it, so the row is locked until the
    transaction ends (PostgreSQL; SQLite runs one writer at a time). Two changes to one record
    then run one after the other, each starting from the other's result: without the lock, both
    read the same row, and the later one overwrote the earlier's tags with a mix of both, or
    failed on a duplicate tag with a 500. `FOR UPDATE`, not `FOR NO KEY UPDATE`: it also waits
    for the requests that hold the row `FOR KEY SHARE` while they log time, create a project or
    a task on it, so what the change checks (a project's entries before it moves to another
    client) includes theirs.
    """
    statement = select(model).where(
        model.id == record_id,  # type: ignore[attr-defined]
        model.workspace_id == workspace_id,  # type: ignore[attr-defined]
    )
    if for_change:
        statement = statement.with_for_update()
    result = await session.execute(statement)
    record = result.scalar_one_or_none()
    if record is None:
        raise NotFound(f"No {what} {record_id!r} in this workspace.", resource=what)
    return record


def in_words(key: str) -> str:
    """A camelCase key as the words of a message: `scheduledWork` is "scheduled work"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).lower()


def refuse_delete(
    what: str, dependents: dict[str, int], remedy: str = "Archive it instead."
) -> None:
    """409 naming what depends on the record and what to do instead, or nothing when nothing
    depends on it. `dependents` is keyed as the answer's JSON is (camelCase: `timeEntries`)."""
    present = {name: count for name, count in dependents.items() if count}
    if not present:
        return
    listed = ", ".join(f"{count} {in_words(name)}" for name, count in present.items())
    raise HasDependents(
        f"This {what} cannot be deleted: {listed} depend on it. {remedy}", dependents=present
    )


def tombstones(
    workspace_id: str,
    entity_type: str,
    *,
    owner_user_id: str | None = None,
    where: ColumnElement[bool] | None = None,
) -> Tombstones:
    """The collection's deletions; with `owner_user_id`, only that user's records' (a member's
    view of a collection they see only their own part of); `where`, a further condition."""

    def build_query() -> AnySelect:
        query = select(Tombstone.entity_id, Tombstone.deleted_at).where(
            Tombstone.workspace_id == workspace_id, Tombstone.entity_type == entity_type
        )
        if owner_user_id is not None:
            query = query.where(Tombstone.owner_user_id == owner_user_id)
        if where is not None:
            query = query.where(where)
        return query

    return Tombstones(
        build_query,
        Tombstone.entity_id,
        Tombstone.deleted_at,
    )


def sent_fields(update: Any) -> dict[str, Any]:
    """The fields a PUT/PATCH body actually sent (an explicit null clears a field)."""
    sent: dict[str, Any] = update.model_dump(exclude_unset=True)
    return sent
