"""The API key format: `blb_` + 30 base62 characters + a 6-character base62 CRC32 checksum.

The checksum lets us reject look-alikes before any database work and lets secret scanners
recognise leaked keys. Keys are stored only as HMAC-SHA256 under a server-side pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from typing import Final

KEY_PREFIX: Final = "blb_"
BODY_LENGTH: Final = 30
CHECKSUM_LENGTH: Final = 6
KEY_LENGTH: Final = len(KEY_PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
DISPLAY_PREFIX_LENGTH: Final = len(KEY_PREFIX) + 8  # "blb_" + 8 characters, shown in lists

_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALPHABET_SET: Final = frozenset(_ALPHABET)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(BODY_LENGTH))
    return f"{KEY_PREFIX}{body}{_checksum(body)}"


def is_well_formed(key: str) -> bool:
    """Shape and checksum only: no database, no secret needed."""
    if len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return False
    body = key[len(KEY_PREFIX) : len(KEY_PREFIX) + BODY_LENGTH]
    checksum = key[len(KEY_PREFIX) + BODY_LENGTH :]
    # The checksum too: compare_digest refuses (raises on) text beyond ASCII.
    if not set(body).issubset(_ALPHABET_SET) or not set(checksum).issubset(_ALPHABET_SET):
        return False
    return hmac.compare_digest(checksum, _checksum(body))


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


# A key, or most of one (mistyped, cut short or run on: still a secret to whoever finds it),
# its prefix in any case; or a run long enough to hold a key's body and checksum without it.
_KEY_SHAPED: Final = re.compile(
    f"(?i:{KEY_PREFIX})[0-9A-Za-z]{{9,}}|[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH},}}"
)


def _holds_a_body(run: str) -> bool:
    """Whether `run` (letters and digits) holds a key's body and checksum somewhere."""
    secret = BODY_LENGTH + CHECKSUM_LENGTH
    return any(
        is_well_formed(KEY_PREFIX + run[start : start + secret])
        for start in range(len(run) - secret + 1)
    )


def _is_a_key(run: str) -> bool:
    return run[: len(KEY_PREFIX)].lower() == KEY_PREFIX or _holds_a_body(run)


def holds_a_key(text: str) -> bool:
    """Whether `text` holds a key: its prefix in any case, or a key's body and checksum without
    it (a request id or an Idempotency-Key made of one is echoed and stored)."""
    return any(_is_a_key(found.group()) for found in _KEY_SHAPED.finditer(text))


def _cut(found: re.Match[str]) -> str:
    run = found.group()
    if run[: len(KEY_PREFIX)].lower() == KEY_PREFIX:
        return run[:DISPLAY_PREFIX_LENGTH] + "…"
    return run[: DISPLAY_PREFIX_LENGTH - len(KEY_PREFIX)] + "…" if _holds_a_body(run) else run


def redact_keys(text: str, *, bodies: bool = False) -> str:
    """`text` with every key cut to its display prefix (`blb_AbCd1234…`), its prefix in any case,
    wherever a client put it (a path, a request id, a User-Agent): for logs, answers and the
    command line, which must never show a key (SPEC §13). With `bodies`, a key's body and
    checksum sent without the prefix too: a scan of every run of letters and digits (~2 µs for
    a browser's User-Agent), for answers and messages rather than every request's log."""
    if not bodies and KEY_PREFIX not in text.lower():
        return text
    return _KEY_SHAPED.sub(_cut, text)


def derive_pepper(secret_key: bytes) -> bytes:
    """The key-hashing pepper, derived from the secret key (changing it invalidates all keys)."""
    return hmac.new(secret_key, b"billabled/api-key-pepper/v1", hashlib.sha256).digest()


def hash_key(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.encode("ascii"), hashlib.sha256).hexdigest()
