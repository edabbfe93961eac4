"""``streamkit ttl enable|disable|describe TABLE``: UpdateTimeToLive and DescribeTimeToLive."""

from __future__ import annotations

import argparse
from typing import Any

from streamkit.cli.backends import Backend
from streamkit.cli.common import CommandError, run_on_backend

__all__ = ["run_ttl"]


async def run_ttl(args: argparse.Namespace) -> int:
    """Run one ``ttl`` subcommand; return the exit status."""
    return await run_on_backend(
        args, lambda backend: _ttl(backend, args), read_only=args.ttl_command == "describe"
    )


async def _ttl(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    table = args.table_name
    if args.ttl_command == "describe":
        return await backend.call("DescribeTimeToLive", {"TableName": table})
    attribute = args.attribute
    if args.ttl_command == "disable" and attribute is None:
        # UpdateTimeToLive wants the attribute even to disable: take the one that is enabled.
        described = await backend.call("DescribeTimeToLive", {"TableName": table})
        attribute = described.get("TimeToLiveDescription", {}).get("AttributeName")
        if attribute is None:
            raise CommandError(f"TTL is not enabled on table {table}: nothing to disable")
    spec = {"Enabled": args.ttl_command == "enable", "AttributeName": attribute}
    return await backend.call(
        "UpdateTimeToLive", {"TableName": table, "TimeToLiveSpecification": spec}
    )
