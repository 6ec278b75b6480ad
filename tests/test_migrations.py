"""Migrations are the only way the schema is made: up, down to base, and up again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from billabled import migrations
from billabled.db import create_sync_engine
from billabled.models import Base
from tests.support import drop_database, new_database_url


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
