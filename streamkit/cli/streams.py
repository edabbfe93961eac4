"""``streamkit streams list|describe|tail|export``: look at and follow DynamoDB Streams."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import anyio
import orjson

from streamkit.cli.backends import (
    Backend,
    BackendError,
    LocalBackend,
    RemoteBackend,
    open_local_engine,
)
from streamkit.cli.inputs import UsageError
from streamkit.cli.output import iso_utc, render
from streamkit.cli.progress import Progress
from streamkit.engine import Engine
from streamkit.mappings.replay import export_stream
from streamkit.model.json import encode_b64
from streamkit.model.native import from_item

__all__ = ["position", "run_streams_command"]

_TAIL_POLL_SECONDS = 0.25  # remote endpoints only: a local tail waits for commits


class _Streams:
    """DynamoDB Streams calls against the local engine or, with --endpoint-url, boto3."""

    def __init__(self, backend: Backend, engine: Engine | None = None) -> None:
        self.engine = engine
        self._backend = backend

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await self._backend.call(operation, params)

    async def wait(self, iterator: str) -> None:
        if self.engine is not None:
            await self.engine.streams.wait_for_records(ShardIterator=iterator)
        else:
            await anyio.sleep(_TAIL_POLL_SECONDS)


@asynccontextmanager
async def _open(args: argparse.Namespace) -> AsyncIterator[_Streams]:
    if args.endpoint_url is not None:
        remote = RemoteBackend("dynamodbstreams", args.endpoint_url, args.region, args.profile)
        yield _Streams(remote)
        return
    async with open_local_engine(args.data, args.region, read_only=True) as engine:
        yield _Streams(LocalBackend(engine.streams), engine)


async def _latest_arn(streams: _Streams, table: str) -> str:
    found = (await streams.call("ListStreams", TableName=table))["Streams"]
    if not found:
        raise UsageError(f"table {table} has no stream")
    return str(found[-1]["StreamArn"])


async def run_streams_command(args: argparse.Namespace) -> int:
    """Run one ``streams`` subcommand; return the exit status."""
    async with _open(args) as streams:
        try:
            if args.streams_command == "list":
                params = {"TableName": args.table_name} if args.table_name else {}
                render(await streams.call("ListStreams", **params), args.output, sys.stdout)
            elif args.streams_command == "describe":
                arn = args.stream_arn or await _latest_arn(streams, args.table_name)
                described = await streams.call("DescribeStream", StreamArn=arn)
                render(described, args.output, sys.stdout)
            elif args.streams_command == "tail":
                await _tail(streams, args)
            else:
                await _export(streams, args)
        except BackendError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    return 0


async def _tail(streams: _Streams, args: argparse.Namespace) -> None:
    """Print each record as it is committed, one JSON object per line, like ``tail -f``."""
    arn = args.stream_arn or await _latest_arn(streams, args.table_name)
    start = "TRIM_HORIZON" if args.from_start else "LATEST"
    shards = (await streams.call("DescribeStream", StreamArn=arn))["StreamDescription"]["Shards"]
    open_shards = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    printed = 0
    async with anyio.create_task_group() as tg:

        async def follow(shard_id: str) -> None:
            nonlocal printed
            iterator = (
                await streams.call(
                    "GetShardIterator", StreamArn=arn, ShardId=shard_id, ShardIteratorType=start
                )
            )["ShardIterator"]
            while iterator:
                page = await streams.call("GetRecords", ShardIterator=iterator, Limit=1000)
                for record in page["Records"]:
                    sys.stdout.write(record_line(record, args.output) + "\n")
                    printed += 1
                    if args.max_records and printed >= args.max_records:
                        tg.cancel_scope.cancel()
                        return
                sys.stdout.flush()
                iterator = page.get("NextShardIterator")
                if iterator and not page["Records"]:
                    await streams.wait(iterator)

        for shard in open_shards:
            tg.start_soon(follow, shard["ShardId"])


def record_line(record: dict[str, Any], fmt: str) -> str:
    """One stream record as a line: its JSON (``json``), with plain-JSON images (``native``),
    or ``<ISO time> <event> <keys>`` for people (``table``)."""
    if fmt == "json":
        return orjson.dumps(record, default=_jsonable).decode()
    change = dict(record.get("dynamodb", {}))
    for member in ("Keys", "NewImage", "OldImage"):
        if isinstance(change.get(member), dict):
            change[member] = from_item(change[member])
    if fmt == "native":
        return orjson.dumps({**record, "dynamodb": change}, default=_jsonable).decode()
    when = change.get("ApproximateCreationDateTime")
    stamp = iso_utc(when) if when is not None else "-"
    keys = orjson.dumps(change.get("Keys", {}), default=_jsonable).decode()
    return f"{stamp}  {record.get('eventName', '?'):<6}  {keys}"


def _jsonable(value: object) -> Any:
    if isinstance(value, bytes):
        return encode_b64(value)
    return str(value)


async def _export(streams: _Streams, args: argparse.Namespace) -> None:
    if streams.engine is None:
        raise UsageError("streams export reads the local data folder (no --endpoint-url)")
    progress = Progress("exported", stream=sys.stderr)
    written = await export_stream(
        streams.engine,
        args.out,
        table=args.table_name,
        stream_arn=args.stream_arn,
        start=position(args.start),
        end=position(args.end),
        progress=progress.update,
    )
    progress.close()
    print(f"exported {written} records to {args.out}", file=sys.stderr)


def position(value: str | None) -> str | float | None:
    """Parse a --from/--to value: TRIM_HORIZON, a sequence number, or an ISO-8601 time."""
    if value is None or value == "TRIM_HORIZON" or value.isdigit():
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(
            f"expected TRIM_HORIZON, a sequence number or an ISO-8601 time, got {value!r}"
        ) from None
