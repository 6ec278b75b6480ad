"""Which request bodies are JSON: one rule for the platform layer (415 otherwise) and the route
that parses them."""

from __future__ import annotations

import re

# A charset name worth naming back (a token); anything else is refused without being echoed.
_CHARSET_NAME = re.compile(r"[A-Za-z0-9._:-]{1,40}")
# UTF-8, and ASCII, which is UTF-8 too (RFC 8259 §11: the parameter changes nothing for JSON).
_READ_AS_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or an `application/…+json` type (RFC 6839), any parameters, any case."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def refused_charset(content_type: str) -> str | None:
    """The `charset` a JSON body declares when it is not UTF-8 (RFC 8259 §8.1: JSON is UTF-8),
    quoted for a message (or "" when not worth echoing); None when it is UTF-8 or not said. Read
    as UTF-8 regardless, Latin-1 text was stored as other characters or refused as "not JSON"."""
    if "charset" not in content_type.lower():
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            continue
        charset = value.strip().strip('"').strip()
        if charset.lower() in _READ_AS_UTF8:
            return None
        return f" {charset!r}" if _CHARSET_NAME.fullmatch(charset) else ""
    return None
