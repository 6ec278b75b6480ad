"""Indexes for the remaining list filters; tag names unique ignoring case.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:42:41.965485
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.create_index(
            "ix_client_workspace_id_archived", ["workspace_id", "archived"], unique=False
        )

    with op.batch_alter_table("subtask", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subtask_workspace_id_project_id", ["workspace_id", "project_id"], unique=False
        )
        batch_op.create_index(
            "ix_subtask_workspace_id_status", ["workspace_id", "status"], unique=False
        )

    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("uq_tag_workspace_id_name"))
    op.create_index(
        "uq_tag_workspace_id_lower_name",
        "tag",
        ["workspace_id", sa.text("lower(name)")],
        unique=True,
    )

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_workspace_id_status", ["workspace_id", "status"], unique=False
        )

    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_time_entry_workspace_id_status_work_date",
            ["workspace_id", "status", "work_date"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_time_entry_workspace_id_status_work_date")

    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_workspace_id_status")

    op.drop_index("uq_tag_workspace_id_lower_name", table_name="tag")
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("uq_tag_workspace_id_name"), ["workspace_id", "name"], unique=True
        )

    with op.batch_alter_table("subtask", schema=None) as batch_op:
        batch_op.drop_index("ix_subtask_workspace_id_status")
        batch_op.drop_index("ix_subtask_workspace_id_project_id")

    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_index("ix_client_workspace_id_archived")
