"""Alembic environment: run against the connection handed in by billabled.migrations, or the
configured database when called from the `alembic` command line."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import JSON, Connection

from billabled.config import ConfigError, Settings
from billabled.db import create_sync_engine
from billabled.models import Base
from billabled.models.base import UTCDateTime

target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations stay static: they name plain SQLAlchemy types, never our own classes.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, JSON) and obj._variant_mapping:
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    # Outside any transaction, where SQLite ignores the pragma: on the driver's connection,
    # which runs it at once (SQLAlchemy's would begin a transaction first).
    assert not connection.in_transaction(), "PRAGMA foreign_keys is a no-op in a transaction"
    driver_connection: Any = connection.connection.driver_connection
    driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        rows = ", ".join(
            f"{table} {_row_name(connection, table, rowid)} -> {parent}"
            for table, rowid, parent, _ in broken[:5]
        )
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        raise ConfigError(
            f"the migrations were not applied: rows whose references would not hold: {rows}{more}"
        )


def _row_name(connection: Connection, table: str, rowid: int) -> str:
    """A row's `id` (the operator's name for it; a rowid names nothing outside SQLite), or its
    rowid where the table has no `id` column (link tables)."""
    columns = {row[1] for row in connection.exec_driver_sql(f'PRAGMA table_info("{table}")')}
    if "id" not in columns:
        return f"rowid {rowid}"
    row = connection.exec_driver_sql(f'SELECT id FROM "{table}" WHERE rowid = ?', (rowid,)).first()
    return str(row[0]) if row else f"rowid {rowid}"


def _restore_sqlite_statistics(connection: Connection) -> None:
    """Batch mode's rebuild of a table drops its planner statistics with it: a database that had
    them (`ANALYZE` ran) gets them back, or SQLite plans blind (a project's 30 entries, listed,
    walked a million-row index: 23 -> 290 ms, docs/benchmarks.md twelfth round). One that never
    had them is left so: a first `ANALYZE` is the operator's choice (3 s at a million entries)."""
    analyzed = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).first()
    if analyzed is not None:
        connection.exec_driver_sql("ANALYZE")


def _run(connection: Connection) -> None:
    """On SQLite, with foreign keys off while the migrations run, checked before they commit.
    Batch mode rebuilds a table by copying it and dropping the old one: with foreign keys on,
    that drop runs the ON DELETE actions of every table referring to it (rebuilding
    `time_entry` emptied `time_entry_tag`; rebuilding `tag` failed on `project_tag`). Alembic's
    documented way for SQLite."""
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        render_item=_render_item,
        # SQLite runs DDL in transactions too (the driver's own transaction handling is off,
        # db._configure_sqlite): one transaction for the whole run, so the foreign-key check
        # below comes before anything is committed. Alembic's default for SQLite committed each
        # migration on its own, so a failed check left the faulty migration in place.
        transactional_ddl=True,
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    migration_context = context.get_context()
    _sqlite_foreign_keys(connection, on=False)
    try:
        with context.begin_transaction():
            before = migration_context.get_current_heads()
            context.run_migrations()
            # Only after a change: the check reads every table (1.5 s at a million entries, at
            # every `serve` start).
            if migration_context.get_current_heads() != before:
                _check_sqlite_foreign_keys(connection)
                _restore_sqlite_statistics(connection)
        # Committed here (the caller's commit finds nothing left), so that the connection can
        # have its foreign keys back before anyone else uses it.
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        _sqlite_foreign_keys(connection, on=True)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_sync_engine(Settings().resolved_database_url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
