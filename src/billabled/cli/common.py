"""What every CLI command shares: settings, one-line errors, JSON output, the async bridge.

A command never prints a traceback: known failures become `error: …` on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import os
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
from billabled.db import Database, DatabaseUrlError, create_app_engine, describe_url
from billabled.errors import BillabledError

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
    except (OperationalError, OSError, ConnectionError) as exc:
        where = describe_url(settings.resolved_database_url) if settings else "the database"
        fail(f"cannot reach the database at {where}: {_first_line(exc)}")
    except DBAPIError as exc:
        fail(f"database error: {_first_line(exc)}")
    except Exception as exc:  # the promise is: never a traceback
        fail(f"unexpected failure ({type(exc).__name__}): {_first_line(exc)}")


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
    current = migrations.current_revision(settings.resolved_database_url)
    if current == migrations.head_revision():
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
