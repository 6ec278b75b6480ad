"""Every table. Import from the submodules; this module only makes sure all are registered."""

from billabled.models import (
    api_key,
    audit,
    client,
    event,
    idempotency,
    membership,
    project,
    schedule,
    secret_check,
    tag,
    task,
    time_entry,
    tombstone,
    usage,
    user,
    workspace,
)
from billabled.models.base import Base

__all__ = [
    "Base",
    "api_key",
    "audit",
    "client",
    "event",
    "idempotency",
    "membership",
    "project",
    "schedule",
    "secret_check",
    "tag",
    "task",
    "time_entry",
    "tombstone",
    "usage",
    "user",
    "workspace",
]
