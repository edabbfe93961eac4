"""Replay of stream ranges and exported files into handlers and mappings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import streamkit
from streamkit.errors import ConfigurationError
from streamkit.mappings.replay import export_stream, replay, replay_file
from streamkit.testing import ManualClock

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


@pytest.fixture
async def db(clock: ManualClock) -> AsyncIterator[streamkit.Engine]:
    async with streamkit.open_engine(None, clock=clock, stream_shards=2) as engine:
        await engine.create_table(TableName="events", **TABLE)
        for n in range(10):
            await engine.put_item(
                TableName="events",
                Item={"pk": {"S": f"k{n % 3}"}, "n": {"N": str(n)}, "b": {"B": b"\x01"}},
            )
            clock.advance(10)
        yield engine


def _ns(records: list[dict[str, Any]]) -> list[int]:
    return [int(r["dynamodb"]["NewImage"]["n"]["N"]) for r in records]


class Collector:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.calls = 0

    async def __call__(self, event: dict[str, Any], context: Any) -> None:
        self.calls += 1
        self.records.extend(event["Records"])


async def test_replays_everything_in_order_per_key(db: streamkit.Engine) -> None:
    handler = Collector()
    progress: list[int] = []
    result = await replay(db, handler, table="events", batch_size=3, progress=progress.append)
    assert result.records == 10
    assert sorted(_ns(handler.records)) == list(range(10))
    for key in ("k0", "k1", "k2"):
        ns = [
            n
            for r, n in zip(handler.records, _ns(handler.records), strict=True)
            if r["dynamodb"]["Keys"]["pk"]["S"] == key
        ]
        assert ns == sorted(ns)
    assert progress[-1] == 10
    assert handler.records[0]["dynamodb"]["NewImage"]["b"] == {"B": "AQ=="}  # Lambda's JSON


async def test_range_by_sequence_and_time(db: streamkit.Engine, clock: ManualClock) -> None:
    everything = Collector()
    await replay(db, everything, table="events")
    ordered = sorted(everything.records, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    fourth = ordered[3]["dynamodb"]["SequenceNumber"]
    from_seq = Collector()
    await replay(db, from_seq, table="events", start=fourth)
    assert sorted(_ns(from_seq.records)) == list(range(3, 10))
    until = Collector()
    await replay(db, until, table="events", end=ordered[5]["dynamodb"]["SequenceNumber"])
    assert sorted(_ns(until.records)) == list(range(6))
    created = ordered[7]["dynamodb"]["ApproximateCreationDateTime"]
    by_time = Collector()
    await replay(db, by_time, table="events", start=float(created))
    assert sorted(_ns(by_time.records)) == [7, 8, 9]


async def test_replay_leaves_live_checkpoints_alone(clock: ManualClock) -> None:
    seen: list[int] = []
    app = streamkit.App()

    @app.on_stream("events", name="live", starting_position="TRIM_HORIZON")
    async def live(event: dict[str, Any], context: Any) -> None:
        seen.extend(_ns(event["Records"]))

    async with streamkit.testing.open_harness(app, clock=clock) as h:
        await h.engine.create_table(TableName="events", **TABLE)
        for n in range(4):
            await h.engine.put_item(
                TableName="events", Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}}
            )
        await h.drain()
        replayed = Collector()
        await replay(h.engine, app.mappings[0], table="events")  # the mapping itself, replayed
        await replay(h.engine, replayed, table="events")
        await h.drain()
    assert sorted(seen) == [0, 0, 1, 1, 2, 2, 3, 3]  # once live, once by the mapping replay
    assert sorted(_ns(replayed.records)) == [0, 1, 2, 3]


async def test_export_and_replay_file(db: streamkit.Engine, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert await export_stream(db, path, table="events") == 10
    handler = Collector()
    result = await replay_file(path, handler, batch_size=4)
    assert result.records == 10
    assert result.shards == 2
    assert sorted(_ns(handler.records)) == list(range(10))
    seqs = sorted(int(r["dynamodb"]["SequenceNumber"]) for r in handler.records)
    tail = Collector()
    await replay_file(path, tail, start=str(seqs[6]))
    assert sorted(int(r["dynamodb"]["SequenceNumber"]) for r in tail.records) == seqs[6:]


async def test_bad_inputs(db: streamkit.Engine, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"not": "a record"}\n')
    with pytest.raises(ConfigurationError, match="not a streamkit stream export"):
        await replay_file(garbage, Collector())
    with pytest.raises(ConfigurationError, match="replay position"):
        await replay(db, Collector(), table="events", start="yesterday")
    with pytest.raises(ConfigurationError, match="has no stream"):
        await db.create_table(
            TableName="plain", **{k: v for k, v in TABLE.items() if k != "StreamSpecification"}
        )
        await replay(db, Collector(), table="plain")


async def test_replay_file_gives_handlers_the_engine(db: streamkit.Engine, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    await export_stream(db, path, table="events")
    engines: list[streamkit.Engine] = []

    async def uses_engine(event: dict[str, Any], context: Any) -> None:
        engines.append(streamkit.current_engine())

    await replay_file(path, uses_engine, engine=db)
    assert engines
    assert all(e is db for e in engines)
