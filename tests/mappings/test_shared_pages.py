"""The mappings on one shard share each page they read (fan-out): one copy per handler."""

from __future__ import annotations

import json
from typing import Any

import streamkit
from streamkit.mappings.processor import Outcome
from streamkit.mappings.source import LocalSource
from streamkit.streams.client import SharedRecords
from streamkit.testing import ManualClock
from tests.conftest import key_schema
from tests.mappings.test_processor import drive, processor, records, seq


async def test_mappings_sharing_a_page_each_get_their_own_copy(clock: ManualClock) -> None:
    """A shared page (SharedRecords) is serialised once, by the first mapping to copy it, and
    one handler's edits reach neither the page nor the other mappings' handlers."""
    seen: list[dict[str, Any]] = []

    async def editor(event: dict[str, Any], context: Any) -> None:
        event["Records"][0]["dynamodb"]["NewImage"].clear()
        event["Records"].pop()

    async def reader(event: dict[str, Any], context: Any) -> None:
        seen.append(json.loads(json.dumps(event)))

    page = SharedRecords(records(1, 2))
    pristine = records(1, 2)
    out = await drive(clock, lambda: processor(clock, editor).process(page))
    assert out == Outcome(checkpoint=seq(2), complete=True)
    assert page.blob is not None
    blob = page.blob
    await drive(clock, lambda: processor(clock, reader).process(page))
    assert seen == [{"Records": pristine}]
    assert page == pristine
    assert page.blob is blob  # serialised once, by the first mapping


async def test_a_filtered_or_split_page_is_copied_afresh(clock: ManualClock) -> None:
    """A page cut into batch_size chunks hands each chunk its own copy (no shared bytes)."""
    events: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any], context: Any) -> None:
        events.append(json.loads(json.dumps(event)))

    page = SharedRecords(records(1, 2, 3))
    await drive(clock, lambda: processor(clock, handler, batch_size=2).process(page))
    assert events == [{"Records": records(1, 2)}, {"Records": records(3)}]
    assert page.blob is None


async def test_a_local_reader_asking_twice_at_one_place_reads_fresh() -> None:
    """The local source's shard reader shares pages with the other readers, but asking at the
    same position twice running (after a batching window, a retry) it sees what came since."""
    async with streamkit.open_engine(None, stream_shards=1) as engine:
        await engine.create_table(
            TableName="tab",
            **key_schema(),
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        arn = engine.stream_arn("tab")
        assert arn is not None
        source = LocalSource(engine)
        shard = (await source.describe(arn))[0]["ShardId"]
        one, two = source.reader(arn, shard), source.reader(arn, shard)
        await engine.put_item(TableName="tab", Item={"pk": {"S": "a"}})
        start = (await one.read(None, 10)).records[0]["dynamodb"]["SequenceNumber"]
        await engine.put_item(TableName="tab", Item={"pk": {"S": "b"}})
        first = await one.read(start, 10)
        await engine.put_item(TableName="tab", Item={"pk": {"S": "c"}})
        shared = await two.read(start, 10)
        assert shared.records is first.records  # the page one read, though a commit came since
        again = await two.read(start, 10)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in again.records] == ["b", "c"]
