"""Schema migrations: the only way the schema is made (never `create_all`).

`upgrade()` runs under a PostgreSQL advisory lock so several instances starting at once apply
each migration exactly once. On PostgreSQL every pending migration runs in one transaction: if
one fails, none is kept, and the previous release keeps working on the schema it knows (the
tables they alter stay locked, reads included, until the run commits: README, Production).

Alembic is imported by the functions that run it, not here: importing it costs ~0.3 s, and every
command checks the schema (`current_revision() == HEAD_REVISION`) before it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, inspect, text

from billabled.config import ConfigError
from billabled.db import create_sync_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).parent
# Any constant works; it only has to be the same in every process.
MIGRATION_LOCK_ID = 7_264_510_331
# The newest migration's revision. A new migration updates it: tests/test_migrations.py checks
# it against the scripts as alembic reads them (`head_revision()`).
HEAD_REVISION: Final = "0015"
_VERSION_TABLE: Final = "alembic_version"  # alembic's default, where it records the revision


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _run(
    database_url: str, action: str, revision: str, on_wait: Callable[[], None] | None = None
) -> None:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                _take_migration_lock(connection, on_wait)
            try:
                from alembic import command

                config = _config(connection)
                _refuse_unknown_revision(connection)
                if action == "upgrade":
                    command.upgrade(config, revision)
                else:
                    command.downgrade(config, revision)
                connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                    connection.commit()
    finally:
        engine.dispose()


def _take_migration_lock(connection: Connection, on_wait: Callable[[], None] | None) -> None:
    """Another process migrating holds the lock (or a session left holding it): say so before
    waiting for it. Every `serve` takes it, so a silent wait stopped every instance starting."""
    arguments = {"id": MIGRATION_LOCK_ID}
    taken = connection.execute(text("SELECT pg_try_advisory_lock(:id)"), arguments).scalar_one()
    if not taken:
        if on_wait is not None:
            on_wait()
        connection.execute(text("SELECT pg_advisory_lock(:id)"), arguments)
    connection.commit()


def upgrade(
    database_url: str, revision: str = "head", on_wait: Callable[[], None] | None = None
) -> None:
    """Apply the migrations up to `revision`; `on_wait` is called if another process is
    migrating the database (PostgreSQL), before waiting for it to finish."""
    _run(database_url, "upgrade", revision, on_wait)


def downgrade(database_url: str, revision: str) -> None:
    _run(database_url, "downgrade", revision)


def _refuse_unknown_revision(connection: Connection) -> None:
    """A database migrated by a newer release: say so (alembic's "Can't locate revision")."""
    current = _recorded_revision(connection)
    connection.commit()  # the read's transaction: SQLite's migrations start outside one
    if current is not None and not is_known_revision(current):
        raise ConfigError(newer_release_message(current))


def is_known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError:
        return False
    return True


def newer_release_message(revision: str) -> str:
    return (
        f"the database schema is at revision {revision!r}, which this release of Billabled "
        f"does not know (its latest is {HEAD_REVISION!r}): it was migrated by a newer "
        "release. Run that release, or restore a backup made before the upgrade."
    )


def head_revision() -> str | None:
    """The newest revision as alembic reads the scripts (what `HEAD_REVISION` must be)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(database_url: str) -> str | None:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return _recorded_revision(connection)
    finally:
        engine.dispose()


def _recorded_revision(connection: Connection) -> str | None:
    """The revision alembic recorded, None for a database never migrated. Read as alembic's
    `MigrationContext.get_current_revision()` reads it: our history has one head."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    revision: str | None = connection.execute(
        text(f"SELECT version_num FROM {_VERSION_TABLE}")
    ).scalar()
    return revision
