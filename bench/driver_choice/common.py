"""Shared schema, pydantic models and engine helpers for the driver-choice benchmark.

Both app_sync.py and app_async.py import from here, so the ORM mapping, the
JSON shape and the engine/pool settings are identical; only the I/O stack differs.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from sqlalchemy import DateTime, Index, Integer, String, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_SQLITE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drvbench.db")

# Pool settings shared by both stacks and both backends. wrk runs with 16
# connections, so 16 pooled DB connections means no request ever waits on the pool
# and no overflow connection is ever opened/closed during the run.
POOL_KW = dict(pool_size=16, max_overflow=4, pool_timeout=10)
SQLITE_BUSY_TIMEOUT_MS = 5000


# --------------------------------------------------------------------------- ORM
class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[str] = mapped_column(String(30), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(30), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_item_ws_created_id", "workspace_id", "created_at", "id"),)


class ApiKey(Base):
    __tablename__ = "api_key"
    id: Mapped[str] = mapped_column(String(30), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(30), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)


# ---------------------------------------------------------------------- pydantic
class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class ItemOut(CamelModel):
    id: str
    workspace_id: str
    name: str | None
    amount: int | None
    created_at: datetime


class ItemPage(CamelModel):
    items: list[ItemOut]


class ItemCreate(CamelModel):
    name: str
    amount: int


# ----------------------------------------------------------------------- helpers
def sha256_hex(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_item_id() -> str:
    return "itm_" + secrets.token_hex(12)  # 28 chars


def utcnow() -> datetime:
    return datetime.now(UTC)


def raw_api_key(i: int) -> str:
    """The plaintext API key number i (0..9) that seed.py stores hashed."""
    return f"bb_test_key_{i:02d}_{'x' * 20}"


def db_url() -> str:
    return os.environ.get("DB_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")


def to_sync_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite").render_as_string(hide_password=False)
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def to_async_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def engine_kwargs(url: str) -> dict:
    kw = dict(POOL_KW)
    if is_sqlite(url):
        # stdlib sqlite3 refuses cross-thread use by default; the sync pool hands
        # connections to threadpool threads (aiosqlite runs its own thread anyway).
        kw["connect_args"] = {"check_same_thread": False}
    return kw


def install_sqlite_pragmas(sync_engine) -> None:
    """WAL, synchronous=NORMAL, foreign_keys=ON, busy_timeout on every new connection.

    For an AsyncEngine pass engine.sync_engine: the listener then receives the
    aiosqlite adapter connection, whose cursor() API is the same DB-API shape.
    """

    @event.listens_for(sync_engine, "connect")
    def _set_pragmas(dbapi_connection, connection_record):  # noqa: ARG001
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()
