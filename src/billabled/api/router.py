"""The Integration API v1: every resource router. Each router carries the `/api/v1` prefix itself,
so its routes know their full path template (for usage records and the reference).

The app adds their routes to its own route list (app.py): FastAPI matches included routers
through a layer of bookkeeping per candidate route that cost a measurable share of a small
request (issue #5)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from billabled.api.not_built import router as not_built_router
from billabled.client.endpoints import router as client_router
from billabled.me.endpoints import router as me_router
from billabled.project.endpoints import router as project_router
from billabled.schedule.endpoints import router as schedule_router
from billabled.tag.endpoints import router as tag_router
from billabled.task.endpoints import router as task_router
from billabled.time_entry.endpoints import router as time_entry_router
from billabled.user.endpoints import router as user_router

# Matched in this order on every request, so the busiest collection comes first (the paths of
# different routers never overlap, so the order changes nothing else).
API_ROUTERS: tuple[APIRouter, ...] = (
    time_entry_router,
    me_router,
    user_router,
    client_router,
    project_router,
    task_router,
    tag_router,
    schedule_router,
    not_built_router,
)


def api_routes() -> list[APIRoute]:
    """Every route of the API, with its full path template."""
    return [
        route for router in API_ROUTERS for route in router.routes if isinstance(route, APIRoute)
    ]
