"""``streamkit leases``: who holds which shard of which mapping, and how far behind each is.

Reads the lease table workers share (``streamkit run --lease-table``; default
``streamkit-leases``) at ``--endpoint-url`` (or in the local data folder), and, where the
stream can be read there, counts the records after each lease's checkpoint and the age of the
oldest of them (Lambda's IteratorAge).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from streamkit.cli.backends import (
    Backend,
    BackendError,
    LocalBackend,
    RemoteBackend,
    open_local_engine,
    region_file,
)
from streamkit.cli.output import render
from streamkit.mappings.leases import SHARD_END, Lease, read_leases

__all__ = ["BEHIND_LIMIT", "run_leases"]

#: Records counted after a checkpoint at most (more shows as this many, with ``+``).
BEHIND_LIMIT = 10_000


class _Client:
    """A :class:`~streamkit.mappings.leases.LeaseReader` over a CLI backend."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def _op(self, operation: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def call(**params: Any) -> dict[str, Any]:
            return await self._backend.call(operation, params)

        return call

    @property
    def scan(self) -> Callable[..., Awaitable[dict[str, Any]]]:
        return self._op("Scan")


@asynccontextmanager
async def _open(args: argparse.Namespace) -> AsyncIterator[tuple[Backend, Backend | None]]:
    if args.endpoint_url is not None:
        tables = RemoteBackend("dynamodb", args.endpoint_url, args.region, args.profile)
        streams = RemoteBackend("dynamodbstreams", args.endpoint_url, args.region, args.profile)
        yield tables, streams
        return
    async with open_local_engine(args.data, args.region, read_only=True) as engine:
        yield LocalBackend(engine), LocalBackend(engine.streams)


async def run_leases(args: argparse.Namespace) -> int:
    """Print the lease table; return the exit status."""
    if args.endpoint_url is None and not region_file(args.data, args.region).is_file():
        print(f"streamkit: no data in {region_file(args.data, args.region)}", file=sys.stderr)
        return 1
    try:
        async with _open(args) as (tables, streams):
            try:
                leases = await read_leases(_Client(tables), args.lease_table)
            except BackendError as exc:
                if exc.code != "ResourceNotFoundException":
                    raise
                print(
                    f"streamkit: no lease table {args.lease_table} (no worker has run with it)",
                    file=sys.stderr,
                )
                return 1
            rows = [await _row(lease, streams, args.behind) for lease in leases]
            if args.output == "table":  # narrow enough for a terminal: the ARN is in the JSON
                for row in rows:
                    del row["StreamArn"]
    except BackendError as exc:
        print(f"streamkit: {exc}", file=sys.stderr)
        return 1
    owners = sorted({lease.owner for lease in leases if lease.owner and not lease.done})
    render(
        {"Leases": rows, "LeaseTable": args.lease_table, "Workers": owners},
        args.output,
        sys.stdout,
    )
    return 0


async def _row(lease: Lease, streams: Backend | None, count: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Mapping": lease.mapping,
        "ShardId": lease.shard_id,
        "Owner": lease.owner,
        "Checkpoint": lease.checkpoint,
        "Parents": ",".join(lease.parent_ids) or None,
        "Counter": lease.counter,
        "OwnerSwitches": lease.owner_switches,
    }
    if lease.checkpoint == SHARD_END:
        row["Behind"], row["IteratorAgeSeconds"] = 0, 0
    elif count and streams is not None:
        row["Behind"], row["IteratorAgeSeconds"] = await _behind(lease, streams)
    row["StreamArn"] = lease.stream_arn
    return row


async def _behind(lease: Lease, streams: Backend) -> tuple[int | str | None, float | None]:
    """Records after the checkpoint (up to BEHIND_LIMIT, then ``"N+"``) and the oldest one's
    age in seconds; (None, None) where the stream cannot be read (gone, trimmed, elsewhere)."""
    params: dict[str, Any] = {"StreamArn": lease.stream_arn, "ShardId": lease.shard_id}
    if lease.checkpoint is None:
        params["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
        params["SequenceNumber"] = lease.checkpoint
    try:
        iterator = (await streams.call("GetShardIterator", params)).get("ShardIterator")
        behind, oldest = 0, None
        while iterator and behind < BEHIND_LIMIT:
            page = await streams.call("GetRecords", {"ShardIterator": iterator, "Limit": 1000})
            records = page.get("Records", [])
            if oldest is None and records:
                oldest = records[0]["dynamodb"].get("ApproximateCreationDateTime")
            behind += len(records)
            if not records:
                break  # caught up (an open shard), or the closed shard's end
            iterator = page.get("NextShardIterator")
    except BackendError:
        return None, None
    age = None if oldest is None else max(0.0, datetime.now().timestamp() - _epoch(oldest))
    return (f"{behind}+" if behind >= BEHIND_LIMIT else behind), (
        None if age is None else round(age, 1)
    )


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)
