"""Declarative base, column types and mixins shared by every table.

- Constraint names follow one naming convention so Alembic migrations are deterministic.
- Timestamps are stored and returned as timezone-aware UTC on every backend (SQLite has no
  timezone type, so `UTCDateTime` normalises on the way in and out).
- Tenant tables carry `workspace_id`; every index on them starts with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from billabled.kit.ids import ID_MAX_LENGTH, new_id
from billabled.kit.time import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware value")
        value = value.astimezone(UTC)
        # SQLite stores text; dropping the offset keeps the stored strings uniform and sortable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # asyncpg already answers UTC
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """One call per value, or none: a 200-row page reads 800 timestamps, and the generic
        chain (TypeDecorator wrapper → the dialect's parser → `process_result_value`) cost ~1 µs
        each (issue #5). asyncpg answers `timestamptz` as aware UTC already; SQLite stores the
        naive UTC text `bind` writes. Other drivers take the generic chain."""
        if dialect.driver == "asyncpg":
            return None
        if dialect.name == "sqlite":
            return utc_from_sqlite_text
        return super().result_processor(dialect, coltype)


def utc_from_sqlite_text(value: str | None) -> datetime | None:
    """A timestamp SQLite holds as naive UTC text, as an aware UTC datetime. Parsing the text with
    its offset appended costs ~0.13 µs; `.replace(tzinfo=UTC)` on the parsed value alone ~0.75 µs
    (CPython 3.11 parses `replace`'s keywords the slow way). Text already carrying an offset (not
    written by us) takes the general path."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value + "+00:00")
    except ValueError:  # the text carries an offset of its own
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL, JSON (text) elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")
# The same for a column that may hold no document: Python's None is SQL NULL, not the JSON
# document `null` (which `IS NULL` does not find).
OptionalJSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def IdColumn() -> Any:
    return String(ID_MAX_LENGTH)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class IdMixin:
    """A prefixed, time-sortable primary key generated in Python (known before the flush)."""

    id_prefix: ClassVar[str]

    @declared_attr
    def id(cls) -> Mapped[str]:
        prefix = cls.id_prefix
        return mapped_column(
            IdColumn(), primary_key=True, default=lambda: new_id(prefix), sort_order=-100
        )


def _when_created(context: DefaultExecutionContext) -> datetime:
    """A new row's `updated_at`: its `created_at`, so a record just made reads as never updated
    (two clock readings differed by microseconds, and a polling trigger comparing them took
    every new record for an update). Column defaults run in the table's column order, and
    `created_at` comes first."""
    created_at = context.get_current_parameters().get("created_at")  # type: ignore[no-untyped-call]
    return created_at if isinstance(created_at, datetime) else utcnow()


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=100)
    updated_at: Mapped[datetime] = mapped_column(
        default=_when_created, onupdate=utcnow, sort_order=101
    )


class WorkspaceScopedMixin:
    """Every tenant table: rows belong to exactly one workspace."""

    @declared_attr
    def workspace_id(cls) -> Mapped[str]:
        return mapped_column(
            IdColumn(), ForeignKey("workspace.id", ondelete="CASCADE"), sort_order=-90
        )


def in_same_workspace(table: str, column: str, parent: str) -> ForeignKeyConstraint:
    """`table.column` names a `parent` record of the row's own workspace: the key is
    (workspace_id, column) → parent (workspace_id, id), so the database refuses a row pointing
    into another workspace (the code's workspace filters are then not the only guard), and the
    check run when a parent is deleted uses the child's indexes, which all start with
    workspace_id (a key on the column alone was checked by reading the whole table on
    PostgreSQL: 78 ms to delete a project with 303,000 entries in the table)."""
    return ForeignKeyConstraint(
        ["workspace_id", column],
        [f"{parent}.workspace_id", f"{parent}.id"],
        ondelete="RESTRICT",
        name=f"fk_{table}_{column}_{parent}",
    )


def referable_in_workspace() -> UniqueConstraint:
    """What `in_same_workspace` keys refer to: (workspace_id, id), unique as the id is."""
    return UniqueConstraint("workspace_id", "id")


def not_negative(*columns: str) -> tuple[CheckConstraint, ...]:
    """Money and time amounts never below zero, whatever writes them (the API refuses them
    first; this is for every other way in): `ck_<table>_<column>_not_negative`."""
    return tuple(
        CheckConstraint(f"{column} >= 0", name=f"{column}_not_negative") for column in columns
    )
