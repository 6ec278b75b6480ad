"""The application factory: settings in, ASGI app out.

The schema is not created here: `billabled serve` and `billabled migrate` apply migrations before
any app starts, and tests migrate their databases the same way.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from billabled import __version__, health
from billabled.api.docs import install_docs
from billabled.api.openapi import install_openapi
from billabled.api.platform import ApiPlatform, ApiPlatformMiddleware
from billabled.api.router import API_ROUTERS, api_routes
from billabled.api.routing import reserve_literal_paths
from billabled.compression import CompressionMiddleware
from billabled.config import Settings
from billabled.db import Database, create_app_engine
from billabled.error_handlers import install_error_handlers
from billabled.kit.jsonresponse import JsonResponse
from billabled.logging import configure_logging
from billabled.middleware import RequestContextMiddleware
from billabled.transaction import TransactionMiddleware

# A collection of the youngest generation after this many net allocations (CPython: 700).
GC_YOUNG_THRESHOLD: Final = 20_000


def tune_garbage_collector() -> None:
    """Keep the garbage collector off the request path (issue #5). Under a list load the default
    settings ran ~170 young collections a second and a full collection every ~0.7 s that walked
    every object the app holds (SQLAlchemy, pydantic and FastAPI structures, caches): up to 110 ms
    with the event loop stopped, and ~17 % of the process's CPU. Objects alive once the app has
    started are frozen out of the collector's walks, and young collections wait for 20,000 net
    allocations: requests free almost everything they allocate by reference counting, so cycles
    are still collected, just in fewer and shorter passes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Here, not only in the CLI: each `--workers` process builds its app from scratch.
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(
            create_app_engine(settings),
            sync_clock_margin_seconds=settings.sync_clock_margin_seconds,
        )
        platform = await ApiPlatform.build(settings, database, api_routes())
        app.state.database = database
        app.state.platform = platform
        platform.usage.start()
        tune_garbage_collector()
        try:
            yield
        finally:
            await platform.close()
            await database.dispose()
            # What was frozen may be collected again once the app is gone (tests start many).
            gc.unfreeze()

    app = FastAPI(
        title="Billabled Integration API",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JsonResponse,
        # install_openapi/install_docs serve the reference at /api/v1/openapi.json, /docs and
        # /redoc from local assets (FastAPI's defaults would load them from a CDN).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry support looks up the global providers on every request
        # to see whether any is configured (~5 µs); we export none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # `/api/v1/clients/` is a 404 in the envelope, not a 307 to an address built from the
        # request's own Host header.
        redirect_slashes=False,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Added innermost first: Compression → RequestContext → ApiPlatform → Transaction → routes.
    app.add_middleware(TransactionMiddleware, database_getter=lambda: app.state.database)
    app.add_middleware(ApiPlatformMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(CompressionMiddleware)
    # Health and API routes go into the app's own route list rather than through include_router:
    # FastAPI matches an included router through a layer of per-candidate scope bookkeeping that
    # cost ~0.7 µs a route on every request (issue #5). Each router carries its prefix, tags and
    # schema flag itself, so nothing an inclusion would add is lost (the reference is identical).
    for router in (health.router, *API_ROUTERS):
        app.router.routes.extend(router.routes)
    reserve_literal_paths(app.router.routes)
    install_openapi(app)
    install_docs(app)
    return app
