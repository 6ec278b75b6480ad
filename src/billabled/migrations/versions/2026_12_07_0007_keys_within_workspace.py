"""References between records of the work record are keyed within the workspace:
(workspace_id, column) → parent (workspace_id, id), so no row can point into another workspace,
and a parent's delete is checked through the child's workspace-first indexes (decisions §29).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 07:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents first: a key needs its parent's (workspace_id, id) to be unique already.
_PARENTS = ("client", "project", "task", "subtask")
_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "client": (),
    "project": (("client_id", "client"),),
    "task": (("project_id", "project"),),
    "subtask": (("task_id", "task"), ("project_id", "project")),
    "scheduled_work": (("project_id", "project"), ("task_id", "task")),
    "time_entry": (
        ("client_id", "client"),
        ("project_id", "project"),
        ("task_id", "task"),
        ("subtask_id", "subtask"),
    ),
}


def upgrade() -> None:
    for table, references in _REFERENCES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in _PARENTS:
                batch_op.create_unique_constraint(
                    f"uq_{table}_workspace_id_id", ["workspace_id", "id"]
                )
            for column, parent in references:
                name = f"fk_{table}_{column}_{parent}"
                batch_op.drop_constraint(name, type_="foreignkey")
                batch_op.create_foreign_key(
                    name,
                    parent,
                    ["workspace_id", column],
                    ["workspace_id", "id"],
                    ondelete="RESTRICT",
                )


def downgrade() -> None:
    for table, references in reversed(_REFERENCES.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, parent in references:
                name = f"fk_{table}_{column}_{parent}"
                batch_op.drop_constraint(name, type_="foreignkey")
                batch_op.create_foreign_key(name, parent, [column], ["id"], ondelete="RESTRICT")
            if table in _PARENTS:
                batch_op.drop_constraint(f"uq_{table}_workspace_id_id", type_="unique")
