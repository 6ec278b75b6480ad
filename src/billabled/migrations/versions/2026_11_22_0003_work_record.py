"""The work record: clients, projects, tasks, subtasks, tags, scheduled work and time entries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:23:48.098862
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("default_hourly_rate_minor", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_client_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client")),
    )
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.create_index(
            "ix_client_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_client_workspace_id_external_ref", ["workspace_id", "external_ref"], unique=False
        )
        batch_op.create_index(
            "ix_client_workspace_id_name_id", ["workspace_id", "name", "id"], unique=False
        )
        batch_op.create_index(
            "ix_client_workspace_id_updated_at_id",
            ["workspace_id", "updated_at", "id"],
            unique=False,
        )

    op.create_table(
        "tag",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_tag_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
    )
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tag_workspace_id_created_at_id", ["workspace_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_tag_workspace_id_updated_at_id", ["workspace_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index("uq_tag_workspace_id_name", ["workspace_id", "name"], unique=True)

    op.create_table(
        "project",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=True),
        sa.Column("billing_type", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hourly_rate_minor", sa.Integer(), nullable=True),
        sa.Column("fixed_fee_minor", sa.Integer(), nullable=True),
        sa.Column("budget_seconds", sa.Integer(), nullable=True),
        sa.Column("budget_amount_minor", sa.Integer(), nullable=True),
        sa.Column("retainer_included_seconds", sa.Integer(), nullable=True),
        sa.Column("retainer_monthly_fee_minor", sa.Integer(), nullable=True),
        sa.Column("retainer_overage_rate_minor", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "billing_type IN ('hourly', 'fixed_fee', 'retainer', 'non_billable')",
            name=op.f("ck_project_billing_type_known"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'archived')", name=op.f("ck_project_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_project_client_id_client"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_project_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index("ix_project_client_id", ["client_id"], unique=False)
        batch_op.create_index(
            "ix_project_workspace_id_client_id", ["workspace_id", "client_id"], unique=False
        )
        batch_op.create_index(
            "ix_project_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_project_workspace_id_status_billing_type",
            ["workspace_id", "status", "billing_type"],
            unique=False,
        )
        batch_op.create_index(
            "ix_project_workspace_id_updated_at_id",
            ["workspace_id", "updated_at", "id"],
            unique=False,
        )

    op.create_table(
        "project_tag",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_tag_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_project_tag_tag_id_tag"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("project_id", "tag_id", name=op.f("pk_project_tag")),
    )
    with op.batch_alter_table("project_tag", schema=None) as batch_op:
        batch_op.create_index("ix_project_tag_tag_id", ["tag_id"], unique=False)

    op.create_table(
        "task",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=True),
        sa.Column("estimate_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'archived')", name=op.f("ck_task_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_task_project_id_project"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_task_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
    )
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.create_index("ix_task_project_id", ["project_id"], unique=False)
        batch_op.create_index(
            "ix_task_workspace_id_created_at_id", ["workspace_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_task_workspace_id_project_id", ["workspace_id", "project_id"], unique=False
        )
        batch_op.create_index(
            "ix_task_workspace_id_updated_at_id", ["workspace_id", "updated_at", "id"], unique=False
        )

    op.create_table(
        "scheduled_work",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("planned_seconds", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "planned_seconds > 0 AND planned_seconds <= 86400",
            name=op.f("ck_scheduled_work_planned_in_a_day"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_scheduled_work_project_id_project"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_scheduled_work_task_id_task"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_scheduled_work_user_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_scheduled_work_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_work")),
    )
    with op.batch_alter_table("scheduled_work", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_work_task_id", ["task_id"], unique=False)
        batch_op.create_index(
            "ix_scheduled_work_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_scheduled_work_workspace_id_project_id_work_date",
            ["workspace_id", "project_id", "work_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_scheduled_work_workspace_id_updated_at_id",
            ["workspace_id", "updated_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_scheduled_work_workspace_id_user_id_work_date",
            ["workspace_id", "user_id", "work_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_scheduled_work_workspace_id_work_date",
            ["workspace_id", "work_date", "id"],
            unique=False,
        )

    op.create_table(
        "subtask",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=True),
        sa.Column("estimate_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'archived')", name=op.f("ck_subtask_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_subtask_project_id_project"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_subtask_task_id_task"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_subtask_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subtask")),
    )
    with op.batch_alter_table("subtask", schema=None) as batch_op:
        batch_op.create_index("ix_subtask_project_id", ["project_id"], unique=False)
        batch_op.create_index("ix_subtask_task_id", ["task_id"], unique=False)
        batch_op.create_index(
            "ix_subtask_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_subtask_workspace_id_task_id", ["workspace_id", "task_id"], unique=False
        )
        batch_op.create_index(
            "ix_subtask_workspace_id_updated_at_id",
            ["workspace_id", "updated_at", "id"],
            unique=False,
        )

    op.create_table(
        "time_entry",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("subtask_id", sa.String(length=32), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("rate_minor", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("invoice_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'submitted', 'approved')", name=op.f("ck_time_entry_status_known")
        ),
        sa.CheckConstraint(
            "duration_seconds > 0 AND duration_seconds <= 86400",
            name=op.f("ck_time_entry_duration_in_a_day"),
        ),
        sa.CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at",
            name=op.f("ck_time_entry_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client.id"],
            name=op.f("fk_time_entry_client_id_client"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_time_entry_project_id_project"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subtask_id"],
            ["subtask.id"],
            name=op.f("fk_time_entry_subtask_id_subtask"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=op.f("fk_time_entry_task_id_task"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_time_entry_user_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_time_entry_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entry")),
    )
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.create_index("ix_time_entry_subtask_id", ["subtask_id"], unique=False)
        batch_op.create_index("ix_time_entry_task_id", ["task_id"], unique=False)
        batch_op.create_index(
            "ix_time_entry_workspace_id_client_id_work_date",
            ["workspace_id", "client_id", "work_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_invoice_id", ["workspace_id", "invoice_id"], unique=False
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_project_id_work_date",
            ["workspace_id", "project_id", "work_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_updated_at_id",
            ["workspace_id", "updated_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_user_id_work_date",
            ["workspace_id", "user_id", "work_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_time_entry_workspace_id_work_date_id",
            ["workspace_id", "work_date", "id"],
            unique=False,
        )

    op.create_table(
        "time_entry_tag",
        sa.Column("time_entry_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_time_entry_tag_tag_id_tag"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["time_entry_id"],
            ["time_entry.id"],
            name=op.f("fk_time_entry_tag_time_entry_id_time_entry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("time_entry_id", "tag_id", name=op.f("pk_time_entry_tag")),
    )
    with op.batch_alter_table("time_entry_tag", schema=None) as batch_op:
        batch_op.create_index("ix_time_entry_tag_tag_id", ["tag_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("time_entry_tag", schema=None) as batch_op:
        batch_op.drop_index("ix_time_entry_tag_tag_id")

    op.drop_table("time_entry_tag")
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_time_entry_workspace_id_work_date_id")
        batch_op.drop_index("ix_time_entry_workspace_id_user_id_work_date")
        batch_op.drop_index("ix_time_entry_workspace_id_updated_at_id")
        batch_op.drop_index("ix_time_entry_workspace_id_project_id_work_date")
        batch_op.drop_index("ix_time_entry_workspace_id_invoice_id")
        batch_op.drop_index("ix_time_entry_workspace_id_created_at_id")
        batch_op.drop_index("ix_time_entry_workspace_id_client_id_work_date")
        batch_op.drop_index("ix_time_entry_task_id")
        batch_op.drop_index("ix_time_entry_subtask_id")

    op.drop_table("time_entry")
    with op.batch_alter_table("subtask", schema=None) as batch_op:
        batch_op.drop_index("ix_subtask_workspace_id_updated_at_id")
        batch_op.drop_index("ix_subtask_workspace_id_task_id")
        batch_op.drop_index("ix_subtask_workspace_id_created_at_id")
        batch_op.drop_index("ix_subtask_task_id")
        batch_op.drop_index("ix_subtask_project_id")

    op.drop_table("subtask")
    with op.batch_alter_table("scheduled_work", schema=None) as batch_op:
        batch_op.drop_index("ix_scheduled_work_workspace_id_work_date")
        batch_op.drop_index("ix_scheduled_work_workspace_id_user_id_work_date")
        batch_op.drop_index("ix_scheduled_work_workspace_id_updated_at_id")
        batch_op.drop_index("ix_scheduled_work_workspace_id_project_id_work_date")
        batch_op.drop_index("ix_scheduled_work_workspace_id_created_at_id")
        batch_op.drop_index("ix_scheduled_work_task_id")

    op.drop_table("scheduled_work")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_index("ix_task_workspace_id_updated_at_id")
        batch_op.drop_index("ix_task_workspace_id_project_id")
        batch_op.drop_index("ix_task_workspace_id_created_at_id")
        batch_op.drop_index("ix_task_project_id")

    op.drop_table("task")
    with op.batch_alter_table("project_tag", schema=None) as batch_op:
        batch_op.drop_index("ix_project_tag_tag_id")

    op.drop_table("project_tag")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index("ix_project_workspace_id_updated_at_id")
        batch_op.drop_index("ix_project_workspace_id_status_billing_type")
        batch_op.drop_index("ix_project_workspace_id_created_at_id")
        batch_op.drop_index("ix_project_workspace_id_client_id")
        batch_op.drop_index("ix_project_client_id")

    op.drop_table("project")
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_index("uq_tag_workspace_id_name")
        batch_op.drop_index("ix_tag_workspace_id_updated_at_id")
        batch_op.drop_index("ix_tag_workspace_id_created_at_id")

    op.drop_table("tag")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_index("ix_client_workspace_id_updated_at_id")
        batch_op.drop_index("ix_client_workspace_id_name_id")
        batch_op.drop_index("ix_client_workspace_id_external_ref")
        batch_op.drop_index("ix_client_workspace_id_created_at_id")

    op.drop_table("client")
