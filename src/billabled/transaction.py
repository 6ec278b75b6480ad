"""One request, one transaction (ARCHITECTURE convention 1).

The session is created lazily on first use. The transaction is decided when the response starts,
before a single byte reaches the client: commit for statuses below 400, roll back otherwise, and
roll back on any exception. A failed commit turns the response into a 500 (a 503 with
`Retry-After` when the database went away).

Hooks registered in `before_commit` run inside the transaction with the finished response (the
idempotency layer stores the response there, so it exists exactly when the change committed);
they make the response buffered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billabled.db import Database
from billabled.errors import BillabledError
from billabled.kit.jsonresponse import JsonResponse
from billabled.middleware import answer_unhandled

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class FinishedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


BeforeCommit = Callable[[AsyncSession, FinishedResponse], Awaitable[None]]


@dataclass
class RequestTransaction:
    database: Database
    write: bool
    before_commit: list[BeforeCommit] = field(default_factory=list)
    _session: AsyncSession | None = None

    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.database.session(write=self.write)
        return self._session

    @property
    def buffers_response(self) -> bool:
        return bool(self.before_commit)

    async def finish(self, response: FinishedResponse) -> None:
        """Commit (status < 400, running the hooks first) or roll back."""
        if response.status >= 400:
            await self.rollback()
            return
        if self.before_commit:
            session = self.session()
            for hook in self.before_commit:
                await hook(session, response)
        if self._session is not None:
            await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def transaction_of(scope: Scope) -> RequestTransaction:
    transaction: RequestTransaction = scope["state"]["transaction"]
    return transaction


class TransactionMiddleware:
    def __init__(self, app: ASGIApp, database_getter: Callable[[], Database]) -> None:
        self.app = app
        self.database_getter = database_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        transaction = RequestTransaction(
            self.database_getter(),
            write=scope["method"] not in SAFE_METHODS,
            # Outer layers (idempotency) register hooks before the transaction exists.
            before_commit=state.get("before_commit", []),
        )
        state["transaction"] = transaction
        start: Message | None = None
        chunks: list[bytes] = []
        failed = False

        async def send_after_deciding(message: Message) -> None:
            nonlocal start, failed
            if failed:
                return  # the response was replaced by a 500; drop the rest of the original
            if message["type"] == "http.response.start":
                if transaction.buffers_response:
                    start = message
                    return
                if not await self._finish(transaction, message, b"", scope, receive, send):
                    failed = True
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(chunks)
                if not await self._finish(transaction, start, body, scope, receive, send):
                    failed = True
                    return
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        turn = transaction.database.write_turn if transaction.write else None
        if turn is not None:
            await turn.acquire()
        try:
            await self.app(scope, receive, send_after_deciding)
        except BaseException:
            await transaction.rollback()
            raise
        finally:
            await transaction.close()
            if turn is not None:
                turn.release()

    async def _finish(
        self,
        transaction: RequestTransaction,
        start: Message,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> bool:
        try:
            await transaction.finish(
                FinishedResponse(start["status"], list(start.get("headers", [])), body)
            )
        except BillabledError as exc:
            # A hook refused the commit (an idempotency claim taken over): the change is rolled
            # back and the refusal is the answer.
            with contextlib.suppress(Exception):
                await transaction.rollback()
            await JsonResponse(exc.body(), status_code=exc.status, headers=exc.headers)(
                scope, receive, send
            )
            return False
        except Exception:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await transaction.rollback()
            # A 500, or a 503 with Retry-After when the database went away during the commit
            # (it was a 500 whatever the cause).
            await answer_unhandled(scope, receive, send)
            return False
        return True


async def _request_session(request: Request) -> AsyncSession:
    return transaction_of(request.scope).session()


DbSession = Annotated[AsyncSession, Depends(_request_session)]
