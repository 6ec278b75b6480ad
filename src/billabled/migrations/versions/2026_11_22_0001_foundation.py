"""Foundation: workspaces, users, memberships, the event outbox and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:14:32.504614
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON text elsewhere (as billabled.models.base.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "user_account",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "workspace",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("week_start", sa.SmallInteger(), nullable=False),
        sa.Column(
            "settings",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "plan IN ('free', 'starter', 'professional', 'business')",
            name=op.f("ck_workspace_plan_known"),
        ),
        sa.CheckConstraint(
            "week_start BETWEEN 1 AND 7", name=op.f("ck_workspace_week_start_iso_weekday")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
    )
    op.create_table(
        "audit_record",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=32), nullable=False),
        sa.Column(
            "before",
            JSON_DOCUMENT,
            nullable=True,
        ),
        sa.Column(
            "after",
            JSON_DOCUMENT,
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_audit_record_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_record")),
    )
    op.create_index(
        "ix_audit_record_workspace_id_created_at",
        "audit_record",
        ["workspace_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_audit_record_workspace_id_entity",
        "audit_record",
        ["workspace_id", "entity_type", "entity_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "event",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "data",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_event_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index(
        "ix_event_workspace_id_created_at_id",
        "event",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_event_workspace_id_type_created_at",
        "event",
        ["workspace_id", "type", "created_at"],
        unique=False,
    )

    op.create_table(
        "membership",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("weekly_capacity_seconds", sa.Integer(), nullable=False),
        sa.Column("default_bill_rate_minor", sa.Integer(), nullable=True),
        sa.Column("default_cost_rate_minor", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'manager', 'member')", name=op.f("ck_membership_role_known")
        ),
        sa.CheckConstraint(
            "weekly_capacity_seconds >= 0", name=op.f("ck_membership_capacity_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_membership_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_membership_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
    )
    op.create_index("ix_membership_user_id", "membership", ["user_id"], unique=False)
    op.create_index(
        "uq_membership_workspace_id_user_id", "membership", ["workspace_id", "user_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_membership_workspace_id_user_id", table_name="membership")
    op.drop_index("ix_membership_user_id", table_name="membership")

    op.drop_table("membership")
    op.drop_index("ix_event_workspace_id_type_created_at", table_name="event")
    op.drop_index("ix_event_workspace_id_created_at_id", table_name="event")

    op.drop_table("event")
    op.drop_index("ix_audit_record_workspace_id_entity", table_name="audit_record")
    op.drop_index("ix_audit_record_workspace_id_created_at", table_name="audit_record")

    op.drop_table("audit_record")
    op.drop_table("workspace")
    op.drop_table("user_account")
