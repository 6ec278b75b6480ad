"""Projects.

Invariants:
- a project belongs to a client of its workspace and bills in that client's currency;
- retainer terms exist exactly on retainer projects (included seconds > 0, monthly fee ≥ 0), a
  fixed fee only on fixed-fee projects; an update that touches the billing type or these terms is
  checked against the record it would produce;
- a project's tags are tags of its workspace;
- a client's change of currency carries to its projects while no time is logged on it (the
  entries keep their rate's currency);
- a project with time entries stays with its client (the entries keep `client_id`), and a project
  with tasks, scheduled work or time cannot be deleted (archive it instead);
- changing a rate never touches logged time: entries keep their own rate snapshot;
- every change writes its event and audit record in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api.resources import HasDependents, get_or_404, refuse_delete
from billabled.auth.principal import Principal
from billabled.errors import FieldError, field_error, invalid_fields
from billabled.event.service import record_change
from billabled.event.tombstones import record_deletion
from billabled.kit.time import utcnow
from billabled.models.client import Client
from billabled.models.project import BillingType, Project
from billabled.models.time_entry import TimeEntry
from billabled.project import repository
from billabled.project.schemas import ProjectCreate, project_json

ENTITY = "project"
# Fields whose change re-checks the billing rules against the resulting record.
_BILLING_FIELDS = frozenset({"billing_type", "fixed_fee_minor", "retainer"})


async def get_project(
    session: AsyncSession, principal: Principal, project_id: str, *, for_change: bool = False
) -> Project:
    return await get_or_404(
        session, Project, principal.workspace_id, project_id, ENTITY, for_change=for_change
    )


async def _client_and_errors(
    session: AsyncSession, principal: Principal, client_id: str
) -> tuple[Client | None, list[FieldError]]:
    # Another workspace's client looks exactly like a missing one.
    client = await repository.get_client(session, principal.workspace_id, client_id)
    if client is None:
        message = f"No client {client_id!r} in this workspace."
        return None, [field_error("clientId", message, "not_found")]
    if client.archived:  # as time is not logged for it, no new work is filed under it
        message = f"Client {client_id!r} is archived; unarchive it to give it projects."
        return None, [field_error("clientId", message, "client_archived")]
    return client, []


async def _tag_errors(
    session: AsyncSession, principal: Principal, tag_ids: list[str]
) -> list[FieldError]:
    unknown = await repository.unknown_tag_ids(session, principal.workspace_id, tag_ids)
    if not unknown:
        return []
    listed = ", ".join(repr(tag_id) for tag_id in unknown)
    return [field_error("tagIds", f"No tag {listed} in this workspace.", "not_found")]


def _billing_errors(project: Project) -> list[FieldError]:
    """The billing rules, on the record as it would be saved."""
    errors = []
    has_retainer = any(
        value is not None
        for value in (
            project.retainer_included_seconds,
            project.retainer_monthly_fee_minor,
            project.retainer_overage_rate_minor,
        )
    )
    if project.billing_type == BillingType.RETAINER:
        if project.retainer_included_seconds is None or project.retainer_monthly_fee_minor is None:
            errors.append(
                field_error(
                    "retainer",
                    "A retainer project needs retainer terms: includedSecondsPerMonth and "
                    "monthlyFeeMinor.",
                    "missing",
                )
            )
    elif has_retainer:
        errors.append(
            field_error(
                "retainer",
                "Retainer terms are only for retainer projects (billingType retainer); "
                "send retainer: null with another billing type.",
                "not_allowed",
            )
        )
    if project.billing_type != BillingType.FIXED_FEE and project.fixed_fee_minor is not None:
        errors.append(
            field_error(
                "fixedFeeMinor",
                "A fixed fee is only for fixed_fee projects; send fixedFeeMinor: null with "
                "another billing type.",
                "not_allowed",
            )
        )
    return errors


def _set_retainer(project: Project, terms: dict[str, Any] | None) -> None:
    terms = terms or {}
    project.retainer_included_seconds = terms.get("included_seconds_per_month")
    project.retainer_monthly_fee_minor = terms.get("monthly_fee_minor")
    project.retainer_overage_rate_minor = terms.get("overage_rate_minor")


def _unique(ids: list[str]) -> list[str]:
    return sorted(set(ids))


async def create_project(
    session: AsyncSession, principal: Principal, body: ProjectCreate
) -> tuple[Project, list[str]]:
    """The new project and its tag ids."""
    client, errors = await _client_and_errors(session, principal, body.client_id)
    tag_ids = _unique(body.tag_ids)
    errors += await _tag_errors(session, principal, tag_ids)
    project = Project(
        workspace_id=principal.workspace_id,
        client_id=body.client_id,
        name=body.name,
        code=body.code,
        billing_type=body.billing_type.value,
        currency=client.currency if client else None,
        hourly_rate_minor=body.hourly_rate_minor,
        fixed_fee_minor=body.fixed_fee_minor,
        budget_seconds=body.budget_seconds,
        budget_amount_minor=body.budget_amount_minor,
        status=body.status.value,
    )
    _set_retainer(project, body.retainer.model_dump() if body.retainer else None)
    errors += _billing_errors(project)
    if errors:
        raise invalid_fields("project", errors)
    session.add(project)
    await session.flush()
    await repository.replace_tags(session, project.id, (), tag_ids)
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=project.id,
        action="created",
        after=project_json(project, tag_ids),
    )
    return project, tag_ids


async def update_project(
    session: AsyncSession, principal: Principal, project_id: str, changes: dict[str, Any]
) -> tuple[Project, list[str]]:
    """Apply the fields sent; returns the project and its tag ids."""
    project = await get_project(session, principal, project_id, for_change=True)
    current_tags = await repository.tag_ids_of(session, project.id)
    before = project_json(project, current_tags)

    changes = dict(changes)
    new_client_id = changes.pop("client_id", project.client_id)
    client: Client | None = None
    errors: list[FieldError] = []
    if new_client_id != project.client_id:
        client, errors = await _client_and_errors(session, principal, new_client_id)
    tag_ids = current_tags
    if "tag_ids" in changes:
        tag_ids = _unique(changes.pop("tag_ids"))
        errors += await _tag_errors(session, principal, tag_ids)
    if errors:
        raise invalid_fields("project", errors)
    if client is not None:
        entries = await repository.count_time_entries(session, principal.workspace_id, project.id)
        if entries:
            raise HasDependents(
                f"This project cannot move to another client: its {entries} time entries "
                "belong to the current client. Create a new project for the other client instead.",
                dependents={"timeEntries": entries},
            )
        project.client_id = client.id
        project.currency = client.currency

    if (
        changes.get("billing_type") == BillingType.NON_BILLABLE
        and project.billing_type != BillingType.NON_BILLABLE
    ):
        await _refuse_billable_time(session, principal, project)
    check_billing = bool(_BILLING_FIELDS & changes.keys())
    if "retainer" in changes:
        _set_retainer(project, changes.pop("retainer"))
    for field, value in changes.items():
        # Enums are stored as their plain values.
        setattr(project, field, getattr(value, "value", value))
    if check_billing and (billing_errors := _billing_errors(project)):
        raise invalid_fields("project", billing_errors)

    if tag_ids != current_tags:
        await repository.replace_tags(session, project.id, current_tags, tag_ids)
        # The tag set is part of the project: a change shows in updatedAt (and updatedSince).
        project.updated_at = utcnow()
    await session.flush()
    after = project_json(project, tag_ids)
    if after != before:
        _record_update(session, principal, project.id, before, after)
    return project, tag_ids


async def _refuse_billable_time(
    session: AsyncSession, principal: Principal, project: Project
) -> None:
    """A `non_billable` project has no billable time (its entries could not be changed back:
    `billable: true` is refused there). Time being logged meanwhile waits on the project's
    lock and then sees it non_billable."""
    billable = await repository.count_time_entries(
        session, principal.workspace_id, project.id, billable_only=True
    )
    if billable:
        raise HasDependents(
            f"This project cannot become non_billable: {billable} of its time entries are "
            "billable. Mark them not billable (or move them) first, or archive the project and "
            "create a non_billable one.",
            dependents={"billableTimeEntries": billable},
        )


def _record_update(
    session: AsyncSession,
    principal: Principal,
    project_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=project_id,
        action="updated",
        before=before,
        after=after,
    )


async def follow_client_currency(
    session: AsyncSession, principal: Principal, client: Client, currency: str
) -> None:
    """Carry a change of `client`'s currency to its projects, which bill in it; 409 when time
    is logged on the client, whose rates are in the old currency (a new client is the way to
    bill in another). The caller holds the client locked against new projects; the projects are
    locked here against time being logged on them until the change commits."""
    projects = list(
        await session.scalars(
            select(Project)
            .where(Project.workspace_id == principal.workspace_id, Project.client_id == client.id)
            .order_by(Project.id)
            .with_for_update()
        )
    )
    entries = await session.scalar(
        select(func.count())
        .select_from(TimeEntry)
        .where(TimeEntry.workspace_id == principal.workspace_id, TimeEntry.client_id == client.id)
    )
    if entries:
        raise HasDependents(
            f"This client's currency cannot change: its {entries} time entries were logged in "
            f"{client.currency}. Create another client for work billed in {currency}.",
            dependents={"timeEntries": entries},
        )
    tag_ids = await repository.tag_ids_by_project(session, [project.id for project in projects])
    befores = [project_json(project, tag_ids[project.id]) for project in projects]
    for project in projects:
        project.currency = currency
    await session.flush()
    for project, before in zip(projects, befores, strict=True):
        _record_update(
            session, principal, project.id, before, project_json(project, tag_ids[project.id])
        )


async def delete_project(session: AsyncSession, principal: Principal, project_id: str) -> None:
    project = await get_project(session, principal, project_id, for_change=True)
    dependents = await repository.count_dependents(session, principal.workspace_id, project.id)
    refuse_delete(
        ENTITY,
        {
            "tasks": dependents.tasks,
            "scheduledWork": dependents.scheduled_work,
            "timeEntries": dependents.time_entries,
        },
    )
    tag_ids = await repository.tag_ids_of(session, project.id)
    before = project_json(project, tag_ids)
    # Explicitly, so SQLite without enforced foreign keys leaves no orphans either.
    await repository.remove_all_tags(session, project.id)
    await session.delete(project)
    try:
        await session.flush()
    except IntegrityError:
        # Something began to depend on it after the counts (the foreign keys refuse the delete).
        raise HasDependents(
            "This project cannot be deleted: records were just added to it. Archive it instead."
        ) from None
    await record_deletion(
        session, workspace_id=principal.workspace_id, entity_type=ENTITY, entity_id=project.id
    )
    record_change(
        session,
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        entity_type=ENTITY,
        entity_id=project.id,
        action="deleted",
        before=before,
    )
    await session.flush()
