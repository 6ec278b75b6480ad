"""Names and codes as people read them: one stored form for one text, nothing that is not text.

- **Unicode NFC.** "Café" typed on one system and "Cafe\u0301" sent by another look the same and
  are one name: both are stored composed (NFC), and the tag filter looks them up the same way.
  Before, NFC and NFD "Café" were two tags of one workspace despite its unique-name rule.
- **No control characters** (Unicode category Cc: U+0000 to U+001F, U+007F to U+009F). A tab, line
  break or terminal escape in a name breaks the lists, exports and terminals that show it.
  Free text (descriptions, notes, addresses) keeps its tabs and line breaks, and refuses the
  other control characters the same way (`FreeText`).
- **Trimmed**, then required and bounded, as before.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BeforeValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from billabled.errors import ValidationFailed
from billabled.kit.schema import SchemaKeywords

CONTROL_CHARACTER: Final = "control_character"
# The same rule for the OpenAPI document's readers (ECMA 262 syntax).
_NO_CONTROL_CHARACTERS: Final = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"


def nfc(value: Any) -> Any:
    """`value` composed (NFC) when it is a string; anything else is left to the type's check."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _refuse_control_characters(value: str) -> str:
    for character in value:
        if unicodedata.category(character) == "Cc":
            where = f"U+{ord(character):04X}, character {value.index(character) + 1}"
            raise PydanticCustomError(
                CONTROL_CHARACTER, f"must not contain control characters ({where})"
            )
    return value


def _name(max_length: int) -> tuple[Any, ...]:
    # The string's own constraints come first: a validator placed before them would check them
    # after it, on the untrimmed text ("   " passed `min_length`). A before-validator placed
    # last runs first.
    return (
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(_refuse_control_characters),
        BeforeValidator(nfc),
        SchemaKeywords(pattern=_NO_CONTROL_CHARACTERS),
    )


# Control characters but tab, line feed and carriage return (NUL is refused earlier, for every
# string, as `string_nul`), and the same rule for the OpenAPI document's readers.
_OTHER_CONTROLS: Final = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NO_CONTROLS_BUT_LINES: Final = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


def _refuse_control_characters_but_lines(value: str) -> str:
    if value.isprintable():  # most text, at once: bulk requests carry 500 descriptions
        return value
    found = _OTHER_CONTROLS.search(value)
    if found:
        where = f"U+{ord(found.group()):04X}, character {found.start() + 1}"
        raise PydanticCustomError(
            CONTROL_CHARACTER,
            f"must not contain control characters but tabs and line breaks ({where})",
        )
    return value


def free_text(max_length: int) -> tuple[Any, ...]:
    """Free text up to `max_length` characters, as sent, without control characters but tabs
    and line breaks (for `Annotated[str, *free_text(n)]`)."""
    return (
        StringConstraints(max_length=max_length),
        AfterValidator(_refuse_control_characters_but_lines),
        SchemaKeywords(pattern=_NO_CONTROLS_BUT_LINES),
    )


# A record's name or code: NFC, trimmed, 1 to n characters, no control characters.
Name = Annotated[str, *_name(200)]
TagName = Annotated[str, *_name(100)]
Code = Annotated[str, *_name(50)]


_ANY_NAME: Final = TypeAdapter(Name)


def checked_name(raw: str, *, max_length: int = 200) -> str:
    """`raw` by the rule for names where no request model applies it (the command line's
    workspace, person and key names, which took control characters and terminal escapes and
    counted "e\u0301" as two characters); else a 422 naming `name`, saying why."""
    too_long = f"The name must be at most {max_length} characters."
    try:
        name: str = _ANY_NAME.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == CONTROL_CHARACTER:
            raise _name_invalid(f"The name {error['msg']}.", CONTROL_CHARACTER) from None
        if error["type"] == "string_too_short":
            raise _name_invalid("The name must not be empty.", "length") from None
        raise _name_invalid(too_long, "length") from None
    if len(name) > max_length:
        raise _name_invalid(too_long, "length")
    return name


def _name_invalid(message: str, type_: str) -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"field": "name", "in": "body", "message": message, "type": type_}]
    )
