"""Every table. Import from the submodules; this module only makes sure all are registered."""

from billabled.models import audit, event, membership, user, workspace
from billabled.models.base import Base

__all__ = ["Base", "audit", "event", "membership", "user", "workspace"]
