"""One tombstone per (record, owner): a time entry moved from one member to another and then
deleted leaves a tombstone for each, so neither member's mirror keeps it; `reassigned` marks the
tombstones of records that still exist (managers, who see every record, skip them).

`owner_user_id` joins the primary key, so it is no longer null: "" where there is no owner
(tombstones written before 0005, and those of collections every reader sees whole). Existing
time-entry tombstones whose entry still exists are the reassigned ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 11:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOMBSTONE = sa.table(
    "tombstone",
    sa.column("entity_type", sa.String),
    sa.column("entity_id", sa.String),
    sa.column("owner_user_id", sa.String),
    sa.column("reassigned", sa.Boolean),
)
_TIME_ENTRY = sa.table("time_entry", sa.column("id", sa.String))


def upgrade() -> None:
    op.execute(
        _TOMBSTONE.update().where(_TOMBSTONE.c.owner_user_id.is_(None)).values(owner_user_id="")
    )
    with op.batch_alter_table("tombstone", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reassigned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.alter_column(
            "owner_user_id",
            existing_type=sa.String(length=32),
            nullable=False,
            server_default="",
        )
        batch_op.drop_constraint("pk_tombstone", type_="primary")
        batch_op.create_primary_key(
            "pk_tombstone", ["workspace_id", "entity_type", "entity_id", "owner_user_id"]
        )
    op.execute(
        _TOMBSTONE.update()
        .where(
            _TOMBSTONE.c.entity_type == "time_entry",
            sa.exists().where(_TIME_ENTRY.c.id == _TOMBSTONE.c.entity_id),
        )
        .values(reassigned=True)
    )


def downgrade() -> None:
    # One tombstone per record again: a record's reassigned tombstones go when it has another.
    other = _TOMBSTONE.alias("other")
    op.execute(
        _TOMBSTONE.delete().where(
            _TOMBSTONE.c.reassigned.is_(True),
            sa.exists().where(
                other.c.entity_type == _TOMBSTONE.c.entity_type,
                other.c.entity_id == _TOMBSTONE.c.entity_id,
                other.c.owner_user_id != _TOMBSTONE.c.owner_user_id,
            ),
        )
    )
    with op.batch_alter_table("tombstone", schema=None) as batch_op:
        batch_op.drop_constraint("pk_tombstone", type_="primary")
        batch_op.create_primary_key("pk_tombstone", ["workspace_id", "entity_type", "entity_id"])
        batch_op.alter_column(
            "owner_user_id", existing_type=sa.String(length=32), nullable=True, server_default=None
        )
        batch_op.drop_column("reassigned")
    op.execute(
        _TOMBSTONE.update().where(_TOMBSTONE.c.owner_user_id == "").values(owner_user_id=None)
    )
