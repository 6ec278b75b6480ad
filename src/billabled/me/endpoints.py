"""`GET /me`: verify a key and see what it is bound to (any valid key)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from billabled.api.platform import API_PREFIX, rate_limit_of
from billabled.api.routing import ApiRoute
from billabled.auth.dependencies import AnyKey
from billabled.auth.scopes import sorted_scopes
from billabled.kit.jsonresponse import JsonResponse
from billabled.me.schemas import Me
from billabled.ratelimit import WINDOW_SECONDS

router = APIRouter(prefix=API_PREFIX, tags=["Me"], route_class=ApiRoute)


@router.get("/me", response_model=None, responses={200: {"model": Me}})
async def me(principal: AnyKey, request: Request) -> JsonResponse:
    """The workspace, key, creator and role behind this key, the scopes it was granted and those in
    effect now (granted ∩ the creator's current role), and its rate limit."""
    decision = rate_limit_of(request.scope)
    assert decision is not None
    return JsonResponse(
        {
            "workspace": {
                "id": principal.workspace_id,
                "name": principal.workspace_name,
                "plan": principal.plan,
                "currency": principal.currency,
                "timeZone": principal.time_zone,
                "weekStart": principal.week_start,
            },
            "key": {
                "id": principal.key_id,
                "name": principal.key_name,
                "prefix": principal.key_prefix,
                "expiresAt": principal.key_expires_at,
            },
            "user": {
                "id": principal.user_id,
                "name": principal.user_name,
                "email": principal.user_email,
                "role": principal.role.value,
            },
            "scopes": {
                "granted": sorted_scopes(principal.granted_scopes),
                "effective": sorted_scopes(principal.effective_scopes),
            },
            "rateLimit": {
                "limit": decision.limit,
                "remaining": decision.remaining,
                "resetAt": datetime.fromtimestamp(decision.reset_epoch, UTC),
                "windowSeconds": WINDOW_SECONDS,
            },
        }
    )
