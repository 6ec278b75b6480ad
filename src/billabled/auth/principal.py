"""The Principal: who is calling, for which workspace, with which effective scopes.

Every door (HTTP API, MCP, CLI, web app) hands services a Principal; services take the workspace
from it, never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billabled.audit.service import Actor
from billabled.auth.scopes import Scope
from billabled.models.membership import Role


@dataclass(frozen=True, slots=True)
class Principal:
    workspace_id: str
    workspace_name: str
    plan: str
    currency: str
    time_zone: str
    week_start: int  # ISO weekday the workspace's weeks start on, 1 (Monday) to 7
    user_id: str
    user_name: str
    user_email: str
    role: Role
    key_id: str | None
    key_name: str | None
    key_prefix: str | None
    key_expires_at: datetime | None
    granted_scopes: frozenset[Scope]
    effective_scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.effective_scopes

    @property
    def actor(self) -> Actor:
        return Actor("api_key", self.key_id) if self.key_id else Actor("user", self.user_id)

    @property
    def is_manager_or_above(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN, Role.MANAGER)
