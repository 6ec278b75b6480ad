"""`billabled keys …` and `billabled usage`: API keys and their usage from the shell, until the
web app's Settings → Developers shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from billabled.api_key import repository as key_repository
from billabled.api_key.secret_check import check_secret_key
from billabled.api_key.service import create_api_key, key_json, parse_duration, revoke_api_key
from billabled.audit.service import SYSTEM
from billabled.auth.scopes import Scope, ceiling, parse_scopes
from billabled.cli.common import (
    cli_errors,
    fail,
    load_settings,
    print_json,
    require_current_schema,
    run_with_database,
    shown,
)
from billabled.cli.workspaces import JsonFlag, _require_workspace
from billabled.db import Database
from billabled.kit.apikeys import derive_pepper, hash_key, is_well_formed
from billabled.kit.time import isoformat_z, utcnow
from billabled.usage.service import usage_summary
from billabled.user import repository as user_repository
from billabled.user.service import normalise_email

_SCOPE_NAMES = ", ".join(scope.value for scope in Scope)

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    user: Annotated[str, typer.Option("--user", help="The creator's email; the key acts as them.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes",
            help="Comma-separated scopes, or `all` for every scope the creator's role allows. "
            f"The scopes: {_SCOPE_NAMES}.",
        ),
    ],
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="e.g. 90m, 12h, 30d, 2w")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key. The raw key is printed once and never stored."""
    settings = load_settings()
    with cli_errors(settings):
        # `is not None`: an empty `--expires-in ""` made a key that never expires.
        ttl = parse_duration(expires_in) if expires_in is not None else None
        try:
            requested = parse_scopes(scopes)
            # As `parse_scopes` reads them: "all," is `all` too, capped at the creator's role.
            wants_all = {item.strip() for item in scopes.split(",") if item.strip()} == {"all"}
        except ValueError as exc:
            fail(f"{exc}; the scopes are {_SCOPE_NAMES}, or all")
        require_current_schema(settings)
        # A secret key other than the servers' makes keys they refuse (generated afresh by a
        # command run from another directory).
        generated = settings.secret_key_is_new()
        check_secret_key(
            settings.resolved_database_url, settings.resolved_secret_key, generated=generated
        )
        pepper = derive_pepper(settings.resolved_secret_key)

        async def work(database: Database) -> dict[str, Any]:
            async with database.transaction() as session:
                await _require_workspace(session, workspace)
                found = await user_repository.get_membership_by_email(
                    session, workspace, normalise_email(user)
                )
                if found is None:
                    fail(f"{user} is not a member of workspace {workspace}")
                creator, membership = found
                granted = ceiling(membership.role) if wants_all else requested
                created = await create_api_key(
                    session,
                    pepper=pepper,
                    workspace_id=workspace,
                    creator_user_id=creator.id,
                    creator_role=membership.role,
                    name=name,
                    scopes=granted,
                    expires_at=utcnow() + ttl if ttl is not None else None,
                    actor=SYSTEM,
                )
                return {"key": created.raw_key, **key_json(created.api_key)}

        result = run_with_database(settings, work)
    if as_json:
        print_json(result)
        return
    typer.echo(f"Created API key {result['id']} ({result['name']}) with scopes:")
    typer.echo("  " + " ".join(result["scopes"]))
    if result["expiresAt"]:
        typer.echo(f"Expires at {isoformat_z(result['expiresAt'])}")
    typer.echo(f"Key (shown once, store it now): {result['key']}")


@keys_app.command("list")
def keys_list(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    as_json: JsonFlag = False,
) -> None:
    """List a workspace's keys: prefix, creator, scopes, expiry, last use, status."""
    settings = load_settings()
    with cli_errors(settings):
        require_current_schema(settings)

        async def work(database: Database) -> list[dict[str, Any]]:
            async with database.transaction(write=False) as session:
                await _require_workspace(session, workspace)
                rows = await key_repository.list_with_creators(session, workspace)
                return [{**key_json(api_key), "createdByEmail": email} for api_key, email in rows]

        keys = run_with_database(settings, work)
    if as_json:
        print_json({"items": keys})
        return
    if not keys:
        typer.echo("No API keys.")
    for item in keys:
        last = isoformat_z(item["lastUsedAt"]) if item["lastUsedAt"] else "never"
        expires = (
            f"expires {isoformat_z(item['expiresAt'])}" if item["expiresAt"] else "never expires"
        )
        typer.echo(
            f"{item['id']}  {item['prefix']}…  {item['status']:<7}  {shown(item['name'])}  "
            f"by {item['createdByEmail']}  {expires}  last used {last}  "
            f"[{' '.join(item['scopes'])}]"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[
        str,
        typer.Argument(help="The key id (key_…), or the key itself (blb_…), as found leaked."),
    ],
) -> None:
    """Revoke a key; it stops working on its next request."""
    settings = load_settings()
    with cli_errors(settings):
        require_current_schema(settings)
        key_hash = None
        if is_well_formed(key_id):
            # Hashed as the servers hash it: with their secret key, or not at all.
            check_secret_key(
                settings.resolved_database_url,
                settings.resolved_secret_key,
                generated=settings.secret_key_is_new(),
            )
            key_hash = hash_key(derive_pepper(settings.resolved_secret_key), key_id)

        async def work(database: Database) -> str:
            async with database.transaction() as session:
                found = key_id
                if key_hash is not None:
                    found = await key_repository.id_of_hash(session, key_hash) or ""
                    if not found:
                        fail("No API key is that key (it was never issued by this database).")
                api_key = await revoke_api_key(session, key_id=found, actor=SYSTEM)
                return api_key.id

        revoked = run_with_database(settings, work)
    typer.echo(f"Revoked {revoked}")


def usage(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Window, in days.")] = 30,
    as_json: JsonFlag = False,
) -> None:
    """Summarise Integration API usage: requests by key, endpoint and status."""
    settings = load_settings()
    with cli_errors(settings):
        require_current_schema(settings)

        async def work(database: Database) -> dict[str, Any]:
            async with database.transaction(write=False) as session:
                await _require_workspace(session, workspace)
                return await usage_summary(
                    session, workspace, since=utcnow() - timedelta(days=days)
                )

        summary = run_with_database(settings, work)
    if as_json:
        print_json(summary)
        return
    typer.echo(f"Requests in the last {days} days: {summary['totalRequests']}")
    typer.echo("By status: " + ", ".join(f"{k} {v}" for k, v in summary["byStatus"].items()))
    typer.echo("By key:")
    for row in summary["byKey"]:
        last = isoformat_z(row["lastUsedAt"]) if row["lastUsedAt"] else "never"
        typer.echo(
            f"  {row['keyId']}  {row['prefix']}…  {shown(row['name'])}: {row['requests']} "
            f"(last {last})"
        )
    typer.echo("By endpoint:")
    for row in summary["byEndpoint"]:
        typer.echo(
            f"  {row['method']} {row['endpoint']}: {row['requests']} "
            f"(avg {row['avgLatencyMs']} ms, errors {row['errors']})"
        )
