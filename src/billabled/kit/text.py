"""Names and codes as people read them: one stored form for one text, nothing that is not text.

- **Unicode NFC.** "Café" typed on one system and "Cafe\u0301" sent by another look the same and
  are one name: both are stored composed (NFC), and the tag filter looks them up the same way.
  Before, NFC and NFD "Café" were two tags of one workspace despite its unique-name rule.
- **No control characters** (Unicode category Cc: U+0000 to U+001F, U+007F to U+009F). A tab, line
  break or terminal escape in a name breaks the lists, exports and terminals that show it.
  Descriptions and notes are free text and keep their line breaks.
- **Trimmed**, then required and bounded, as before.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

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


# A record's name or code: NFC, trimmed, 1 to n characters, no control characters.
Name = Annotated[str, *_name(200)]
TagName = Annotated[str, *_name(100)]
Code = Annotated[str, *_name(50)]
