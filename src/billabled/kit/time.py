"""Time helpers. Timestamps are timezone-aware UTC everywhere in the code."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator

from billabled.kit.schema import SchemaKeywords

# The years a date of work may fall in, for time and scheduled work alike: outside them a date
# is a typing mistake, and far outside them it would overflow the time zone arithmetic.
FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 2999
# The same years for the reference, as the start of a date's text (tests/test_openapi.py).
YEARS_PATTERN: Final = r"^(19\d\d|2\d\d\d)-"


def plausible_date(value: date) -> date:
    """`value`, or a ValueError when its year is outside FIRST_YEAR..LAST_YEAR (a validator)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix and millisecond precision, as the CLI prints it. (The
    API's JSON renders microseconds, or none on a whole second: orjson's `OPT_UTC_Z`.)"""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def iso_date_text(value: Any) -> Any:
    """Only `YYYY-MM-DD` text reaches the date parser (which then checks the calendar): pydantic
    alone would also take `2026-01-05T00:00:00` or a Unix time (a before-validator)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


# RFC 3339's date-time (section 5.6), with the space its note allows between date and time.
_RFC_3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


# An RFC 3339 time whose offset's `+` was decoded to a space.
_PLUS_AS_SPACE: Final = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)? \d\d:\d\d", re.ASCII
)


def time_text(value: Any) -> Any:
    """Only an RFC 3339 date-time reaches the time parser (which then checks the calendar and the
    clock): pydantic alone would take a Unix time, as a number or as text (`1700000000`,
    `"0.5"`), a time without seconds (`09:00Z`) or an offset without its colon (`+0100`)
    (a before-validator)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and (rfc_3339 := _RFC_3339.fullmatch(value)):
        if rfc_3339.group(1) == "60":
            # RFC 3339 allows it; Python's datetime (and so every system that stores one) not.
            raise ValueError("a leap second (:60) is not taken: send :59.999999 or the next second")
        if rfc_3339.group(1) > "60":
            raise ValueError("seconds must be 00 to 59")
        return value
    if isinstance(value, str) and _PLUS_AS_SPACE.fullmatch(value):
        # `?updatedSince=2026-03-02T09:00:00+01:00` unencoded: a query string's `+` is a space.
        raise ValueError(
            "must be an RFC 3339 time with an offset; this one has a space where its offset's + "
            "should be (in a URL's query, + means a space: encode it as %2B, or use Z)"
        )
    raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-03-02T09:00:00Z")


# A request's calendar date: `YYYY-MM-DD`, in the years work may be recorded in.
RequestDate = Annotated[
    date,
    BeforeValidator(iso_date_text),
    AfterValidator(plausible_date),
    SchemaKeywords(pattern=YEARS_PATTERN),
]
