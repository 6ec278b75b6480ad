"""SPEC §5 endpoints that are not built yet: each checks its scope like the real one will, then
answers 501 `not_implemented`, so integrators get a clear, stable answer instead of a 404 until
the endpoint lands (and the reference lists it with its scope)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends

from billabled.api.platform import API_PREFIX
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import require
from billabled.auth.scopes import Scope
from billabled.errors import NotImplementedYet
from billabled.kit.query import ANY_QUERY_ATTRIBUTE

router = APIRouter(prefix=API_PREFIX, route_class=ApiRoute)

# (method, path, scope, tag, operationId, what it will do). The operationId is the one the
# endpoint keeps when built: SDKs generated from the reference name their methods after it.
NOT_BUILT: tuple[tuple[str, str, Scope, str, str, str], ...] = (
    (
        "GET",
        "/timesheets",
        Scope.READ_APPROVALS,
        "Timesheets",
        "listTimesheets",
        "List timesheets.",
    ),
    (
        "POST",
        "/timesheets/{timesheet_id}/submit",
        Scope.WRITE_APPROVALS,
        "Timesheets",
        "submitTimesheet",
        "Submit a timesheet.",
    ),
    (
        "POST",
        "/timesheets/{timesheet_id}/approve",
        Scope.WRITE_APPROVALS,
        "Timesheets",
        "approveTimesheet",
        "Approve a timesheet.",
    ),
    (
        "POST",
        "/timesheets/{timesheet_id}/reject",
        Scope.WRITE_APPROVALS,
        "Timesheets",
        "rejectTimesheet",
        "Reject a timesheet.",
    ),
    (
        "GET",
        "/analytics",
        Scope.READ_ANALYTICS,
        "Analytics",
        "getAnalytics",
        "Hours and amounts, grouped.",
    ),
    ("GET", "/invoices", Scope.READ_INVOICES, "Invoices", "listInvoices", "List invoices."),
    (
        "POST",
        "/invoices",
        Scope.WRITE_INVOICES,
        "Invoices",
        "createInvoice",
        "Draft an invoice from approved time.",
    ),
    (
        "GET",
        "/invoices/{invoice_id}",
        Scope.READ_INVOICES,
        "Invoices",
        "getInvoice",
        "One invoice.",
    ),
    (
        "POST",
        "/invoices/{invoice_id}/submit",
        Scope.WRITE_INVOICES,
        "Invoices",
        "submitInvoice",
        "Submit for approval.",
    ),
    (
        "POST",
        "/invoices/{invoice_id}/approve",
        Scope.WRITE_INVOICES,
        "Invoices",
        "approveInvoice",
        "Approve.",
    ),
    (
        "POST",
        "/invoices/{invoice_id}/issue",
        Scope.WRITE_INVOICES,
        "Invoices",
        "issueInvoice",
        "Issue.",
    ),
    (
        "POST",
        "/invoices/{invoice_id}/mark-paid",
        Scope.WRITE_INVOICES,
        "Invoices",
        "markInvoicePaid",
        "Mark paid.",
    ),
    (
        "POST",
        "/invoices/{invoice_id}/void",
        Scope.WRITE_INVOICES,
        "Invoices",
        "voidInvoice",
        "Void.",
    ),
    (
        "GET",
        "/proof-packs",
        Scope.READ_PROOF_PACKS,
        "Proof packs",
        "getProofPack",
        "An issued invoice's proof pack.",
    ),
    (
        "GET",
        "/revenue-intelligence",
        Scope.READ_REVENUE_INTELLIGENCE,
        "Revenue intelligence",
        "getRevenueIntelligence",
        "Retainer risk, missing billable, recovery.",
    ),
    (
        "GET",
        "/export",
        Scope.EXPORT_DATA,
        "Exports",
        "exportData",
        "CSV or JSON export with integrity headers.",
    ),
    (
        "GET",
        "/webhooks",
        Scope.READ_WEBHOOKS,
        "Webhooks",
        "listWebhooks",
        "List webhook endpoints.",
    ),
    (
        "POST",
        "/webhooks",
        Scope.WRITE_WEBHOOKS,
        "Webhooks",
        "createWebhook",
        "Create a webhook endpoint (REST hook subscribe).",
    ),
    (
        "GET",
        "/webhooks/{webhook_id}",
        Scope.READ_WEBHOOKS,
        "Webhooks",
        "getWebhook",
        "One webhook endpoint.",
    ),
    (
        "DELETE",
        "/webhooks/{webhook_id}",
        Scope.WRITE_WEBHOOKS,
        "Webhooks",
        "deleteWebhook",
        "Delete (REST hook unsubscribe).",
    ),
    (
        "POST",
        "/webhooks/{webhook_id}/test",
        Scope.WRITE_WEBHOOKS,
        "Webhooks",
        "testWebhook",
        "Send a signed ping.",
    ),
    (
        "GET",
        "/webhooks/{webhook_id}/deliveries",
        Scope.READ_WEBHOOKS,
        "Webhooks",
        "listWebhookDeliveries",
        "Delivery log.",
    ),
    (
        "POST",
        "/webhook-deliveries/{delivery_id}/redeliver",
        Scope.WRITE_WEBHOOKS,
        "Webhooks",
        "redeliverWebhookDelivery",
        "Redeliver one event.",
    ),
    ("GET", "/events", Scope.READ_EVENTS, "Events", "listEvents", "The event log, newest first."),
)


def _not_built(what: str, path: str) -> Callable[..., Awaitable[Any]]:
    async def handler(**path_params: str) -> None:
        raise NotImplementedYet(f"{what} This endpoint is not available yet.")

    # Whatever the query string: the reference's parameters are not declared here.
    setattr(handler, ANY_QUERY_ATTRIBUTE, True)
    # The path's parameters, declared so the reference describes them (OpenAPI requires it).
    handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
            for name in re.findall(r"{(\w+)}", path)
        ]
    )
    return handler


def _route_name(method: str, path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
    return f"not_built_{method.lower()}_{slug}"


for _method, _path, _scope, _tag, _operation_id, _what in NOT_BUILT:
    router.add_api_route(
        _path,
        _not_built(_what, _path),
        methods=[_method],
        dependencies=[Depends(require(_scope))],
        tags=[_tag],
        summary=f"{_what} (not available yet)",
        description=f"{_what} Answers 501 `not_implemented` until it is built.",
        responses={501: {"description": "Not available yet."}},
        name=_route_name(_method, _path),
        operation_id=_operation_id,
        # A POST to a collection creates, as the built ones do (SPEC §4).
        status_code=201 if _method == "POST" and "{" not in _path else 200,
    )
