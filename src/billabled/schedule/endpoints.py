"""`/schedule`: scheduled work (SPEC §3, §5).

Lists filter by `from`/`to` (inclusive calendar dates), `userId` and `projectId`, each backed by
an index that starts with `workspace_id`; a page costs the same few queries whatever its size.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.resources import sent_fields, tombstones
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import ScheduleRead, ScheduleWrite
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import (
    DateWindowParams,
    FewFirst,
    page_response,
    paginate,
    sort_field,
)
from billabled.kit.query import query_params
from billabled.kit.schema import Page
from billabled.models.schedule import ScheduledWork as ScheduledWorkRow
from billabled.schedule import service
from billabled.schedule.schemas import (
    ScheduledWork,
    ScheduledWorkCreate,
    ScheduledWorkUpdate,
    schedule_json,
)
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Schedule"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": ScheduledWorkRow.created_at,
    "updatedAt": ScheduledWorkRow.updated_at,
    "date": ScheduledWorkRow.work_date,
}
ScheduledWorkId = Annotated[
    str, Path(max_length=64, description="The scheduled work's id (sch_…).")
]


class ScheduleListQuery(DateWindowParams):
    sortable = SORTABLE
    user_id: str | None = Field(
        None, alias="userId", min_length=1, max_length=64, description="Only this member's work."
    )
    project_id: str | None = Field(
        None,
        alias="projectId",
        min_length=1,
        max_length=64,
        description="Only work on this project.",
    )


@router.get("/schedule", response_model=None, responses={200: {"model": Page[ScheduledWork]}})
async def list_schedule(
    principal: ScheduleRead,
    session: DbSession,
    params: Annotated[ScheduleListQuery, Depends(query_params(ScheduleListQuery))],
) -> JsonResponse:
    """The workspace's scheduled work. Sort by `createdAt` (default), `updatedAt` or `date`."""
    date_from, date_to = params.date_from, params.date_to
    query = ScheduledWorkRow.__table__.select().where(
        ScheduledWorkRow.workspace_id == principal.workspace_id
    )
    if date_from is not None:
        query = query.where(ScheduledWorkRow.work_date >= date_from)
    if date_to is not None:
        query = query.where(ScheduledWorkRow.work_date <= date_to)
    if params.user_id is not None:
        query = query.where(ScheduledWorkRow.user_id == params.user_id)
    if params.project_id is not None:
        query = query.where(ScheduledWorkRow.project_id == params.project_id)
    # A date window follows the creation order: when few rows match, read them through the date
    # index and sort them (`kit.pagination.FEW_ROWS`), unless the order is the date index's own.
    dated = date_from is not None or date_to is not None
    by_date = sort_field(params.sort) == "date"
    result = await paginate(
        session,
        query,
        params,
        id_column=ScheduledWorkRow.id,
        updated_at_column=ScheduledWorkRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.ENTITY),
        few_first=FewFirst.TIME_FOLLOWING if dated and not by_date else None,
    )
    items: list[Any] = [row if isinstance(row, dict) else schedule_json(row) for row in result.rows]
    return page_response(result, items)


@router.post(
    "/schedule", response_model=None, status_code=201, responses={201: {"model": ScheduledWork}}
)
async def create_scheduled_work(
    principal: ScheduleWrite, session: DbSession, body: ScheduledWorkCreate
) -> JsonResponse:
    """Schedule work for a member on an active project (and optionally one of its tasks)."""
    work = await service.create_scheduled_work(session, principal, body)
    return JsonResponse(
        schedule_json(work),
        status_code=201,
        headers={"Location": f"{API_PREFIX}/schedule/{work.id}"},
    )


@router.get("/schedule/{work_id}", response_model=None, responses={200: {"model": ScheduledWork}})
async def get_scheduled_work(
    principal: ScheduleRead, session: DbSession, work_id: ScheduledWorkId
) -> JsonResponse:
    """One piece of scheduled work."""
    return JsonResponse(
        schedule_json(await service.get_scheduled_work(session, principal, work_id))
    )


async def update_scheduled_work(
    principal: ScheduleWrite,
    session: DbSession,
    work_id: ScheduledWorkId,
    body: ScheduledWorkUpdate,
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `null` clears `taskId` or `note`.

    A new `projectId` must be an active project; a task (kept or sent) must be in the project."""
    work = await service.update_scheduled_work(session, principal, work_id, sent_fields(body))
    return JsonResponse(schedule_json(work))


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/schedule/{work_id}",
        update_scheduled_work,
        methods=[_method],
        response_model=None,
        responses={200: {"model": ScheduledWork}},
        name=f"{_method.lower()}_scheduled_work",
    )


@router.delete("/schedule/{work_id}", response_model=None, status_code=204)
async def delete_scheduled_work(
    principal: ScheduleWrite, session: DbSession, work_id: ScheduledWorkId
) -> Response:
    """Delete scheduled work (nothing depends on it); lists with `includeDeleted=true` show its
    tombstone."""
    await service.delete_scheduled_work(session, principal, work_id)
    return Response(status_code=204)
