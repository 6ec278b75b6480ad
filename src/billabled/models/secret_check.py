"""Which secret key the database's API keys were made under: one row, a fingerprint of it.

API keys are stored as HMACs under a pepper derived from `BILLABLED_SECRET_KEY`; a process with
another secret key (an instance configured apart, the CLI run from another directory, which
generated one of its own) refused every key, or printed keys no server would take, and said
nothing. The fingerprint is an HMAC under that pepper of a fixed text: it names the secret
without revealing it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billabled.kit.time import utcnow
from billabled.models.base import Base


class SecretCheck(Base):
    __tablename__ = "secret_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
