"""Money and time amounts are never below zero in the database itself: rates, fees, budgets and
estimates (the API refused them already; a script, an import or a bug writing SQL did not).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS: dict[str, tuple[str, ...]] = {
    "client": ("default_hourly_rate_minor",),
    "membership": ("default_bill_rate_minor", "default_cost_rate_minor"),
    "project": (
        "hourly_rate_minor",
        "fixed_fee_minor",
        "budget_seconds",
        "budget_amount_minor",
        "retainer_included_seconds",
        "retainer_monthly_fee_minor",
        "retainer_overage_rate_minor",
    ),
    "task": ("estimate_seconds",),
    "subtask": ("estimate_seconds",),
    "time_entry": ("rate_minor",),
}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_check_constraint(
                    op.f(f"ck_{table}_{column}_not_negative"), f"{column} >= 0"
                )


def downgrade() -> None:
    for table, columns in reversed(_COLUMNS.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}_not_negative"), type_="check")
