"""The NUL character (U+0000) in what a request sends.

No column takes one: PostgreSQL refuses it in text and in JSON (a 500 from the driver, seen by a
helper's audit with schemathesis), and SQLite would keep it and answer it back, so the backends
would disagree. A request that carries one is refused as invalid, naming where: a 422 like any
other field error.
"""

from __future__ import annotations

from typing import Any, Final

NUL: Final = "\x00"
TYPE: Final = "string_nul"
MESSAGE: Final = "must not contain the NUL character (U+0000)"


def nul_error(loc: tuple[str | int, ...]) -> dict[str, Any]:
    """A validation error in FastAPI's shape, at `loc`."""
    return {"type": TYPE, "loc": loc, "msg": MESSAGE, "input": None}


def nul_errors(document: Any, loc: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """An error for each string of a parsed JSON `document` (object keys too) that holds a NUL,
    located under `loc`. Walked without recursion: the parser accepts nesting deeper than
    Python's stack."""
    errors: list[dict[str, Any]] = []
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, loc)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                errors.append(nul_error(where))
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    errors.append(nul_error(where))
                pending.append((item, (*where, key)))
        elif isinstance(value, list):
            pending.extend((item, (*where, index)) for index, item in enumerate(value))
    errors.reverse()  # document order, near enough: the walk pops the last first
    return errors
