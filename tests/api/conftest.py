"""An app with a few extra /api/v1 routes that exist only in tests: a POST that creates a record
(an outbox event), can be slowed down, refused or crashed — so the platform layer (idempotency,
transactions, scopes) is exercised through the front door before the real resources exist."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import event

from billabled.app import create_app
from billabled.auth.dependencies import ClientsWrite
from billabled.config import Settings
from billabled.errors import Conflict
from billabled.event.service import record_event
from billabled.kit import pagination
from billabled.kit.jsonresponse import JsonResponse
from billabled.transaction import DbSession
from tests.factories import Factory, Workspace
from tests.support import free_port

THING_EVENT = "test.thing_created"


class ThingCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    sleep: float = Field(default=0, ge=0, le=5)
    outcome: Literal["ok", "conflict", "crash"] = "ok"


class ThingRefused(Conflict):
    code = "thing_refused"


def add_test_routes(app: FastAPI) -> None:
    async def create_thing(
        body: ThingCreate, principal: ClientsWrite, session: DbSession
    ) -> JsonResponse:
        event = record_event(
            session, workspace_id=principal.workspace_id, type=THING_EVENT, data={"name": body.name}
        )
        await session.flush()
        if body.sleep:
            await asyncio.sleep(body.sleep)
        if body.outcome == "conflict":
            raise ThingRefused("Refused on purpose.")
        if body.outcome == "crash":
            raise RuntimeError("crashed on purpose")
        return JsonResponse({"id": event.id, "name": body.name}, status_code=201)

    app.add_api_route("/api/v1/_test/things", create_thing, methods=["POST"])


@pytest.fixture(scope="session")
def api_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    add_test_routes(app)
    return app


@pytest.fixture(scope="session")
def api(api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app, raise_server_exceptions=False) as client:
        yield client


def things_created(factory: Factory, workspace: Workspace) -> int:
    rows = factory.sql(
        "SELECT count(*) FROM event WHERE workspace_id = :ws AND type = :type",
        ws=workspace.id,
        type=THING_EVENT,
    )
    return int(rows[0][0])


@pytest.fixture(scope="session")
def live_api(settings: Settings) -> Iterator[str]:
    """The test app served by uvicorn on a real socket, for truly concurrent requests."""
    app = create_app(settings)
    add_test_routes(app)
    with serve(app) as url:
        yield url


@contextmanager
def serve(app: FastAPI, http: Any = "auto") -> Iterator[str]:
    """`app` served by uvicorn on a real socket in a thread, for the duration of the block
    (`http`: the protocol, uvicorn's unless told; `billabled serve` runs `http_protocol`'s)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, http=http
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# Statements the app's background usage recorder runs, and transaction control (which the
# recorder's batches also issue on SQLite): not the queries a request makes.
_NOT_QUERIES = tuple(
    prefix.upper()
    for prefix in (
        "INSERT INTO usage_record",
        "SET LOCAL application_name",  # the recorder naming its transaction (kit.sql)
        "UPDATE api_key SET last_used_at",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
    )
)


@contextmanager
def count_queries(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the app runs while the block runs (key lookups go around SQLAlchemy
    and are one per request; the usage recorder's batches are left out)."""
    statements: list[str] = []
    engine = client.app.state.database.engine.sync_engine  # type: ignore[attr-defined]

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(_NOT_QUERIES):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.fixture(params=["few rows first", "the order's index"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a filtered page is read: fewer matching rows than FEW_ROWS (FEW_SPREAD_ROWS for a
    person, project or client) are found through the filter's index and sorted, more through the
    order's own index (docs/benchmarks.md, ninth, tenth and twelfth rounds). So many rows are too
    slow to build here, so for the second way the thresholds come down to 1: the same requests
    must give the same answers either way."""
    if request.param == "the order's index":
        monkeypatch.setattr(pagination, "FEW_ROWS", 1)
        monkeypatch.setattr(pagination, "FEW_SPREAD_ROWS", 1)
    return str(request.param)
