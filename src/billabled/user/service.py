"""Users and memberships.

Invariants:
- emails are stored lower-cased and are unique across the service;
- a user is a member of a workspace at most once;
- every membership change writes an audit record in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from billabled.api_key.service import revoke_keys_of
from billabled.audit.service import Actor, record_audit
from billabled.errors import Conflict, NotFound, ValidationFailed
from billabled.event.tombstones import clear_deletion, record_deletion
from billabled.kit.passwords import MIN_PASSWORD_LENGTH, hash_password
from billabled.kit.text import checked_name
from billabled.models.membership import Membership, Role
from billabled.models.user import User
from billabled.user import repository
from billabled.workspace.repository import lock_workspace


class AlreadyMember(Conflict):
    code = "already_member"


@dataclass(frozen=True, slots=True)
class NewMember:
    user: User
    membership: Membership
    user_created: bool


def normalise_email(raw: str) -> str:
    try:
        # Deliverability would need DNS; the address only has to be well-formed here.
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "The email address is invalid.",
            errors=[{"field": "email", "in": "body", "message": str(exc), "type": "email"}],
        ) from exc


def parse_role(raw: str) -> Role:
    try:
        return Role(raw.strip().lower())
    except ValueError as exc:
        allowed = ", ".join(role.value for role in Role)
        raise ValidationFailed(
            f"Unknown role {raw!r}; use one of: {allowed}.",
            errors=[{"field": "role", "in": "body", "message": "unknown role", "type": "enum"}],
        ) from exc


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.",
            errors=[{"field": "password", "in": "body", "message": "too short", "type": "length"}],
        )


def person_name(raw: str | None, email: str) -> str:
    """The name given, by the rule for names (`checked_name`), else one made from the email
    when none is given (or only blanks)."""
    if raw is None or not raw.strip():
        return default_name(email)
    return checked_name(raw)


def default_name(email: str) -> str:
    local = email.split("@", 1)[0]
    return re.sub(r"[._+-]+", " ", local).strip().title() or email


def _membership_json(membership: Membership, user: User) -> dict[str, object]:
    return {
        "id": membership.id,
        "userId": user.id,
        "email": user.email,
        "role": membership.role,
        "weeklyCapacitySeconds": membership.weekly_capacity_seconds,
    }


async def add_member(
    session: AsyncSession,
    *,
    workspace_id: str,
    email: str,
    role: Role,
    actor: Actor,
    name: str | None = None,
    password: str | None = None,
) -> NewMember:
    """Add a person to a workspace, creating their user account when the email is new."""
    email = normalise_email(email)
    name = person_name(name, email)
    if password is not None:
        check_password(password)
    user = await repository.get_user_by_email(session, email)
    user_created = user is None
    if user is None:
        user = User(
            email=email,
            name=name,
            password_hash=hash_password(password) if password else None,
        )
        session.add(user)
        await session.flush()
    elif await repository.get_membership(session, workspace_id, user.id) is not None:
        raise AlreadyMember(f"{email} is already a member of this workspace.")
    membership = Membership(workspace_id=workspace_id, user_id=user.id, role=role.value)
    session.add(membership)
    await session.flush()
    await clear_deletion(session, workspace_id=workspace_id, entity_type="user", entity_id=user.id)
    record_audit(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="membership.created",
        entity_type="membership",
        entity_id=membership.id,
        after=_membership_json(membership, user),
    )
    return NewMember(user=user, membership=membership, user_created=user_created)


@dataclass(frozen=True, slots=True)
class RoleChange:
    membership: Membership
    changed: bool  # False: the member already had the role


class NotAMember(NotFound):
    code = "not_a_member"


async def _membership_by_email(
    session: AsyncSession, workspace_id: str, email: str
) -> tuple[User, Membership]:
    email = normalise_email(email)
    user = await repository.get_user_by_email(session, email)
    membership = await repository.get_membership(session, workspace_id, user.id) if user else None
    if user is None or membership is None:
        raise NotAMember(f"{email} is not a member of this workspace.")
    return user, membership


async def change_role(
    session: AsyncSession, *, workspace_id: str, email: str, role: Role, actor: Actor
) -> RoleChange:
    """Change a member's role. Their API keys shrink or grow to the new ceiling at once. The
    role they already have changes nothing, and writes no audit record."""
    user, membership = await _membership_by_email(session, workspace_id, email)
    if membership.role == role:
        return RoleChange(membership=membership, changed=False)
    if membership.role == Role.OWNER and role != Role.OWNER:
        await _keep_an_owner(session, workspace_id)
    before = _membership_json(membership, user)
    membership.role = role.value
    await session.flush()
    record_audit(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="membership.updated",
        entity_type="membership",
        entity_id=membership.id,
        before=before,
        after=_membership_json(membership, user),
    )
    return RoleChange(membership=membership, changed=True)


async def remove_member(
    session: AsyncSession, *, workspace_id: str, email: str, actor: Actor
) -> User:
    """Remove a person from a workspace. Every API key they created is revoked: it stays dead
    if they are added again (SPEC §4: a removed creator kills the key)."""
    user, membership = await _membership_by_email(session, workspace_id, email)
    if membership.role == Role.OWNER:
        await _keep_an_owner(session, workspace_id)
    before = _membership_json(membership, user)
    await revoke_keys_of(session, workspace_id=workspace_id, creator_user_id=user.id, actor=actor)
    await session.delete(membership)
    await record_deletion(session, workspace_id=workspace_id, entity_type="user", entity_id=user.id)
    record_audit(
        session,
        workspace_id=workspace_id,
        actor=actor,
        action="membership.deleted",
        entity_type="membership",
        entity_id=membership.id,
        before=before,
    )
    await session.flush()
    return user


async def _keep_an_owner(session: AsyncSession, workspace_id: str) -> None:
    # Counted under the workspace's lock: two owners demoted at once each counted the other and
    # left the workspace with none.
    await lock_workspace(session, workspace_id)
    owners = await repository.count_owners(session, workspace_id)
    if owners <= 1:
        raise LastOwner("A workspace needs at least one owner; make someone else owner first.")


class LastOwner(Conflict):
    code = "last_owner"
