"""The JSON log lines: one object per line, whatever the values."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
import structlog

from billabled.logging import configure_logging


def test_json_lines_render_any_value_and_stdlib_records_alike(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    try:
        structlog.get_logger("t").info(
            "request",
            status=200,
            at=datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC),
            opaque=object(),
            counts={1: "one"},
        )
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        configure_logging("info", "json")  # rebind to the real stderr, away from capsys
    assert lines[0]["event"] == "request"
    assert lines[0]["status"] == 200
    assert lines[0]["at"] == "2026-12-06T01:02:03+00:00"
    assert lines[0]["opaque"].startswith("<object object at")  # structlog's fallback: repr
    assert lines[0]["counts"] == {"1": "one"}
    assert lines[0]["level"] == "info"
    assert lines[0]["timestamp"].endswith("Z")
    assert lines[1]["event"] == "Started server process [7]"
    assert lines[1]["logger"] == "uvicorn.error"


def test_a_stdlib_records_traceback_is_text_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            logging.getLogger("sqlalchemy.pool").exception("connection failed")
        line = json.loads(capsys.readouterr().err.splitlines()[0])
    finally:
        configure_logging("info", "json")
    # Was `"exc_info": ["<class …>", "ZeroDivisionError(…)", "<traceback object at …>"]`.
    assert "exc_info" not in line
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ZeroDivisionError: division by zero")
