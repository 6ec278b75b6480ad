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


def without_null(json_schema: JsonSchemaValue) -> JsonSchemaValue:
    """The schema of `T | None` as `T`'s alone (other schemas as they are)."""
    options = json_schema.get("anyOf")
    if options is None:
        return json_schema
    rest = {key: value for key, value in json_schema.items() if key != "anyOf"}
    kept = [option for option in options if option != {"type": "null"}]
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


class _NullLeftOutOfSchema:
    """`None` only stands for 'not sent': the schema is `T`'s alone."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return without_null(handler(core_schema))


class SchemaKeywords:
    """JSON Schema keywords added to a type's schema: a rule its validators enforce that its
    type or format alone does not say (ISO 4217's codes, the years a date may fall in)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(core_schema), **self.keywords}


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
