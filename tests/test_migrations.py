"""Migrations are the only way the schema is made: up, down to base, and up again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from billabled import migrations
from billabled.config import ConfigError
from billabled.db import create_sync_engine
from billabled.models import Base
from tests.support import drop_database, new_database_url, postgres_test_url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    url = new_database_url(tmp_path)
    yield url
    drop_database(url)


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_up_down_to_base_and_up_again(empty_database_url: str) -> None:
    model_tables = set(Base.metadata.tables)

    migrations.upgrade(empty_database_url)
    assert _tables(empty_database_url) == model_tables
    assert migrations.current_revision(empty_database_url) == migrations.head_revision()

    migrations.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()
    assert migrations.current_revision(empty_database_url) is None

    migrations.upgrade(empty_database_url)
    assert _tables(empty_database_url) == model_tables


def test_the_head_revision_named_in_code_is_the_newest_script() -> None:
    # Every command compares the database's revision with `HEAD_REVISION`, without reading the
    # scripts: a new migration must update it.
    assert migrations.head_revision() == migrations.HEAD_REVISION


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    migrations.upgrade(empty_database_url)
    assert migrations.current_revision(empty_database_url) == migrations.head_revision()


# SQLite cannot reflect expression indexes (the case-insensitive tag name); PostgreSQL checks it.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning",
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning",
)
def test_models_and_migrations_agree(empty_database_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations build exactly the models' schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrations.upgrade(empty_database_url)
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_0006_keeps_existing_tombstones_and_marks_the_reassigned_ones(
    empty_database_url: str,
) -> None:
    """Tombstones written before 0006: an ownerless one gets owner "", and a time entry's
    tombstone whose entry still exists (it moved to another member) is marked reassigned."""
    from datetime import date

    from sqlalchemy import insert, text

    from billabled.models.client import Client
    from billabled.models.project import Project
    from billabled.models.time_entry import TimeEntry
    from billabled.models.user import User
    from billabled.models.workspace import Workspace

    migrations.upgrade(empty_database_url, "0005")
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            ids = {"workspace_id": "ws_01", "currency": "EUR"}
            connection.execute(insert(Workspace.__table__).values(id="ws_01", name="W"))
            connection.execute(
                insert(User.__table__).values(id="usr_01", email="a@example.com", name="A")
            )
            connection.execute(insert(Client.__table__).values(id="cli_01", name="C", **ids))
            connection.execute(
                insert(Project.__table__).values(id="proj_01", client_id="cli_01", name="P", **ids)
            )
            connection.execute(
                insert(TimeEntry.__table__).values(
                    id="te_moved", user_id="usr_01", client_id="cli_01", project_id="proj_01",
                    work_date=date(2026, 1, 5), duration_seconds=60, billable=True, **ids,
                )
            )  # fmt: skip
            for entity_type, entity_id, owner in (
                ("time_entry", "te_moved", "usr_00"),  # moved away from usr_00, still exists
                ("time_entry", "te_gone", "usr_01"),  # deleted
                ("client", "cli_gone", None),  # before 0005: no owner
            ):
                connection.execute(
                    text(
                        "INSERT INTO tombstone (workspace_id, entity_type, entity_id, deleted_at,"
                        " owner_user_id) VALUES ('ws_01', :type, :id, CURRENT_TIMESTAMP, :owner)"
                    ),
                    {"type": entity_type, "id": entity_id, "owner": owner},
                )
        migrations.upgrade(empty_database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT entity_id, owner_user_id, reassigned FROM tombstone")
            ).all()
        assert sorted((r[0], r[1], bool(r[2])) for r in rows) == [
            ("cli_gone", "", False),
            ("te_gone", "usr_01", False),
            ("te_moved", "usr_00", True),
        ]
        # After 0006 a moved entry can also be deleted: two tombstones, one per owner. Going back
        # to one per record keeps the deletion.
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tombstone (workspace_id, entity_type, entity_id, deleted_at,"
                    " owner_user_id) VALUES ('ws_01', 'time_entry', 'te_moved', CURRENT_TIMESTAMP,"
                    " 'usr_01')"
                )
            )
        migrations.downgrade(empty_database_url, "0005")
        with engine.connect() as connection:
            owners = dict(
                connection.execute(text("SELECT entity_id, owner_user_id FROM tombstone")).all()
            )
        assert owners == {"cli_gone": None, "te_gone": "usr_01", "te_moved": "usr_01"}
    finally:
        engine.dispose()


def test_0012_turns_the_json_nulls_of_audit_records_into_sql_nulls(
    empty_database_url: str,
) -> None:
    from sqlalchemy import insert, text

    from billabled.models.workspace import Workspace

    migrations.upgrade(empty_database_url, "0011")
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Workspace.__table__).values(id="ws_01", name="W"))
            for record, before, after in (
                ("aud_created", "null", '{"id": "cli_1"}'),
                ("aud_deleted", '{"id": "cli_1"}', "null"),
            ):
                connection.execute(
                    text(
                        "INSERT INTO audit_record (id, workspace_id, actor_type, action,"
                        " entity_type, entity_id, before, after, created_at) VALUES (:id,"
                        " 'ws_01', 'system', 'client.x', 'client', 'cli_1', :before, :after,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"id": record, "before": before, "after": after},
                )
        migrations.upgrade(empty_database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, before IS NULL, after IS NULL FROM audit_record ORDER BY id")
            ).all()
        assert [(r[0], bool(r[1]), bool(r[2])) for r in rows] == [
            ("aud_created", True, False),
            ("aud_deleted", False, True),
        ]
    finally:
        engine.dispose()


def test_0013_composes_the_names_stored_decomposed(empty_database_url: str) -> None:
    import unicodedata

    from sqlalchemy import insert, text

    from billabled.models.client import Client
    from billabled.models.tag import Tag
    from billabled.models.workspace import Workspace

    def decomposed(name: str) -> str:
        return unicodedata.normalize("NFD", name)

    migrations.upgrade(empty_database_url, "0012")
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Workspace.__table__).values(id="ws_01", name="W"))
            connection.execute(
                insert(Client.__table__).values(
                    id="cli_1", workspace_id="ws_01", name=decomposed("Café"), currency="EUR"
                )
            )
            for tag_id, name in (
                ("tag_1", decomposed("Crème")),  # alone: composed
                ("tag_2", "Brûlé"),  # composed already
                ("tag_3", decomposed("Brûlé")),  # the composed name is tag_2's: kept as it is
                # Composed, 120 characters: past the column's 100 (PostgreSQL refused the
                # whole migration). Kept as it is.
                ("tag_4", "\u0958" * 60),
            ):
                connection.execute(
                    insert(Tag.__table__).values(id=tag_id, workspace_id="ws_01", name=name)
                )
        migrations.upgrade(empty_database_url)
        with engine.connect() as connection:
            client_name = connection.execute(text("SELECT name FROM client")).scalar_one()
            tags = {r[0]: r[1] for r in connection.execute(text("SELECT id, name FROM tag"))}
        assert client_name == "Café"
        assert tags == {
            "tag_1": "Crème",
            "tag_2": "Brûlé",
            "tag_3": decomposed("Brûlé"),
            "tag_4": "\u0958" * 60,
        }
    finally:
        engine.dispose()


def _upgrade_with(migration: str, tmp_path: Path, connection: Connection) -> None:
    """Upgrade through our migrations and one more, `migration` (a template of its text, with
    `{head}` for the revision it follows), as `billabled.migrations` runs them."""
    from alembic import command
    from alembic.config import Config

    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.SCRIPT_LOCATION, scripts)
    (scripts / "versions" / "9999_extra.py").write_text(
        migration.format(head=migrations.head_revision())
    )
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


_REBUILD_MIGRATION = '''
"""A later migration that rebuilds tables the way SQLite's batch mode does (copy, drop, rename)."""

from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("time_entry", "client"):
        with op.batch_alter_table(table, recreate="always"):
            pass


def downgrade() -> None:
    pass
'''


@pytest.mark.skipif(postgres_test_url() is not None, reason="SQLite's batch mode")
def test_a_migration_that_rebuilds_a_table_keeps_the_rows_that_refer_to_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Rebuilding `time_entry` with foreign keys on emptied `time_entry_tag` (its ON DELETE
    CASCADE ran on the drop), and rebuilding `client` failed on `project`'s RESTRICT: later
    migrations run with them off, checked before they commit."""
    from datetime import date

    from sqlalchemy import insert, text

    from billabled.models.client import Client
    from billabled.models.project import Project
    from billabled.models.tag import Tag, TimeEntryTag
    from billabled.models.time_entry import TimeEntry
    from billabled.models.user import User
    from billabled.models.workspace import Workspace

    migrations.upgrade(empty_database_url)
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            ids = {"workspace_id": "ws_01", "currency": "EUR"}
            for table, values in (
                (Workspace, {"id": "ws_01", "name": "W"}),
                (User, {"id": "usr_01", "email": "a@example.com", "name": "A"}),
                (Client, {"id": "cli_01", "name": "C", **ids}),
                (Project, {"id": "proj_01", "client_id": "cli_01", "name": "P", **ids}),
                (Tag, {"id": "tag_01", "workspace_id": "ws_01", "name": "T"}),
                (
                    TimeEntry,
                    {
                        "id": "te_01",
                        "user_id": "usr_01",
                        "client_id": "cli_01",
                        "project_id": "proj_01",
                        "work_date": date(2026, 1, 5),
                        "duration_seconds": 60,
                        "billable": True,
                        **ids,
                    },
                ),
                (TimeEntryTag, {"time_entry_id": "te_01", "tag_id": "tag_01"}),
            ):
                connection.execute(insert(table.__table__).values(**values))
        with engine.begin() as connection:  # planner statistics, which the rebuild drops
            connection.execute(text("ANALYZE"))
        with engine.connect() as connection:
            _upgrade_with(_REBUILD_MIGRATION, tmp_path, connection)
            connection.commit()
        with engine.connect() as connection:
            tagged = connection.execute(text("SELECT count(*) FROM time_entry_tag")).scalar()
            foreign_keys = connection.execute(text("PRAGMA foreign_keys")).scalar()
            analyzed = connection.execute(
                text("SELECT DISTINCT tbl FROM sqlite_stat1 WHERE tbl IN ('time_entry', 'client')")
            ).all()
    finally:
        engine.dispose()
    assert tagged == 1
    assert foreign_keys == 1  # on again for whoever uses the connection next
    # The rebuilt tables have their statistics again (were gone: SQLite planned blind).
    assert sorted(row[0] for row in analyzed) == ["client", "time_entry"]


_BREAKING_MIGRATION = '''
"""A later migration that leaves a row whose foreign key does not hold."""

from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO time_entry_tag (time_entry_id, tag_id) VALUES ('te_none', 'tag_none')")
    op.execute(
        "INSERT INTO tag (id, workspace_id, name, created_at, updated_at)"
        " VALUES ('tag_orphan', 'ws_none', 'orphan', '2026-01-01', '2026-01-01')"
    )


def downgrade() -> None:
    pass
'''


@pytest.mark.skipif(postgres_test_url() is not None, reason="SQLite's foreign keys off")
def test_a_migration_that_breaks_a_foreign_key_is_rolled_back(
    empty_database_url: str, tmp_path: Path
) -> None:
    """With foreign keys off during migrations, the check before commit is what stands between
    a faulty migration and orphaned rows: it runs whenever a migration ran (a run with nothing
    to do skips it, 1.5 s at a million entries)."""
    from sqlalchemy import text

    migrations.upgrade(empty_database_url)
    migrations.upgrade(empty_database_url)  # nothing to do, nothing to check: no error either
    engine = create_sync_engine(empty_database_url)
    try:
        with (
            engine.connect() as connection,
            pytest.raises(ConfigError, match="references would not hold") as refused,
        ):
            _upgrade_with(_BREAKING_MIGRATION, tmp_path, connection)
        # The rows by the ids an operator can look up (rowids named nothing outside SQLite).
        assert "tag tag_orphan -> workspace" in str(refused.value)
        assert "time_entry_tag rowid 1 -> " in str(refused.value)
        with engine.connect() as connection:
            orphans = connection.execute(text("SELECT count(*) FROM time_entry_tag")).scalar()
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert orphans == 0
    assert revision == migrations.head_revision()


def test_every_index_of_the_models_is_in_the_database(empty_database_url: str) -> None:
    """By name, expression indexes included: autogenerate cannot compare those on SQLite, where
    batch mode also cannot copy them when it rebuilds a table (the tag name's, case-insensitive,
    would go unnoticed)."""
    from sqlalchemy import text

    migrations.upgrade(empty_database_url)
    engine = create_sync_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'index'"
            else:
                query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            present = set(connection.execute(text(query)).scalars())
    finally:
        engine.dispose()
    wanted = {str(index.name) for table in Base.metadata.tables.values() for index in table.indexes}
    assert wanted - present == set()
