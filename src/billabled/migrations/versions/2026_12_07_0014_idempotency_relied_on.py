"""An idempotency record keeps what its response relied on: the scopes the request was checked
for, and the role it needed for other people's time. A replay needs them still (decisions §38).

Records stored before keep NULL and replay as before; they expire within 24 hours.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_record",
        sa.Column(
            "relied_on",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True), "postgresql"
            ),
            nullable=True,
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch:
        batch.drop_column("relied_on")
