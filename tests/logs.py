"""Read streamkit's log records from pytest's caplog as dicts (event, log_level, fields)."""

from __future__ import annotations

import logging
from typing import Any

import pytest


def events(caplog: pytest.LogCaptureFixture, name: str = "streamkit") -> list[dict[str, Any]]:
    """Return the records of logger ``name`` and its children, like structlog's capture_logs:
    ``{"event": ..., "log_level": ..., **fields}``, plus ``exc_info`` when a traceback came."""
    found: list[dict[str, Any]] = []
    for record in caplog.records:
        if record.name != name and not record.name.startswith(name + "."):
            continue
        entry: dict[str, Any] = {
            "event": getattr(record, "event", record.getMessage()),
            "log_level": record.levelname.lower(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exc_info"] = record.exc_info
        found.append(entry)
    return found


def debug(caplog: pytest.LogCaptureFixture) -> None:
    """Capture streamkit's records from debug up."""
    caplog.set_level(logging.DEBUG, logger="streamkit")
