"""Billing rates of time and what it comes to (SPEC §4 "Rates and rounding").

Reused by time entries (the snapshot), analytics and invoices (the amounts). Invariants:

- The **effective hourly rate** of a person's work on a project is the first one set of:
  1. the project's: `hourly_rate_minor` for `hourly` and `fixed_fee` projects (on a fixed fee it is
     the standard value of the time, not what the client pays); for `retainer` projects the
     `retainer_overage_rate_minor` when set, else `hourly_rate_minor`;
  2. the client's `default_hourly_rate_minor`;
  3. the member's `default_bill_rate_minor` (their membership of the workspace);
  otherwise there is none (`None`). `non_billable` projects have none: their time is never billed.
  The rate is in the project's currency; the member's is in the workspace's, so it prices only
  projects billed in that currency (rates are never converted).
- A time entry **snapshots** that rate when it is logged, and where it came from (`RateSource`),
  and keeps them: changing a project's, client's or member's rate later never reprices logged
  work. The snapshot is re-taken only when an update changes the entry's project; given to
  another member, an entry the member's rate priced (or that nothing priced) takes the new
  member's rate, judged by where its snapshot came from, not by today's rates. A
  non-billable entry keeps its snapshot but shows no rate and no amount: marked billable again,
  it bills at the rate of when it was logged.
- The **amount** of an entry is `rate * seconds / 3600`, rounded half up to a whole minor unit,
  per entry, on the raw duration (invoice rounding of durations is applied by invoicing, never
  stored). Rates and durations are never negative, so half up is `(r * s + 1800) // 3600`.
  `amount_minor` (Python) and `amount_minor_sql` (SQL) give the same value for every input; the
  SQL form multiplies in 64-bit integers (100,000,000 * 86,400 overflows a 32-bit integer).
"""

from __future__ import annotations

import enum
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, case, cast, literal

from billabled.models.project import BillingType

SECONDS_PER_HOUR: Final = 3600
_HALF_HOUR: Final = SECONDS_PER_HOUR // 2


def project_rate_minor(
    billing_type: str, hourly_rate_minor: int | None, retainer_overage_rate_minor: int | None
) -> int | None:
    """The rate the project itself sets for its time (step 1 above), or None."""
    if billing_type == BillingType.NON_BILLABLE:
        return None
    if billing_type == BillingType.RETAINER and retainer_overage_rate_minor is not None:
        return retainer_overage_rate_minor
    return hourly_rate_minor


class RateSource(enum.StrEnum):
    """Where a rate snapshot came from (`time_entry.rate_source`)."""

    PROJECT = "project"  # the project's rate, or a non_billable project's none
    CLIENT = "client"
    MEMBER = "member"
    NONE = "none"  # nothing set one: the member's rate would have


def effective_rate(
    *,
    billing_type: str,
    project_hourly_rate_minor: int | None,
    project_retainer_overage_rate_minor: int | None,
    client_default_hourly_rate_minor: int | None,
    member_default_bill_rate_minor: int | None,
) -> tuple[int | None, RateSource]:
    """The hourly rate, in the project's currency, at which this person's time on this project
    is billed now: project → client → member, or None (see the module's docstring); and which
    of them set it."""
    if billing_type == BillingType.NON_BILLABLE:
        return None, RateSource.PROJECT
    for rate, source in (
        (
            project_rate_minor(
                billing_type, project_hourly_rate_minor, project_retainer_overage_rate_minor
            ),
            RateSource.PROJECT,
        ),
        (client_default_hourly_rate_minor, RateSource.CLIENT),
        (member_default_bill_rate_minor, RateSource.MEMBER),
    ):
        if rate is not None:
            return rate, source
    return None, RateSource.NONE


def effective_rate_minor(
    *,
    billing_type: str,
    project_hourly_rate_minor: int | None,
    project_retainer_overage_rate_minor: int | None,
    client_default_hourly_rate_minor: int | None,
    member_default_bill_rate_minor: int | None,
) -> int | None:
    """The rate of `effective_rate`, alone."""
    rate, _ = effective_rate(
        billing_type=billing_type,
        project_hourly_rate_minor=project_hourly_rate_minor,
        project_retainer_overage_rate_minor=project_retainer_overage_rate_minor,
        client_default_hourly_rate_minor=client_default_hourly_rate_minor,
        member_default_bill_rate_minor=member_default_bill_rate_minor,
    )
    return rate


def amount_minor(rate_minor: int | None, duration_seconds: int, *, billable: bool) -> int | None:
    """What `duration_seconds` at `rate_minor` an hour comes to, rounded half up; None when the
    time is not billable or has no rate."""
    if not billable or rate_minor is None:
        return None
    return (rate_minor * duration_seconds + _HALF_HOUR) // SECONDS_PER_HOUR


def amount_minor_sql(
    rate_minor: ColumnElement[Any] | Any,
    duration_seconds: ColumnElement[Any] | Any,
    billable: ColumnElement[Any] | Any,
) -> ColumnElement[Any]:
    """`amount_minor` as a SQL expression over columns (e.g. `TimeEntry.rate_minor`), for sums
    and lists computed in the database. NULL when not billable or without a rate."""
    product = cast(rate_minor, BigInteger) * duration_seconds + literal(_HALF_HOUR, BigInteger)
    # `//` is integer division on integers in every dialect (`/` would be true division).
    return case((billable, product // literal(SECONDS_PER_HOUR, BigInteger)), else_=None)
