"""The library's loggers: structlog's API, delivered through the standard :mod:`logging` module.

Every module does ``log = get_logger(__name__)``. Events become ordinary
:class:`logging.LogRecord` objects on the logger of that name (``streamkit.engine.control``
and so on), so nothing is printed unless the program configures :mod:`logging`, and pytest's
``caplog``, ``logging.basicConfig(level=logging.DEBUG)`` or a ``dictConfig`` apply as to any
library. Nothing here touches global configuration (``structlog.configure``, the root logger):
the only handler added is a :class:`logging.NullHandler` on the ``streamkit`` logger, so an
unconfigured program does not get Python's last-resort output of warnings either.

Each record's message reads ``event key=value ...``; the structured parts ride along as
``record.event`` (the event name) and ``record.fields`` (the keyword arguments, with any
structlog context variables merged in), which the CLI's formatters render as JSON or console
lines.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["PROCESSORS", "get_logger", "to_stdlib"]

logging.getLogger("streamkit").addHandler(logging.NullHandler())

#: Keyword arguments that the stdlib logging call takes itself rather than as fields.
_STDLIB_KWARGS = ("exc_info", "stack_info")


class _Message:
    """A record's message, ``event key=value ...``, built only when a handler asks for it
    (the CLI's formatters read ``record.event`` and ``record.fields`` instead)."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: dict[str, Any]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        return " ".join([self.event, *(f"{k}={v!r}" for k, v in self.fields.items())])


def to_stdlib(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: turn the event into a stdlib call's ``(args, kwargs)``."""
    kwargs: dict[str, Any] = {k: event_dict.pop(k) for k in _STDLIB_KWARGS if k in event_dict}
    event = str(event_dict.pop("event", ""))
    fields = dict(event_dict)
    # no args: LogRecord.getMessage() then applies no %-formatting to the fields
    return (_Message(event, fields),), {"extra": {"event": event, "fields": fields}, **kwargs}


#: The processors every streamkit logger runs (the CLI gives structlog's global configuration
#: the same, so an app's own loggers log alike).
PROCESSORS: list[Any] = [
    structlog.stdlib.filter_by_level,  # first: a disabled level costs one isEnabledFor()
    structlog.contextvars.merge_contextvars,
    to_stdlib,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger writing to ``logging.getLogger(name)``, whatever structlog's
    global configuration says."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=PROCESSORS,
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logger
