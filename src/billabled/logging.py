"""Structured logs: one JSON object per line (or readable console lines), carrying the request id.

Never log secrets: request headers, bodies and query strings are not logged.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

from billabled.config import LogFormat, LogLevel
from billabled.kit.apikeys import redact_keys


def _json_line(event: dict[str, Any], **options: Any) -> str:
    return orjson.dumps(event, **options).decode()


def _redact_api_keys(
    logger: Any, method_name: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Cut any API key in a logged text to its display prefix: a key pasted into a URL path,
    or sent as the request id, reached the request log (a helper's operations audit)."""
    for name, value in event.items():
        if isinstance(value, str) and "_" in value:  # in any key's prefix, whatever its case
            event[name] = redact_keys(value)
    return event


def configure_logging(level: LogLevel = "info", fmt: LogFormat = "json") -> None:
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    # JSON lines are rendered by orjson (the request log is written on every request: the
    # standard library's encoder cost ~15 µs more, issue #5); `default` (structlog's fallback,
    # repr of anything else) and non-string keys keep any value loggable.
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(_json_line, option=orjson.OPT_NON_STR_KEYS)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _redact_api_keys,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route the standard library's records (uvicorn, alembic, sqlalchemy) through the same renderer.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Their tracebacks as text, as ours are (the JSON had the traceback object's repr).
            structlog.processors.format_exc_info,
            _redact_api_keys,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # uvicorn's access log duplicates our request log (which carries the request id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
