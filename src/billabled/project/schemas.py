"""Projects on the wire.

- `currency` is the client's and read only: a project bills in its client's currency.
- `retainer` is one object (included seconds per month, monthly fee, overage rate), present only
  on retainer projects; on update it is replaced as a whole, and `null` removes it.
- `tagIds` is the whole set of the project's tags, in id (creation) order; on update it replaces
  the set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from pydantic.types import Strict
from sqlalchemy import Row

from billabled.kit.schema import ApiModel, NotNull, UpdateModel
from billabled.kit.text import Code, Name
from billabled.models.project import BillingType, ProjectStatus
from billabled.models.project import Project as ProjectRow

# The columns are 32-bit integers on PostgreSQL; larger values are refused here, not by the DB.
MAX_INT = 2_000_000_000

RecordId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RateMinor = Annotated[int, Strict(), Field(ge=0, le=100_000_000)]
AmountMinor = Annotated[int, Strict(), Field(ge=0, le=MAX_INT)]
# A budget of zero cannot be burned against; "no budget" is null.
BudgetSeconds = Annotated[int, Strict(), Field(gt=0, le=MAX_INT)]
BudgetMinor = Annotated[int, Strict(), Field(gt=0, le=MAX_INT)]
TagIds = Annotated[list[RecordId], Field(max_length=100)]


class Retainer(ApiModel):
    included_seconds_per_month: int
    monthly_fee_minor: int
    overage_rate_minor: int | None


class RetainerTerms(ApiModel):
    """A retainer: hours included each month for a monthly fee, extra hours at the overage rate."""

    included_seconds_per_month: Annotated[int, Strict(), Field(gt=0, le=MAX_INT)]
    monthly_fee_minor: AmountMinor
    overage_rate_minor: RateMinor | None = None


class Project(ApiModel):
    id: str
    client_id: str
    name: str
    code: str | None
    billing_type: BillingType
    currency: str = Field(description="The client's currency (read only).")
    hourly_rate_minor: int | None
    fixed_fee_minor: int | None = Field(description="Only on fixed_fee projects.")
    budget_seconds: int | None
    budget_amount_minor: int | None
    retainer: Retainer | None = Field(description="Only on retainer projects.")
    status: ProjectStatus
    tag_ids: list[str]
    created_at: datetime
    updated_at: datetime


class ProjectCreate(ApiModel):
    client_id: RecordId = Field(description="A client of the workspace (cli_…).")
    name: Name
    code: Code | None = None
    billing_type: BillingType = BillingType.HOURLY
    hourly_rate_minor: RateMinor | None = None
    fixed_fee_minor: AmountMinor | None = Field(
        default=None, description="Only with billingType fixed_fee."
    )
    budget_seconds: BudgetSeconds | None = None
    budget_amount_minor: BudgetMinor | None = None
    retainer: RetainerTerms | None = Field(
        default=None, description="Required with billingType retainer, refused otherwise."
    )
    status: ProjectStatus = ProjectStatus.ACTIVE
    tag_ids: TagIds = Field(default_factory=list, description="Tags of the workspace (tag_…).")


class ProjectUpdate(UpdateModel):
    """Only the fields sent change; `null` clears an optional field. Moving the project to another
    client (`clientId`) is allowed only while it has no time entries."""

    client_id: NotNull[RecordId] = None
    name: NotNull[Name] = None
    code: Code | None = None
    billing_type: NotNull[BillingType] = None
    hourly_rate_minor: RateMinor | None = None
    fixed_fee_minor: AmountMinor | None = None
    budget_seconds: BudgetSeconds | None = None
    budget_amount_minor: BudgetMinor | None = None
    retainer: RetainerTerms | None = None
    status: NotNull[ProjectStatus] = None
    tag_ids: NotNull[TagIds] = None


def project_json(project: ProjectRow | Row[Any], tag_ids: list[str]) -> dict[str, Any]:
    """The wire form of a project (an ORM object or a list row) with its tag ids."""
    retainer = (
        {
            "includedSecondsPerMonth": project.retainer_included_seconds,
            "monthlyFeeMinor": project.retainer_monthly_fee_minor,
            "overageRateMinor": project.retainer_overage_rate_minor,
        }
        if project.billing_type == BillingType.RETAINER
        and project.retainer_included_seconds is not None
        else None
    )
    return {
        "id": project.id,
        "clientId": project.client_id,
        "name": project.name,
        "code": project.code,
        "billingType": str(project.billing_type),
        "currency": project.currency,
        "hourlyRateMinor": project.hourly_rate_minor,
        "fixedFeeMinor": project.fixed_fee_minor,
        "budgetSeconds": project.budget_seconds,
        "budgetAmountMinor": project.budget_amount_minor,
        "retainer": retainer,
        "status": str(project.status),
        "tagIds": tag_ids,
        "createdAt": project.created_at,
        "updatedAt": project.updated_at,
    }
