"""`/projects`: list (filters `clientId`, `status`, `billingType`), create, read, PUT/PATCH, delete.

A list page costs a constant number of queries whatever its size: the page, its count, and the
page's tag ids in one `IN (...)` query.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.resources import DELETE_REFUSED, sent_fields, tombstones
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import ProjectsRead, ProjectsWrite
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import ListParams, page_response, paginate
from billabled.kit.query import query_params
from billabled.kit.schema import Page
from billabled.models.project import BillingType, ProjectStatus
from billabled.models.project import Project as ProjectRow
from billabled.project import repository, service
from billabled.project.schemas import Project, ProjectCreate, ProjectUpdate, project_json
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Projects"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": ProjectRow.created_at,
    "updatedAt": ProjectRow.updated_at,
    "name": ProjectRow.name,
}
ProjectId = Annotated[str, Path(max_length=64, description="The project's id (proj_…).")]


class ProjectListQuery(ListParams):
    sortable = SORTABLE
    client_id: str | None = Field(
        None, alias="clientId", min_length=1, max_length=64, description="Only this client's."
    )
    status: ProjectStatus | None = Field(None, description="Only with this status.")
    billing_type: BillingType | None = Field(
        None, alias="billingType", description="Only with this billing type."
    )


@router.get("/projects", response_model=None, responses={200: {"model": Page[Project]}})
async def list_projects(
    principal: ProjectsRead,
    session: DbSession,
    params: Annotated[ProjectListQuery, Depends(query_params(ProjectListQuery))],
) -> JsonResponse:
    """The workspace's projects with their tag ids. Sort by `createdAt` (default), `updatedAt` or
    `name`."""
    query = repository.projects_query(
        principal.workspace_id,
        client_id=params.client_id,
        status=params.status.value if params.status else None,
        billing_type=params.billing_type.value if params.billing_type else None,
    )
    result = await paginate(
        session,
        query,
        params,
        id_column=ProjectRow.id,
        updated_at_column=ProjectRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.ENTITY),
    )
    live = [row for row in result.rows if not isinstance(row, dict)]
    tags = await repository.tag_ids_by_project(session, [row.id for row in live])
    items: list[Any] = [
        row if isinstance(row, dict) else project_json(row, tags[row.id]) for row in result.rows
    ]
    return page_response(result, items)


@router.post("/projects", response_model=None, status_code=201, responses={201: {"model": Project}})
async def create_project(
    principal: ProjectsWrite, session: DbSession, body: ProjectCreate
) -> JsonResponse:
    """Create a project for a client of the workspace; it bills in the client's currency.
    `retainer` is required with billingType `retainer` and refused otherwise; `fixedFeeMinor` is
    only for `fixed_fee`."""
    project, tag_ids = await service.create_project(session, principal, body)
    return JsonResponse(
        project_json(project, tag_ids),
        status_code=201,
        headers={"Location": f"{API_PREFIX}/projects/{project.id}"},
    )


@router.get("/projects/{project_id}", response_model=None, responses={200: {"model": Project}})
async def get_project(
    principal: ProjectsRead, session: DbSession, project_id: ProjectId
) -> JsonResponse:
    """One project."""
    project = await service.get_project(session, principal, project_id)
    return JsonResponse(project_json(project, await repository.tag_ids_of(session, project.id)))


async def update_project(
    principal: ProjectsWrite, session: DbSession, project_id: ProjectId, body: ProjectUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `null` clears an optional field.
    `retainer` and `tagIds` are replaced as a whole. A project with time entries cannot move to
    another client (409). Changing a rate never reprices logged time."""
    project, tag_ids = await service.update_project(
        session, principal, project_id, sent_fields(body)
    )
    return JsonResponse(project_json(project, tag_ids))


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/projects/{project_id}",
        update_project,
        methods=[_method],
        response_model=None,
        responses={200: {"model": Project}},
        name=f"{_method.lower()}_project",
    )


@router.delete(
    "/projects/{project_id}", response_model=None, status_code=204, responses=DELETE_REFUSED
)
async def delete_project(
    principal: ProjectsWrite, session: DbSession, project_id: ProjectId
) -> Response:
    """Delete a project nothing depends on; one with tasks, scheduled work or time entries is 409
    (archive it instead)."""
    await service.delete_project(session, principal, project_id)
    return Response(status_code=204)
