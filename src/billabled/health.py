"""Liveness and readiness probes for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billabled.errors import ServiceUnavailable

router = APIRouter(tags=["health"], include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving requests."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """The process can reach its database; 503 when it cannot."""
    try:
        await request.app.state.database.ping()
    except Exception as exc:
        raise ServiceUnavailable("The database is not reachable.") from exc
    return {"status": "ready"}
