"""Stream records in blocks (schema version 7): a write batch's records of one shard are one
row, written right before its COMMIT; rolled-back operations leave none of theirs; readers
see the same records, one by one, as before (iterators anywhere inside a block, trims, counts,
closing shards, the schema-6 upgrade)."""

from __future__ import annotations

import marshal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.engine.keys import encode_partition
from streamkit.errors import (
    ConditionalCheckFailedException,
    DatabaseFileError,
    InternalServerError,
    TrimmedDataAccessException,
    ValidationException,
)
from streamkit.model.attributes import item_size
from streamkit.storage import changes, checkpoints, tables
from streamkit.storage.codec import dump_item
from streamkit.storage.tables import SCHEMA_VERSION
from streamkit.streams import maintain_once
from streamkit.testing import ManualClock
from tests.strategies import items
from tests.streams.helpers import read_shard, read_stream, shards, stream_table

MINUTE = 60.0
KEYS = [f"k{n}" for n in range(6)]


def _append(
    engine: streamkit.Engine,
    conn: sqlite3.Connection,
    arn: str,
    key: str,
    now: float,
    value: str | None = None,
) -> None:
    """Append an INSERT record of ``{"pk": key}`` (and ``"v": value`` if given; white-box:
    inside a store operation)."""
    item: dict[str, Any] = {"pk": {"S": key}}
    if value is not None:
        item["v"] = {"S": value}
    engine._changes.append(
        conn,
        arn=arn,
        view="NEW_AND_OLD_IMAGES",
        key_names=("pk",),
        partition=encode_partition(item["pk"]),
        old=None,
        new=item,
        now=now,
    )


def _block_rows(engine: streamkit.Engine) -> list[tuple[int, int]]:
    """Return (seq, -kind) of every block row (kind < 0) in the records table."""
    return engine.store.read_now(
        lambda conn: conn.execute("SELECT seq, -kind FROM sk_records WHERE kind < 0").fetchall()
    )


async def _together(*calls: Any) -> list[BaseException | None]:
    """Run ``calls`` (no-argument async functions) at once, so they share write batches;
    return each one's exception or None."""
    outcomes: list[BaseException | None] = [None] * len(calls)

    async def one(index: int) -> None:
        try:
            await calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as tg:
        for index in range(len(calls)):
            tg.start_soon(one, index)
    return outcomes


def _records(found: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [
        (
            r["eventName"],
            r["dynamodb"]["Keys"]["pk"]["S"],
            (r["dynamodb"].get("NewImage") or {}).get("v", {}).get("N"),
        )
        for r in found
    ]


async def test_a_batch_writes_one_block_per_shard(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, stream_shards=2) as engine:
        arn = await stream_table(engine)
        puts = [
            lambda n=n: engine.put_item(
                TableName="orders", Item={"pk": {"S": f"k{n}"}, "v": {"N": "1"}}
            )
            for n in range(20)
        ]
        assert await _together(*puts) == [None] * 20
        blocks = _block_rows(engine)
        assert blocks, "twenty puts at once made no block"
        assert len(blocks) <= 2 * engine.store.statistics().commits
        records = await read_stream(engine, arn)
        assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) == sorted(
            f"k{n}" for n in range(20)
        )
        for shard in await shards(engine, arn):
            seqs = [
                int(r["dynamodb"]["SequenceNumber"])
                for r in await read_shard(engine, arn, shard["ShardId"])
            ]
            assert seqs == sorted(set(seqs))


ops = st.lists(  # batches of (key, value, how): "ok", "fails" (a failed condition), "undone"
    st.dictionaries(
        st.sampled_from(KEYS),
        st.tuples(st.integers(0, 9), st.sampled_from(["ok", "ok", "fails", "undone"])),
        min_size=1,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=30, deadline=None)
@given(batches=ops, shard_count=st.sampled_from([1, 3]))
async def test_blocks_hold_exactly_the_committed_changes(
    batches: list[dict[str, tuple[int, str]]], shard_count: int
) -> None:
    clock = ManualClock()
    async with streamkit.open_engine(None, clock=clock, stream_shards=shard_count) as engine:
        arn = await stream_table(engine)
        model: dict[str, str] = {}
        expected: dict[str, list[tuple[str, str, str | None]]] = {k: [] for k in KEYS}
        for batch in batches:
            calls = []
            for key, (value, how) in batch.items():
                item = {"pk": {"S": key}, "v": {"N": str(value)}}
                if how == "ok":
                    calls.append(lambda item=item: engine.put_item(TableName="orders", Item=item))
                elif how == "fails":  # a failed condition: its savepoint is rolled back
                    calls.append(
                        lambda item=item: engine.put_item(
                            TableName="orders",
                            Item=item,
                            ConditionExpression="attribute_exists(nope)",
                        )
                    )
                else:  # appends two records, then fails: both must vanish with its savepoint

                    def undone(conn: sqlite3.Connection, key: str = key) -> None:
                        _append(engine, conn, arn, key, clock.now())
                        _append(engine, conn, arn, key + "-ghost", clock.now())
                        raise ValidationException("rolled back")

                    calls.append(lambda undone=undone: engine.store.write(undone))
            outcomes = await _together(*calls)
            for (key, (value, how)), outcome in zip(batch.items(), outcomes, strict=True):
                if how == "ok":
                    assert outcome is None
                    if model.get(key) != str(value):
                        name = "INSERT" if key not in model else "MODIFY"
                        expected[key].append((name, key, str(value)))
                        model[key] = str(value)
                else:
                    expected_error = (
                        ConditionalCheckFailedException if how == "fails" else ValidationException
                    )
                    assert isinstance(outcome, expected_error)
            clock.advance(1)
        got: dict[str, list[tuple[str, str, str | None]]] = {k: [] for k in KEYS}
        for record in _records(await read_stream(engine, arn)):
            assert record[1] in got, f"a rolled-back record was read: {record}"
            got[record[1]].append(record)
        assert got == expected


async def test_a_failed_batch_leaves_no_record(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)

        def breaks_the_transaction(conn: sqlite3.Connection) -> None:
            _append(engine, conn, arn, "lost", clock.now())
            conn.execute("ROLLBACK")  # the whole batch is gone: every op fails
            raise ValidationException("the transaction is gone")

        def appends(key: str) -> Any:
            return lambda: engine.store.write(
                lambda conn: _append(engine, conn, arn, key, clock.now())
            )

        outcomes = await _together(  # raw store writes: the engine's retries would hide it
            appends("a"), lambda: engine.store.write(breaks_the_transaction), appends("b")
        )
        assert all(isinstance(outcome, InternalServerError) for outcome in outcomes), outcomes
        await engine.put_item(TableName="orders", Item={"pk": {"S": "c"}})
        assert _records(await read_stream(engine, arn)) == [("INSERT", "c", None)]


async def _one_block(engine: streamkit.Engine, arn: str, keys: list[str]) -> list[int]:
    """Append a record per key in one operation (one block); return their sequence numbers."""
    now = engine.clock.now()

    def write(conn: sqlite3.Connection) -> None:
        for key in keys:
            _append(engine, conn, arn, key, now)

    await engine.store.write(write)
    return [
        int(r["dynamodb"]["SequenceNumber"])
        for r in await read_stream(engine, arn)
        if r["dynamodb"]["Keys"]["pk"]["S"] in keys
    ]


async def test_iterators_at_every_sequence_number_inside_blocks(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "before"}})
        first = await _one_block(engine, arn, [f"a{n}" for n in range(9)])
        second = await _one_block(engine, arn, [f"b{n}" for n in range(5)])
        assert [count for _, count in _block_rows(engine)] == [9, 5]
        shard_id = (await shards(engine, arn))[0]["ShardId"]
        everything = await read_shard(engine, arn, shard_id)
        seqs = [r["dynamodb"]["SequenceNumber"] for r in everything]
        assert [int(s) for s in seqs[1:]] == first + second
        for index, seq in enumerate(seqs):
            for kind, start in (
                ("AT_SEQUENCE_NUMBER", index),
                ("AFTER_SEQUENCE_NUMBER", index + 1),
            ):
                it = (
                    await engine.streams.get_shard_iterator(
                        StreamArn=arn,
                        ShardId=shard_id,
                        ShardIteratorType=kind,
                        SequenceNumber=seq,
                    )
                )["ShardIterator"]
                got: list[dict[str, Any]] = []
                while True:  # pages of 4 end in the middle of blocks
                    page = await engine.streams.get_records(ShardIterator=it, Limit=4)
                    got.extend(page["Records"])
                    if not page["Records"]:
                        break
                    it = page["NextShardIterator"]
                assert got == everything[start:], (kind, index)
        conn = engine.store.read_now(lambda conn: conn)  # the writer's, between batches
        sid = conn.execute("SELECT sid FROM sk_shards").fetchone()[0]
        stored = [int(seq) - changes.SEQUENCE_BASE for seq in seqs]
        for index, seq in enumerate(stored):
            assert changes.count_after(conn, sid, seq) == len(seqs) - index - 1
            assert checkpoints.pending(conn, arn, shard_id, seq) == len(seqs) - index - 1
            assert checkpoints.pending(conn, arn, shard_id, seq - 1) == len(seqs) - index
        assert checkpoints.pending(conn, arn, shard_id, None) == len(seqs)
        assert checkpoints.shard_head(conn, arn, shard_id) == stored[-1]
        latest = (
            await engine.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST"
            )
        )["ShardIterator"]
        assert (await engine.streams.get_records(ShardIterator=latest))["Records"] == []
        await _one_block(engine, arn, ["c0", "c1"])
        page = await engine.streams.get_records(ShardIterator=latest)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["c0", "c1"]


async def test_retention_trims_whole_blocks_and_the_old_start_of_one(clock: ManualClock) -> None:
    async with streamkit.open_engine(
        None, clock=clock, stream_shards=1, stream_retention_seconds=10 * MINUTE
    ) as engine:
        arn = await stream_table(engine)
        await _one_block(engine, arn, ["old0", "old1", "old2"])
        clock.advance(4 * MINUTE)
        start = clock.now()

        def straddling(conn: sqlite3.Connection) -> None:  # one block, created 4 minutes apart
            _append(engine, conn, arn, "mid0", start)
            _append(engine, conn, arn, "mid1", start + 4 * MINUTE)

        await engine.store.write(straddling)
        clock.advance(5 * MINUTE)
        await _one_block(engine, arn, ["new0", "new1"])
        shard_id = (await shards(engine, arn))[0]["ShardId"]
        mid = [
            r["dynamodb"]["SequenceNumber"]
            for r in await read_shard(engine, arn, shard_id)
            if r["dynamodb"]["Keys"]["pk"]["S"].startswith("mid")
        ]
        clock.advance(6 * MINUTE)  # now 15 min: "old" (0) and "mid0" (4 min) are past 10 min
        upkeep = await maintain_once(engine, clock.now())
        assert upkeep.trimmed == 3  # the first block went whole; "mid0" is trimmed in place
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in await read_stream(engine, arn)]
        assert keys == ["mid1", "new0", "new1"]
        with pytest.raises(TrimmedDataAccessException):
            await engine.streams.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=mid[0],
            )
        at_mid1 = (
            await engine.streams.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=mid[1],
            )
        )["ShardIterator"]
        page = await engine.streams.get_records(ShardIterator=at_mid1)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == [
            "mid1",
            "new0",
            "new1",
        ]
        assert (await maintain_once(engine, clock.now())).trimmed == 0  # nothing more is due


async def test_blocks_are_bounded_by_records_and_bytes(clock: ManualClock) -> None:
    """A batch's records of one shard are split into blocks of at most BLOCK_RECORDS records
    and about BLOCK_BYTES of data (a reader unpacks a whole block for any of it, and a row
    has a size limit); a record over BLOCK_BYTES is a plain row of its own."""
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)
        count = 2 * changes.BLOCK_RECORDS + 44
        keys = [f"n{n:04d}" for n in range(count)]
        await _one_block(engine, arn, keys)
        assert sorted(size for _, size in _block_rows(engine)) == [
            44,
            changes.BLOCK_RECORDS,
            changes.BLOCK_RECORDS,
        ]
        found = [r["dynamodb"]["Keys"]["pk"]["S"] for r in await read_stream(engine, arn)]
        assert found == keys

        big = "x" * (changes.BLOCK_BYTES * 2 // 5)  # two such records fit a block, not three
        now = clock.now()

        def write(conn: sqlite3.Connection) -> None:
            for n in range(5):
                _append(engine, conn, arn, f"big{n}", now, big)

        before = set(_block_rows(engine))
        await engine.store.write(write)
        assert sorted(size for _, size in set(_block_rows(engine)) - before) == [2, 2]
        rows = engine.store.read_now(
            lambda conn: conn.execute("SELECT kind, length(data) FROM sk_records").fetchall()
        )
        assert max(length for _, length in rows) <= changes.BLOCK_BYTES + 1024
        found = [r["dynamodb"]["Keys"]["pk"]["S"] for r in await read_stream(engine, arn)]
        assert found == keys + [f"big{n}" for n in range(5)]


async def test_counts_skip_records_trimmed_inside_a_kept_block(clock: ManualClock) -> None:
    """A mapping's lag (pending_records) does not count the records retention trimmed at the
    start of a block it kept, as GetRecords does not return them."""
    async with streamkit.open_engine(
        None, clock=clock, stream_shards=1, stream_retention_seconds=10 * MINUTE
    ) as engine:
        arn = await stream_table(engine)
        start = clock.now()

        def straddling(conn: sqlite3.Connection) -> None:  # one block, 4 minutes apart
            for n in range(5):
                _append(engine, conn, arn, f"m{n}", start + 4 * MINUTE * n)

        await engine.store.write(straddling)
        shard_id = (await shards(engine, arn))[0]["ShardId"]
        clock.advance(15 * MINUTE)  # m0 (0 min) and m1 (4 min) are past the 10 minutes
        await maintain_once(engine, clock.now())
        kept = [r["dynamodb"]["Keys"]["pk"]["S"] for r in await read_shard(engine, arn, shard_id)]
        assert kept == ["m2", "m3", "m4"]
        assert await engine.backend.pending_records(arn, shard_id, None) == 3


async def test_a_deleted_stream_is_forgotten_on_the_writer(
    clock: ManualClock, tmp_path: Path
) -> None:
    """The change log forgets a deleted stream's counter inside the batch that deletes it,
    on the writer's thread (a threaded store, durability "full"), never on the event loop
    while another batch may be running on that thread."""
    threads: list[int] = []
    async with streamkit.open_engine(
        tmp_path / "t.sqlite3", clock=clock, durability="full", stream_retention_seconds=MINUTE
    ) as engine:
        forget = engine._changes.forget_stream

        def spy(stid: int) -> None:
            threads.append(threading.get_ident())
            forget(stid)

        engine._changes.forget_stream = spy  # type: ignore[method-assign]
        await stream_table(engine)
        await engine.delete_table(TableName="orders")
        clock.advance(2 * MINUTE)
        await maintain_once(engine, clock.now())
    assert threads, "no stream was forgotten"
    assert threading.get_ident() not in threads


async def test_closing_a_shard_counts_the_batch_s_buffered_records(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)

        def append_then_disable(conn: sqlite3.Connection) -> None:
            for key in ("a", "b", "c"):
                _append(engine, conn, arn, key, clock.now())
            engine._changes.disable_stream(conn, arn, clock.now())

        await engine.store.write(append_then_disable)
        (shard,) = await shards(engine, arn)
        records = await read_shard(engine, arn, shard["ShardId"])
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["a", "b", "c"]
        ending = int(shard["SequenceNumberRange"]["EndingSequenceNumber"])
        assert ending == int(records[-1]["dynamodb"]["SequenceNumber"])


async def test_upgrade_from_schema_6_keeps_records(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v6.sqlite3"
    async with streamkit.open_engine(path, clock=clock, stream_shards=2) as engine:
        arn = await stream_table(engine)
        for n in range(12):  # one at a time: one-record rows, as schema 6 wrote every record
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}, "v": {"N": "1"}})
        assert _block_rows(engine) == []
        before = await read_stream(engine, arn)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 6")
    conn.close()
    async with streamkit.open_engine(path, clock=clock, stream_shards=2) as engine:
        assert await read_stream(engine, arn) == before
        puts = [
            lambda n=n: engine.put_item(
                TableName="orders", Item={"pk": {"S": f"k{n}"}, "v": {"N": "2"}}
            )
            for n in range(12)
        ]
        assert await _together(*puts) == [None] * 12
        assert _block_rows(engine)
        after = await read_stream(engine, arn)
        assert [r for r in after if r in before] == before
        assert sorted(_records([r for r in after if r not in before])) == sorted(
            ("MODIFY", f"k{n}", "2") for n in range(12)
        )
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (8,)
    conn.close()
    monkeypatch.setattr(tables, "SCHEMA_VERSION", 6)  # a streamkit of schema 6 refuses it
    with pytest.raises(DatabaseFileError, match="written by a newer streamkit"):
        async with streamkit.open_engine(path, clock=clock):
            pass


def test_a_corrupt_block_is_an_internal_error() -> None:
    conn = sqlite3.connect(":memory:")
    changes.create_schema(conn)
    conn.execute("INSERT INTO sk_shards VALUES (1, 1, 's', 0, NULL, 0.0, 0, NULL, NULL, 0)")
    conn.execute(
        f"INSERT INTO sk_records VALUES ({changes.SHARD_SPAN + 5}, 1, 5, 0.0, -2, x'00ff')"
    )
    with pytest.raises(InternalServerError, match="Corrupt"):
        changes.records_after(conn, 1, 0, 10)
    conn.execute("UPDATE sk_records SET data = ?", (marshal.dumps([]),))
    with pytest.raises(InternalServerError, match="Corrupt"):
        changes.records_after(conn, 1, 0, 10)
    conn.close()


async def test_an_equal_item_in_another_order_makes_no_record(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)
        item = {
            "pk": {"S": "a"},
            "n": {"N": "1"},
            "tags": {"SS": ["x", "y"]},
            "m": {"M": {"p": {"S": "1"}, "q": {"S": "2"}}},
        }
        same = {
            "m": {"M": {"q": {"S": "2"}, "p": {"S": "1"}}},
            "tags": {"SS": ["y", "x"]},
            "n": {"N": "1"},
            "pk": {"S": "a"},
        }
        flat, flat_reordered = (
            {"pk": {"S": "b"}, "n": {"N": "1"}},
            {"n": {"N": "1"}, "pk": {"S": "b"}},
        )
        for first, second in ((item, same), (flat, flat_reordered)):
            await engine.put_item(TableName="orders", Item=first)
            await engine.put_item(TableName="orders", Item=second)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "b"}, "n": {"N": "2"}})
        assert [name for name, _, _ in _records(await read_stream(engine, arn))] == [
            "INSERT",
            "INSERT",
            "MODIFY",
        ]


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([1, 7, 100, 333, 500, 999, 1000]), min_size=1, max_size=12),
    most=st.integers(1, 8),
)
def test_a_shard_s_rows_are_those_of_the_record_by_record_split(
    sizes: list[int], most: int
) -> None:
    """``_shard_rows`` (one block without a loop when every record fits it) writes the rows
    ``_rows``'s record-by-record split does, at and around both bounds."""
    records = [(n + 1, 100.0 + n % 3, 2, b"x" * size) for n, size in enumerate(sizes)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(changes, "BLOCK_BYTES", 1000)
        patch.setattr(changes, "BLOCK_RECORDS", most)
        shard = changes._shard(7, 0)
        fast, split = changes._shard_rows(shard, records), list(changes._rows(shard, records))
    # a block's marshal bytes may differ in reference flags (marshal marks an object held
    # elsewhere too), never in what they load to: compare the records a reader gets
    assert [_loaded(row) for row in fast] == [_loaded(row) for row in split]


def _loaded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A record row as it is, a block row with its records unpacked."""
    return (*row[:5], marshal.loads(row[5])) if row[4] < 0 else row


def _captured_record(
    view: str,
    key: dict[str, Any],
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    stored: bool,
) -> tuple[int, bytes] | None:
    """Return the (kind, data) ``ChangeLog.append`` buffers for a change (white-box: the
    shard and counter cached as a write batch finds them), or None for no record."""
    log = changes.ChangeLog()
    log._streams["arn"] = (1, 1)
    log._open[1, 0] = (changes._shard(5, 3), 0.0)
    log._counters[1] = 10
    log.begin()
    blobs = (
        dump_item(old) if stored and old is not None else None,
        dump_item(new) if stored and new is not None else None,
    )
    partition = encode_partition(key)
    conn: Any = None  # a cached shard: the connection is not touched
    if not log.append(conn, "arn", view, ("pk",), partition, old, new, 1.0, blobs=blobs):
        assert log._pending == []
        return None
    assert log._pending is not None
    assert log._sids == [changes._shard(5, 3)]
    ((seq, created, kind, data),) = log._pending
    assert (seq, created) == (11, 1.0)
    return kind, data


@settings(max_examples=300, deadline=None)
@given(
    view=st.sampled_from(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]),
    old=st.none() | items(max_depth=3),
    new=st.none() | items(max_depth=3),
    key=st.sampled_from([{"S": "k"}, {"S": "ключ"}, {"N": "12"}, {"B": b"\x01"}]),
    stored=st.booleans(),
    same=st.booleans(),
)
def test_append_s_records_are_dump_record_data_s(
    view: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    key: dict[str, Any],
    stored: bool,
    same: bool,
) -> None:
    """``ChangeLog.append`` builds a record's data inline: byte for byte what
    :func:`changes.dump_record_data` makes (JSON, or marshal for binary values), with the
    SizeBytes of the keys and kept images, and "no change, no record" as ``items_equal``."""
    if old is not None:
        old = {**old, "pk": key}
    if new is not None:
        new = {**new, "pk": key}
    if same and old is not None:
        new = dict(reversed(old.items()))  # an equal item, its attributes in another order
    found = _captured_record(view, key, old, new, stored)
    if (old is None and new is None) or (
        old is not None and new is not None and changes.items_equal(old, new)
    ):
        assert found is None
        return
    keys = {"pk": key}
    kept_old = old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None
    kept_new = new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None
    size = sum(item_size(image) for image in (keys, kept_old, kept_new) if image is not None)
    kind = changes.REMOVE if new is None else changes.INSERT if old is None else changes.MODIFY
    blobs = (
        dump_item(old) if stored and old is not None else None,
        dump_item(new) if stored and new is not None else None,
    )
    expected = changes.dump_record_data(keys, kept_old, kept_new, size, blobs)
    assert found is not None
    assert found[0] == kind
    if expected[:1] == b"[":  # JSON: byte for byte
        assert found[1] == expected
    else:  # marshal (a binary value): its reference flags follow refcounts; what loads counts
        assert found[1][:1] != b"["
        assert marshal.loads(found[1]) == marshal.loads(expected)
