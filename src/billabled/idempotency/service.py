"""Idempotency-Key on POST (SPEC §4), race-safe on SQLite and PostgreSQL.

1. `claim`: insert `(api key, Idempotency-Key)` as in_progress in its own short transaction.
   The primary key makes exactly one of two racing requests win; the loser sees the record.
2. The request runs in its own transaction; a before-commit hook stores the response in that same
   transaction (`complete`), so a stored response exists exactly when the change committed.
3. On a 4xx the change rolls back and the response is stored by itself (a retry replays it); on a
   5xx or a crash the claim is released (or goes stale), so a retry may run the request again —
   safe, because nothing of the first attempt was committed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Table, Update, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from billabled.errors import Conflict, Forbidden, ValidationFailed
from billabled.kit.apikeys import holds_a_key
from billabled.kit.sql import delete_in_batches
from billabled.kit.time import utcnow
from billabled.models.idempotency import IdempotencyRecord
from billabled.transaction import FinishedResponse

MAX_KEY_LENGTH = 255
# The rule `validate_key` applies, for the reference (ECMA 262 syntax).
KEY_PATTERN = "^[\\x20-\\x7e]+$"
RETENTION = timedelta(hours=24)
# Response headers worth replaying; rate-limit and request-id headers describe the new request.
_REPLAYED_HEADERS = frozenset({b"content-type", b"location"})


class IdempotencyMismatch(ValidationFailed):
    code = "idempotency_mismatch"
    default_message = (
        "This Idempotency-Key was already used with a different request. Use a new key."
    )


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = (
        "A request with this Idempotency-Key is still being processed. Retry in a moment."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class ClaimLost(IdempotencyInProgress):
    """This request ran past the claim's time, and a retry took the key over: its change is
    rolled back, and the retry's answer is the key's."""

    default_message = (
        "This request took too long, and a retry with its Idempotency-Key runs in its place. "
        "Retry in a moment to get that retry's response."
    )


class ReplayRefused(Forbidden):
    """A safeguard: a request whose stored answer the key may no longer have is answered by the
    route's own checks, which refuse it; should one let it through, its change is rolled back."""

    default_message = (
        "This Idempotency-Key's request was first made with permissions the key no longer has. "
        "Its answer is not given again, and the request does not run twice."
    )


class InvalidIdempotencyKey(ValidationFailed):
    code = "idempotency_key_invalid"


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    relied_on: frozenset[str]  # replayed only to a key that still holds these (`auth.authority`)


ClaimResult = Literal["claimed"] | Replay


def validate_key(raw: str) -> str:
    # Printable ASCII: a header's other bytes arrive as Latin-1, so "ключ" was refused or
    # taken depending on whether its UTF-8 bytes fell in 0x80-0x9F.
    if not raw or len(raw) > MAX_KEY_LENGTH:
        problem, kind = f"must be 1 to {MAX_KEY_LENGTH} characters", "length"
    elif not (raw.isascii() and raw.isprintable()):
        problem, kind = "must be printable ASCII characters only", "characters"
    elif holds_a_key(raw):
        # It is stored as sent, beside the answer (a helper's secrets audit).
        problem, kind = "must not hold an API key", "api_key"
    else:
        return raw
    raise InvalidIdempotencyKey(
        f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, and not an "
        "API key.",
        errors=[{"field": "Idempotency-Key", "in": "header", "message": problem, "type": kind}],
    )


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def claim(
    engine: AsyncEngine,
    *,
    api_key_id: str,
    workspace_id: str,
    key: str,
    request_fingerprint: str,
    now: datetime,
    abandoned_after: timedelta,
) -> ClaimResult:
    """Claim the key for this request, or say how the earlier request with it ended. A claim is
    stamped `now`, which names it for `complete_*` and `release`. A claim in progress for longer
    than `abandoned_after` was left by a process that died mid-request, and is taken over."""
    values = {
        "api_key_id": api_key_id,
        "key": key,
        "workspace_id": workspace_id,
        "fingerprint": request_fingerprint,
        "state": "in_progress",
        "created_at": now,
    }
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert(IdempotencyRecord).values(**values).on_conflict_do_nothing()
        )
        if inserted.rowcount == 1:
            return "claimed"
        record = (
            await connection.execute(
                select(
                    IdempotencyRecord.fingerprint,
                    IdempotencyRecord.state,
                    IdempotencyRecord.created_at,
                    IdempotencyRecord.response_status,
                    IdempotencyRecord.response_headers,
                    IdempotencyRecord.response_body,
                    IdempotencyRecord.relied_on,
                ).where(IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key)
            )
        ).one()
        # Expired, the key may be used afresh. So may a kept 403 (releases before 0014 kept
        # them, and a process of one may still during a rolling deploy): it changed nothing, and
        # is about permissions a promotion may have changed since.
        expired = record.created_at < now - RETENTION
        if expired or (record.fingerprint == request_fingerprint and record.response_status == 403):
            # By one request: the record as read is the condition, so of requests racing for it
            # one claims it; the others find the claim.
            renewed = await connection.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.api_key_id == api_key_id,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.created_at == record.created_at,
                    IdempotencyRecord.state == record.state,
                )
                .values(
                    **values,
                    response_status=None,
                    response_headers=None,
                    response_body=None,
                    relied_on=None,
                )
            )
            if renewed.rowcount == 1:
                return "claimed"
            # Another request renewed it first: its claim is in progress now, or it has ended.
            raise IdempotencyInProgress()
        if record.fingerprint != request_fingerprint:
            raise IdempotencyMismatch()
        if record.state == "in_progress":
            if record.created_at < now - abandoned_after:
                taken = await connection.execute(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.api_key_id == api_key_id,
                        IdempotencyRecord.key == key,
                        IdempotencyRecord.state == "in_progress",
                        IdempotencyRecord.created_at == record.created_at,
                    )
                    .values(created_at=now)
                )
                if taken.rowcount == 1:
                    return "claimed"
            raise IdempotencyInProgress()
        return Replay(
            status=record.response_status or 200,
            headers=[
                (bytes(k, "latin-1"), bytes(v, "latin-1")) for k, v in record.response_headers or []
            ],
            body=record.response_body or b"",
            relied_on=frozenset(record.relied_on or ()),
        )


def _stored_headers(response: FinishedResponse) -> list[list[str]]:
    return [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in response.headers
        if name.lower() in _REPLAYED_HEADERS
    ]


def _completion(
    api_key_id: str,
    key: str,
    claimed_at: datetime,
    response: FinishedResponse,
    relied_on: Collection[str],
) -> Update:
    """Store the response on this request's claim, if the claim is still its own."""
    return (
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.api_key_id == api_key_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.state == "in_progress",
            IdempotencyRecord.created_at == claimed_at,
        )
        .values(
            state="completed",
            response_status=response.status,
            response_headers=_stored_headers(response),
            response_body=response.body,
            relied_on=sorted(relied_on),
        )
    )


async def complete_in(
    session: AsyncSession,
    api_key_id: str,
    key: str,
    claimed_at: datetime,
    response: FinishedResponse,
    relied_on: Collection[str],
) -> None:
    """Store the response inside the request's own transaction (called before its commit), or
    raise `ClaimLost`, which rolls the change back, when a retry has taken the key over."""
    completion = _completion(api_key_id, key, claimed_at, response, relied_on)
    stored = await session.execute(completion)
    if stored.rowcount != 1:  # type: ignore[attr-defined]
        raise ClaimLost()


async def complete_alone(
    engine: AsyncEngine,
    api_key_id: str,
    key: str,
    claimed_at: datetime,
    response: FinishedResponse,
    relied_on: Collection[str],
) -> None:
    """Store a 4xx response (the request changed nothing) in a transaction of its own, unless
    a retry has taken the key over (its answer is the key's)."""
    async with engine.begin() as connection:
        await connection.execute(_completion(api_key_id, key, claimed_at, response, relied_on))


async def release(engine: AsyncEngine, api_key_id: str, key: str, claimed_at: datetime) -> None:
    """Drop this request's in-progress claim (stamped `claimed_at`) after a server error, so a
    retry may run the request. Only this request's: a claim it may not have made (its answer was
    lost), or one taken over since, belongs to another request still running."""
    async with engine.begin() as connection:
        await connection.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.api_key_id == api_key_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == "in_progress",
                IdempotencyRecord.created_at == claimed_at,
            )
        )


async def purge_expired(engine: AsyncEngine, stop: asyncio.Event | None = None) -> None:
    table: Table = IdempotencyRecord.__table__  # type: ignore[assignment]
    await delete_in_batches(engine, table, table.c.created_at < utcnow() - RETENTION, stop=stop)
