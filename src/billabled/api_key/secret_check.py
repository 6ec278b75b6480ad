"""One secret key per database: the first process to run records its fingerprint, and a process
with another secret key is stopped before it serves a request or makes a key (models/
secret_check.py says why). After an intended rotation, `billabled adopt-secret-key` records
the new one."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from billabled.config import ConfigError
from billabled.db import create_sync_engine
from billabled.kit.apikeys import derive_pepper
from billabled.models.api_key import ApiKey
from billabled.models.secret_check import SecretCheck

_ROW = 1


def fingerprint(secret_key: bytes) -> str:
    """Names the secret key without revealing it: an HMAC under its pepper of a fixed text."""
    pepper = derive_pepper(secret_key)
    return hmac.new(pepper, b"billabled/secret-check/v1", hashlib.sha256).hexdigest()[:32]


def check_secret_key(database_url: str, secret_key: bytes, *, generated: bool) -> None:
    """Record the secret key's fingerprint if none is, else refuse a different one. A secret
    `generated` just now is not recorded for a database that has API keys already (from a
    release before the check): those keys were made with another secret, and recording this
    one would stop the servers that hold it."""
    expected = fingerprint(secret_key)
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            recorded = _recorded(connection)
            if recorded is None:
                if generated and _has_keys(connection):
                    raise ConfigError(
                        "this database has API keys and no recorded secret key, and this "
                        "process has just generated one of its own (BILLABLED_SECRET_KEY is not "
                        "set and its data directory had no secret_key): run it with the secret "
                        "key the servers use"
                    )
                try:
                    connection.execute(insert(SecretCheck).values(id=_ROW, fingerprint=expected))
                    connection.commit()
                    return
                except IntegrityError:  # another process recorded one first: compare with it
                    connection.rollback()
                    recorded = _recorded(connection)
            if recorded != expected:
                raise ConfigError(
                    "the secret key differs from the one recorded for this database, which its "
                    f"API keys were made with (fingerprint {recorded}; this process's is "
                    f"{expected}): give every instance and the command line the same "
                    "BILLABLED_SECRET_KEY (a command run from another directory generates a "
                    "./data/secret_key of its own). After rotating it on purpose, run "
                    "`billabled adopt-secret-key`."
                )
    finally:
        engine.dispose()


def _has_keys(connection: Connection) -> bool:
    found = connection.execute(select(ApiKey.id).limit(1)).first() is not None
    connection.rollback()
    return found


def adopt_secret_key(database_url: str, secret_key: bytes) -> tuple[str | None, str]:
    """Record this secret key as the database's (every API key made with another one stops
    working); the fingerprints before and after."""
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            before = _recorded(connection)
            after = fingerprint(secret_key)
            connection.execute(delete(SecretCheck))
            connection.execute(insert(SecretCheck).values(id=_ROW, fingerprint=after))
            connection.commit()
        return before, after
    finally:
        engine.dispose()


def _recorded(connection: Connection) -> str | None:
    value = connection.execute(select(SecretCheck.fingerprint)).scalar_one_or_none()
    connection.rollback()  # the read's transaction: a write may follow
    return value
