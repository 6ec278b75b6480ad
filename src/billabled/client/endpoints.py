"""`/clients`, also served at `/customers` (same handlers, same scopes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from billabled.api.platform import API_PREFIX
from billabled.api.resources import DELETE_REFUSED, sent_fields, tombstones
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import ClientsRead, ClientsWrite
from billabled.client import service
from billabled.client.schemas import Client, ClientCreate, ClientUpdate, client_json
from billabled.kit.jsonresponse import JsonResponse
from billabled.kit.pagination import ListParams, page_response, paginate
from billabled.kit.query import QueryBool, query_params
from billabled.kit.schema import Page
from billabled.models.client import Client as ClientRow
from billabled.transaction import DbSession

router = APIRouter(prefix=API_PREFIX, tags=["Clients"], route_class=ApiRoute)

SORTABLE = {
    "createdAt": ClientRow.created_at,
    "updatedAt": ClientRow.updated_at,
    "name": ClientRow.name,
}
ClientId = Annotated[str, Path(max_length=64, description="The client's id (cli_…).")]


class ClientListQuery(ListParams):
    sortable = SORTABLE
    archived: QueryBool | None = Field(None, description="Only archived (true) or active (false).")
    external_ref: str | None = Field(None, alias="externalRef", min_length=1, max_length=200)


async def list_clients(
    principal: ClientsRead,
    session: DbSession,
    params: Annotated[ClientListQuery, Depends(query_params(ClientListQuery))],
) -> JsonResponse:
    """The workspace's clients. Sort by `createdAt` (default), `updatedAt` or `name`."""
    query = ClientRow.__table__.select().where(ClientRow.workspace_id == principal.workspace_id)
    if params.archived is not None:
        query = query.where(ClientRow.archived.is_(params.archived))
    if params.external_ref is not None:
        query = query.where(ClientRow.external_ref == params.external_ref)
    result = await paginate(
        session,
        query,
        params,
        id_column=ClientRow.id,
        updated_at_column=ClientRow.updated_at,
        tombstones=tombstones(principal.workspace_id, service.ENTITY),
    )
    items: list[Any] = [row if isinstance(row, dict) else client_json(row) for row in result.rows]
    return page_response(result, items)


async def create_client(
    principal: ClientsWrite, session: DbSession, body: ClientCreate
) -> JsonResponse:
    """Create a client. Its currency defaults to the workspace's."""
    client = await service.create_client(session, principal, body)
    return JsonResponse(
        client_json(client),
        status_code=201,
        headers={"Location": f"{API_PREFIX}/clients/{client.id}"},
    )


async def get_client(
    principal: ClientsRead, session: DbSession, client_id: ClientId
) -> JsonResponse:
    """One client."""
    return JsonResponse(client_json(await service.get_client(session, principal, client_id)))


async def update_client(
    principal: ClientsWrite, session: DbSession, client_id: ClientId, body: ClientUpdate
) -> JsonResponse:
    """Change the fields sent (PUT and PATCH both do this); `null` clears an optional field."""
    client = await service.update_client(session, principal, client_id, sent_fields(body))
    return JsonResponse(client_json(client))


async def delete_client(
    principal: ClientsWrite, session: DbSession, client_id: ClientId
) -> Response:
    """Delete a client nothing depends on; one with projects or time is 409 (archive it instead)."""
    await service.delete_client(session, principal, client_id)
    return Response(status_code=204)


for _base in ("/clients", "/customers"):
    router.add_api_route(
        _base,
        list_clients,
        methods=["GET"],
        response_model=None,
        responses={200: {"model": Page[Client]}},
        name=f"list_{_base[1:]}",
    )
    router.add_api_route(
        _base,
        create_client,
        methods=["POST"],
        response_model=None,
        status_code=201,
        responses={201: {"model": Client}},
        name=f"create_{_base[1:-1]}",
    )
    router.add_api_route(
        _base + "/{client_id}",
        get_client,
        methods=["GET"],
        response_model=None,
        responses={200: {"model": Client}},
        name=f"get_{_base[1:-1]}",
    )
    for _method in ("PUT", "PATCH"):
        router.add_api_route(
            _base + "/{client_id}",
            update_client,
            methods=[_method],
            response_model=None,
            responses={200: {"model": Client}},
            name=f"{_method.lower()}_{_base[1:-1]}",
        )
    router.add_api_route(
        _base + "/{client_id}",
        delete_client,
        methods=["DELETE"],
        response_model=None,
        status_code=204,
        responses=DELETE_REFUSED,
        name=f"delete_{_base[1:-1]}",
    )
