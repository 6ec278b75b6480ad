"""Clients on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import EmailStr, Field, StrictBool, StringConstraints
from pydantic.types import Strict

from billabled.kit.currency import Currency
from billabled.kit.schema import ApiModel, NotNull, UpdateModel
from billabled.kit.text import Name, free_text
from billabled.models.client import Client as ClientRow

RateMinor = Annotated[int, Strict(), Field(ge=0, le=100_000_000)]


class Client(ApiModel):
    id: str
    name: str
    email: str | None
    currency: str
    address: str | None
    default_hourly_rate_minor: int | None
    archived: bool
    external_ref: str | None
    created_at: datetime
    updated_at: datetime


# The address rules `EmailStr` (email-validator) applies, which `format: email` does not say.
ClientEmail = Annotated[
    EmailStr,
    Field(
        description="An address that can receive mail: special-use and reserved domains "
        "(`.test`, `.local`, `.invalid`, `localhost`) and bracketed IP addresses are refused, "
        "and the domain is stored in lower case (`Ada@Example.COM` becomes `Ada@example.com`)."
    ),
]


class ClientCreate(ApiModel):
    name: Name
    email: ClientEmail | None = None
    currency: Currency | None = Field(default=None, description="Default: the workspace's.")
    address: Annotated[str, *free_text(2000)] | None = None
    default_hourly_rate_minor: RateMinor | None = None
    archived: StrictBool = False
    external_ref: Annotated[str, StringConstraints(min_length=1), *free_text(200)] | None = None


class ClientUpdate(UpdateModel):
    """Only the fields sent change; `null` clears an optional field."""

    name: NotNull[Name] = None
    email: ClientEmail | None = None
    currency: NotNull[Currency] = None
    address: Annotated[str, *free_text(2000)] | None = None
    default_hourly_rate_minor: RateMinor | None = None
    archived: NotNull[StrictBool] = None
    external_ref: Annotated[str, StringConstraints(min_length=1), *free_text(200)] | None = None


def client_json(client: ClientRow) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "email": client.email,
        "currency": client.currency,
        "address": client.address,
        "defaultHourlyRateMinor": client.default_hourly_rate_minor,
        "archived": client.archived,
        "externalRef": client.external_ref,
        "createdAt": client.created_at,
        "updatedAt": client.updated_at,
    }
