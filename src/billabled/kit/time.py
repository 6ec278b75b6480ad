"""Time helpers. Timestamps are timezone-aware UTC everywhere in the code."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix and millisecond precision, as the API renders it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
