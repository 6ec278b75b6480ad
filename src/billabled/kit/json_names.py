"""JSON objects that name a member twice (RFC 8259 §4: names "SHOULD be unique").

Parsers disagree on which of two values counts (Python's and most others keep the last, some the
first): a proxy, WAF or log reading the body one way saw other data than was stored. A body that
names a member twice is refused as invalid, naming where: a 422 like any other field error.
"""

from __future__ import annotations

import json
from typing import Any, Final

TYPE: Final = "duplicate_key"
MESSAGE: Final = "is given more than once in its object: send each name once"


class _Repeated(dict[str, Any]):
    """An object in which some names were given more than once (the last value kept)."""

    repeated: list[str]


class _Repeats(Exception):
    """An object of the document gives a name twice."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _Repeats
    return value


def _marked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    repeated = _Repeated(value)
    seen: set[str] = set()
    repeated.repeated = []
    for name, _ in pairs:
        if name in seen and name not in repeated.repeated:
            repeated.repeated.append(name)
        seen.add(name)
    return repeated


# Built once: a decoder per request cost as much as the parse (3.6 -> 8.4 µs for an entry).
_UNIQUE: Final = json.JSONDecoder(object_pairs_hook=_unique_object)


def loads(text: str) -> tuple[Any, bool]:
    """`text` parsed as `json.loads` parses it, and whether some object in it repeats a name
    (then `repeated_name_errors` says where: the document is parsed again, marking them)."""
    try:
        return _UNIQUE.decode(text), False
    except _Repeats:
        return json.loads(text, object_pairs_hook=_marked_object), True


def repeated_name_errors(document: Any, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """A validation error in FastAPI's shape for each name repeated in an object of the parsed
    `document`, located under `loc`. Walked without recursion, as `kit.nul.nul_errors` is."""
    errors: list[dict[str, Any]] = []
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, loc)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, dict):
            if isinstance(value, _Repeated):
                errors.extend(  # reversed: the list is reversed once walked
                    {"type": TYPE, "loc": (*where, name), "msg": MESSAGE, "input": None}
                    for name in reversed(value.repeated)
                )
            pending.extend((item, (*where, key)) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((item, (*where, index)) for index, item in enumerate(value))
    errors.reverse()
    return errors
