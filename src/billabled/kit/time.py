"""Time helpers. Timestamps are timezone-aware UTC everywhere in the code."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

# The years a date of work may fall in, for time and scheduled work alike: outside them a date
# is a typing mistake, and far outside them it would overflow the time zone arithmetic.
FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 2999


def plausible_date(value: date) -> date:
    """`value`, or a ValueError when its year is outside FIRST_YEAR..LAST_YEAR (a validator)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix and millisecond precision, as the API renders it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
