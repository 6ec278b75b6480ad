"""A person. Users are global identities; what they may do in a workspace is their membership."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.models.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL
    id_prefix = "usr"

    # Stored lower-cased; unique across the service.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # argon2id hash; None until the person sets a password (e.g. added by an admin or the CLI).
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
