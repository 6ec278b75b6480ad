"""The base of every API schema: camelCase on the wire, snake_case in Python (one alias
generator, ARCHITECTURE convention 9), unknown fields refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

ItemT = TypeVar("ItemT")
ValueT = TypeVar("ValueT")


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


def _without_defaults(schema: dict[str, Any]) -> None:
    for field_schema in schema.get("properties", {}).values():
        field_schema.pop("default", None)


class UpdateModel(ApiModel):
    """A PUT or PATCH body. A field left out is not changed, which is not the same as sending its
    default, so the schema gives no defaults."""

    model_config = ConfigDict(json_schema_extra=_without_defaults)


def _refuse_null(value: ValueT) -> ValueT:
    if value is None:
        raise PydanticCustomError("not_null", "cannot be null")
    return value


class _NullLeftOutOfSchema:
    """The schema of `T | None` as `T`'s alone: `None` only stands for 'not sent'."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(core_schema)
        options = json_schema.pop("anyOf", None)
        if options is None:
            return json_schema
        kept = [option for option in options if option != {"type": "null"}]
        return {**kept[0], **json_schema} if len(kept) == 1 else {**json_schema, "anyOf": kept}


# An update field that may be left out but not cleared: `null` is a 422 `not_null`.
NotNull = Annotated[ValueT | None, AfterValidator(_refuse_null), _NullLeftOutOfSchema()]


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
