"""An audit record's missing `before` (a creation) or `after` (a deletion) is SQL NULL.

They were stored as the JSON document `null`, which `IS NULL` does not find: a query for the
deletions by `after IS NULL` found none. The columns are unchanged; the values are rewritten.
Idempotency records' response headers are stored the same way from now on (they live 24 hours
and are read the same either way, so their rows are left).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # JSONB on PostgreSQL, the JSON text on SQLite.
    null = "'null'::jsonb" if op.get_bind().dialect.name == "postgresql" else "'null'"
    for column in ("before", "after"):
        op.execute(f"UPDATE audit_record SET {column} = NULL WHERE {column} = {null}")


def downgrade() -> None:
    null = "'null'::jsonb" if op.get_bind().dialect.name == "postgresql" else "'null'"
    for column in ("before", "after"):
        op.execute(f"UPDATE audit_record SET {column} = {null} WHERE {column} IS NULL")
