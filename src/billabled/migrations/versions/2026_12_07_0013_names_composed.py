"""Names and codes stored before the API composed them (Unicode NFC) are composed now, so the
tag name filter and the unique tag name find them whichever form a request sends.

A name whose composed form is longer than its column keeps its form, and so does a tag whose
composed name another tag of its workspace already has (ignoring case): the two stay two tags,
as they were, until someone renames or merges them. `updatedAt` is not changed: the text reads
the same in either form. No schema change; downgrade leaves the names composed (the decomposed
forms are not kept, and mean the same).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:00:00
"""

import unicodedata
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each column and its length. Composing can lengthen a name ("\u0958" is two code points
# composed): a name whose composed form no longer fits keeps its form (PostgreSQL refused the
# whole migration, and the server with it; a review found it).
_COLUMNS = (
    ("client", "name", 200),
    ("project", "name", 200),
    ("project", "code", 50),
    ("task", "name", 200),
    ("subtask", "name", 200),
)
_TAG_NAME_LENGTH = 100


def _composed(value: str | None) -> str | None:
    return None if value is None else unicodedata.normalize("NFC", value)


def upgrade() -> None:
    connection = op.get_bind()
    for table, column, length in _COLUMNS:
        rows = connection.execute(text(f"SELECT id, {column} FROM {table}")).all()
        changed = [
            {"id": row_id, "value": composed}
            for row_id, value in rows
            if (composed := _composed(value)) != value and len(composed or "") <= length
        ]
        if changed:
            connection.execute(
                text(f"UPDATE {table} SET {column} = :value WHERE id = :id"), changed
            )
    tags = connection.execute(text("SELECT id, workspace_id, name FROM tag")).all()
    for tag_id, workspace_id, name in tags:
        composed = _composed(name)
        if composed == name or len(composed or "") > _TAG_NAME_LENGTH:
            continue
        # The database's own case folding, as the unique index uses it.
        taken = connection.execute(
            text(
                "SELECT 1 FROM tag WHERE workspace_id = :workspace_id AND id <> :id"
                " AND lower(name) = lower(:name)"
            ),
            {"workspace_id": workspace_id, "id": tag_id, "name": composed},
        ).first()
        if taken is None:
            connection.execute(
                text("UPDATE tag SET name = :name WHERE id = :id"), {"id": tag_id, "name": composed}
            )


def downgrade() -> None:
    """Nothing to undo: the decomposed forms were not kept, and read the same composed."""
