"""`/users`: the workspace's members, read only (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import UsersRead
from billabled.errors import NotFound
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import ListParams, Tombstones, page_response, paginate
from billabled.kit.query import query_params
from billabled.kit.schema import Page
from billabled.models.membership import Membership, Role
from billabled.models.tombstone import Tombstone
from billabled.models.user import User as UserRow
from billabled.transaction import DbSession
from billabled.user import repository
from billabled.user.schemas import User, user_json

router = APIRouter(prefix=API_PREFIX, tags=["Users"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": Membership.created_at,
    "updatedAt": Membership.updated_at,
    "name": UserRow.name,
    "email": UserRow.email,
}


class UserListQuery(ListParams):
    sortable = SORTABLE
    role: Role | None = Field(None, description="Only members with this role.")


@router.get("/users", response_model=None, responses={200: {"model": Page[User]}})
async def list_users(
    principal: UsersRead,
    session: DbSession,
    params: Annotated[UserListQuery, Depends(query_params(UserListQuery))],
) -> JsonResponse:
    """Workspace members with their role and weekly capacity (no secrets). Cost rates are shown to
    managers and above only; for members they are null."""
    result = await paginate(
        session,
        repository.members_query(
            principal.workspace_id, params.role.value if params.role else None
        ),
        params,
        id_column=UserRow.id,
        updated_at_column=Membership.updated_at,
        tombstones=Tombstones(
            lambda: repository.removed_members_query(principal.workspace_id),
            Tombstone.entity_id,
            Tombstone.deleted_at,
        ),
    )
    show_cost = principal.is_manager_or_above
    items: list[Any] = [
        row if isinstance(row, dict) else user_json(row, principal.currency, show_cost=show_cost)
        for row in result.rows
    ]
    return page_response(result, items)


@router.get("/users/{user_id}", response_model=None, responses={200: {"model": User}})
async def get_user(
    principal: UsersRead,
    session: DbSession,
    user_id: Annotated[str, Path(max_length=64)],
) -> JsonResponse:
    """One member of the workspace."""
    row = (
        await session.execute(
            repository.members_query(principal.workspace_id).where(UserRow.id == user_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"No user {user_id!r} in this workspace.", resource="user")
    return JsonResponse(user_json(row, principal.currency, show_cost=principal.is_manager_or_above))
