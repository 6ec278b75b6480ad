"""Opaque, prefixed, time-sortable identifiers (SPEC §3): `ws_01jd3x…`.

The part after the prefix is a ULID (48-bit millisecond timestamp + 80 random bits) in lower-case
Crockford base32, so ids of one kind sort by creation time, as strings, in every database.
"""

from __future__ import annotations

import re
from typing import Final

from ulid import ULID

PREFIXES: Final = frozenset(
    {
        "ws", "usr", "mem", "cli", "proj", "task", "sub", "tag", "sch", "te", "tms", "inv",
        "key", "whk", "evt", "dlv", "aud", "job", "req",
    }
)  # fmt: skip

ID_MAX_LENGTH: Final = 32  # longest prefix (4) + "_" + 26
_ID_PATTERN: Final = re.compile(r"^([a-z]{2,4})_([0-9a-hjkmnp-tv-z]{26})$")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{str(ULID()).lower()}"


def is_valid_id(value: str, prefix: str) -> bool:
    """True when `value` is shaped like an id of this kind (it may still not exist)."""
    match = _ID_PATTERN.match(value)
    return match is not None and match.group(1) == prefix
