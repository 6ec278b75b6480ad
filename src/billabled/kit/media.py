"""Which request bodies are JSON: one rule for the platform layer (415 otherwise) and the route
that parses them."""

from __future__ import annotations


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or an `application/…+json` type (RFC 6839), any parameters, any case."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
