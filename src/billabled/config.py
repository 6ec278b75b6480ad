"""Settings, read from `BILLABLED_*` environment variables (and CLI flags, which override them).

Invariants:
- the secret key is never empty: when `BILLABLED_SECRET_KEY` is not set it is read from
  `<data_dir>/secret_key`, which is generated (mode 0600) on first use;
- the database URL defaults to an SQLite file inside the data directory.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Final, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LogFormat = Literal["json", "console"]

SECRET_KEY_FILE = "secret_key"


class ConfigError(Exception):
    """A setting is invalid or a file it names cannot be used."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLABLED_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the SQLite file and secret live."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory."
    )
    redis_url: str | None = Field(default=None, description="Shared rate-limit storage.")
    secret_key: SecretStr | None = Field(default=None, description="Generated when not set.")
    host: str = "127.0.0.1"
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # `forwarded_allow_ips`): the client IP of per-IP rate limits and usage records comes from
    # them. Name the load balancer's addresses; never `*` where clients can reach the server
    # directly (they could then claim any IP).
    forwarded_allow_ips: str = "127.0.0.1,::1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "info"
    log_format: LogFormat = "json"
    # Pool size per process for PostgreSQL; SQLite uses one connection per thread. Connections
    # beyond the pool size are opened for one request and closed after it, which costs a
    # connection handshake per request once the concurrency exceeds the pool: 16 concurrent
    # single-entry POSTs ran at ~290/s with a pool of 10, ~400/s with 20 (docs/benchmarks.md).
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_pool_overflow: int = Field(default=10, ge=0, le=200)
    # How long a request waits for a pooled connection to come free before its 503: requests
    # stuck on a lock hold every connection, and the others (on other tables) must not queue
    # behind them for SQLAlchemy's default 30 s.
    db_pool_timeout_seconds: float = Field(default=5, gt=0, le=3600)
    # PostgreSQL: a statement running longer is cancelled, and a lock waited on longer (a
    # migration's, a long transaction's) is given up: the request answers 503 with Retry-After
    # instead of hanging. The client stops waiting a little after the statement timeout, for a
    # database that went silent (no answer, no reset): requests waited forever.
    db_statement_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    db_lock_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    # How far the app's clock may be behind the database's (PostgreSQL): a change enters
    # `updatedSince` lists once every write begun before it, less this, has finished
    # (`kit.pagination.settled_before`, decisions §35).
    sync_clock_margin_seconds: float = Field(default=1.0, ge=0, le=60)
    # Integration API platform (SPEC §4).
    usage_retention_days: int = Field(default=90, ge=1, le=3650)
    usage_flush_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    unauthenticated_rate_limit_per_minute: int = Field(default=60, ge=1)
    max_request_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # An Idempotency-Key claimed this long ago and still in progress was left by a process that
    # died mid-request: a retry takes it over. A request still running past it loses its claim
    # and rolls back (409), so the key never runs twice (`idempotency.service`).
    idempotency_claim_seconds: float = Field(default=30, gt=0, le=3600)
    # A request's line and headers (431 beyond), and the time its head, then its body, may take
    # to arrive (408 beyond): httptools bounds neither (`http_protocol`, `api.platform`).
    max_request_head_bytes: int = Field(default=64 * 1024, ge=8 * 1024, le=1024 * 1024)
    request_read_timeout_seconds: float = Field(default=60, gt=0, le=3600)
    # How long a connection is kept open, idle, after an answer: longer than clients and proxies
    # keep theirs (httpx 5 s, load balancers often 60 s), so that the client, not the server,
    # closes an idle connection, and no request is sent on one the server is closing.
    keep_alive_seconds: float = Field(default=75, gt=0, le=3600)
    # How long a stopping server (SIGTERM) lets requests in flight finish before it cancels them
    # and flushes what it buffered: under the 30 s orchestrators usually allow before SIGKILL.
    shutdown_timeout_seconds: float = Field(default=20, gt=0, le=3600)

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, value: str | None) -> str | None:
        # Checked here, so a bad value is a one-line error before the server says it serves
        # (it was a traceback from the app's start-up, after).
        if value:
            try:
                parse_url(value)  # type: ignore[no-untyped-call]
            except ValueError:
                # Not the library's words: "Port could not be cast to integer value as '<the
                # rest of the password>'" for a password holding `/` or no port (a helper's
                # secrets audit).
                raise PydanticCustomError(
                    "redis_url_malformed",
                    "is not a Redis URL: redis://[user:password@]host:port/db (or rediss://, "
                    "unix://), with any / # ? @ in the password percent-encoded",
                ) from None
        return value

    @field_validator("host")
    @classmethod
    def _host_named(cls, value: str) -> str:
        # An empty host made `serve` listen on every interface, unasked.
        if not value.strip():
            raise PydanticCustomError(
                "host_empty", "must name an interface (0.0.0.0 for every IPv4 one)"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'billabled.db').resolve()}"

    def secret_key_is_new(self) -> bool:
        """Whether the secret key would be generated now (no `BILLABLED_SECRET_KEY`, no
        `<data_dir>/secret_key` yet): a secret no existing API key was made with."""
        return self.secret_key is None and not (self.data_dir / SECRET_KEY_FILE).exists()

    @cached_property
    def resolved_secret_key(self) -> bytes:
        """The secret key bytes, generating `<data_dir>/secret_key` (0600) on first use."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"BILLABLED_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters"
                )
            return value.encode()
        return _load_or_create_secret(self.data_dir / SECRET_KEY_FILE)


MIN_SECRET_LENGTH = 32

# `BILLABLED_*` names that are not settings and are used on purpose: the key the docs' curl
# examples read, and the databases of the test suite and of CI.
_NOT_SETTINGS: Final = frozenset({"BILLABLED_API_KEY"})
_NOT_SETTINGS_PREFIXES: Final = ("BILLABLED_TEST_", "BILLABLED_CI_")


def unknown_setting_names(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `BILLABLED_*` variable that names no setting, with the setting it
    resembles: a misspelt `BILLABLED_DATABSE_URL` left the server on SQLite, silently."""
    known = [f"BILLABLED_{name.upper()}" for name in Settings.model_fields]
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if (
            not upper.startswith("BILLABLED_")
            or upper in known
            or upper in _NOT_SETTINGS
            or upper.startswith(_NOT_SETTINGS_PREFIXES)
        ):
            continue
        close = difflib.get_close_matches(upper, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def _load_or_create_secret(path: Path) -> bytes:
    try:
        return _checked_secret(path.read_bytes().strip(), path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read secret key file {path}: {exc.strerror}") from exc
    value = secrets.token_urlsafe(48).encode()
    # Written whole to a file of its own, then linked into place: the name appears only with its
    # content, so a process starting at the same moment never reads it empty, and a crash leaves
    # no empty key behind. `link` fails if the name exists: of two processes, one key wins and
    # both read it.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(value + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            return _checked_secret(path.read_bytes().strip(), path)
    except OSError as exc:
        raise ConfigError(f"cannot create secret key file {path}: {exc.strerror}") from exc
    finally:
        # Best effort: on a read-only directory this fails too, and its error replaced the one
        # that says what is wrong.
        with contextlib.suppress(OSError):
            draft.unlink(missing_ok=True)
    return value


def _checked_secret(value: bytes, path: Path) -> bytes:
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"the secret key in {path} is shorter than {MIN_SECRET_LENGTH} characters: "
            "restore it from a backup (keys and stored credentials depend on it), "
            "or delete the file to start afresh"
        )
    return value
