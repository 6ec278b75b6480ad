"""Lists sorted by name read their order from an index, as by createdAt and updatedAt: projects,
tasks, subtasks and tags gain (workspace_id, name, id) (clients had it). A workspace's 20,000
tasks were sorted whole for every page.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("project", "task", "subtask", "tag")


def upgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_workspace_id_name_id", table, ["workspace_id", "name", "id"])


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_index(f"ix_{table}_workspace_id_name_id", table_name=table)
