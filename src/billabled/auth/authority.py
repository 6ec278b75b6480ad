"""What a request's answer relied on, beyond a valid key: the scopes it was checked for, and the
role it needed to work on other people's time.

An Idempotency-Key keeps its request's answer for 24 hours. SPEC §4 says a demoted creator shrinks
the key on the next request, so a stored answer is handed out again only while the key still
holds everything the first request relied on (docs/decisions.md §38). Checks record what they
relied on while `recording()` is active (the platform layer turns it on for such requests only);
elsewhere `rely_on` costs one context-variable read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from billabled.auth.principal import Principal
from billabled.auth.scopes import Scope

# Not a scope: a manager's or above's right to log, move or change other people's time.
OTHERS_TIME = "role:others-time"

_relied_on: ContextVar[set[str] | None] = ContextVar("billabled_relied_on", default=None)


def rely_on(need: str) -> None:
    needs = _relied_on.get()
    if needs is not None:
        needs.add(need)


@contextmanager
def recording(needs: set[str]) -> Iterator[None]:
    """Collect into `needs` what the checks run inside rely on."""
    token = _relied_on.set(needs)
    try:
        yield
    finally:
        _relied_on.reset(token)


def still_holds(principal: Principal, needs: Iterable[str]) -> bool:
    for need in needs:
        if need == OTHERS_TIME:
            if not principal.is_manager_or_above:
                return False
            continue
        try:
            scope = Scope(need)
        except ValueError:  # recorded by a release that knew more: hold nothing unknown
            return False
        if not principal.has(scope):
            return False
    return True
