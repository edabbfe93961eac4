"""The mappings on one shard share each page they read (fan-out): one copy per handler."""

from __future__ import annotations

import functools
import gc
import json
from typing import Any

import streamkit
from streamkit.mappings.filters import compile_pattern
from streamkit.mappings.processor import Outcome, Record
from streamkit.mappings.source import LocalSource
from streamkit.streams.client import SharedRecords
from streamkit.streams.records import pack_record, parse_sequence_number, unpack_record
from streamkit.testing import ManualClock
from tests.conftest import key_schema
from tests.mappings.test_processor import drive, processor, record, records, seq


def tree(record: object) -> dict[str, Any]:
    """A record the local source read (packed), as objects."""
    assert isinstance(record, tuple)
    return unpack_record(record)


def packed(*ns: int, **options: Any) -> SharedRecords:
    """A shared page as the local source reads it: packed records."""
    return SharedRecords(pack_record(r) for r in records(*ns, **options))


def test_a_packed_record_unpacks_to_the_record() -> None:
    """A packed record: the record's JSON bytes and its fields; every unpacking is fresh."""
    original = record(7)
    one = pack_record(original)
    assert unpack_record(one) == original
    created = original["dynamodb"]["ApproximateCreationDateTime"]
    assert one[1:] == (parse_sequence_number(seq(7)), seq(7), created, 20)
    assert unpack_record(one) is not unpack_record(one)
    assert gc.is_tracked(one)  # until the collector's first pass over it:
    gc.collect()
    assert not gc.is_tracked(one)  # a tuple of bytes, numbers and a string is not walked


async def test_mappings_sharing_a_page_each_get_their_own_copy(clock: ManualClock) -> None:
    """A shared page of packed records: one handler's edits reach neither the page nor the
    other mappings' handlers."""
    seen: list[dict[str, Any]] = []

    async def editor(event: dict[str, Any], context: Any) -> None:
        event["Records"][0]["dynamodb"]["NewImage"].clear()
        event["Records"].pop()

    async def reader(event: dict[str, Any], context: Any) -> None:
        seen.append(json.loads(json.dumps(event)))

    page = packed(1, 2)
    pristine = records(1, 2)
    out = await drive(clock, lambda: processor(clock, editor).process(page))
    assert out == Outcome(checkpoint=seq(2), complete=True)
    await drive(clock, lambda: processor(clock, reader).process(page))
    assert seen == [{"Records": pristine}]
    assert [unpack_record(r) for r in page] == pristine


async def test_a_batch_of_packed_and_hand_made_records_is_copied_in_order(
    clock: ManualClock,
) -> None:
    """A batch mixing packed records with hand-made ones (a list, not a shared page): every
    record reaches the handler as its own objects, in order, and edits reach neither."""
    seen: list[list[dict[str, Any]]] = []

    async def editor(event: dict[str, Any], context: Any) -> None:
        seen.append(json.loads(json.dumps(event["Records"])))
        for r in event["Records"]:
            r["dynamodb"].clear()

    hand_made = record(2)
    batches: list[list[Record]] = [
        [pack_record(record(1)), hand_made, pack_record(record(3))],
        [hand_made],
        list(packed(1, 3)),
    ]
    for batch in batches:
        await drive(clock, functools.partial(processor(clock, editor).process, batch))
    assert seen == [records(1, 2, 3), records(2), records(1, 3)]
    assert hand_made == record(2)


async def test_a_split_page_hands_each_chunk_its_records(clock: ManualClock) -> None:
    """A page cut into batch_size chunks hands each chunk its own records, in order."""
    events: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any], context: Any) -> None:
        events.append(json.loads(json.dumps(event)))

    page = packed(1, 2, 3)
    await drive(clock, lambda: processor(clock, handler, batch_size=2).process(page))
    assert events == [{"Records": records(1, 2)}, {"Records": records(3)}]


async def test_a_retry_of_packed_records_gets_fresh_objects(clock: ManualClock) -> None:
    """A handler that edits its records and fails: the retry, the bisected halves and the
    partial-failure retry each get the records as read, never the edited ones."""
    seen: list[list[dict[str, Any]]] = []

    async def vandal(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(json.loads(json.dumps(event["Records"])))
        for r in event["Records"]:
            r["dynamodb"]["NewImage"] = {}
            r["dynamodb"]["SequenceNumber"] = "1"
        if len(seen) == 1:
            raise RuntimeError("boom")  # bisected: [1, 2], then [3, 4]
        if len(seen) == 3:  # [3, 4]: 4 fails, and comes again in the next process()
            return {"batchItemFailures": [{"itemIdentifier": seq(4)}]}
        return {"batchItemFailures": []}

    shard = processor(
        clock,
        vandal,
        bisect_batch_on_function_error=True,
        function_response_types=("ReportBatchItemFailures",),
    )
    out = await drive(clock, lambda: shard.process(packed(1, 2, 3, 4)))
    assert out == Outcome(checkpoint=seq(3), complete=False)
    out = await drive(clock, lambda: shard.process(packed(4)))
    assert out == Outcome(checkpoint=seq(4), complete=True)
    assert seen == [records(1, 2, 3, 4), records(1, 2), records(3, 4), records(4)]


async def test_filters_and_deserialize_see_packed_records_as_objects(clock: ManualClock) -> None:
    """A filter matches a packed record's fields; deserialize hands plain images."""
    events: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any], context: Any) -> None:
        events.append(event)

    page = SharedRecords(
        [
            pack_record(record(1, event_name="INSERT")),
            pack_record(record(2, event_name="REMOVE")),
        ]
    )
    out = await drive(
        clock,
        lambda: processor(
            clock,
            handler,
            filter_patterns=(compile_pattern('{"eventName": ["REMOVE"]}'),),
            deserialize=True,
        ).process(page),
    )
    assert out == Outcome(checkpoint=seq(2), complete=True)
    assert [r["eventName"] for r in events[0]["Records"]] == ["REMOVE"]
    assert events[0]["Records"][0]["dynamodb"]["Keys"] == {"pk": "k2"}


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
        start = tree((await one.read(None, 10)).records[0])["dynamodb"]["SequenceNumber"]
        await engine.put_item(TableName="tab", Item={"pk": {"S": "b"}})
        first = await one.read(start, 10)
        await engine.put_item(TableName="tab", Item={"pk": {"S": "c"}})
        shared = await two.read(start, 10)
        assert shared.records is first.records  # the page one read, though a commit came since
        again = await two.read(start, 10)
        assert [tree(r)["dynamodb"]["Keys"]["pk"]["S"] for r in again.records] == ["b", "c"]
