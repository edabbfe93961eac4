"""What each subcommand runs: the parser sets ``func`` to one of these (``set_defaults``), and
``main()`` calls ``args.func(args)`` for the exit status.

Each imports its command's module when called, so ``streamkit --help``, a usage error or a
quick command loads only what it uses (the server, the mapping runtime and boto3 are not
small). An async command runs on a fresh asyncio loop.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

__all__ = [
    "backup",
    "batch_write",
    "data",
    "dump",
    "export",
    "import_",
    "leases",
    "load",
    "mappings",
    "replay",
    "replication",
    "restore",
    "run",
    "serve",
    "sql",
    "streams",
    "tables_update",
    "tags",
    "template",
    "transact",
    "ttl",
    "version",
]

AsyncCommand = Callable[[argparse.Namespace], Awaitable[int]]


def _on_loop(command: AsyncCommand, args: argparse.Namespace) -> int:
    import anyio  # here, not at the top: ``streamkit --help`` needs no event loop

    status: int = anyio.run(command, args, backend="asyncio")
    return status


def version(args: argparse.Namespace) -> int:
    from streamkit import __version__

    print(f"streamkit {__version__}")
    return 0


def serve(args: argparse.Namespace) -> int:
    if args.reload:
        from streamkit.cli.reload import run_with_reload

        return run_with_reload(args)
    from streamkit.cli.process import quiet_gc

    quiet_gc()  # the settings run_serve keeps (tune_gc), before its imports
    from streamkit.cli.serve import run_serve

    return run_serve(args)


def run(args: argparse.Namespace) -> int:
    if args.reload:
        from streamkit.cli.reload import run_with_reload

        return run_with_reload(args)
    from streamkit.cli.process import quiet_gc

    quiet_gc()  # the settings run_app keeps (tune_gc), before its imports
    from streamkit.cli.run import run_app

    return run_app(args)


def replay(args: argparse.Namespace) -> int:
    from streamkit.cli.replay import run_replay

    return _on_loop(run_replay, args)


def replication(args: argparse.Namespace) -> int:
    from streamkit.cli.replication import run_replication

    return run_replication(args)


def streams(args: argparse.Namespace) -> int:
    from streamkit.cli.streams import run_streams_command

    return _on_loop(run_streams_command, args)


def data(args: argparse.Namespace) -> int:
    """A table or item command: one DynamoDB operation (``args.operation``)."""
    from streamkit.cli.data import run_data_command

    return _on_loop(run_data_command, args)


def tables_update(args: argparse.Namespace) -> int:
    from streamkit.cli.tables import run_tables_update

    return _on_loop(run_tables_update, args)


def restore(args: argparse.Namespace) -> int:
    from streamkit.cli.restore import run_restore

    return _on_loop(run_restore, args)


def backup(args: argparse.Namespace) -> int:
    from streamkit.cli.backup import run_backup

    return _on_loop(run_backup, args)


def ttl(args: argparse.Namespace) -> int:
    from streamkit.cli.ttl import run_ttl

    return _on_loop(run_ttl, args)


def tags(args: argparse.Namespace) -> int:
    from streamkit.cli.tags import run_tags

    return _on_loop(run_tags, args)


def batch_write(args: argparse.Namespace) -> int:
    from streamkit.cli.bulk import run_batch_write

    return _on_loop(run_batch_write, args)


def load(args: argparse.Namespace) -> int:
    from streamkit.cli.bulk import run_load

    return _on_loop(run_load, args)


def dump(args: argparse.Namespace) -> int:
    from streamkit.cli.bulk import run_dump

    return _on_loop(run_dump, args)


def transact(args: argparse.Namespace) -> int:
    from streamkit.cli.bulk import run_transact

    return _on_loop(run_transact, args)


def leases(args: argparse.Namespace) -> int:
    from streamkit.cli.leases import run_leases

    return _on_loop(run_leases, args)


def mappings(args: argparse.Namespace) -> int:
    from streamkit.cli.mappings import run_mappings

    return _on_loop(run_mappings, args)


def template(args: argparse.Namespace) -> int:
    from streamkit.cli.template import run_template

    return run_template(args)


def export(args: argparse.Namespace) -> int:
    from streamkit.cli.export import run_export

    return _on_loop(run_export, args)


def import_(args: argparse.Namespace) -> int:
    from streamkit.cli.export import run_import

    return _on_loop(run_import, args)


def sql(args: argparse.Namespace) -> int:
    from streamkit.cli.sql import run_sql

    return _on_loop(run_sql, args)
