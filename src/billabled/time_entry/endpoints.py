"""`/time-entries`: list (filters `from`, `to`, `userId`, `projectId`, `clientId`, `billable`,
`status`, `invoiced`), log, read, PUT/PATCH, delete; `/time-entries/bulk` logs up to 500 at once.

A member's key sees and works on its creator's own time only; managers and above on everyone's.
A list page costs a constant number of queries whatever its size: the page, its count (page
mode), and the page's tag ids in one `IN (...)` query.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.resources import sent_fields
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import TimeRead, TimeWrite
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import DateWindowParams, page_response, paginate
from billabled.kit.query import QueryBool, query_params
from billabled.kit.schema import Page
from billabled.models.time_entry import TimeEntry as TimeEntryRow
from billabled.models.time_entry import TimeEntryStatus
from billabled.time_entry import service
from billabled.time_entry.schemas import (
    TimeEntry,
    TimeEntryBulkCreate,
    TimeEntryBulkCreated,
    TimeEntryCreate,
    TimeEntryUpdate,
    time_entry_row_json,
)
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Time entries"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": TimeEntryRow.created_at,
    "updatedAt": TimeEntryRow.updated_at,
    "date": TimeEntryRow.work_date,
}
EntryId = Annotated[str, Path(max_length=64, description="The time entry's id (te_…).")]


class TimeEntryListQuery(DateWindowParams):
    sortable = SORTABLE
    user_id: str | None = Field(
        None, alias="userId", min_length=1, max_length=64, description="Only this member's."
    )
    project_id: str | None = Field(
        None, alias="projectId", min_length=1, max_length=64, description="Only this project's."
    )
    client_id: str | None = Field(
        None, alias="clientId", min_length=1, max_length=64, description="Only this client's."
    )
    billable: QueryBool | None = Field(None, description="Only billable (true) or not.")
    status: TimeEntryStatus | None = Field(None, description="Only with this status.")
    invoiced: QueryBool | None = Field(
        None, description="Only invoiced (true) or not yet invoiced (false)."
    )


@router.get("/time-entries", response_model=None, responses={200: {"model": Page[TimeEntry]}})
async def list_time_entries(
    principal: TimeRead,
    session: DbSession,
    params: Annotated[TimeEntryListQuery, Depends(query_params(TimeEntryListQuery))],
) -> JsonResponse:
    """Logged time with its tag ids; `from`/`to` are inclusive and apply to `date`. Sort by
    `createdAt` (default), `updatedAt` or `date`. A member's key lists its creator's own time."""
    query = service.entries_query(
        principal,
        date_from=params.date_from,
        date_to=params.date_to,
        user_id=params.user_id,
        project_id=params.project_id,
        client_id=params.client_id,
        billable=params.billable,
        status=params.status,
        invoiced=params.invoiced,
    )
    result = await paginate(
        session,
        query.template,
        params,
        query_values=query.values,
        few_first=query.few_first(params.sort),
        id_column=TimeEntryRow.id,
        updated_at_column=TimeEntryRow.updated_at,
        tombstones=service.entry_tombstones(principal),
    )
    live = [row.id for row in result.rows if not isinstance(row, dict)]
    tags = await service.tag_ids_by_entry(session, live)
    items: list[Any] = [
        row if isinstance(row, dict) else time_entry_row_json(row, tags[row.id])
        for row in result.rows
    ]
    return page_response(result, items)


@router.post(
    "/time-entries", response_model=None, status_code=201, responses={201: {"model": TimeEntry}}
)
async def create_time_entry(
    principal: TimeWrite, session: DbSession, body: TimeEntryCreate
) -> JsonResponse:
    """Log time with `start` + `end`, or `date` + `durationSeconds`. The rate in force now is
    kept with the entry (`rateMinor`); later rate changes never reprice it. Members log their own
    time; managers and above may pass another member's `userId`."""
    created = await service.create_entry(session, principal, body)
    return JsonResponse(
        created, status_code=201, headers={"Location": f"{API_PREFIX}/time-entries/{created['id']}"}
    )


@router.post(
    "/time-entries/bulk",
    response_model=None,
    status_code=201,
    responses={
        201: {"model": TimeEntryBulkCreated},
        422: {
            "description": "An item is invalid (`bulk_invalid`, with `errors: [{index, errors}]` "
            "for every failing item; nothing was created), or the list is empty or longer "
            "than 500."
        },
    },
)
async def bulk_create_time_entries(
    principal: TimeWrite, session: DbSession, body: TimeEntryBulkCreate
) -> JsonResponse:
    """Log up to 500 entries atomically: every item is checked first, and if any fails nothing
    is created and the answer lists every failing item by index. The same rules as a single
    POST apply to each item."""
    created = await service.create_entries(session, principal, body.items)
    return JsonResponse({"items": created}, status_code=201)


@router.get("/time-entries/{entry_id}", response_model=None, responses={200: {"model": TimeEntry}})
async def get_time_entry(
    principal: TimeRead, session: DbSession, entry_id: EntryId
) -> JsonResponse:
    """One entry. Another member's entry is a 404 for a member's key."""
    return JsonResponse(await service.get_entry_json(session, principal, entry_id))


async def update_time_entry(
    principal: TimeWrite, session: DbSession, entry_id: EntryId, body: TimeEntryUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this). Submitted, approved or invoiced time
    is locked (409 `locked`). Moving it to another project takes that project's current rate;
    giving it to another member takes the new member's rate where the member's rate priced it
    when it was logged (or nothing did); an entry with no rate takes today's when it becomes
    billable. Nothing else reprices it: not a task, the billable flag or a rate changed since."""
    return JsonResponse(await service.update_entry(session, principal, entry_id, sent_fields(body)))


for _method in ("PUT", "PATCH"):
    router.add_api_route(
        "/time-entries/{entry_id}",
        update_time_entry,
        methods=[_method],
        response_model=None,
        responses={200: {"model": TimeEntry}, 409: {"description": "The entry is locked."}},
        name=f"{_method.lower()}_time_entry",
    )


@router.delete(
    "/time-entries/{entry_id}",
    response_model=None,
    status_code=204,
    responses={409: {"description": "The entry is locked."}},
)
async def delete_time_entry(
    principal: TimeWrite, session: DbSession, entry_id: EntryId
) -> Response:
    """Delete an open, uninvoiced entry (submitted, approved or invoiced time is 409 `locked`);
    it leaves a tombstone for `includeDeleted` syncs."""
    await service.delete_entry(session, principal, entry_id)
    return Response(status_code=204)
