"""Tags on the wire: a name (unique in the workspace, ignoring case) and an optional `#RRGGBB`
color."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import Row

from billabled.kit.schema import ApiModel, NotNull, UpdateModel
from billabled.kit.text import TagName as Name
from billabled.models.tag import Tag as TagRow

Color = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]


class Tag(ApiModel):
    id: str
    name: str
    color: str | None
    created_at: datetime
    updated_at: datetime


class TagCreate(ApiModel):
    name: Name
    color: Color | None = None


class TagUpdate(UpdateModel):
    """Only the fields sent change; `color: null` clears the color."""

    name: NotNull[Name] = None
    color: Color | None = None


def tag_json(tag: TagRow | Row[Any]) -> dict[str, Any]:
    return {
        "id": tag.id,
        "name": tag.name,
        "color": tag.color,
        "createdAt": tag.created_at,
        "updatedAt": tag.updated_at,
    }
