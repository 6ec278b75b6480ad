"""A time entry records where its rate snapshot came from: the project, the client, the member,
or nothing. Given to another member, an entry the member's rate priced takes the new member's;
judged by today's rates instead, an entry priced by its member kept the former member's rate
once the client got one, and an entry priced by its client took the member's once the client's
was cleared. Entries logged before this keep NULL, and the rule of today's rates.

A nullable column without a default: added without rewriting the table on either backend.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The constraint on the column itself: SQLite adds it without rebuilding the table.
    op.execute(
        "ALTER TABLE time_entry ADD COLUMN rate_source VARCHAR(8) "
        "CONSTRAINT ck_time_entry_rate_source_known "
        "CHECK (rate_source IN ('project', 'client', 'member', 'none'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE time_entry DROP COLUMN rate_source")
