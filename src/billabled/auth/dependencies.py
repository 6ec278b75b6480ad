"""Typed principal dependencies (ARCHITECTURE convention 4).

`ClientsRead = Annotated[Principal, Depends(require(Scope.READ_CLIENTS))]`: a handler's signature
says which scope it needs; the platform layer has already authenticated the key, so this only
checks the scope (403 naming it) and records it for the OpenAPI reference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from billabled.api.platform import principal_of
from billabled.auth.authority import rely_on
from billabled.auth.principal import Principal
from billabled.auth.scopes import Scope
from billabled.errors import Forbidden, Unauthorized


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


# The scope each dependency checks, read by the OpenAPI builder to document every endpoint.
SCOPE_ATTRIBUTE = "__billabled_scope__"


def _principal(request: Request) -> Principal:
    principal = principal_of(request.scope)
    if principal is None:  # only if a route is mounted outside the platform layer
        raise Unauthorized()
    return principal


async def any_valid_key(request: Request) -> Principal:
    return _principal(request)


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def check(request: Request) -> Principal:
        principal = _principal(request)
        rely_on(scope.value)
        if not principal.has(scope):
            granted = scope in principal.granted_scopes
            why = (
                f"the key's creator's role ({principal.role.value}) does not allow it"
                if granted
                else "the key was not granted it"
            )
            raise InsufficientScope(
                f"This request needs the {scope.value} scope: {why}.", requiredScope=scope.value
            )
        return principal

    setattr(check, SCOPE_ATTRIBUTE, scope)
    check.__name__ = f"require_{scope.name.lower()}"
    return check


AnyKey = Annotated[Principal, Depends(any_valid_key)]
ClientsRead = Annotated[Principal, Depends(require(Scope.READ_CLIENTS))]
ClientsWrite = Annotated[Principal, Depends(require(Scope.WRITE_CLIENTS))]
ProjectsRead = Annotated[Principal, Depends(require(Scope.READ_PROJECTS))]
ProjectsWrite = Annotated[Principal, Depends(require(Scope.WRITE_PROJECTS))]
TasksRead = Annotated[Principal, Depends(require(Scope.READ_TASKS))]
TasksWrite = Annotated[Principal, Depends(require(Scope.WRITE_TASKS))]
TagsRead = Annotated[Principal, Depends(require(Scope.READ_TAGS))]
TagsWrite = Annotated[Principal, Depends(require(Scope.WRITE_TAGS))]
ScheduleRead = Annotated[Principal, Depends(require(Scope.READ_SCHEDULE))]
ScheduleWrite = Annotated[Principal, Depends(require(Scope.WRITE_SCHEDULE))]
TimeRead = Annotated[Principal, Depends(require(Scope.READ_TIME))]
TimeWrite = Annotated[Principal, Depends(require(Scope.WRITE_TIME))]
UsersRead = Annotated[Principal, Depends(require(Scope.READ_USERS))]
ApprovalsRead = Annotated[Principal, Depends(require(Scope.READ_APPROVALS))]
ApprovalsWrite = Annotated[Principal, Depends(require(Scope.WRITE_APPROVALS))]
AnalyticsRead = Annotated[Principal, Depends(require(Scope.READ_ANALYTICS))]
InvoicesRead = Annotated[Principal, Depends(require(Scope.READ_INVOICES))]
InvoicesWrite = Annotated[Principal, Depends(require(Scope.WRITE_INVOICES))]
ProofPacksRead = Annotated[Principal, Depends(require(Scope.READ_PROOF_PACKS))]
RevenueRead = Annotated[Principal, Depends(require(Scope.READ_REVENUE_INTELLIGENCE))]
DataExport = Annotated[Principal, Depends(require(Scope.EXPORT_DATA))]
WebhooksRead = Annotated[Principal, Depends(require(Scope.READ_WEBHOOKS))]
WebhooksWrite = Annotated[Principal, Depends(require(Scope.WRITE_WEBHOOKS))]
EventsRead = Annotated[Principal, Depends(require(Scope.READ_EVENTS))]
