"""Tombstones: what is left of a deleted record, so `includeDeleted=true` can replay deletions to an
integrator's mirror (SPEC §4). Written in the same transaction as the delete."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import Base, IdColumn


class Tombstone(Base):
    __tablename__ = "tombstone"

    workspace_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True
    )
    entity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(IdColumn(), primary_key=True)
    # Whose record it was, for collections a member sees only their own part of (time entries):
    # their sync replays only their own deletions. "" where every reader sees every record. Part
    # of the key: a time entry moved from one member to another and then deleted leaves one
    # tombstone for each (migration 0006).
    owner_user_id: Mapped[str] = mapped_column(
        IdColumn(), primary_key=True, default="", server_default=""
    )
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # True: the record still exists, it only left `owner_user_id` (a time entry given to another
    # member); their sync replays it as deleted, readers who see every record never see it.
    reassigned: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        Index(
            "ix_tombstone_workspace_id_entity_type_deleted_at",
            "workspace_id",
            "entity_type",
            "deleted_at",
            "entity_id",
        ),
    )
