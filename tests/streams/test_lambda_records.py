"""StreamsClient.read_lambda_records: Lambda-shaped records, read once for every mapping."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import InternalServerError
from streamkit.storage.changes import (
    EVENT_KIND,
    INSERT,
    MODIFY,
    REMOVE,
    SEQUENCE_BASE,
    SERVICE,
    dump_record_data,
    load_record_data,
)
from streamkit.storage.codec import dump_item
from streamkit.streams import StreamsClient, base64_binaries, lambda_record
from streamkit.streams.client import SharedRecords, _first_megabyte, _packed_megabyte
from streamkit.streams.records import (
    _STAMPS,
    _STAMPS_KEPT,
    format_record,
    lambda_json,
    lambda_packed,
    lambda_pieces,
    sequence_number,
    stream_event_id,
    unpack_record,
)
from tests.conftest import key_schema
from tests.strategies import items, texts

TABLE = "orders"


@pytest.fixture
async def memory_engine() -> AsyncIterator[streamkit.Engine]:
    async with streamkit.open_engine(None, stream_shards=1) as db:
        yield db


async def _setup(engine: streamkit.Engine) -> tuple[StreamsClient, str, str]:
    await engine.create_table(
        TableName=TABLE,
        **key_schema(),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    streams = engine.streams
    assert isinstance(streams, StreamsClient)
    arn = engine.stream_arn(TABLE)
    assert arn is not None
    described = await streams.describe_stream(StreamArn=arn)
    shard_id = described["StreamDescription"]["Shards"][0]["ShardId"]
    return streams, arn, shard_id


async def _put(engine: streamkit.Engine, n: int) -> None:
    item = {"pk": {"S": "k"}, "n": {"N": str(n)}, "blob": {"B": bytes([n])}}
    await engine.put_item(TableName=TABLE, Item=item)


def _seqs(records: list[Any]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in _trees(records)]


def _trees(records: list[Any]) -> list[dict[str, Any]]:
    """The records as objects (read_lambda_records packs them)."""
    assert all(isinstance(r, tuple) for r in records)
    return [unpack_record(r) for r in records]


async def test_records_as_lambda_delivers_them(memory_engine: streamkit.Engine) -> None:
    streams, arn, shard = await _setup(memory_engine)
    for n in range(3):
        await _put(memory_engine, n)
    page = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    plain = await streams.read_shard(stream_arn=arn, shard_id=shard, after_sequence=None, limit=100)
    records = _trees(page.records)
    assert records == [base64_binaries(lambda_record(r, arn)) for r in plain.records]
    assert records[0]["eventSourceARN"] == arn
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": "AA=="}


async def test_followers_share_one_read(memory_engine: streamkit.Engine) -> None:
    """Readers at the same position get the same record objects; later ones come from the tail."""
    streams, arn, shard = await _setup(memory_engine)
    await _put(memory_engine, 0)
    first = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    start = _seqs(first.records)[0]
    for n in range(1, 6):
        await _put(memory_engine, n)
    leader = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    follower = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=2
    )
    assert len(leader.records) == 5
    assert follower.records == leader.records[:2]
    assert all(a is b for a, b in zip(follower.records, leader.records, strict=False))
    rest = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=_seqs(follower.records)[-1], limit=100
    )
    assert _seqs(rest.records) == _seqs(leader.records)[2:]


async def test_a_page_is_shared_until_the_next_commit(memory_engine: streamkit.Engine) -> None:
    """Readers at one position with one limit get the very same page (the mappings on a shard
    fan out from one read) until a commit to the shard; an empty page is never kept."""
    streams, arn, shard = await _setup(memory_engine)
    await _put(memory_engine, 0)
    first = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    start = _seqs(first.records)[0]
    for n in range(1, 3):
        await _put(memory_engine, n)
    one = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    two = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    assert isinstance(one.records, SharedRecords)
    assert two.records is one.records
    assert len(one.records) == 2
    other_limit = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=1
    )
    assert other_limit.records is not one.records
    assert other_limit.records == one.records[:1]
    await _put(memory_engine, 3)  # the commit makes the kept page short: read again
    three = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    assert three.records is not one.records
    assert _seqs(three.records)[:2] == _seqs(one.records)
    assert len(three.records) == 3
    end = _seqs(three.records)[-1]
    for _ in range(2):
        empty = await streams.read_lambda_records(
            stream_arn=arn, shard_id=shard, after_sequence=end, limit=100
        )
        assert empty.records == []
    await _put(memory_engine, 4)
    after_empty = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=end, limit=100
    )
    assert [r["dynamodb"]["NewImage"]["n"] for r in _trees(after_empty.records)] == [{"N": "4"}]


async def test_a_reader_behind_the_tail_reads_the_store(memory_engine: streamkit.Engine) -> None:
    streams, arn, shard = await _setup(memory_engine)
    for n in range(4):
        await _put(memory_engine, n)
    everything = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    seqs = _seqs(everything.records)
    await _put(memory_engine, 4)
    ahead = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[-1], limit=100
    )
    behind = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[0], limit=100
    )
    assert _seqs(behind.records) == seqs[1:] + _seqs(ahead.records)
    # a write after the tail's newest record is read from the store, not missed
    await _put(memory_engine, 5)
    newest = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=_seqs(behind.records)[-1], limit=100
    )
    assert [r["dynamodb"]["NewImage"]["n"] for r in _trees(newest.records)] == [{"N": "5"}]


async def test_pages_from_the_tail_stop_at_one_megabyte(memory_engine: streamkit.Engine) -> None:
    streams, arn, shard = await _setup(memory_engine)
    for n in range(5):
        item = {"pk": {"S": f"k{n}"}, "blob": {"S": "x" * 300_000}}
        await memory_engine.put_item(TableName=TABLE, Item=item)
    first = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=1
    )
    start = _seqs(first.records)[0]
    position = start
    for _ in range(2):  # fill the tail with four ~300 KB records past the first, two at a time
        page = await streams.read_lambda_records(
            stream_arn=arn, shard_id=shard, after_sequence=position, limit=2
        )
        position = _seqs(page.records)[-1]
    from_tail = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    assert len(from_tail.records) == 3  # the fourth would pass 1 MB
    assert sum(r["dynamodb"]["SizeBytes"] for r in _trees(from_tail.records)) <= 1024 * 1024


steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(1, 6)),
        st.tuples(st.just("read"), st.integers(0, 2), st.integers(1, 5)),
        st.tuples(st.just("rewind"), st.integers(0, 2), st.integers(0, 30)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(steps=steps)
async def test_the_tail_serves_what_the_store_would(steps: list[tuple[Any, ...]]) -> None:
    """Three readers at their own positions, writes in between: every page read through the
    tail equals the page read from the store at the same position."""
    async with streamkit.open_engine(None, stream_shards=1) as engine:
        streams, arn, shard = await _setup(engine)
        positions: list[str | None] = [None, None, None]
        history: list[str] = []  # every sequence number read so far, in order
        written = 0
        for step in steps:
            if step[0] == "write":
                for _ in range(step[1]):
                    await _put(engine, written % 256)
                    written += 1
            elif step[0] == "rewind" and history:
                positions[step[1]] = history[min(step[2], len(history) - 1)]
            elif step[0] == "read":
                reader, limit = step[1], step[2]
                after = positions[reader]
                got = await streams.read_lambda_records(
                    stream_arn=arn, shard_id=shard, after_sequence=after, limit=limit
                )
                plain = await streams.read_shard(
                    stream_arn=arn, shard_id=shard, after_sequence=after, limit=limit
                )
                expected = [base64_binaries(lambda_record(r, arn)) for r in plain.records]
                assert _trees(got.records) == expected
                if got.records:
                    positions[reader] = _seqs(got.records)[-1]
                    history = sorted(set(history) | set(_seqs(got.records)))


async def test_reuse_takes_a_page_a_commit_made_short(memory_engine: streamkit.Engine) -> None:
    """With ``reuse`` a reader takes the page another reader got at its position even after
    a commit (a true page, only not all of the records); without, it reads what came since."""
    streams, arn, shard = await _setup(memory_engine)
    await _put(memory_engine, 0)
    first = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    start = _seqs(first.records)[0]
    await _put(memory_engine, 1)
    one = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    await _put(memory_engine, 2)
    reused = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100, reuse=True
    )
    assert reused.records is one.records
    fresh = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=start, limit=100
    )
    assert len(fresh.records) == 2
    assert _seqs(fresh.records)[:1] == _seqs(one.records)


async def test_a_reader_out_of_step_falls_into_step(memory_engine: streamkit.Engine) -> None:
    """A reader whose position lies inside another reader's kept page gets a page that ends
    where that one ends, then the pages the other reads (the same objects)."""
    streams, arn, shard = await _setup(memory_engine)
    for n in range(7):
        await _put(memory_engine, n)
    everything = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    seqs = _seqs(everything.records)
    lead = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[0], limit=3
    )
    assert _seqs(lead.records) == seqs[1:4]
    lagging = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[1], limit=3, reuse=True
    )
    assert _seqs(lagging.records) == seqs[2:4]  # cut where the leader's page ends
    assert not lagging.exhausted
    lead_next = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[3], limit=3, reuse=True
    )
    in_step = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[3], limit=3, reuse=True
    )
    assert in_step.records is lead_next.records
    assert _seqs(in_step.records) == seqs[4:7]


async def test_kept_pages_hold_no_more_records_than_a_tail(
    memory_engine: streamkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages kept for other readers are bounded in records as well as in number."""
    monkeypatch.setattr("streamkit.streams.client.TAIL_RECORDS", 4)
    streams, arn, shard = await _setup(memory_engine)
    for n in range(6):
        await _put(memory_engine, n)
    everything = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    seqs = _seqs(everything.records)
    pages = [
        await streams.read_lambda_records(
            stream_arn=arn, shard_id=shard, after_sequence=seqs[i], limit=2
        )
        for i in (0, 2)
    ]
    again = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[0], limit=2
    )
    assert again.records is pages[0].records  # 2 + 2 records: both kept
    await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[1], limit=2
    )  # a third page: the oldest goes
    evicted = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[0], limit=2
    )
    assert evicted.records is not pages[0].records
    assert _seqs(evicted.records) == _seqs(pages[0].records)


async def test_a_lagging_reader_leaves_the_tail_to_the_readers_ahead(
    memory_engine: streamkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader behind the tail (a mapping lagging the others on its shard) never replaces it:
    a page wholly below it is not kept, one reaching into it goes on its front."""
    monkeypatch.setattr("streamkit.streams.client.TAIL_RECORDS", 4)
    streams, arn, shard = await _setup(memory_engine)
    for n in range(10):
        await _put(memory_engine, n)
    everything = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    seqs = _seqs(everything.records)  # the tail keeps the newest two: records 8 and 9
    far_behind = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[1], limit=3
    )
    assert _seqs(far_behind.records) == seqs[2:5]
    ahead = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[8], limit=100
    )
    assert ahead.records[0] is everything.records[9]  # from the tail, not the store
    reaching = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[6], limit=3
    )
    assert _seqs(reaching.records) == seqs[7:10]
    again = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[6], limit=1
    )
    assert again.records[0] is reaching.records[0]  # record 7 went on the tail's front
    assert (
        await streams.read_lambda_records(
            stream_arn=arn, shard_id=shard, after_sequence=seqs[7], limit=2
        )
    ).records[1] is everything.records[9]


async def test_the_tail_is_bounded_in_bytes(
    memory_engine: streamkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past TAIL_BYTES of SizeBytes the tail drops its oldest records down to half of that."""
    monkeypatch.setattr("streamkit.streams.client.TAIL_BYTES", 2500)
    streams, arn, shard = await _setup(memory_engine)
    for n in range(6):
        item = {"pk": {"S": f"k{n}"}, "blob": {"S": "x" * 1000}}
        await memory_engine.put_item(TableName=TABLE, Item=item)
    everything = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=None, limit=100
    )
    seqs = _seqs(everything.records)
    kept = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[4], limit=100
    )
    assert kept.records[0] is everything.records[5]  # ~1 KB each: the newest one stays
    dropped = await streams.read_lambda_records(
        stream_arn=arn, shard_id=shard, after_sequence=seqs[3], limit=1
    )
    assert dropped.records[0] is not everything.records[4]
    assert dropped.records == everything.records[4:5]


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("kind", [INSERT, MODIFY, REMOVE, REMOVE | SERVICE])  # a TTL deletion
def test_lambda_shape_is_made_in_one_pass(binary: bool, kind: int) -> None:
    """format_record(lambda_arn=) gives what lambda_record and base64_binaries make of
    GetRecords' record, keys in the same order; a record stored as JSON is not walked."""
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2025-01-01T00:00:00.000"
    keys = {"pk": {"S": "k"}}
    image = {**keys, "n": {"N": "1"}, "b": {"B": b"\x00\x01"} if binary else {"S": "x"}}
    old, new = (None, image) if kind == INSERT else (image, image if kind == MODIFY else None)
    data = dump_record_data(keys, old, new, 42)
    assert (data[:1] == b"[") is not binary
    row: dict[str, Any] = {
        "arn": arn, "region": "us-east-1", "view": "NEW_AND_OLD_IMAGES", "seq": 7,
        "created": 1_700_000_000.5, "kind": kind, "data": data,
    }  # fmt: skip
    one_pass = format_record(**row, lambda_arn=arn)
    expected = base64_binaries(lambda_record(format_record(**row), arn))
    assert one_pass == expected
    assert list(one_pass) == list(expected)
    assert list(one_pass["dynamodb"]) == list(expected["dynamodb"])


_VIEWS = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


@settings(max_examples=300)
@given(
    keys=items(max_depth=1),
    first=items(max_depth=3),
    second=items(max_depth=3),
    kind=st.sampled_from([INSERT, MODIFY, REMOVE, REMOVE | SERVICE, MODIFY | SERVICE]),
    view=st.sampled_from(_VIEWS),
    blobs=st.booleans(),
    seq=st.integers(0, 2**62),
    created=st.floats(0, 4e9),
    size=st.integers(0, 800_000),
    names=st.tuples(texts(max_size=30), texts(max_size=60)),
)
def test_lambda_json_is_the_formatted_record_serialised(
    keys: dict[str, Any],
    first: dict[str, Any],
    second: dict[str, Any],
    kind: int,
    view: str,
    blobs: bool,
    seq: int,
    created: float,
    size: int,
    names: tuple[str, str],
) -> None:
    """lambda_json splices the stored JSON into exactly the bytes orjson.dumps makes of
    format_record(lambda_arn=): every event kind (TTL deletions too), every view type, any
    text in the images and the fixed fields; a marshal-stored record (binary values) and a
    version-5 JSON record (no lengths) are left to format_record."""
    old = None if kind & EVENT_KIND == INSERT else first
    new = None if kind & EVENT_KIND == REMOVE else second
    old = old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
    new = new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
    stored = (
        dump_item(old) if blobs and old is not None else None,
        dump_item(new) if blobs and new is not None else None,
    )
    data = dump_record_data(keys, old, new, size, blobs=stored)
    region, arn = names
    row: dict[str, Any] = {
        "arn": arn, "region": region, "view": view, "seq": seq, "created": created,
        "kind": kind, "data": data,
    }  # fmt: skip
    pieces = lambda_pieces(arn=arn, region=region, view=view, lambda_arn=arn + "!")
    spliced = lambda_json(pieces, seq, created, kind, data)
    if data[:1] != b"[":  # binary values: marshal, the formatted path
        assert spliced is None
        return
    expected = format_record(**row, lambda_arn=arn + "!")
    assert spliced == (
        orjson.dumps(expected),
        expected["dynamodb"]["SequenceNumber"],
        size,
    )
    version_5 = data[: data.rfind(b",", 0, data.rfind(b","))] + b"]"  # no lengths
    assert load_record_data(version_5) == load_record_data(data)
    assert lambda_json(pieces, seq, created, kind, version_5) is None


@pytest.mark.parametrize(
    "data",
    [b'[{"pk":{"S":"a"}},null,null,3,99,4]', b'[{"pk":{"S":"a"}},null,null,3,16,9]',
     b'[{"pk":{"S":"a"}},null,null,3,16,4x]'],
)  # fmt: skip
def test_lambda_json_of_a_corrupt_record(data: bytes) -> None:
    with pytest.raises(InternalServerError):
        pieces = lambda_pieces(arn="a", region="r", view="KEYS_ONLY", lambda_arn="a")
        lambda_json(pieces, 1, 0.0, INSERT, data)


@given(
    sizes=st.lists(
        st.one_of(st.integers(0, 400_000), st.sampled_from([0, 1, 1_048_576, 1_048_577])),
        max_size=40,
    )
)
def test_packed_pages_stop_where_the_record_by_record_rule_does(sizes: list[int]) -> None:
    """_packed_megabyte (cumulative sizes bisected in C) keeps exactly the records
    _first_megabyte's loop keeps: up to the one that passes 1 MB, at least one."""
    packed = [(b"{}", n, str(n), 0.0, size) for n, size in enumerate(sizes)]
    assert _packed_megabyte(packed) == _first_megabyte(packed)


def test_creation_times_are_written_once_a_second_and_kept_bounded() -> None:
    """lambda_json's ApproximateCreationDateTime is the whole second, however many seconds a
    process sees (the cache of their JSON is cleared, not grown)."""
    pieces = lambda_pieces(arn="a", region="r", view="KEYS_ONLY", lambda_arn="a")
    data = dump_record_data({"pk": {"S": "k"}}, None, None, 9)
    for created in [1.5, 1.9, 2.0, *(1e9 + n + 0.25 for n in range(3 * _STAMPS_KEPT))]:
        spliced = lambda_json(pieces, 7, created, INSERT, data)
        assert spliced is not None
        record = orjson.loads(spliced[0])
        assert record["dynamodb"]["ApproximateCreationDateTime"] == float(int(created))
        assert len(_STAMPS) <= _STAMPS_KEPT


@given(
    arns=st.lists(texts(min_size=1, max_size=40), min_size=1, max_size=4, unique=True),
    seqs=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20, unique=True),
)
def test_event_ids_are_32_hex_digits_stable_and_unique(arns: list[str], seqs: list[int]) -> None:
    """eventID (stream_event_id): 32 lower-case hex digits, the same for a record however often
    it is made, different for any two records (sequence numbers within a stream; ARNs across
    streams), and what lambda_packed writes into the record's JSON."""
    seen: dict[str, tuple[str, int]] = {}
    for arn in arns:
        pieces = lambda_pieces(arn=arn, region="r", view="KEYS_ONLY", lambda_arn=arn)
        data = dump_record_data({"pk": {"S": "k"}}, None, None, 9)
        for seq in seqs:
            wire = sequence_number(seq)
            made = stream_event_id(arn, wire)
            assert re.fullmatch(r"[0-9a-f]{32}", made)
            assert stream_event_id(arn, wire) == made
            assert seen.setdefault(made, (arn, seq)) == (arn, seq)
            packed = lambda_packed(pieces, seq, 1.0, INSERT, data)
            assert packed is not None
            assert orjson.loads(packed[0])["eventID"] == made


def test_event_ids_of_hand_made_sequence_numbers() -> None:
    """A sequence number streamkit never makes (a hand-made record's, or past 2**64 of the
    counter) still gets a 32-hex-digit eventID: the MD5 of ``arn|sequence``; lambda_packed
    leaves such a record to format_record, which agrees."""
    for wire in ("abc", "7", str(SEQUENCE_BASE + 2**64)):
        made = stream_event_id("arn", wire)
        assert made == hashlib.md5(f"arn|{wire}".encode()).hexdigest()
    pieces = lambda_pieces(arn="a", region="r", view="KEYS_ONLY", lambda_arn="a")
    data = dump_record_data({"pk": {"S": "k"}}, None, None, 9)
    assert lambda_packed(pieces, 2**64, 1.0, INSERT, data) is None
    record = format_record(
        arn="a", region="r", view="KEYS_ONLY", seq=2**64, created=1.0, kind=INSERT, data=data
    )
    assert record["eventID"] == stream_event_id("a", sequence_number(2**64))
