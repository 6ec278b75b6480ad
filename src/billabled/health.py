"""Liveness and readiness probes for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billabled.api.routing import ApiRoute
from billabled.errors import ServiceUnavailable
from billabled.middleware import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"], include_in_schema=False, route_class=ApiRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving requests."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """The process can reach its database; 503 when it cannot. `rateLimits` says where requests
    are counted now: `shared` (Redis) or `per-process` (no Redis configured, or Redis found
    unreachable: the API still answers, each process enforcing the limits alone). It does not
    call Redis itself, so a Redis that hangs cannot make every instance unready at once."""
    try:
        await request.app.state.database.ping()
    except Exception as exc:
        # As the API's 503 says it (`answer_unhandled`), without logging a traceback per probe.
        raise ServiceUnavailable(
            DATABASE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            requestId=request.scope["state"].get("request_id"),
        ) from exc
    return {"status": "ready", "rateLimits": request.app.state.platform.limiter.counting}
