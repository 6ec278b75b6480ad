"""Answers compressed for clients that ask (`Accept-Encoding: gzip`), by Starlette's GZip
middleware (a helper's HTTP audit: a page of 200 time entries is 117 KB as JSON, 13 KB gzipped;
GitHub and Harvest compress theirs).

Only answers of at least `MINIMUM_BYTES` are compressed, at a fast level. A request that does not
ask goes straight to the app: Starlette's middleware would still wrap every answer to say `Vary`,
a cost on every request of a client that never compresses (the benchmarks' `wrk`; most
integrations' HTTP libraries ask). Exports, when they come, are never compressed (SPEC §9: their
digest headers are of the exact bytes), and the middleware leaves an answer that names its own
`Content-Encoding` as it is.
"""

from __future__ import annotations

from typing import Final

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# Below a packet or so, compression saves nothing worth its CPU.
MINIMUM_BYTES: Final = 1400
# A fast level gives most of the gain on JSON (level 9: a few % smaller, several times the CPU).
LEVEL: Final = 4


# SPEC §9: exports are never transparently compressed (their digest headers name the exact
# bytes), whether or not the route says so itself.
UNCOMPRESSED_PATHS: Final = ("/api/v1/export",)


class CompressionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_BYTES, compresslevel=LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _accepts_gzip(scope) and not _uncompressed(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _uncompressed(scope: Scope) -> bool:
    path: str = scope["path"][len(scope.get("root_path", "")) :]
    return any(path == p or path.startswith(p + "/") for p in UNCOMPRESSED_PATHS)


def _accepts_gzip(scope: Scope) -> bool:
    """`Accept-Encoding` names gzip (or `*`) with a weight above 0: `gzip;q=0` refuses it
    (RFC 9110 §12.5.3), which Starlette's substring test took for a yes."""
    for name, value in scope["headers"]:
        if name != b"accept-encoding" or b"gzip" not in value.lower():
            continue
        for coding in value.decode("latin-1").lower().split(","):
            token, _, parameters = coding.partition(";")
            if token.strip() in ("gzip", "x-gzip") and _weight(parameters) > 0:
                return True
    return False


def _weight(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0
