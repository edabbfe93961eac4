"""The ``streamkit`` command: ``main(argv) -> exit status`` (0 ok, 2 usage, 1 anything else).

This package is the only caller of :func:`streamkit.cli.logs.configure_logging`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import anyio

from streamkit.cli.inputs import UsageError
from streamkit.cli.logs import configure_logging
from streamkit.cli.parser import build_parser
from streamkit.errors import ConfigurationError, DatabaseFileError, DatabaseInUseError
from streamkit.groups import leaves

__all__ = ["main"]

#: Commands whose default log level is info: they run handlers, one log line per invocation.
_INFO_COMMANDS = frozenset({"serve", "run", "replay"})

#: handler -> (module, coroutine function taking the parsed args and returning the exit status)
_ASYNC_COMMANDS = {
    "ttl": ("streamkit.cli.ttl", "run_ttl"),
    "tables_update": ("streamkit.cli.tables", "run_tables_update"),
    "batch_write": ("streamkit.cli.bulk", "run_batch_write"),
    "load": ("streamkit.cli.bulk", "run_load"),
    "dump": ("streamkit.cli.bulk", "run_dump"),
    "transact": ("streamkit.cli.bulk", "run_transact"),
    "mappings": ("streamkit.cli.mappings", "run_mappings"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for --reload's child
    default_level = "info" if getattr(args, "handler", None) in _INFO_COMMANDS else "warning"
    configure_logging(getattr(args, "log_level", default_level), getattr(args, "log_format", None))
    try:
        status = _status(args)
    except BaseException:
        _exit_despite_stuck_handlers(1)  # a traceback follows, unless a handler thread is stuck
        raise
    return _exit_despite_stuck_handlers(status)


def _status(args: argparse.Namespace) -> int:
    """Run the command; turn the errors a user can act on into one line and a status."""
    try:
        return _run(args)
    except UsageError as exc:
        print(f"streamkit: error: {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:  # a handler's misconfiguration: no retry can fix it
        print(f"streamkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"streamkit: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        refusal = _database_refusal(exc)  # another owner, or a file streamkit will not use
        if refusal is None:
            raise
        print(f"streamkit: {refusal}", file=sys.stderr)  # one line, no traceback
        return 1


def _exit_despite_stuck_handlers(status: int) -> int:
    """Return ``status``, or end the process now if a sync handler's thread is stuck (Python
    would wait for it at exit for ever); only commands that ran handlers can have one."""
    if "streamkit.mappings.invoke" not in sys.modules:
        return status
    from streamkit.cli.process import exit_despite_stuck_handlers

    return exit_despite_stuck_handlers(status)


def _database_refusal(exc: BaseException) -> BaseException | None:
    """Return the refusal to open a database behind ``exc`` (alone, or alone in task
    groups), or None."""
    found = leaves(exc)
    if len(found) == 1 and isinstance(found[0], DatabaseFileError | DatabaseInUseError):
        return found[0]
    return None


def _run(args: argparse.Namespace) -> int:
    handler = getattr(args, "handler", None)
    if handler == "version":
        from streamkit import __version__

        print(f"streamkit {__version__}")
        return 0
    if handler in ("serve", "run") and args.reload:
        from streamkit.cli.reload import run_with_reload

        return run_with_reload(args)
    if handler == "serve":
        from streamkit.cli.serve import run_serve

        return run_serve(args)
    if handler == "run":
        from streamkit.cli.run import run_app

        return run_app(args)
    if handler == "replay":
        from streamkit.cli.replay import run_replay

        return anyio.run(run_replay, args, backend="asyncio")
    if handler == "streams":
        from streamkit.cli.streams import run_streams_command

        return anyio.run(run_streams_command, args, backend="asyncio")
    if handler in _ASYNC_COMMANDS:
        module, function = _ASYNC_COMMANDS[handler]
        command = getattr(importlib.import_module(module), function)
        status: int = anyio.run(command, args, backend="asyncio")
        return status
    from streamkit.cli.data import run_data_command

    return anyio.run(run_data_command, args, backend="asyncio")
