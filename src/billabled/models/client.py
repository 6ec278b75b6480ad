"""Clients (also "customers"): the top of the work record."""

from __future__ import annotations

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import (
    Base,
    IdMixin,
    TimestampMixin,
    WorkspaceScopedMixin,
    not_negative,
    referable_in_workspace,
)


class Client(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "client"
    id_prefix = "cli"

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    currency: Mapped[str] = mapped_column(String(3))
    address: Mapped[str | None] = mapped_column(Text, default=None)
    default_hourly_rate_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (
        *not_negative("default_hourly_rate_minor"),
        referable_in_workspace(),
        Index("ix_client_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        Index("ix_client_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        Index("ix_client_workspace_id_name_id", "workspace_id", "name", "id"),
        Index("ix_client_workspace_id_external_ref", "workspace_id", "external_ref"),
        Index("ix_client_workspace_id_archived", "workspace_id", "archived"),
    )
