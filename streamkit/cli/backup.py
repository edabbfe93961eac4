"""``streamkit backup create|list|describe|delete|restore``: DynamoDB's on-demand backups.

Each is one request (ListBackups: every page), to the local data folder or ``--endpoint-url``.
CreateBackup and RestoreTableFromBackup copy the whole table inside the one request, so on a
terminal a live line counts the seconds and then the items copied.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio

from streamkit.cli.backends import Backend, BackendError
from streamkit.cli.common import CommandError, run_on_backend
from streamkit.cli.progress import Progress

__all__ = ["run_backup", "with_progress"]


async def run_backup(args: argparse.Namespace) -> int:
    """Run one ``backup`` subcommand; return the exit status."""
    read_only = args.backup_command in ("list", "describe")
    return await run_on_backend(args, lambda backend: _backup(backend, args), read_only=read_only)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"not an ISO 8601 time: {text}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _backup(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    command = args.backup_command
    if command == "describe":
        return await backend.call("DescribeBackup", {"BackupArn": args.backup_arn})
    if command == "delete":
        return await backend.call("DeleteBackup", {"BackupArn": args.backup_arn})
    if command == "list":
        return await _list(backend, args)
    if command == "create":
        name = args.name or f"{args.table_name}-{datetime.now(UTC):%Y-%m-%dT%H.%M.%S}"
        params: dict[str, Any] = {"TableName": args.table_name, "BackupName": name}
        return await with_progress(backend, "CreateBackup", params, f"backup of {args.table_name}")
    params = {"TargetTableName": args.target_table, "BackupArn": args.backup_arn}
    if args.billing_mode is not None:
        params["BillingModeOverride"] = args.billing_mode
    if args.read_capacity is not None or args.write_capacity is not None:
        if args.read_capacity is None or args.write_capacity is None:
            raise CommandError("--read-capacity and --write-capacity go together")
        params["ProvisionedThroughputOverride"] = {
            "ReadCapacityUnits": args.read_capacity,
            "WriteCapacityUnits": args.write_capacity,
        }
    if args.no_indexes:
        params["GlobalSecondaryIndexOverride"] = []
        params["LocalSecondaryIndexOverride"] = []
    return await with_progress(
        backend, "RestoreTableFromBackup", params, f"restore to {args.target_table}"
    )


async def _list(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"BackupType": args.type}
    if args.table is not None:
        params["TableName"] = args.table
    lower, upper = _time(args.since), _time(args.until)
    if lower is not None:
        params["TimeRangeLowerBound"] = lower
    if upper is not None:
        params["TimeRangeUpperBound"] = upper
    summaries: list[Any] = []
    while True:
        page = await backend.call("ListBackups", params)
        summaries.extend(page.get("BackupSummaries", []))
        last = page.get("LastEvaluatedBackupArn")
        if not last:
            return {"BackupSummaries": summaries}
        params["ExclusiveStartBackupArn"] = last


async def with_progress(
    backend: Backend, operation: str, params: Mapping[str, Any], label: str
) -> dict[str, Any]:
    """Run a long request with a live line on a terminal: seconds while it runs, then the
    items it copied (one request cannot report progress on the way)."""
    bar = Progress(label, stream=sys.stderr)

    async def tick() -> None:
        while True:
            bar.update(0)
            await anyio.sleep(0.2)

    outcome: list[Any] = []

    async def call() -> None:
        try:
            outcome.append(await backend.call(operation, params))
        except (BackendError, OSError) as exc:  # raised below, not inside an exception group
            outcome.append(exc)
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        group.start_soon(call)
    if isinstance(outcome[0], BaseException):
        bar.close()
        raise outcome[0]
    result: dict[str, Any] = outcome[0]
    table = result.get("TableDescription")
    if table is not None:
        count = table.get("ItemCount")
        if not count:  # a reply made before the rows were in (a point-in-time restore's)
            described = await backend.call("DescribeTable", {"TableName": table["TableName"]})
            count = described["Table"].get("ItemCount", 0)
        bar.update(int(count))
    elif "BackupDetails" in result:
        described = await backend.call(
            "DescribeBackup", {"BackupArn": result["BackupDetails"]["BackupArn"]}
        )
        source = described.get("BackupDescription", {}).get("SourceTableDetails", {})
        bar.update(int(source.get("ItemCount", 0)))
    bar.close()
    return result
