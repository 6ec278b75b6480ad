"""Async stack: `async def` handlers/dependencies, SQLAlchemy AsyncSession,
asyncpg (PostgreSQL) or aiosqlite (SQLite). Configure with DB_URL."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from common import (ApiKey, Item, ItemCreate, ItemOut, ItemPage, db_url, engine_kwargs,
                    install_sqlite_pragmas, is_sqlite, new_item_id, sha256_hex, to_async_url,
                    utcnow)

URL = to_async_url(db_url())
engine = create_async_engine(URL, **engine_kwargs(URL))
if is_sqlite(URL):
    install_sqlite_pragmas(engine.sync_engine)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_workspace_id(session: SessionDep,
                           x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise HTTPException(status_code=401, detail="missing api key")
    key = await session.scalar(select(ApiKey).where(ApiKey.hash == sha256_hex(x_api_key)))
    if key is None:
        raise HTTPException(status_code=401, detail="invalid api key")
    return key.workspace_id


WorkspaceDep = Annotated[str, Depends(get_workspace_id)]


@app.get("/items")
async def list_items(session: SessionDep, workspace_id: WorkspaceDep) -> Response:
    rows = (await session.scalars(
        select(Item)
        .where(Item.workspace_id == workspace_id)
        .order_by(Item.created_at, Item.id)
        .limit(50)
    )).all()
    page = ItemPage(items=[ItemOut.model_validate(r) for r in rows])
    return Response(page.model_dump_json(by_alias=True), media_type="application/json")


@app.post("/items", status_code=201)
async def create_item(body: ItemCreate, session: SessionDep, workspace_id: WorkspaceDep) -> Response:
    item = Item(id=new_item_id(), workspace_id=workspace_id, name=body.name,
                amount=body.amount, created_at=utcnow())
    session.add(item)
    await session.commit()
    return Response(ItemOut.model_validate(item).model_dump_json(by_alias=True),
                    status_code=201, media_type="application/json")


# --- framework-only control: same dependency shape as GET /items, no DB at all.
# Async: everything runs on the event loop, no threadpool hop.
async def _noop_session() -> AsyncIterator[None]:
    yield None


async def _noop_auth(_s: Annotated[None, Depends(_noop_session)],
                     x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise HTTPException(status_code=401, detail="missing api key")
    return "ws_00"


@app.get("/noop")
async def noop(_s: Annotated[None, Depends(_noop_session)],
               workspace_id: Annotated[str, Depends(_noop_auth)]) -> Response:
    return Response(ItemPage(items=[]).model_dump_json(by_alias=True), media_type="application/json")
