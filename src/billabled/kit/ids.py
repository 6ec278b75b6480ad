"""Opaque, prefixed, time-sortable identifiers (SPEC §3): `ws_01jd3x…`.

The part after the prefix is a ULID (48-bit millisecond timestamp + 80 random bits) in lower-case
Crockford base32, so ids of one kind sort by creation time, as strings, in every database.
"""

from __future__ import annotations

import re
import secrets
import time
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


_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Every 10-bit value as its two characters: a ULID (130 bits with two leading zero bits) is 13 of
# them. python-ulid's `str()` encodes bit by bit in Python (~4 µs an id), which showed in bulk
# writes that make three ids per entry.
_PAIRS: Final = [first + second for first in _ALPHABET for second in _ALPHABET]
_LOW_BITS: Final = 20  # the last four characters


def _encode(value: int) -> str:
    """A 128-bit ULID as its 26 lower-case Crockford characters."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def _check(prefix: str) -> None:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")


def new_id(prefix: str) -> str:
    _check(prefix)
    return f"{prefix}_{_encode(int(ULID()))}"


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` new ids in ascending order: a ULID and its successors (the ULID spec's monotonic
    run), so ids handed out together sort in the order they were handed out."""
    _check(prefix)
    if count > 1 << (_LOW_BITS - 1):
        raise ValueError("too many ids for one run")
    # A fresh ULID (this millisecond, 80 new random bits: python-ulid's own ULIDs of the same
    # millisecond are consecutive, so runs built on them would overlap), with the top bit of its
    # last 20 cleared, so its successors only ever change the last four characters: encode the
    # head once, then each tail from the table.
    randomness = secrets.randbits(80) & ~(1 << (_LOW_BITS - 1))
    first = (time.time_ns() // 1_000_000) << 80 | randomness
    head = f"{prefix}_{_encode(first)[:-4]}"
    low = first & ((1 << _LOW_BITS) - 1)
    return [f"{head}{_PAIRS[n >> 10]}{_PAIRS[n & 1023]}" for n in range(low, low + count)]


def is_valid_id(value: str, prefix: str) -> bool:
    """True when `value` is shaped like an id of this kind (it may still not exist)."""
    match = _ID_PATTERN.match(value)
    return match is not None and match.group(1) == prefix
