"""configure_logging(): log records to stderr as console or JSON lines; only the CLI calls it.

The library logs through the standard :mod:`logging` module (see :mod:`streamkit.logs`). The
command installs one handler on the root logger that writes to stderr (never stdout, which
carries command output), clears a progress bar before each line and redraws it after
(:mod:`streamkit.cli.progress`). It also points structlog's global configuration at the same
handler, so an app's own ``structlog.get_logger()`` events come out the same way.

Neither imports structlog before it is needed (~10 ms with its dependencies, asyncio aside,
on every start): the formatter makes its structlog renderers on the first line it writes,
and structlog's global configuration is applied when structlog is already loaded, or else by
:func:`configure_structlog` just before the command imports an app (:mod:`streamkit.cli.apps`);
a command that runs no app's code has no other structlog user to configure.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from streamkit.cli import progress

__all__ = ["LogFormat", "configure_logging", "configure_structlog", "formatter"]

LogFormat = Literal["console", "json"]


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now: a test runner may swap the stream out (and
    close it) after the handler was made."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _Formatter(logging.Formatter):
    """Renders a record as one line through a structlog renderer (console or JSON)."""

    def __init__(self, renderers: Callable[[], list[Any]]) -> None:
        super().__init__()
        self._make_renderers = renderers
        self._renderers: list[Any] | None = None

    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, "event", None)
        fields = getattr(record, "fields", None)
        if not isinstance(event, str) or not isinstance(fields, dict):  # a plain logging call
            event, fields = record.getMessage(), {}
        when = datetime.fromtimestamp(record.created, UTC)
        event_dict: dict[str, Any] = {
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": event,
            "logger": record.name,
        }
        event_dict.update((k, v) for k, v in fields.items() if k not in event_dict)
        if record.exc_info:
            event_dict["exc_info"] = record.exc_info
        if self._renderers is None:  # the first line: structlog is imported now
            self._renderers = self._make_renderers()
        rendered: Any = event_dict
        for render in self._renderers:
            rendered = render(None, record.levelname.lower(), rendered)
        return str(rendered)


def formatter(fmt: LogFormat, *, colors: bool = False) -> logging.Formatter:
    """Return the formatter for ``fmt``: JSON lines, or readable lines with ISO timestamps."""
    if fmt == "json":
        return _Formatter(_json_renderers)
    return _Formatter(functools.partial(_console_renderers, colors))


def _json_renderers() -> list[Any]:
    import structlog

    # no frame locals in tracebacks: they can hold item data
    transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    return [
        structlog.processors.ExceptionRenderer(transformer),
        structlog.processors.JSONRenderer(serializer=_dumps),
    ]


def _console_renderers(colors: bool) -> list[Any]:
    import structlog

    console = structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback, sort_keys=False
    )
    return [console]


def _dumps(value: Any, **_: Any) -> str:
    """orjson for JSON lines (about a sixth of the json module's time per line); repr() for
    values JSON has no type for."""
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """Writes to stderr, above any progress bar on it."""

    def emit(self, record: logging.LogRecord) -> None:
        with progress.suspended():
            super().emit(record)


def configure_logging(level: str = "warning", fmt: LogFormat | None = None) -> None:
    """Send log records at ``level`` and above to stderr, one line each.

    ``fmt`` None picks console lines on a terminal and JSON lines otherwise. Calling it again
    replaces the handler installed before (``main()`` may run more than once in a process).
    """
    stream = _CurrentStderr()
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream)
    handler.setFormatter(formatter(fmt, colors=fmt == "console" and stream.isatty()))
    root.addHandler(handler)
    number = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(number)
    # aiosqlite logs every SQLite call at debug: noise, and a cost on every operation
    logging.getLogger("aiosqlite").setLevel(max(number, logging.INFO))
    global _structlog_pending
    _structlog_pending = True
    if "structlog" in sys.modules:
        configure_structlog()


#: configure_logging() ran and structlog's global configuration is not applied yet
_structlog_pending = False


def configure_structlog() -> None:
    """Give structlog's global configuration the streamkit processors and handler, if
    :func:`configure_logging` ran and this was not done since; imports structlog.

    Called before a command imports an app, whose code may log through structlog.
    """
    global _structlog_pending
    if not _structlog_pending:
        return
    _structlog_pending = False
    import structlog

    from streamkit.logs import PROCESSORS

    structlog.configure(
        processors=list(PROCESSORS),
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Not cached: a cached logger ignores later (re)configuration, such as a test's
        # capture_logs after an in-process main(); our log calls are per batch, not per item.
        cache_logger_on_first_use=False,
    )
