"""Projects: how work for a client is billed (hourly, fixed fee, retainer, non-billable)."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdColumn,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    in_same_workspace,
    not_negative,
    referable_in_workspace,
)


class BillingType(enum.StrEnum):
    HOURLY = "hourly"
    FIXED_FEE = "fixed_fee"
    RETAINER = "retainer"
    NON_BILLABLE = "non_billable"


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Project(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "project"
    id_prefix = "proj"

    client_id: Mapped[str] = mapped_column(IdColumn())
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(50), default=None)
    billing_type: Mapped[str] = mapped_column(String(20), default=BillingType.HOURLY.value)
    currency: Mapped[str] = mapped_column(String(3))
    hourly_rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    fixed_fee_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    budget_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    budget_amount_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    retainer_included_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    retainer_monthly_fee_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    retainer_overage_rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(20), default=ProjectStatus.ACTIVE.value)

    __table_args__ = (
        *not_negative(
            "hourly_rate_minor",
            "fixed_fee_minor",
            "budget_seconds",
            "budget_amount_minor",
            "retainer_included_seconds",
            "retainer_monthly_fee_minor",
            "retainer_overage_rate_minor",
        ),
        referable_in_workspace(),
        in_same_workspace("project", "client_id", "client"),
        CheckConstraint(
            "billing_type IN ('hourly', 'fixed_fee', 'retainer', 'non_billable')",
            name="billing_type_known",
        ),
        CheckConstraint("status IN ('active', 'archived')", name="status_known"),
        Index("ix_project_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_project_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_project_workspace_id_name_id", "workspace_id", "name", "id"),
        Index("ix_project_workspace_id_client_id", "workspace_id", "client_id"),
        Index(
            "ix_project_workspace_id_status_billing_type", "workspace_id", "status", "billing_type"
        ),
        Index("ix_project_client_id", "client_id"),
    )
