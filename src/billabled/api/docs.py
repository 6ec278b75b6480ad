"""The interactive API reference: Swagger UI 5 at `/docs`, Redoc at `/redoc` (SPEC §4).

Invariants:

- Everything is served by this process: the pages reference only local paths (the vendored
  assets under `/static/vendor`, the document at `/api/v1/openapi.json`), so the reference works
  with no network. A Content-Security-Policy on both pages makes the browser refuse anything
  else, which also stops what the bundles would fetch on their own (Redoc's Redocly logo from a
  CDN; Swagger UI's online validator is switched off besides).
- Asset URLs carry a hash of the file (`?v=…`), answered with a year-long immutable cache; an
  asset asked for without it is revalidated. A vendor update is never hidden by a cache.
- Not part of the API: no key, no rate limit, not in the OpenAPI document.

The assets and how to update them: `billabled/web/static/vendor/README.md`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from billabled.api.openapi import OPENAPI_PATH
from billabled.api.routing import ApiRoute

VENDOR_DIR: Final = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"
VENDOR_URL: Final = "/static/vendor"
DOCS_PATH: Final = "/docs"
REDOC_PATH: Final = "/redoc"

SWAGGER_CSS: Final = "swagger-ui/swagger-ui.css"
SWAGGER_JS: Final = "swagger-ui/swagger-ui-bundle.js"
SWAGGER_FAVICON: Final = "swagger-ui/favicon-32x32.png"
REDOC_JS: Final = "redoc/redoc.standalone.js"

TITLE: Final = "Billabled Integration API v1"
# No web fonts: Redoc's default theme names Roboto and Montserrat, which pages usually load from
# Google Fonts. The system's own fonts look native and need no network.
SYSTEM_FONTS: Final = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)
MONOSPACE_FONTS: Final = (
    'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "Courier New", monospace'
)
_IMMUTABLE: Final = "public, max-age=31536000, immutable"


@functools.cache
def _asset_version(relative: str) -> str:
    return hashlib.sha256((VENDOR_DIR / relative).read_bytes()).hexdigest()[:16]


def _asset_url(relative: str) -> str:
    return f"{VENDOR_URL}/{relative}?v={_asset_version(relative)}"


def _js(value: Any) -> str:
    """A JSON value that is safe inside an inline <script> (no `</script>`, no `<!--`)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


@dataclass(frozen=True, slots=True)
class _Page:
    html: str
    headers: dict[str, str]


def _page(*, title: str, head: str, body: str, script: str, workers: bool = False) -> _Page:
    """An HTML page whose one inline script is allowed by its hash, and nothing external is."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = [
        "default-src 'none'",
        f"script-src 'self' 'sha256-{digest}'",
        # Both UIs style with inline <style> and style attributes (styled-components, React).
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        # The document, and the requests "Try it out" sends: this origin only.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if workers:  # Redoc runs its search index in a Web Worker made from a blob
        policy.append("worker-src 'self' blob:")
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{html.escape(title)}</title>
{head}
</head>
<body>
{body}
<script>{script}</script>
</body>
</html>
"""
    headers = {
        "Content-Security-Policy": "; ".join(policy),
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return _Page(document, headers)


@functools.cache
def _swagger_page() -> _Page:
    config = {
        "url": OPENAPI_PATH,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "persistAuthorization": True,
        "tryItOutEnabled": True,
        "displayRequestDuration": True,
        "showExtensions": True,
        "filter": True,
        "docExpansion": "list",
        "defaultModelsExpandDepth": 0,
        # The default validator is an online service (validator.swagger.io): never call it.
        "validatorUrl": None,
        "layout": "BaseLayout",
    }
    script = (
        f"window.ui = SwaggerUIBundle(Object.assign({_js(config)}, "
        "{presets: [SwaggerUIBundle.presets.apis], "
        "plugins: [SwaggerUIBundle.plugins.DownloadUrl]}));"
    )
    head = "\n".join(
        [
            f'<link rel="stylesheet" href="{_attr(_asset_url(SWAGGER_CSS))}">',
            f'<link rel="icon" type="image/png" href="{_attr(_asset_url(SWAGGER_FAVICON))}">',
            "<style>body { margin: 0; } .swagger-ui .info { margin: 32px 0; }</style>",
        ]
    )
    body = f'<div id="swagger-ui"></div>\n<script src="{_attr(_asset_url(SWAGGER_JS))}"></script>'
    return _page(title=f"{TITLE} — Swagger UI", head=head, body=body, script=script)


@functools.cache
def _redoc_page() -> _Page:
    options = {
        "expandResponses": "200,201",
        "requiredPropsFirst": True,
        "showExtensions": ["x-required-scope"],
        "hideDownloadButton": False,
        "theme": {
            "typography": {
                "fontFamily": SYSTEM_FONTS,
                "headings": {"fontFamily": SYSTEM_FONTS},
                "code": {"fontFamily": MONOSPACE_FONTS},
            },
        },
    }
    script = f'Redoc.init({_js(OPENAPI_PATH)}, {_js(options)}, document.getElementById("redoc"));'
    head = "\n".join(
        [
            f'<link rel="icon" type="image/png" href="{_attr(_asset_url(SWAGGER_FAVICON))}">',
            "<style>body { margin: 0; padding: 0; }</style>",
        ]
    )
    body = f'<div id="redoc"></div>\n<script src="{_attr(_asset_url(REDOC_JS))}"></script>'
    return _page(title=f"{TITLE} — Redoc", head=head, body=body, script=script, workers=True)


router = APIRouter(include_in_schema=False, route_class=ApiRoute)


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    page = _swagger_page()
    return HTMLResponse(page.html, headers=page.headers)


@router.get(REDOC_PATH, response_class=HTMLResponse)
async def redoc() -> HTMLResponse:
    page = _redoc_page()
    return HTMLResponse(page.html, headers=page.headers)


class VendorFiles(StaticFiles):
    """The vendored assets: cached for a year when asked for by hash, revalidated otherwise."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = _IMMUTABLE if versioned else "no-cache"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install_docs(app: FastAPI) -> None:
    """`/docs`, `/redoc` and the vendored assets at `/static/vendor` (gzip-compressed: the two
    bundles are ~2.8 MB raw, ~0.8 MB compressed)."""
    # Into the app's own route list, as the API's routes are (app.py): an included router is one
    # opaque route to the 405's `Allow`, which then named no method.
    app.router.routes.extend(router.routes)
    app.mount(
        VENDOR_URL,
        VendorFiles(directory=VENDOR_DIR),  # compressed for clients that ask (compression.py)
        name="vendor",
    )
