"""What `/me` says about the calling key."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from billabled.auth.scopes import Scope
from billabled.kit.schema import ApiModel
from billabled.models.membership import Role
from billabled.models.workspace import Plan


class MeWorkspace(ApiModel):
    id: str
    name: str
    plan: Plan
    currency: str
    time_zone: str = Field(
        description="IANA zone of the workspace: a time entry's `date` is its start's day there."
    )
    week_start: int = Field(
        ge=1, le=7, description="ISO weekday its weeks start on: 1 (Monday) to 7 (Sunday)."
    )


class MeKey(ApiModel):
    id: str
    name: str
    prefix: str
    expires_at: datetime | None


class MeUser(ApiModel):
    id: str
    name: str
    email: str
    role: Role


class MeScopes(ApiModel):
    granted: list[Scope]
    effective: list[Scope]


class MeRateLimit(ApiModel):
    limit: int
    remaining: int
    reset_at: datetime
    window_seconds: int


class Me(ApiModel):
    workspace: MeWorkspace
    key: MeKey
    user: MeUser
    scopes: MeScopes
    rate_limit: MeRateLimit
