"""``streamkit sql "STATEMENT"``: one PartiQL statement (ExecuteStatement), every page of it.

The parser part (:func:`add_sql_command`) imports nothing heavy; the command's modules load
when it runs, as :mod:`streamkit.cli.commands` does for the others.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamkit.cli.backends import Backend

__all__ = ["add_sql_command", "run_sql"]


def add_sql_command(commands: Any, connection: Any, input_format: Any, func: Any) -> None:
    """Add ``sql`` to the subcommands (``connection``/``input_format`` add the usual flags)."""
    sql = commands.add_parser(
        "sql",
        help="run a PartiQL statement (ExecuteStatement); SELECT follows every page",
        description="Run one PartiQL statement: SELECT, INSERT, UPDATE or DELETE.",
    )
    sql.set_defaults(func=func)
    sql.add_argument("statement", metavar="STATEMENT", help="the PartiQL statement")
    sql.add_argument(
        "--parameters",
        metavar="JSON",
        help="a JSON array of values for the statement's ? placeholders (or file://path)",
    )
    sql.add_argument("--consistent-read", action="store_true")
    pages = sql.add_argument_group("pagination (as the aws CLI)")
    pages.add_argument("--page-size", type=int, metavar="N", help="items evaluated per request")
    pages.add_argument(
        "--max-items", type=int, metavar="N", help="stop after N items and print a NextToken"
    )
    pages.add_argument("--starting-token", metavar="TOKEN", help="a NextToken to resume from")
    input_format(sql)
    connection(sql)


def _parameters(args: argparse.Namespace) -> list[Any] | None:
    from streamkit.cli.inputs import UsageError, item_value, read_json

    if args.parameters is None:
        return None
    values = read_json(args.parameters, "--parameters")
    if not isinstance(values, list) or not values:
        raise UsageError("--parameters: expected a non-empty JSON array")
    as_item = item_value(
        {str(i): v for i, v in enumerate(values)}, "--parameters", args.input_format
    )
    return [as_item[str(i)] for i in range(len(values))]


async def run_sql(args: argparse.Namespace) -> int:
    """Run the statement; a SELECT's pages are joined (up to ``--max-items``)."""
    from streamkit.cli.common import CommandError, run_on_backend
    from streamkit.cli.inputs import UsageError

    for flag in ("page_size", "max_items"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")
    params: dict[str, Any] = {"Statement": args.statement}
    parameters = _parameters(args)
    if parameters is not None:
        params["Parameters"] = parameters
    if args.consistent_read:
        params["ConsistentRead"] = True
    reads = args.statement.lstrip()[:6].upper() == "SELECT"

    async def body(backend: Backend) -> dict[str, Any]:
        if not backend.supports("ExecuteStatement"):
            raise CommandError("ExecuteStatement is not supported by this endpoint")
        items: list[Any] = []
        token = args.starting_token
        while True:
            request = dict(params)
            limit = args.page_size
            if args.max_items is not None:
                remaining = args.max_items - len(items)
                limit = remaining if limit is None else min(limit, remaining)
            if limit is not None:
                request["Limit"] = limit
            if token:
                request["NextToken"] = token
            page = await backend.call("ExecuteStatement", request)
            items.extend(page.get("Items", []))
            token = page.get("NextToken")
            if not token or (args.max_items is not None and len(items) >= args.max_items):
                break
        response: dict[str, Any] = {"Items": items}
        if token:
            response["NextToken"] = token
        return response

    return await run_on_backend(args, body, read_only=reads)
