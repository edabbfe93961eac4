"""Shards: key placement, rollover lineage, sequence numbers, retention, waking readers."""

from __future__ import annotations

import marshal
import sqlite3
from pathlib import Path

import anyio
import pytest

import streamkit
from streamkit.engine.keys import encode_partition
from streamkit.errors import (
    DatabaseFileError,
    TrimmedDataAccessException,
    ValidationException,
)
from streamkit.storage.tables import SCHEMA_VERSION
from streamkit.streams import maintain_once
from streamkit.testing import ManualClock
from tests.conftest import key_schema
from tests.streams.helpers import read_shard, read_stream, shard_iterator, shards, stream_table

HOUR = 3600.0
MINUTE = 60.0


async def test_one_shard_by_default(memory_engine: streamkit.Engine) -> None:
    arn = await stream_table(memory_engine)
    assert len(await shards(memory_engine, arn)) == 1  # as a new DynamoDB table's stream


async def test_keys_spread_over_shards_and_stay_put(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, stream_shards=4) as engine:
        arn = await stream_table(engine)
        for round_ in range(2):
            for n in range(40):
                await engine.put_item(
                    TableName="orders", Item={"pk": {"S": f"k{n}"}, "r": {"N": str(round_)}}
                )
        placement: dict[str, set[str]] = {}
        used = 0
        for shard in await shards(engine, arn):
            records = await read_shard(engine, arn, shard["ShardId"])
            used += bool(records)
            for r in records:
                placement.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], set()).add(shard["ShardId"])
    assert used == 4  # four shards, all in use with 40 keys
    assert all(len(v) == 1 for v in placement.values())


async def test_rollover_lineage_and_sequence_numbers(clock: ManualClock) -> None:
    async with streamkit.open_engine(
        None, clock=clock, stream_shards=1, shard_rollover_seconds=HOUR
    ) as engine:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        clock.advance(HOUR)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "n": {"N": "2"}})
        clock.advance(HOUR)
        await maintain_once(engine, clock.now())  # rolls an idle shard too
        found = await shards(engine, arn)
        assert len(found) == 3
        parent, child, grandchild = found
        assert "ParentShardId" not in parent
        assert child["ParentShardId"] == parent["ShardId"]
        assert grandchild["ParentShardId"] == child["ShardId"]
        assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
        assert "EndingSequenceNumber" in child["SequenceNumberRange"]
        assert "EndingSequenceNumber" not in grandchild["SequenceNumberRange"]
        records = await read_stream(engine, arn)
        assert [r["dynamodb"]["NewImage"]["n"]["N"] for r in records] == ["1", "2"]
        bounds = [
            int(s["SequenceNumberRange"][k])
            for s in found[:2]
            for k in ("StartingSequenceNumber", "EndingSequenceNumber")
        ]
        assert bounds == sorted(bounds)
        first = await read_shard(engine, arn, parent["ShardId"])
        assert int(first[0]["dynamodb"]["SequenceNumber"]) <= bounds[1]


async def test_retention_trims_and_drops(clock: ManualClock) -> None:
    async with streamkit.open_engine(
        None, clock=clock, stream_shards=1, stream_retention_seconds=10 * MINUTE
    ) as engine:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "old"}})
        shard_id = (await shards(engine, arn))[0]["ShardId"]
        old_seq = (await read_shard(engine, arn, shard_id))[0]["dynamodb"]["SequenceNumber"]
        at_old = await shard_iterator(engine, arn, shard_id, "AT_SEQUENCE_NUMBER", old_seq)
        clock.advance(6 * MINUTE)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "new"}})
        clock.advance(5 * MINUTE)
        upkeep = await maintain_once(engine, clock.now())
        assert upkeep.trimmed == 1
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in await read_stream(engine, arn)]
        assert keys == ["new"]
        first = (await shards(engine, arn))[0]["ShardId"]
        with pytest.raises(TrimmedDataAccessException):
            await shard_iterator(engine, arn, first, "AT_SEQUENCE_NUMBER", old_seq)
        with pytest.raises(TrimmedDataAccessException):
            await engine.streams.get_records(ShardIterator=at_old)
        # disable: the stream stays listed until its records are gone, then disappears
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        clock.advance(9 * MINUTE)
        await maintain_once(engine, clock.now())
        assert len((await engine.streams.list_streams())["Streams"]) == 1
        clock.advance(2 * MINUTE)
        upkeep = await maintain_once(engine, clock.now())
        assert upkeep.streams_dropped == 1
        assert (await engine.streams.list_streams())["Streams"] == []


async def test_wait_for_records_wakes_after_commit(memory_engine: streamkit.Engine) -> None:
    engine = memory_engine
    arn = await stream_table(engine)
    its = [
        (
            await engine.streams.get_shard_iterator(
                StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="LATEST"
            )
        )["ShardIterator"]
        for s in await shards(engine, arn)
    ]
    woken: list[int] = []

    async def wait(n: int) -> None:
        await engine.streams.wait_for_records(its[n])
        woken.append(n)

    async with anyio.create_task_group() as tg:
        for n in range(len(its)):
            tg.start_soon(wait, n)
        await anyio.wait_all_tasks_blocked()
        assert woken == []
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        with anyio.fail_after(5):
            while not woken:
                await anyio.lowlevel.checkpoint()
        assert len(woken) == 1
        page = await engine.streams.get_records(ShardIterator=its[woken[0]])
        assert len(page["Records"]) == 1
        tg.cancel_scope.cancel()
    # an iterator already behind the newest record returns at once
    await engine.streams.wait_for_records(its[woken[0]])


async def test_upgrade_from_schema_1(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "old.sqlite3"
    async with streamkit.open_engine(path, clock=clock) as engine:
        await engine.create_table(
            TableName="legacy",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    with sqlite3.connect(path) as conn:  # rewind to schema 1
        (table,) = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 't_%'").fetchone()
        conn.execute(f'CREATE TABLE x AS SELECT hk, rk, item, size FROM "{table}"')
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute(
            f'CREATE TABLE "{table}" (hk BLOB NOT NULL, rk BLOB NOT NULL, item BLOB NOT NULL, '
            "size INTEGER NOT NULL, PRIMARY KEY (hk, rk)) WITHOUT ROWID"
        )
        conn.execute("DROP TABLE x")
        for name in ("sk_streams", "sk_shards", "sk_records", "sk_ttl", "sk_meta"):
            conn.execute(f"DROP TABLE {name}")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    async with streamkit.open_engine(path, clock=clock) as engine:
        await engine.update_time_to_live(
            TableName="legacy", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        await engine.put_item(TableName="legacy", Item={"pk": {"S": "a"}, "exp": {"N": "1"}})
        assert (await engine.streams.list_streams())["Streams"] == []


async def test_upgrade_from_schema_2_keeps_records(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "v2.sqlite3"
    async with streamkit.open_engine(path, clock=clock, stream_shards=4) as engine:
        arn = await stream_table(engine)  # four shards, as version 2 made by default
        for n in range(30):
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
        before = await read_stream(engine, arn)
    with sqlite3.connect(path) as conn:  # rewind the records table to schema 2's layout
        conn.execute("CREATE TABLE x AS SELECT sid, seq, created, kind, data FROM sk_records")
        conn.execute("DROP TABLE sk_records")
        conn.execute(
            "CREATE TABLE sk_records (sid INTEGER NOT NULL, seq INTEGER NOT NULL, "
            "created REAL NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL, "
            "PRIMARY KEY (sid, seq)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO sk_records SELECT * FROM x")
        conn.execute("DROP TABLE x")
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    async with streamkit.open_engine(path, clock=clock) as engine:
        assert await read_stream(engine, arn) == before
        await engine.put_item(TableName="orders", Item={"pk": {"S": "k0"}, "n": {"N": "1"}})
        after = await read_stream(engine, arn)
        assert [r for r in after if r in before] == before
        assert [r["eventName"] for r in after if r not in before] == ["MODIFY"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        indexes = conn.execute("PRAGMA index_list(sk_records)").fetchall()
        assert indexes == []  # schema 8: the row id is the key (storage.changes)
    conn.close()


async def test_upgrade_from_schema_3_reads_marshal_rows(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    item = {"pk": {"S": "a"}, "n": {"N": "1"}}
    async with streamkit.open_engine(path) as engine:
        await engine.create_table(TableName="orders", **key_schema())
        await engine.put_item(TableName="orders", Item=item)
    with sqlite3.connect(path) as conn:  # rewind to schema 3, which stored items with marshal
        (table,) = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 't_%'").fetchone()
        conn.execute(f'UPDATE "{table}" SET item = ?', (b"\x01" + marshal.dumps(item, 4),))
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    async with streamkit.open_engine(path) as engine:
        assert (await engine.scan(TableName="orders"))["Items"] == [item]
        await engine.put_item(TableName="orders", Item={"pk": {"S": "b"}})
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        tags = sorted(row[0][0] for row in conn.execute(f'SELECT item FROM "{table}"'))
    conn.close()
    assert tags == [1, 2]  # the old row as it was, the new one as JSON


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    async with streamkit.open_engine(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DatabaseFileError, match="written by a newer streamkit") as info:
        async with streamkit.open_engine(path):
            pass
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


async def test_a_rolled_back_rollover_is_not_remembered(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, shard_rollover_seconds=300) as engine:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        clock.advance(400)  # the open shard rolls over on its next write
        item = {"pk": {"S": "b"}}

        def roll_then_fail(conn: sqlite3.Connection) -> None:
            for _ in range(2):  # the first append rolls the shard over, the second finds the child
                engine._changes.append(  # white-box: a rollover inside a failing write
                    conn,
                    arn=arn,
                    view="NEW_AND_OLD_IMAGES",
                    key_names=("pk",),
                    partition=encode_partition(item["pk"]),
                    old=None,
                    new=item,
                    now=clock.now(),
                )
            raise ValidationException("rolled back")

        with pytest.raises(ValidationException):
            await engine.store.write(roll_then_fail)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "c"}})
        records = await read_stream(engine, arn)
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["a", "c"]
        listed = await shards(engine, arn)
        assert len(listed) == 2  # the first shard and the child the last put rolled over to
        assert sum("EndingSequenceNumber" not in s["SequenceNumberRange"] for s in listed) == 1
