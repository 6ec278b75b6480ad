"""API scopes and the role ceilings that bound them (SPEC §4).

A key's effective scopes are its granted scopes ∩ what its creator's *current* role allows, so a
demoted creator shrinks every key they made and a removed creator's keys stop working.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from typing import Final

from billabled.models.membership import Role


class Scope(enum.StrEnum):
    READ_CLIENTS = "read:clients"
    WRITE_CLIENTS = "write:clients"
    READ_PROJECTS = "read:projects"
    WRITE_PROJECTS = "write:projects"
    READ_TASKS = "read:tasks"
    WRITE_TASKS = "write:tasks"
    READ_TAGS = "read:tags"
    WRITE_TAGS = "write:tags"
    READ_SCHEDULE = "read:schedule"
    WRITE_SCHEDULE = "write:schedule"
    READ_TIME = "read:time"
    WRITE_TIME = "write:time"
    READ_USERS = "read:users"
    READ_APPROVALS = "read:approvals"
    WRITE_APPROVALS = "write:approvals"
    READ_ANALYTICS = "read:analytics"
    READ_INVOICES = "read:invoices"
    WRITE_INVOICES = "write:invoices"
    READ_PROOF_PACKS = "read:proof-packs"
    READ_REVENUE_INTELLIGENCE = "read:revenue-intelligence"
    EXPORT_DATA = "export:data"
    READ_WEBHOOKS = "read:webhooks"
    WRITE_WEBHOOKS = "write:webhooks"
    READ_EVENTS = "read:events"


ALL_SCOPES: Final = frozenset(Scope)

_MEMBER: Final = frozenset(
    {
        Scope.READ_CLIENTS,
        Scope.READ_PROJECTS,
        Scope.READ_TASKS,
        Scope.READ_TAGS,
        Scope.READ_SCHEDULE,
        Scope.READ_USERS,
        # Members read and write their own time only; services enforce the "own".
        Scope.READ_TIME,
        Scope.WRITE_TIME,
    }
)
_MANAGER_EXCLUDED: Final = frozenset(
    {
        Scope.READ_PROOF_PACKS,
        Scope.READ_REVENUE_INTELLIGENCE,
        Scope.EXPORT_DATA,
        Scope.WRITE_INVOICES,
        Scope.WRITE_WEBHOOKS,
    }
)

ROLE_CEILINGS: Final[dict[Role, frozenset[Scope]]] = {
    Role.MEMBER: _MEMBER,
    Role.MANAGER: ALL_SCOPES - _MANAGER_EXCLUDED,
    Role.ADMIN: ALL_SCOPES,
    Role.OWNER: ALL_SCOPES,
}


def ceiling(role: str) -> frozenset[Scope]:
    """The scopes a role may hold; an unknown role may hold none."""
    try:
        return ROLE_CEILINGS[Role(role)]
    except ValueError:
        return frozenset()


def parse_scopes(raw: str | list[str]) -> frozenset[Scope]:
    """`read:clients,write:time`, a list, or `all`. Raises ValueError naming an unknown scope."""
    items = raw.split(",") if isinstance(raw, str) else raw
    names = {item.strip() for item in items if item.strip()}
    if names == {"all"}:
        return ALL_SCOPES
    unknown = sorted(name for name in names if name not in Scope._value2member_map_)
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    if not names:
        raise ValueError("at least one scope is required")
    return frozenset(Scope(name) for name in names)


def sorted_scopes(scopes: frozenset[Scope] | set[Scope]) -> list[str]:
    """Scopes in the order SPEC lists them (stable for responses and storage)."""
    return list(_sorted_names(frozenset(scopes)))


@lru_cache(maxsize=1024)
def _sorted_names(scopes: frozenset[Scope]) -> tuple[str, ...]:
    # Cached: a key's scopes are the same few sets on every request (`/me` lists two of them).
    return tuple(scope.value for scope in sorted(scopes, key=_RANK.__getitem__))


_RANK: Final = {scope: rank for rank, scope in enumerate(Scope)}
