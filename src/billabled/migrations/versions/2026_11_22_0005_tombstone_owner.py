"""Tombstones remember whose record it was (a member's sync replays only their own deletions).

Tombstones written before this revision have no owner: managers still see them, members do not.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tombstone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_user_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tombstone", schema=None) as batch_op:
        batch_op.drop_column("owner_user_id")
