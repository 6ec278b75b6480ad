"""`billabled workspaces …` and `billabled users …`: tenant administration from the shell."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.audit.service import SYSTEM
from billabled.cli.common import (
    cli_errors,
    fail,
    load_settings,
    print_json,
    require_current_schema,
    run_with_database,
)
from billabled.db import Database
from billabled.kit.ids import is_valid_id
from billabled.kit.passwords import generate_password
from billabled.user import repository as user_repository
from billabled.user.service import (
    add_member,
    change_role,
    normalise_email,
    parse_role,
    remove_member,
)
from billabled.workspace import repository as workspace_repository
from billabled.workspace.service import create_workspace, parse_plan

workspaces_app = typer.Typer(help="Create workspaces.", no_args_is_help=True)
users_app = typer.Typer(
    help="Add people to workspaces, change their roles, remove them.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Argument(help="The workspace (agency) name.")],
    owner_email: Annotated[str, typer.Option("--owner-email", help="The owner's email.")],
    owner_name: Annotated[str | None, typer.Option("--owner-name")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", help="The owner's password; generated when omitted."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the owner's password from the first line of standard input: unlike "
            "--password, it stays out of the process list and the shell's history.",
        ),
    ] = False,
    plan: Annotated[str, typer.Option("--plan", help="free, starter, professional, business")] = (
        "free"
    ),
    as_json: JsonFlag = False,
) -> None:
    """Create a workspace and its owner (a new user, or an existing one by email)."""
    if password_stdin:
        if password is not None:
            raise typer.BadParameter("give --password or --password-stdin, not both")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input (--password-stdin)")
    settings = load_settings()
    with cli_errors(settings):
        parsed_plan = parse_plan(plan)
        require_current_schema(settings)
        generated = generate_password() if password is None else None

        async def work(database: Database) -> dict[str, Any]:
            async with database.transaction() as session:
                # An existing account keeps its password: `--password` was silently ignored.
                email = normalise_email(owner_email)
                if password is not None and await user_repository.get_user_by_email(session, email):
                    fail(
                        f"{email} already has an account, which keeps its password; "
                        "leave out --password or --password-stdin"
                    )
                created = await create_workspace(
                    session,
                    name=name,
                    owner_email=email,
                    owner_name=owner_name,
                    owner_password=password or generated,
                    plan=parsed_plan,
                    actor=SYSTEM,
                )
                workspace, owner = created.workspace, created.owner
                return {
                    "workspace": {
                        "id": workspace.id,
                        "name": workspace.name,
                        "plan": workspace.plan,
                        "currency": workspace.currency,
                        "timeZone": workspace.time_zone,
                        "weekStart": workspace.week_start,
                        "createdAt": workspace.created_at,
                    },
                    "owner": {
                        "id": owner.id,
                        "email": owner.email,
                        "name": owner.name,
                        "role": created.membership.role,
                        "membershipId": created.membership.id,
                        "created": created.owner_created,
                    },
                }

        result = run_with_database(settings, work)
    # A generated password only matters if the account is new (existing users keep theirs).
    if generated and result["owner"]["created"]:
        result["password"] = generated
    if as_json:
        print_json(result)
        return
    typer.echo(f"Created workspace {result['workspace']['id']} ({result['workspace']['name']})")
    typer.echo(f"Owner: {result['owner']['email']} ({result['owner']['id']})")
    if "password" in result:
        typer.echo(f"Password (shown once): {result['password']}")


@users_app.command("add")
def users_add(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="owner, admin, manager or member")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a person to a workspace with a role, creating their account if the email is new."""
    settings = load_settings()
    with cli_errors(settings):
        parsed_role = parse_role(role)
        if not is_valid_id(workspace, "ws"):
            fail(f"workspace {workspace!r} not found")
        require_current_schema(settings)

        async def work(database: Database) -> dict[str, Any]:
            async with database.transaction() as session:
                await _require_workspace(session, workspace)
                added = await add_member(
                    session,
                    workspace_id=workspace,
                    email=email,
                    role=parsed_role,
                    name=name,
                    actor=SYSTEM,
                )
                return {
                    "user": {
                        "id": added.user.id,
                        "email": added.user.email,
                        "name": added.user.name,
                        "created": added.user_created,
                    },
                    "membership": {
                        "id": added.membership.id,
                        "workspaceId": added.membership.workspace_id,
                        "role": added.membership.role,
                        "weeklyCapacitySeconds": added.membership.weekly_capacity_seconds,
                    },
                }

        result = run_with_database(settings, work)
    if as_json:
        print_json(result)
        return
    typer.echo(
        f"Added {result['user']['email']} ({result['user']['id']}) to {workspace} "
        f"as {result['membership']['role']}"
    )


@users_app.command("set-role")
def users_set_role(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="owner, admin, manager or member")],
    as_json: JsonFlag = False,
) -> None:
    """Change a member's role; their API keys follow the new role's ceiling at once."""
    settings = load_settings()
    with cli_errors(settings):
        parsed_role = parse_role(role)
        require_current_schema(settings)

        async def work(database: Database) -> dict[str, Any]:
            async with database.transaction() as session:
                await _require_workspace(session, workspace)
                change = await change_role(
                    session, workspace_id=workspace, email=email, role=parsed_role, actor=SYSTEM
                )
                return {
                    "membershipId": change.membership.id,
                    "userId": change.membership.user_id,
                    "role": change.membership.role,
                    "changed": change.changed,
                }

        result = run_with_database(settings, work)
    if as_json:
        print_json(result)
    elif result["changed"]:
        typer.echo(f"{email} is now {result['role']} in {workspace}")
    else:
        typer.echo(f"{email} is already {result['role']} in {workspace}; nothing changed")


@users_app.command("remove")
def users_remove(
    workspace: Annotated[str, typer.Option("--workspace", help="The workspace id (ws_…).")],
    email: Annotated[str, typer.Option("--email")],
) -> None:
    """Remove a person from a workspace; every API key they created stops working."""
    settings = load_settings()
    with cli_errors(settings):
        require_current_schema(settings)

        async def work(database: Database) -> None:
            async with database.transaction() as session:
                await _require_workspace(session, workspace)
                await remove_member(session, workspace_id=workspace, email=email, actor=SYSTEM)

        run_with_database(settings, work)
    typer.echo(f"Removed {email} from {workspace}")


async def _require_workspace(session: AsyncSession, workspace_id: str) -> None:
    if not is_valid_id(workspace_id, "ws") or (
        await workspace_repository.get_workspace(session, workspace_id) is None
    ):
        fail(f"workspace {workspace_id!r} not found")
