"""Usage record ids are 64-bit on PostgreSQL: one row is written per request and purged rows do
not give their ids back, so the `serial` of 0002 ran out after 2^31 requests (a month at 800
requests/s) and every usage record after that was refused. SQLite's rowid is 64 bits already.

The column change rewrites `usage_record` under an exclusive lock: the table holds the retention
period's requests (90 days by default), so on a busy deployment run it in a quiet hour. Downgrade
fails once an id is past 2^31 - 1, as it must.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `ALTER SEQUENCE … AS` raises the sequence's maximum with its type (the column's type alone
# would leave `nextval` stopping at 2^31 - 1).
_SEQUENCE_AS = (
    "DO $$ BEGIN EXECUTE format('ALTER SEQUENCE %s AS {type}',"
    " pg_get_serial_sequence('usage_record', 'id')); END $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("usage_record", "id", type_=sa.BigInteger(), existing_type=sa.Integer())
    op.execute(_SEQUENCE_AS.format(type="bigint"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_SEQUENCE_AS.format(type="integer"))
    op.alter_column("usage_record", "id", type_=sa.Integer(), existing_type=sa.BigInteger())
