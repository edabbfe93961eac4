"""Stream records keyed by row id (schema version 8): a shard's records have the row ids
``sid * SHARD_SPAN + seq - start_seq``, with no ``(sid, seq)`` index; a shard whose range is
full is rolled over; a schema-7 file (commit-order row ids and the index) is converted."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import anyio
import pytest

import streamkit
from streamkit.errors import DatabaseFileError
from streamkit.storage import changes
from streamkit.storage.tables import SCHEMA_VERSION
from streamkit.testing import ManualClock
from tests.streams.helpers import read_shard, read_stream, shard_iterator, shards, stream_table


async def _puts_together(engine: streamkit.Engine, keys: list[str], value: str) -> None:
    """Put one item a key at once, so they share write batches (block rows)."""

    async def put(key: str) -> None:
        await engine.put_item(TableName="orders", Item={"pk": {"S": key}, "v": {"S": value}})

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(put, key)


def _row_ids(conn: sqlite3.Connection) -> list[tuple[int, int, int, int, int]]:
    """Return (rid, sid, seq, kind, the shard's start_seq) of every record row."""
    return conn.execute(
        "SELECT r.rid, r.sid, r.seq, r.kind, sh.start_seq FROM sk_records r "
        "JOIN sk_shards sh ON sh.sid = r.sid ORDER BY r.rid"
    ).fetchall()


def _rewind_to_schema_7(path: Path) -> None:
    """Give the records table schema 7's layout: row ids in commit order, a (sid, seq) index."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE x AS SELECT sid, seq, created, kind, data FROM sk_records ORDER BY seq"
        )
        conn.execute("DROP TABLE sk_records")
        conn.execute(
            "CREATE TABLE sk_records (sid INTEGER NOT NULL, seq INTEGER NOT NULL, "
            "created REAL NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL)"
        )
        conn.execute("CREATE UNIQUE INDEX sk_records_key ON sk_records(sid, seq)")
        conn.execute("INSERT INTO sk_records SELECT * FROM x ORDER BY seq")
        conn.execute("DROP TABLE x")
        conn.execute("PRAGMA user_version = 7")
    conn.close()


async def test_a_record_s_row_id_is_its_shard_s_range_and_offset(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, stream_shards=3) as engine:
        await stream_table(engine)
        for n in range(6):
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
        await _puts_together(engine, [f"k{n}" for n in range(12)], "x")
        rows = await engine.store.read(_row_ids)
        assert any(kind < 0 for *_, kind, _ in rows)  # blocks among them
        assert len({sid for _, sid, *_ in rows}) == 3
        for rid, sid, seq, _, start in rows:
            assert rid == sid * changes.SHARD_SPAN + seq - start
            assert 0 < seq - start < changes.SHARD_SPAN
        indexes = await engine.store.read(
            lambda conn: conn.execute("PRAGMA index_list(sk_records)").fetchall()
        )
        assert indexes == []


async def test_upgrade_from_schema_7_keeps_records(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "v7.sqlite3"
    async with streamkit.open_engine(path, clock=clock, stream_shards=2) as engine:
        arn = await stream_table(engine)
        for n in range(5):  # one-record rows
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
        await _puts_together(engine, [f"k{n}" for n in range(10)], "a")  # blocks
        before = await read_stream(engine, arn)
        by_shard = {
            shard["ShardId"]: await read_shard(engine, arn, shard["ShardId"])
            for shard in await shards(engine, arn)
        }
        shard_of_middle = max(by_shard, key=lambda shard_id: len(by_shard[shard_id]))
        # the last batch's records of the shard are one block: its last but one is inside it
        middle = by_shard[shard_of_middle][-2]["dynamodb"]["SequenceNumber"]
    _rewind_to_schema_7(path)
    async with streamkit.open_engine(path, clock=clock, stream_shards=2) as engine:
        assert await read_stream(engine, arn) == before
        it = await shard_iterator(engine, arn, shard_of_middle, "AFTER_SEQUENCE_NUMBER", middle)
        page = await engine.streams.get_records(ShardIterator=it)
        expected = [
            r
            for r in await read_shard(engine, arn, shard_of_middle)
            if int(r["dynamodb"]["SequenceNumber"]) > int(middle)
        ]
        assert expected
        assert page["Records"] == expected
        await _puts_together(engine, [f"k{n}" for n in range(10)], "b")
        after = await read_stream(engine, arn)
        assert [r for r in after if r in before] == before
        assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in after if r not in before) == sorted(
            f"k{n}" for n in range(10)
        )
        rows = await engine.store.read(_row_ids)
        for rid, sid, seq, _, start in rows:
            assert rid == sid * changes.SHARD_SPAN + seq - start
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (8,)
        assert conn.execute("PRAGMA index_list(sk_records)").fetchall() == []
    conn.close()


async def test_a_full_range_rolls_the_shard_over(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "SHARD_SPAN", 8)
    async with streamkit.open_engine(None, clock=clock) as engine:
        arn = await stream_table(engine)
        written: list[str] = []
        for n in range(10):
            await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "n": {"N": str(n)}})
            written.append(str(n))

        async def put(m: int) -> None:
            await engine.put_item(
                TableName="orders", Item={"pk": {"S": f"b{m}"}, "n": {"N": str(m)}}
            )

        for n in range(10, 30, 10):  # batches: records of one batch on both sides of a roll
            async with anyio.create_task_group() as tg:
                for m in range(n, n + 10):
                    tg.start_soon(put, m)
        found = await shards(engine, arn)
        assert len(found) >= 4
        for parent, child in itertools.pairwise(found):
            assert child["ParentShardId"] == parent["ShardId"]
        for shard in found:
            span = shard["SequenceNumberRange"]
            start = int(span["StartingSequenceNumber"])
            for record in await read_shard(engine, arn, shard["ShardId"]):
                assert 0 < int(record["dynamodb"]["SequenceNumber"]) - start < 8
        records = await read_stream(engine, arn)
        assert [r["dynamodb"]["NewImage"]["n"]["N"] for r in records[:10]] == written
        assert sorted(int(r["dynamodb"]["NewImage"]["n"]["N"]) for r in records[10:]) == list(
            range(10, 30)
        )
        sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert sequence == sorted(sequence)
        rows = await engine.store.read(_row_ids)
        for rid, sid, seq, _, start in rows:
            assert rid == sid * 8 + seq - start


async def test_a_schema_7_record_outside_its_shard_s_range_is_refused(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v7.sqlite3"
    async with streamkit.open_engine(path, clock=clock) as engine:
        await stream_table(engine)
        for n in range(12):
            await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "n": {"N": str(n)}})
    _rewind_to_schema_7(path)
    monkeypatch.setattr(changes, "SHARD_SPAN", 8)  # 12 records no longer fit the shard
    with pytest.raises(DatabaseFileError, match="outside their shard's sequence range"):
        async with streamkit.open_engine(path, clock=clock):
            pass
    monkeypatch.undo()
    async with streamkit.open_engine(path, clock=clock) as engine:  # unchanged: still opens
        records = await engine.store.read(_row_ids)
        assert len(records) == 12
