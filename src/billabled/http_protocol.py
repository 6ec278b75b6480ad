"""The HTTP protocol `billabled serve` runs: uvicorn's httptools protocol, with the limits on a
request's head that httptools does not have.

httptools (uvicorn's fast parser) bounds neither the size of a request's head (its line and
headers) nor the time it takes to arrive: four connections sending endless header lines took a
server from 185 MB to 1.2 GB, and a connection that sent nothing, or its head a byte at a time,
was held forever (a helper's failure audit). Behind a proxy these limits are usually the
proxy's; a server reachable directly has them here. A head too large is answered 431, one that
takes too long 408, both in the API's error envelope, and the connection is closed (a
connection that sent nothing is closed without an answer). The body's time is bounded where it
is read (`api.platform`).
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from billabled.config import Settings
from billabled.kit.ids import new_id


@cache
def _limits() -> tuple[int, float]:
    """(head bytes, head seconds), read once per process from the environment, as the app's
    own settings are (worker processes are started without the CLI's arguments)."""
    settings = Settings()
    return settings.max_request_head_bytes, settings.request_read_timeout_seconds


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request's head is at most `max_request_head_bytes` and
    arrives within `request_read_timeout_seconds` (from the connection, or from the request's
    first byte on a kept-alive connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head_bytes, self._head_seconds = _limits()
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Counted after parsing: a chunk that completed the head (and began the body) is not
        # the head's; one that did not is, and httptools holds it until the head is complete.
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._refuse(
                    431,
                    "Request Header Fields Too Large",
                    "request_header_fields_too_large",
                    f"The request line and headers exceed {self._max_head_bytes} bytes.",
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._start_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def _start_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self._head_seconds, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # nothing was asked: nothing to answer (as nginx does)
        else:
            self._refuse(
                408,
                "Request Timeout",
                "request_timeout",
                f"The request's headers did not arrive within {self._head_seconds:g} seconds.",
            )

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        body = orjson.dumps({"error": {"code": code, "message": message}})
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-request-id: {new_id('req')}\r\n"
            "connection: close\r\n\r\n"
        ).encode("ascii")
        self.transport.write(head + body)
        self._stop_head_timer()
        self.transport.close()
