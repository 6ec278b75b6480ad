"""Sync stack: plain `def` handlers/dependencies (FastAPI threadpool), SQLAlchemy
Session, psycopg 3 (PostgreSQL) or stdlib sqlite3 (SQLite). Configure with DB_URL."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from common import (ApiKey, Item, ItemCreate, ItemOut, ItemPage, db_url, engine_kwargs,
                    install_sqlite_pragmas, is_sqlite, new_item_id, sha256_hex, to_sync_url,
                    utcnow)

URL = to_sync_url(db_url())
engine = create_engine(URL, **engine_kwargs(URL))
if is_sqlite(URL):
    install_sqlite_pragmas(engine)
SessionLocal = sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


def get_session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session
        session.commit()


SessionDep = Annotated[Session, Depends(get_session)]


def get_workspace_id(session: SessionDep, x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise HTTPException(status_code=401, detail="missing api key")
    key = session.scalar(select(ApiKey).where(ApiKey.hash == sha256_hex(x_api_key)))
    if key is None:
        raise HTTPException(status_code=401, detail="invalid api key")
    return key.workspace_id


WorkspaceDep = Annotated[str, Depends(get_workspace_id)]


@app.get("/items")
def list_items(session: SessionDep, workspace_id: WorkspaceDep) -> Response:
    rows = session.scalars(
        select(Item)
        .where(Item.workspace_id == workspace_id)
        .order_by(Item.created_at, Item.id)
        .limit(50)
    ).all()
    page = ItemPage(items=[ItemOut.model_validate(r) for r in rows])
    return Response(page.model_dump_json(by_alias=True), media_type="application/json")


@app.post("/items", status_code=201)
def create_item(body: ItemCreate, session: SessionDep, workspace_id: WorkspaceDep) -> Response:
    item = Item(id=new_item_id(), workspace_id=workspace_id, name=body.name,
                amount=body.amount, created_at=utcnow())
    session.add(item)
    session.commit()
    return Response(ItemOut.model_validate(item).model_dump_json(by_alias=True),
                    status_code=201, media_type="application/json")


# --- framework-only control: same dependency shape as GET /items, no DB at all.
# Sync: 4 threadpool hops (yield-dep enter, auth dep, handler, yield-dep exit).
def _noop_session() -> Iterator[None]:
    yield None


def _noop_auth(_s: Annotated[None, Depends(_noop_session)],
               x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise HTTPException(status_code=401, detail="missing api key")
    return "ws_00"


@app.get("/noop")
def noop(_s: Annotated[None, Depends(_noop_session)],
         workspace_id: Annotated[str, Depends(_noop_auth)]) -> Response:
    return Response(ItemPage(items=[]).model_dump_json(by_alias=True), media_type="application/json")
