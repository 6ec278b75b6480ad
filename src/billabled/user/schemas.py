"""Users as the API shows them: workspace members, without secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from billabled.kit.schema import ApiModel
from billabled.models.membership import Role


class User(ApiModel):
    id: str
    name: str
    email: str
    role: Role
    weekly_capacity_seconds: int
    default_bill_rate_minor: int | None
    # Visible to managers and above only; null for members.
    default_cost_rate_minor: int | None
    currency: str
    created_at: datetime
    updated_at: datetime


def user_json(row: Row[Any], currency: str, *, show_cost: bool) -> dict[str, Any]:
    """The wire form of one member row (same fields as `User`, built without validation)."""
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "role": row.role,
        "weeklyCapacitySeconds": row.weekly_capacity_seconds,
        "defaultBillRateMinor": row.default_bill_rate_minor,
        "defaultCostRateMinor": row.default_cost_rate_minor if show_cost else None,
        "currency": currency,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }
