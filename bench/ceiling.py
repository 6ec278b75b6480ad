"""The ceiling: the least an app can do to answer the benchmarked GETs, to divide our figures by.

A raw ASGI callable (no framework, no middleware, no dependency injection, no rate limit, no usage
record, no idempotency), served by the same uvicorn settings as ours. For each request it still
does the work that cannot be skipped, through the same drivers as our app:

- the API-key lookup: our own `billabled.auth.key_lookup` objects (the least a lookup that is
  not cached can cost: one asyncpg connection answering concurrent lookups together on
  PostgreSQL, a read-only `sqlite3` connection on the event loop on SQLite); then the same checks
  (revoked, expired, still a member, the scope in effect). Every request looks its key up;
- `GET /api/v1/time-entries`: the page query, the count query (page mode only, or the capped
  count after a cursor when few rows may match) and the tag-id query, the very statements our app
  runs, chosen as it chooses them — the cached template of `time_entry.service.entries_query`
  and the statements `kit.pagination.paginate` derives from it (`list_statements`), values bound
  per request — and the tag query as
  `time_entry.service.tag_ids_by_entry` builds it (rows read as `kit.pagination.records`), run
  on the same SQLAlchemy `AsyncEngine` our app uses (`create_app_engine`: asyncpg / aiosqlite;
  on PostgreSQL without BEGIN/COMMIT, as our reads: `db.reading`)
  via `AsyncConnection.execute`, without an ORM session; `bench.scenarios` checks that the
  filters' values match the ones our app binds;
- `GET /api/v1/me`: the key lookup and the JSON;
- the JSON is rendered with orjson (`OPT_UTC_Z`) from the same dicts, so the bodies are equal
  byte for byte (`rateLimit.remaining/resetAt` of /me aside); `bench.scenarios` checks that.

Only what the benchmark sends is understood (`projectId`, `userId`, `from`, `to`, `page`,
`pageSize`, `cursor`; default sort); anything else is a 400.

    uvicorn --factory bench.ceiling:create_app   (env: BILLABLED_DATABASE_URL, ..._SECRET_KEY)
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from urllib.parse import parse_qs

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billabled.app import tune_garbage_collector
from billabled.auth.authenticate import KEY_LOOKUP, KEYS_LOOKUP, key_hash_of
from billabled.auth.key_lookup import KeyLookup, KeyRow, PostgresKeyLookup, SqliteKeyLookup
from billabled.auth.scopes import Scope, ceiling, sorted_scopes
from billabled.config import Settings
from billabled.db import async_url, create_app_engine, postgres_connect_args, reading
from billabled.errors import Unauthorized
from billabled.kit.apikeys import derive_pepper
from billabled.kit.pagination import (
    AFTER_ID,
    AFTER_VALUE,
    PAGE_LIMIT,
    PAGE_OFFSET,
    PROBE_LIMIT,
    AnySelect,
    FewFirst,
    ListStatements,
    encode_cursor,
    few_first_on,
    few_rows_below,
    list_statements,
    records,
)
from billabled.kit.sql import one_of_value
from billabled.models.membership import Role
from billabled.models.time_entry import TimeEntry
from billabled.ratelimit import WINDOW_SECONDS, limit_for_plan
from billabled.time_entry.schemas import time_entry_row_json
from billabled.time_entry.service import EntriesQuery, entries_template, entry_tags_statement

Scope_ = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_MANAGERS: Final = frozenset({Role.MANAGER.value, Role.ADMIN.value, Role.OWNER.value})
_KNOWN_PARAMS: Final = frozenset(
    {"projectId", "userId", "from", "to", "page", "pageSize", "cursor"}
)
_JSON: Final = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class Caller:
    """What a key lookup yields, as far as the ceiling needs it."""

    row: KeyRow
    scopes: frozenset[Scope]
    granted: frozenset[Scope]

    @property
    def workspace_id(self) -> str:
        return self.row.workspace_id

    @property
    def user_id(self) -> str:
        return self.row.created_by_user_id

    @property
    def is_manager_or_above(self) -> bool:
        return self.row.role in _MANAGERS


class BadRequest(Exception):
    """A query the ceiling does not understand."""


def entries_statement(
    workspace_id: str,
    member_user_id: str | None,
    *,
    date_from: date | None,
    date_to: date | None,
    user_id: str | None,
    project_id: str | None,
) -> EntriesQuery:
    """The filtered list as `time_entry.service.entries_query` makes it: its cached template for
    these filters, and their values."""
    values: dict[str, Any] = {"workspace_id": workspace_id}
    if member_user_id is not None:
        values["member_user_id"] = member_user_id
    for name, value in (
        ("date_from", date_from),
        ("date_to", date_to),
        ("user_id", user_id),
        ("project_id", project_id),
    ):
        if value is not None:
            values[name] = value
    return EntriesQuery(entries_template(tuple(values), None), values)


def page_statements(
    listed: EntriesQuery,
    *,
    page: int,
    page_size: int,
    cursor: tuple[datetime, str] | None,
) -> tuple[ListStatements, dict[str, Any]]:
    """The statements `kit.pagination.paginate` derives for the default sort (`createdAt`
    ascending, then id), and their values."""
    statements = list_statements(
        listed.template,
        sort_column=TimeEntry.created_at,
        id_column=TimeEntry.id,
        updated_at_column=TimeEntry.updated_at,
        with_cursor=cursor is not None,
        few_first=listed.few_first(None),
    )
    values = dict(listed.values)
    values[PAGE_OFFSET] = 0 if cursor is not None else (page - 1) * page_size
    values[PAGE_LIMIT] = page_size + 1
    if cursor is not None:
        values[AFTER_VALUE], values[AFTER_ID] = cursor
    return statements, values


async def choose_page(
    connection: AsyncConnection,
    statements: ListStatements,
    values: dict[str, Any],
    *,
    cursor: bool,
    few_first: FewFirst | None,
) -> tuple[AnySelect, int | None]:
    """The page statement `paginate` runs, and the total it has counted to choose it (page mode):
    when few rows may match, it counts them first (after a cursor, up to the threshold) and, when
    they are fewer, reads them alone."""
    few_first = few_first_on(connection.dialect.name, few_first)
    if statements.page_of_few is None or few_first is None:
        return statements.page, None
    few = few_rows_below(few_first, updated_since=False)
    total: int | None = None
    if cursor:
        assert statements.probe is not None
        probed = {**values, PROBE_LIMIT: few}
        matching = int((await connection.execute(statements.probe, probed)).scalar_one())
    else:
        total = matching = int((await connection.execute(statements.count, values)).scalar_one())
    return (statements.page_of_few if matching < few else statements.page), total


def decode_cursor(raw: str) -> tuple[datetime, str]:
    """A `nextCursor` of the default sort: (createdAt, id)."""
    import base64

    payload = orjson.loads(base64.urlsafe_b64decode((raw + "=" * (-len(raw) % 4)).encode()))
    if payload.get("s") != "createdAt" or not isinstance(payload.get("i"), str):
        raise BadRequest("cursor")
    return datetime.fromisoformat(payload["v"]), payload["i"]


class Ceiling:
    """The raw ASGI app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pepper = derive_pepper(settings.resolved_secret_key)
        self.engine: AsyncEngine | None = None
        self.reader: AsyncEngine | None = None
        self.keys: KeyLookup | None = None

    # --- lifespan ----------------------------------------------------------------------------

    async def startup(self) -> None:
        self.engine = create_app_engine(self.settings)
        self.reader = reading(self.engine)
        if self.engine.dialect.name == "sqlite":
            self.keys = SqliteKeyLookup.connect(self.engine.url, KEY_LOOKUP)
        else:
            self.keys = PostgresKeyLookup.for_url(
                async_url(self.settings.resolved_database_url),
                KEY_LOOKUP,
                KEYS_LOOKUP,
                postgres_connect_args(self.settings),
            )
        # The same collector settings as our app's lifespan: a process setting, not app work.
        tune_garbage_collector()

    async def shutdown(self) -> None:
        if self.keys is not None:
            await self.keys.close()
        if self.engine is not None:
            await self.engine.dispose()

    # --- the key -----------------------------------------------------------------------------

    async def _caller(self, headers: list[tuple[bytes, bytes]]) -> Caller | None:
        raw: str | None = None
        for name, value in headers:
            if name == b"x-api-key":
                raw = value.decode("latin-1").strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                raw = value[7:].decode("latin-1").strip()
        if not raw:
            return None
        try:
            key_hash = key_hash_of(self.pepper, raw)
        except Unauthorized:
            return None
        assert self.keys is not None
        row = await self.keys.find(key_hash)
        if row is None or row.revoked_at is not None or row.role is None:
            return None
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            return None
        granted = frozenset(Scope(s) for s in row.scopes if s in Scope._value2member_map_)
        return Caller(row, granted & ceiling(row.role), granted)

    # --- endpoints ---------------------------------------------------------------------------

    def _me(self, caller: Caller) -> dict[str, Any]:
        row = caller.row
        limit = limit_for_plan(row.plan)
        now = time.time()
        reset_at = (math.floor(now / WINDOW_SECONDS) + 1) * WINDOW_SECONDS
        return {
            "workspace": {
                "id": row.workspace_id,
                "name": row.workspace_name,
                "plan": row.plan,
                "currency": row.currency,
                "timeZone": row.time_zone,
                "weekStart": row.week_start,
            },
            "key": {
                "id": row.id,
                "name": row.name,
                "prefix": row.prefix,
                "expiresAt": row.expires_at,
            },
            "user": {
                "id": row.created_by_user_id,
                "name": row.user_name,
                "email": row.email,
                "role": row.role,
            },
            "scopes": {
                "granted": sorted_scopes(caller.granted),
                "effective": sorted_scopes(caller.scopes),
            },
            "rateLimit": {
                "limit": limit,
                "remaining": limit - 1,
                "resetAt": datetime.fromtimestamp(reset_at, UTC),
                "windowSeconds": WINDOW_SECONDS,
            },
        }

    async def _list(self, caller: Caller, query_string: bytes) -> tuple[dict[str, Any], int | None]:
        params = {k: v[-1] for k, v in parse_qs(query_string.decode("latin-1")).items()}
        if not params.keys() <= _KNOWN_PARAMS:
            raise BadRequest("parameter")
        try:
            page = int(params.get("page", "1"))
            page_size = int(params.get("pageSize", "50"))
            date_from = date.fromisoformat(params["from"]) if "from" in params else None
            date_to = date.fromisoformat(params["to"]) if "to" in params else None
            cursor = decode_cursor(params["cursor"]) if "cursor" in params else None
        except (ValueError, KeyError) as exc:
            raise BadRequest("parameter") from exc
        if not (1 <= page_size <= 200 and page >= 1):
            raise BadRequest("page")
        query = entries_statement(
            caller.workspace_id,
            None if caller.is_manager_or_above else caller.user_id,
            date_from=date_from,
            date_to=date_to,
            user_id=params.get("userId"),
            project_id=params.get("projectId"),
        )
        statements, values = page_statements(query, page=page, page_size=page_size, cursor=cursor)
        assert self.reader is not None
        connection: AsyncConnection
        async with self.reader.connect() as connection:
            page_query, total = await choose_page(
                connection,
                statements,
                values,
                cursor=cursor is not None,
                few_first=query.few_first(None),
            )
            rows = records(await connection.execute(page_query, values))
            has_more = len(rows) > page_size
            rows = rows[:page_size]
            next_cursor = (
                encode_cursor("createdAt", rows[-1].created_at, rows[-1].id, table="time_entry")
                if has_more
                else None
            )
            if cursor is None and total is None:
                total = int((await connection.execute(statements.count, values)).scalar_one())
            tags: dict[str, list[str]] = {row.id: [] for row in rows}
            if rows:
                dialect = connection.dialect.name
                tags_query = entry_tags_statement(dialect)
                ids = {"entry_ids": one_of_value(list(tags))}
                for entry_id, tag_id in await connection.execute(tags_query, ids):
                    tags[entry_id].append(tag_id)
        body = {
            "items": [time_entry_row_json(row, tags[row.id]) for row in rows],
            "totalCount": total,
            "page": None if cursor else page,
            "pageSize": page_size,
            "hasMore": has_more,
            "nextCursor": next_cursor,
        }
        return body, total

    # --- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope_, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if path == "/healthz":
            await _answer(send, 200, {"status": "ok"})
            return
        if scope["method"] != "GET" or path not in ("/api/v1/me", "/api/v1/time-entries"):
            await _answer(send, 404, {"error": {"code": "not_found"}})
            return
        caller = await self._caller(scope["headers"])
        if caller is None:
            await _answer(send, 401, {"error": {"code": "unauthorized"}})
            return
        if path == "/api/v1/me":
            await _answer(send, 200, self._me(caller))
            return
        if Scope.READ_TIME not in caller.scopes:
            await _answer(send, 403, {"error": {"code": "insufficient_scope"}})
            return
        try:
            body, total = await self._list(caller, scope.get("query_string", b""))
        except BadRequest as exc:
            await _answer(send, 400, {"error": {"code": "validation_failed", "field": str(exc)}})
            return
        extra = [(b"x-total-count", str(total).encode())] if total is not None else []
        await _answer(send, 200, body, extra)


async def _answer(
    send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    headers = [_JSON, (b"content-length", str(len(data)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def create_app() -> Ceiling:
    """uvicorn factory: settings from the BILLABLED_* variables, like our app."""
    return Ceiling(Settings())
