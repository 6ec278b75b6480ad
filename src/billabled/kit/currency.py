"""Currencies: ISO 4217 codes, as pycountry knows them (it follows the standard's amendments)."""

from __future__ import annotations

from typing import Annotated, Final

import pycountry
from pydantic import AfterValidator, StringConstraints

from billabled.kit.schema import SchemaKeywords

MESSAGE: Final = "must be an ISO 4217 currency code such as USD or EUR"


def is_currency(code: str) -> bool:
    """Whether `code` is an ISO 4217 alphabetic code (upper case)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def _known(code: str) -> str:
    if not is_currency(code):
        raise ValueError(MESSAGE)
    return code


# Every code the standard assigns, for the reference.
CODES: Final = tuple(sorted(currency.alpha_3 for currency in pycountry.currencies))

# A request field: three upper-case letters that ISO 4217 assigns ("ZZZ" was accepted).
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known),
    SchemaKeywords(enum=list(CODES)),
]
