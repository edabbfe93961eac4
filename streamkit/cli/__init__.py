"""The ``streamkit`` command: ``main(argv) -> exit status`` (0 ok, 2 usage, 1 anything else).

This package is the only caller of :func:`streamkit.cli.logs.configure_logging`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streamkit.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)  # only the command argv names gets its options
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = argv  # for --reload's child
    from streamkit.cli.logs import configure_logging  # structlog: not for --help or a usage error

    default_level = "info" if args.runs_handlers else "warning"  # a log line per invocation
    configure_logging(getattr(args, "log_level", default_level), getattr(args, "log_format", None))
    try:
        status = _status(args)
    except BaseException:
        _exit_despite_stuck_handlers(1)  # a traceback follows, unless a handler thread is stuck
        raise
    return _exit_despite_stuck_handlers(status)


def _status(args: argparse.Namespace) -> int:
    """Run the command; turn the errors a user can act on into one line and a status."""
    # here, not at the top: ``streamkit --help`` and usage errors need none of these
    from streamkit.cli.usage import UsageError
    from streamkit.errors import ConfigurationError

    try:
        status: int = args.func(args)  # set by the parser: streamkit.cli.commands
        return status
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
    from streamkit.errors import DatabaseFileError, DatabaseInUseError
    from streamkit.groups import leaves

    found = leaves(exc)
    if len(found) == 1 and isinstance(found[0], DatabaseFileError | DatabaseInUseError):
        return found[0]
    return None
