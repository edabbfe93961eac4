"""Helpers for stream tests: tables with streams, and reading a whole stream in lineage order."""

from __future__ import annotations

from typing import Any

import streamkit
from tests.conftest import key_schema


async def stream_table(
    engine: streamkit.Engine,
    name: str = "orders",
    view: str = "NEW_AND_OLD_IMAGES",
    range_key: str | None = None,
) -> str:
    """Create a table with a stream; return the stream ARN."""
    out = await engine.create_table(
        TableName=name,
        **key_schema("pk", range_key),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    arn: str = out["TableDescription"]["LatestStreamArn"]
    return arn


async def shards(engine: streamkit.Engine, arn: str) -> list[dict[str, Any]]:
    """Return every shard of a stream, following DescribeStream's pagination."""
    found: list[dict[str, Any]] = []
    start: dict[str, Any] = {}
    while True:
        desc = (await engine.streams.describe_stream(StreamArn=arn, Limit=2, **start))[
            "StreamDescription"
        ]
        found.extend(desc["Shards"])
        if "LastEvaluatedShardId" not in desc:
            return found
        start = {"ExclusiveStartShardId": desc["LastEvaluatedShardId"]}


async def shard_iterator(
    engine: streamkit.Engine,
    arn: str,
    shard_id: str,
    kind: str = "TRIM_HORIZON",
    sequence_number: str | None = None,
) -> str:
    """Return GetShardIterator's iterator of type ``kind`` (at ``sequence_number``, for
    ``AT_SEQUENCE_NUMBER`` and ``AFTER_SEQUENCE_NUMBER``)."""
    at = {} if sequence_number is None else {"SequenceNumber": sequence_number}
    out = await engine.streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, **at
    )
    iterator: str = out["ShardIterator"]
    return iterator


async def read_shard(engine: streamkit.Engine, arn: str, shard_id: str) -> list[dict[str, Any]]:
    """Read one shard from TRIM_HORIZON until it is exhausted or an empty page."""
    it = await shard_iterator(engine, arn, shard_id)
    records: list[dict[str, Any]] = []
    while True:
        page = await engine.streams.get_records(ShardIterator=it, Limit=7)
        records.extend(page["Records"])
        if "NextShardIterator" not in page or not page["Records"]:
            return records
        it = page["NextShardIterator"]


async def read_stream(engine: streamkit.Engine, arn: str) -> list[dict[str, Any]]:
    """Read every record, parents before children (as consumers must), in shard order."""
    all_shards = await shards(engine, arn)
    ids = {s["ShardId"] for s in all_shards}
    done: set[str] = set()
    records: list[dict[str, Any]] = []
    pending = list(all_shards)
    while pending:
        ready = [s for s in pending if s.get("ParentShardId") not in ids - done]
        assert ready, "shard lineage has a cycle"
        for shard in ready:
            records.extend(await read_shard(engine, arn, shard["ShardId"]))
            done.add(shard["ShardId"])
            pending.remove(shard)
    return records
