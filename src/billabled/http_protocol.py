"""The HTTP protocol `billabled serve` runs: uvicorn's httptools protocol, with the limits on what
precedes and follows a request's body that httptools does not have.

httptools (uvicorn's fast parser) bounds neither the size of a request's head (its line and
headers, and a chunked body's trailers) nor the time it takes to arrive: four connections
sending endless header lines took a server from 185 MB to 1.2 GB, trailers did the same, and a
connection that sent nothing, its head a byte at a time, or blank lines between requests, was
held forever (helpers' failure audit and review). Behind a proxy these limits are usually the
proxy's; a server reachable directly has them here.

- Size: a request's line, headers and trailers count against `max_request_head_bytes`, and so
  do the bytes that arrive without the parser reporting anything (one endless line, blank lines
  between requests) and reads that are all head (the parser reports header values without the
  spaces around them; a head may go over by one read). Over it, a head is answered 431 and the
  connection closed; if earlier pipelined requests are still being answered, reading stops and
  the 431 follows their answers. Trailers over it close the connection: the request never
  arrived whole. A refused request, and whatever follows it on the connection, never reaches
  the app (the parser goes on through the data it was given; its reports are dropped).
- Time: a request's head must be complete within `request_read_timeout_seconds` of the
  connection's opening, or of its own first byte; between an answer (with nothing queued) and
  that first byte the connection waits `keep_alive_seconds` (when longer): 408 then close, or a
  plain close when nothing was asked. A
  client that stops reading its answers (the transport's buffer full) has as long to start
  again before the connection is dropped.
  The body's time is bounded where it is read (`api.platform`).
- Bytes that are not HTTP are answered 400 in the error envelope, after the pipelined requests
  before them (uvicorn wrote plain text at once, over their answers); in the body of the
  request being read, at once, and that request is not run; in the body of a POST, PUT or
  PATCH queued behind another, in its turn, and it is not run.
"""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from functools import cache
from typing import Any, Final

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from billabled.config import Settings
from billabled.kit.ids import new_id

_TOO_LARGE = (431, "Request Header Fields Too Large", "request_header_fields_too_large")
_TOO_SLOW = (408, "Request Timeout", "request_timeout")
_MALFORMED = (400, "Bad Request", "malformed_request")
# The refusals this layer answers itself, for the reference.
REFUSALS: Final = (_TOO_LARGE, _TOO_SLOW, _MALFORMED)
# The methods whose body the API reads whole before it runs anything (`api.platform`).
_READ_BEFORE_RUN = frozenset({"POST", "PUT", "PATCH"})


@cache
def _limits() -> tuple[int, float, float]:
    """(head bytes, head seconds, idle seconds), read once per process from the environment, as
    the app's own settings are (worker processes are started without the CLI's arguments)."""
    settings = Settings()
    return (
        settings.max_request_head_bytes,
        settings.request_read_timeout_seconds,
        settings.keep_alive_seconds,
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head_bytes, self._head_seconds, self._idle_seconds = _limits()
        self._head_bytes = 0  # the current request's line, headers and trailers, as reported
        self._head_raw = 0  # the bytes of reads that began and ended inside the current head
        self._message = 0  # requests begun on this connection
        self._unreported = 0  # bytes received since the parser last reported anything
        self._reported = False
        self._in_head = False  # a request's head has begun and is not complete
        self._after_head = False  # between the head's end and the message's (body, trailers)
        self._head_timer: asyncio.TimerHandle | None = None
        self._pending_refusal: tuple[int, str, str] | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        # A request was refused: it, and what follows it on the connection, is never run.
        self._refused = False

    # --- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._stop_write_timer()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        # The client reads no more of what it asked for: it has as long as a request has to
        # arrive to start again, then the connection is dropped (answers, several megabytes of
        # them, were held for it forever).
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self._head_seconds, self.transport.abort)

    def resume_writing(self) -> None:
        self._stop_write_timer()
        super().resume_writing()

    def _stop_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def data_received(self, data: bytes) -> None:
        self._reported = False
        head_before = (self._message, self._in_head)
        super().data_received(data)
        self._unreported = 0 if self._reported else self._unreported + len(data)
        if head_before == (self._message, True) and self._in_head:
            # All of it head: the parser reports header values without the spaces around them.
            self._head_raw += len(data)
        if max(self._unreported, self._head_raw) > self._max_head_bytes:
            self._too_large()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._pending_refusal is not None:
            if not self.pipeline and not self._answering():
                self._refuse(*self._pending_refusal)
        elif not self._answering() and self._head_timer is None:
            # Nothing queued: the next request's head (or what else comes: blank lines, the
            # rest of a body answered early) is timed from now, for as long as the connection
            # is kept alive.
            self._await_head(max(self._head_seconds, self._idle_seconds))

    # --- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reported = True
        self._message += 1
        self._head_bytes = self._head_raw = 0
        self._in_head = True
        if self._head_timer is not None:
            # A head has begun: it has the read timeout from now, not the rest of a keep-alive.
            left = self._head_timer.when() - self.loop.time()
            self._await_head(min(left, self._head_seconds))
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._reported = True
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._reported = True
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reported = True
        self._in_head = False
        self._after_head = True
        self._stop_head_timer()
        if self._refused or self.transport.is_closing():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._reported = True
        if self._refused or self.transport.is_closing():
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reported = True
        self._after_head = False
        if self._refused or self.transport.is_closing():
            return
        super().on_message_complete()

    # --- limits ----------------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._max_head_bytes:
            self._too_large()

    def _too_large(self) -> None:
        if self.transport.is_closing():
            return
        self._refused = True
        if self._after_head:
            # Trailers (or a line within them) beyond the limit: the request never arrives
            # whole, so it is not run; there is no answer to give in the middle of it.
            self._stop_head_timer()
            self.transport.close()
        elif self._answering():
            # A pipelined request's head: its turn comes after the request being answered.
            self._pending_refusal = _TOO_LARGE
            self.transport.pause_reading()
        else:
            self._refuse(*_TOO_LARGE)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to bytes the parser refuses: plain text, written at once, over the
        # answer of a pipelined request still running before them (its change committed, its
        # answer lost). Ours is the envelope, in its turn.
        if self.transport.is_closing() or self._pending_refusal is not None:
            return
        self._refused = True
        cycle = self.cycle
        if (
            cycle is not None
            and not self.pipeline  # the cycle is the one being run, not one queued behind it
            and cycle.scope["method"] in _READ_BEFORE_RUN
            and cycle.more_body
            and not cycle.response_started
        ):
            # In the body of the request being run, before its answer: that body will never
            # arrive whole, so the request is not run (closing tells it so), and the answer is
            # now (it waited a minute, for the request to give up on its body; a helper's review).
            # A request that does not read its body (a DELETE) runs; one queued is below.
            self._refuse(*_MALFORMED)
        elif (
            cycle is not None
            and self._after_head
            and self.pipeline
            and self.pipeline[0][0] is cycle
            and cycle.scope["method"] in _READ_BEFORE_RUN
        ):
            # In the body of a request queued behind the one being answered: it is not run (it
            # waited, its turn come, for a body that never arrives: a 408 a minute later; a
            # helper's docs audit). Its turn answers the 400, after the answers before it.
            self.pipeline[0] = (cycle, _answer_malformed)  # type: ignore[assignment]
        elif self._answering():
            self._pending_refusal = _MALFORMED
            self.transport.pause_reading()
        else:
            self._refuse(*_MALFORMED)

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _await_head(self, seconds: float | None = None) -> None:
        self._stop_head_timer()
        wait = self._head_seconds if seconds is None else seconds
        self._head_timer = self.loop.call_later(wait, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._answering():
            return
        if not self._in_head:
            self.transport.close()  # nothing was asked: nothing to answer (as nginx does)
        else:
            self._refuse(*_TOO_SLOW)

    def _refuse(self, status: int, reason: str, code: str) -> None:
        if status == 431:
            message = f"The request line and headers exceed {self._max_head_bytes} bytes."
        elif status == 400:
            message = _NOT_HTTP
        else:
            message = f"The request's headers did not arrive within {self._head_seconds:g} s."
        body = orjson.dumps({"error": {"code": code, "message": message}})
        headers = [(b"date", formatdate(usegmt=True).encode()), *_refusal_headers(len(body))]
        head = f"HTTP/1.1 {status} {reason}\r\n".encode("ascii") + b"".join(
            name + b": " + value + b"\r\n" for name, value in headers
        )
        self._stop_head_timer()
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()


_NOT_HTTP: Final = "The request is not well-formed HTTP/1.1."


def _refusal_headers(length: int) -> list[tuple[bytes, bytes]]:
    """The headers of every refusal this layer answers (but `date`, which uvicorn adds to what
    goes through it): the API's, and the connection closed."""
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(length).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-request-id", new_id("req").encode()),
        (b"connection", b"close"),
    ]


async def _answer_malformed(scope: Scope, receive: Receive, send: Send) -> None:
    """The app run in the turn of a queued request whose body is not HTTP: its 400."""
    _, _, code = _MALFORMED
    body = orjson.dumps({"error": {"code": code, "message": _NOT_HTTP}})
    await send(
        {"type": "http.response.start", "status": 400, "headers": _refusal_headers(len(body))}
    )
    await send({"type": "http.response.body", "body": body})
