"""Workspace tags, attached to projects and time entries."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import Base, IdColumn, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Tag(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "tag"
    id_prefix = "tag"

    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str | None] = mapped_column(String(7), default=None)  # "#RRGGBB"

    __table_args__ = (
        # Unique ignoring case, as the API promises ("Billable" and "billable" are one tag).
        Index("uq_tag_workspace_id_lower_name", "workspace_id", func.lower(name), unique=True),
        Index("ix_tag_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_tag_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_tag_workspace_id_name_id", "workspace_id", "name", "id"),
    )


class ProjectTag(Base):
    __tablename__ = "project_tag"

    project_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("tag.id", ondelete="RESTRICT"), primary_key=True
    )

    __table_args__ = (Index("ix_project_tag_tag_id", "tag_id"),)


class TimeEntryTag(Base):
    __tablename__ = "time_entry_tag"

    time_entry_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("time_entry.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[str] = mapped_column(
        IdColumn(), ForeignKey("tag.id", ondelete="RESTRICT"), primary_key=True
    )

    __table_args__ = (Index("ix_time_entry_tag_tag_id", "tag_id"),)
