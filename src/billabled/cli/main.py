"""The `billabled` command: serve, migrate, demo data, and tenant administration."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
from typing import Annotated

import typer

from billabled import migrations
from billabled.api_key.secret_check import adopt_secret_key, check_secret_key
from billabled.cli.common import (
    cli_errors,
    fail,
    load_settings,
    print_json,
    require_current_schema,
    run_with_database,
)
from billabled.cli.keys import keys_app, usage
from billabled.cli.workspaces import JsonFlag, users_app, workspaces_app
from billabled.config import Settings
from billabled.db import Database, async_url, describe_url
from billabled.demo.agency import DemoCounts
from billabled.demo.service import DemoLogin, ensure_demo_workspace, fill_workspace
from billabled.kit.apikeys import derive_pepper
from billabled.kit.ids import is_valid_id
from billabled.logging import configure_logging

app = typer.Typer(
    name="billabled",
    help="Billabled: time tracking and billing for agencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain text: a usage error was drawn in a box, unlike every other error of the CLI.
    rich_markup_mode=None,
)
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.command("usage")(usage)


def _prepare(settings: Settings) -> None:
    """Validate settings, make the secret key, bring the schema up to date, and check that the
    secret key is the database's."""
    async_url(settings.resolved_database_url)  # a malformed URL fails here, in one line
    generated = settings.secret_key_is_new()
    _ = settings.resolved_secret_key
    migrations.upgrade(settings.resolved_database_url, on_wait=_say_migration_waits)
    check_secret_key(
        settings.resolved_database_url, settings.resolved_secret_key, generated=generated
    )


def _say_migration_waits() -> None:
    typer.echo(
        "waiting: another process is migrating this database (PostgreSQL advisory lock "
        f"{migrations.MIGRATION_LOCK_ID}); this one goes on when it finishes",
        err=True,
    )


@app.command()
def migrate() -> None:
    """Apply every pending migration (safe to run from several machines at once)."""
    settings = load_settings()
    with cli_errors(settings):
        _prepare(settings)
        revision = migrations.current_revision(settings.resolved_database_url)
    typer.echo(f"Database {describe_url(settings.resolved_database_url)} is at revision {revision}")


@app.command("adopt-secret-key")
def adopt_secret_key_command() -> None:
    """Make the current secret key this database's, after rotating BILLABLED_SECRET_KEY on
    purpose: every API key made with the previous one stops working."""
    settings = load_settings()
    with cli_errors(settings):
        require_current_schema(settings)
        before, after = adopt_secret_key(
            settings.resolved_database_url, settings.resolved_secret_key
        )
    if before == after:
        typer.echo(f"The secret key (fingerprint {after}) was this database's already.")
    else:
        typer.echo(
            f"The secret key (fingerprint {after}) is this database's now, in place of "
            f"{before or 'none recorded'}: every API key made with the previous one is refused."
        )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [BILLABLED_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to bind [BILLABLED_PORT].")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes.")] = 1,
    demo: Annotated[
        bool, typer.Option(help="Create a demo workspace full of agency data; print a login.")
    ] = False,
) -> None:
    """Run the HTTP server, after applying migrations."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from billabled.http_protocol import BoundedHttpToolsProtocol

    settings = load_settings(host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)
    # Bound first: "serving" was printed, after the migrations, then the port was found taken.
    listening = _listen(settings.host, settings.port)
    with cli_errors(settings):
        _prepare(settings)
        login = _demo(settings) if demo else None
    # Worker processes build their own app from the environment: hand them the CLI's choices.
    os.environ["BILLABLED_HOST"] = settings.host
    os.environ["BILLABLED_PORT"] = str(settings.port)
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    typer.echo(
        f"Billabled is serving on {base} (database: {describe_url(settings.resolved_database_url)})"
    )
    if login:
        typer.echo("Demo workspace ready:")
        typer.echo(f"  workspace: {login.workspace_id}")
        typer.echo(f"  login:     {login.email} / {login.password}")
        typer.echo(f"  API key:   {login.api_key}")
        typer.echo(f"  try:       curl -H 'X-Api-Key: {login.api_key}' {base}/api/v1/me")
        if login.counts:
            typer.echo(f"  demo data: {login.counts.summary()}")
    # Shown now, even when stdout is a pipe or a file (uvicorn takes over from here).
    sys.stdout.flush()
    config = uvicorn.Config(
        "billabled.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http=BoundedHttpToolsProtocol,
        # The API serves no WebSocket: an upgrade request is plain HTTP to it. uvicorn's
        # WebSocket layer logged every header of one at debug (an `Authorization: Basic` key
        # included, which the key redaction does not recognise; a helper's secrets audit).
        ws="none",
        # uvicorn's own idle timer: as long as ours (`http_protocol`), which closes first.
        timeout_keep_alive=math.ceil(settings.keep_alive_seconds),
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
    )
    # As `uvicorn.run` does, on the socket bound above.
    server = uvicorn.Server(config)
    # uvicorn re-raises Ctrl-C's KeyboardInterrupt after its clean shutdown; `uvicorn.run`
    # swallowed it (exit 0), and so do we.
    with contextlib.suppress(KeyboardInterrupt):
        if workers > 1:
            Multiprocess(config, sockets=[listening]).run()
            return
        server.run(sockets=[listening])
    if not server.started:
        raise typer.Exit(3)  # the app did not start; its error is logged


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` (as uvicorn binds one), or a one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family=family)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        fail(f"cannot listen on {_url_host(host)}:{port}: {exc.strerror or exc}")
    listening.set_inheritable(True)
    return listening


def _url_host(host: str) -> str:
    """`host` as a URL writes it: an IPv6 address in brackets (`http://::1:8000` is no URL)."""
    return f"[{host}]" if ":" in host else host


@app.command("demo")
def demo_command(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    as_json: JsonFlag = False,
) -> None:
    """Fill a workspace that has no clients yet with a realistic demo agency.

    People, clients, projects of every billing type, tasks, tags, a month of scheduled work and
    three months of time, dated relative to today in the workspace's time zone.
    """
    settings = load_settings()
    with cli_errors(settings):
        if not is_valid_id(workspace, "ws"):
            fail(f"workspace {workspace!r} not found")
        require_current_schema(settings)

        async def work(database: Database) -> DemoCounts:
            async with database.transaction() as session:
                return await fill_workspace(session, workspace)

        counts = run_with_database(settings, work)
    if as_json:
        print_json({"workspaceId": workspace, "counts": counts.as_json()})
        return
    typer.echo(f"Filled {workspace} with {counts.summary()}")


def _demo(settings: Settings) -> DemoLogin:
    async def work(database: Database) -> DemoLogin:
        async with database.transaction() as session:
            return await ensure_demo_workspace(session, derive_pepper(settings.resolved_secret_key))

    return run_with_database(settings, work)


def main() -> None:
    app()
