"""`/tags`: the workspace's tags — list (filter `name`, exact ignoring case), create, read,
PUT/PATCH, delete."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BeforeValidator, Field, StringConstraints

from billabled.api.platform import API_PREFIX
from billabled.api.resources import DELETE_REFUSED, sent_fields, tombstones
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import TagsRead, TagsWrite
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import ListParams, page_response, paginate
from billabled.kit.query import query_params
from billabled.kit.schema import Page
from billabled.kit.text import nfc
from billabled.models.tag import Tag as TagRow
from billabled.tag import service
from billabled.tag.schemas import Tag, TagCreate, TagUpdate, tag_json
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Tags"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": TagRow.created_at,
    "updatedAt": TagRow.updated_at,
    "name": TagRow.name,
}
TagId = Annotated[str, Path(max_length=64, description="The tag's id (tag_…).")]


class TagListQuery(ListParams):
    sortable = SORTABLE
    # Composed (NFC) and trimmed before its length is checked, as names are when stored:
    # `name=%20` was a filter that matched nothing (docs/api.md: an empty filter is a 422).
    name: Annotated[str, StringConstraints(strip_whitespace=True), BeforeValidator(nfc)] | None = (
        Field(
            None,
            min_length=1,
            max_length=100,
            description="Only the tag with this name (any case).",
        )
    )


@router.get("/tags", response_model=None, responses={200: {"model": Page[Tag]}})
async def list_tags(
    principal: TagsRead,
    session: DbSession,
    params: Annotated[TagListQuery, Depends(query_params(TagListQuery))],
) -> JsonResponse:
    """The workspace's tags. Sort by `createdAt` (default), `updatedAt` or `name`."""
    if params.name is None:
        query = TagRow.__table__.select().where(TagRow.workspace_id == principal.workspace_id)
    else:
        query = service.same_name(principal.workspace_id, params.name)
    result = await paginate(
        session,
        query,
        params,
        id_column=TagRow.id,
        updated_at_column=TagRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.ENTITY),
    )
    items: list[Any] = [row if isinstance(row, dict) else tag_json(row) for row in result.rows]
    return page_response(result, items)


# Named for the SDKs generated from the reference (a helper's SDK audit: only the shared 409 was).
_NAME_TAKEN: Final[dict[int | str, dict[str, Any]]] = {
    409: {
        "description": "Another tag has this name, ignoring case (`tag_name_taken`, with "
        "`existingId`)."
    }
}


@router.post(
    "/tags",
    response_model=None,
    status_code=201,
    responses={201: {"model": Tag}, **_NAME_TAKEN},
)
async def create_tag(principal: TagsWrite, session: DbSession, body: TagCreate) -> JsonResponse:
    """Create a tag. Its name must be new in the workspace, ignoring case (409
    `tag_name_taken`)."""
    tag = await service.create_tag(session, principal, body)
    return JsonResponse(
        tag_json(tag), status_code=201, headers={"Location": f"{API_PREFIX}/tags/{tag.id}"}
    )


@router.get("/tags/{tag_id}", response_model=None, responses={200: {"model": Tag}})
async def get_tag(principal: TagsRead, session: DbSession, tag_id: TagId) -> JsonResponse:
    """One tag."""
    return JsonResponse(tag_json(await service.get_tag(session, principal, tag_id)))


async def update_tag(
    principal: TagsWrite, session: DbSession, tag_id: TagId, body: TagUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `color: null` clears the color."""
    return JsonResponse(
        tag_json(await service.update_tag(session, principal, tag_id, sent_fields(body)))
    )


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/tags/{tag_id}",
        update_tag,
        methods=[_method],
        response_model=None,
        responses={200: {"model": Tag}, **_NAME_TAKEN},
        name=f"{_method.lower()}_tag",
    )


@router.delete("/tags/{tag_id}", response_model=None, status_code=204, responses=DELETE_REFUSED)
async def delete_tag(principal: TagsWrite, session: DbSession, tag_id: TagId) -> Response:
    """Delete a tag no project or time entry uses; one in use is 409."""
    await service.delete_tag(session, principal, tag_id)
    return Response(status_code=204)
