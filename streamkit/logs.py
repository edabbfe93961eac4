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
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
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


_processors: list[Any] = []

if TYPE_CHECKING:
    #: The processors every streamkit logger runs (the CLI gives structlog's global
    #: configuration the same, so an app's own loggers log alike). Made on first read.
    PROCESSORS: list[Any]


def _processors_list() -> list[Any]:
    """``PROCESSORS``, made on first use (it imports structlog)."""
    if not _processors:
        import structlog

        made: list[Any] = [
            structlog.stdlib.filter_by_level,  # first: a disabled level costs one call
            structlog.contextvars.merge_contextvars,
            to_stdlib,
        ]
        # one assignment, not an extend: threads making it at once leave it whole, not twice
        _processors[:] = made
    return _processors


def __getattr__(name: str) -> Any:
    if name == "PROCESSORS":  # the list processors() returns, made on first use
        return _processors_list()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The level of each logging method (filter_by_level's table).
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _dropped(*args: Any, **kwargs: Any) -> None:
    """A logging call below the logger's level."""


class _Logger:
    """Stands in for a module's structlog logger until its first call, which imports
    structlog and makes the logger: a module's ``log = get_logger(__name__)`` at import costs
    nothing, and a process that never logs (``streamkit --help``, a server nothing goes wrong
    in) never imports structlog (~10 ms with its dependencies, asyncio aside). Until then a
    call below the logger's level is dropped here, as ``filter_by_level`` would drop it."""

    __slots__ = ("_bound", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: Any = None

    def __getattr__(self, attribute: str) -> Any:
        bound = self._bound
        if bound is None:
            level = _LEVELS.get(attribute)
            if level is not None and not logging.getLogger(self._name).isEnabledFor(level):
                return _dropped  # what filter_by_level, the first processor, would do
            import structlog

            proxy = structlog.wrap_logger(
                logging.getLogger(self._name),
                processors=_processors_list(),
                wrapper_class=structlog.stdlib.BoundLogger,
                cache_logger_on_first_use=True,
            )
            bound = self._bound = proxy.bind()  # the logger structlog would cache anyway
        return getattr(bound, attribute)

    def __repr__(self) -> str:
        return f"<streamkit logger {self._name!r}>"


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger writing to ``logging.getLogger(name)``, whatever structlog's
    global configuration says (made, and structlog imported, on the logger's first use)."""
    return cast("structlog.stdlib.BoundLogger", _Logger(name))
