"""The base of every API schema: camelCase on the wire, snake_case in Python (one alias
generator, ARCHITECTURE convention 9), unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

ItemT = TypeVar("ItemT")


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Tombstone(ApiModel):
    """What a list shows of a deleted record when asked with `includeDeleted=true`."""

    id: str
    deleted: Literal[True]
    deleted_at: datetime


class Page(ApiModel, Generic[ItemT]):
    """The list envelope. With `cursor`, `totalCount` and `page` are null (no count is taken)."""

    items: list[ItemT | Tombstone]
    total_count: int | None = Field(description="Matching records; null in cursor mode.")
    page: int | None = Field(description="The page number; null in cursor mode.")
    page_size: int
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page.")
