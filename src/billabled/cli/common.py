"""What every CLI command shares: settings, one-line errors, JSON output, the async bridge.

A command never prints a traceback: known failures become `error: …` on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from billabled import migrations
from billabled.config import ConfigError, Settings, unknown_setting_names
from billabled.db import (
    Database,
    DatabaseUrlError,
    create_app_engine,
    describe_url,
    missing_sqlite_file,
)
from billabled.errors import BillabledError
from billabled.kit.apikeys import redact_keys

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    # A raw key pasted where an id belongs (`keys revoke blb_…`) is not echoed whole.
    typer.echo(f"error: {redact_keys(message, bodies=True)}", err=True)
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    """The driver's message, and PostgreSQL's DETAIL when it has one: the only part naming the
    rows (`Key (workspace_id, lower(name))=(ws_…, urgent) is duplicated.`)."""
    error = getattr(exc, "orig", None) or exc
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    detail = getattr(getattr(error, "diag", None), "message_detail", None)
    return f"{line} ({detail})" if detail and detail not in line else line


def _where(settings: Settings | None) -> str:
    return describe_url(settings.resolved_database_url) if settings else "the database"


def _locked(exc: OperationalError) -> bool:
    # SQLite: another process held the write lock past the busy timeout.
    return "database is locked" in str(exc.orig)


def _reached(exc: OperationalError) -> bool:
    """PostgreSQL answered (a lock or statement timeout, a deadlock): not "cannot reach". Its
    connection failures are SQLSTATE class 08, or none when no server answered."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is not None and not sqlstate.startswith("08")


@contextmanager
def cli_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn every failure into one line on stderr and a non-zero exit."""
    try:
        yield
    except typer.Exit:
        raise
    except DatabaseUrlError as exc:
        fail(f"invalid BILLABLED_DATABASE_URL: {exc}")
    except ConfigError as exc:
        fail(str(exc))
    except BillabledError as exc:
        fail(exc.message)
    except OperationalError as exc:
        if _locked(exc):
            fail(
                "the database is locked by another process (another `billabled migrate`, or a "
                f"long write); try again when it has finished: {_first_line(exc)}"
            )
        if _reached(exc):
            fail(f"database error: {_first_line(exc)}")
        fail(f"cannot reach the database at {_where(settings)}: {_first_line(exc)}")
    except (OSError, ConnectionError) as exc:
        fail(f"cannot reach the database at {_where(settings)}: {_first_line(exc)}")
    except DBAPIError as exc:
        fail(f"database error: {_first_line(exc)}")
    except Exception as exc:  # the promise is: never a traceback
        fail(f"unexpected failure ({type(exc).__name__}): {_first_line(exc)}")


# Control characters (Unicode Cc), as `kit.text` refuses them in names.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """`text` with its control characters escaped (`\\x1b`): a name stored before names refused
    them must not move the cursor or recolour the terminal that lists it."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def load_settings(**overrides: Any) -> Settings:
    for warning in unknown_setting_names(os.environ):
        typer.echo(f"warning: {warning}", err=True)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        fail(f"invalid setting {field}: {first['msg']}")


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_UTC_Z).decode() + "\n")


def require_current_schema(settings: Settings) -> None:
    missing = missing_sqlite_file(settings.resolved_database_url)
    if missing is not None:
        fail(
            f"there is no database at {missing}: check BILLABLED_DATA_DIR (or "
            "BILLABLED_DATABASE_URL), or run `billabled migrate` to create one there"
        )
    current = migrations.current_revision(settings.resolved_database_url)
    if current == migrations.HEAD_REVISION:
        return
    if current is not None and not migrations.is_known_revision(current):
        fail(migrations.newer_release_message(current))
    fail("the database schema is not up to date; run `billabled migrate` first")


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` with a database for this command, then close it."""

    async def runner() -> T:
        database = Database(
            create_app_engine(settings),
            sync_clock_margin_seconds=settings.sync_clock_margin_seconds,
        )
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(runner())
