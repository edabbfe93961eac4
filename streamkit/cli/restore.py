"""``streamkit restore --table T --to T2 --time ISO|--latest``: RestoreTableToPointInTime.

Point-in-time recovery is turned on and off with ``streamkit tables update T --pitr on|off``
(UpdateContinuousBackups; :func:`continuous_backups_request`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from streamkit.cli.backends import Backend
from streamkit.cli.common import run_on_backend
from streamkit.cli.inputs import UsageError

__all__ = ["continuous_backups_request", "parse_time", "run_restore"]


async def run_restore(args: argparse.Namespace) -> int:
    """Restore ``--table`` as it was at ``--time`` (or its latest restorable time) into
    the new table ``--to``; print the new table's description."""
    params: dict[str, Any] = {"SourceTableName": args.table, "TargetTableName": args.to}
    if args.latest:
        params["UseLatestRestorableTime"] = True
    else:
        params["RestoreDateTime"] = parse_time(args.time)

    async def body(backend: Backend) -> dict[str, Any]:
        from streamkit.cli.backup import with_progress  # the bar of `backup restore` too

        label = f"restore to {args.to}"
        return await with_progress(backend, "RestoreTableToPointInTime", params, label)

    return await run_on_backend(args, body)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-12-06T21:00:00Z``; no zone: UTC) or epoch seconds.

    Raises:
        UsageError: neither.
    """
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--time: not an ISO 8601 time or epoch seconds: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def continuous_backups_request(args: argparse.Namespace) -> dict[str, Any] | None:
    """UpdateContinuousBackups' members for ``tables update --pitr on|off``, or None."""
    pitr = getattr(args, "pitr", None)
    days = getattr(args, "recovery_period_days", None)
    if pitr is None:
        if days is not None:
            raise UsageError("--recovery-period-days needs --pitr on")
        return None
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": pitr == "on"}
    if days is not None:
        spec["RecoveryPeriodInDays"] = days
    return {"TableName": args.table_name, "PointInTimeRecoverySpecification": spec}
