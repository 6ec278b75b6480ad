"""The fingerprint of the secret key the database's API keys were made under (one row), so that
a process with another secret key is stopped with a clear error (README, Production).

Empty until the first `billabled migrate`, `serve` or `keys create` of this release records the
secret key it runs with.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_secret_check_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_check")),
    )


def downgrade() -> None:
    op.drop_table("secret_check")
