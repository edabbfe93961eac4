"""StreamSpecification lifecycle, ListStreams, DescribeStream, GetShardIterator, GetRecords."""

from __future__ import annotations

import pytest

import streamkit
from streamkit.errors import (
    ExpiredIteratorException,
    ResourceNotFoundException,
    ValidationException,
)
from streamkit.testing import ManualClock
from tests.conftest import key_schema
from tests.streams.helpers import read_stream, shards, stream_table

ON = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


class TestLifecycle:
    async def test_disable_keeps_latest_arn_and_old_stream_readable(
        self, engine: streamkit.Engine
    ) -> None:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        table = (await engine.describe_table(TableName="orders"))["Table"]
        assert "StreamSpecification" not in table
        assert table["LatestStreamArn"] == arn
        desc = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]
        assert desc["StreamStatus"] == "DISABLED"
        assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in desc["Shards"])
        assert [r["eventName"] for r in await read_stream(engine, arn)] == ["INSERT"]
        # writes after disabling are not recorded anywhere
        await engine.put_item(TableName="orders", Item={"pk": {"S": "b"}})
        assert len(await read_stream(engine, arn)) == 1

    async def test_reenable_makes_a_new_stream(self, engine: streamkit.Engine) -> None:
        first = await stream_table(engine)
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        out = await engine.update_table(TableName="orders", StreamSpecification=ON)
        second = out["TableDescription"]["LatestStreamArn"]
        assert second != first  # even within the same millisecond
        listed = (await engine.streams.list_streams(TableName="orders"))["Streams"]
        assert {s["StreamArn"] for s in listed} == {first, second}
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        assert len(await read_stream(engine, second)) == 1
        assert await read_stream(engine, first) == []

    async def test_writes_follow_the_new_stream_after_reenabling(
        self, engine: streamkit.Engine
    ) -> None:
        """The write path remembers a table's stream ARN with the spec it was made for: a
        write after re-enabling goes to the new stream, never to the one it remembered."""
        first = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        out = await engine.update_table(TableName="orders", StreamSpecification=ON)
        second = out["TableDescription"]["LatestStreamArn"]
        await engine.put_item(TableName="orders", Item={"pk": {"S": "b"}})
        assert [r["dynamodb"]["Keys"] for r in await read_stream(engine, first)] == [
            {"pk": {"S": "a"}}
        ]
        assert [r["dynamodb"]["Keys"] for r in await read_stream(engine, second)] == [
            {"pk": {"S": "b"}}
        ]

    async def test_enable_twice_and_disable_twice(self, engine: streamkit.Engine) -> None:
        await stream_table(engine)
        with pytest.raises(ValidationException, match="already has an enabled stream"):
            await engine.update_table(TableName="orders", StreamSpecification=ON)
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        with pytest.raises(ValidationException, match="no stream to disable"):
            await engine.update_table(
                TableName="orders", StreamSpecification={"StreamEnabled": False}
            )

    async def test_delete_table_disables_stream(self, engine: streamkit.Engine) -> None:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        await engine.delete_table(TableName="orders")
        desc = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]
        assert desc["StreamStatus"] == "DISABLED"
        assert len(await read_stream(engine, arn)) == 1

    async def test_streams_survive_reopen(self, tmp_path: object, clock: ManualClock) -> None:
        path = f"{tmp_path}/db.sqlite3"
        async with streamkit.open_engine(path, clock=clock) as engine:
            arn = await stream_table(engine)
            await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        async with streamkit.open_engine(path, clock=clock) as engine:
            await engine.put_item(TableName="orders", Item={"pk": {"S": "b"}})
            records = await read_stream(engine, arn)
        seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert len(set(seqs)) == 2


class TestListStreams:
    async def test_pagination_and_filter(self, engine: streamkit.Engine) -> None:
        arns = [await stream_table(engine, name) for name in ("aaa", "bbb", "ccc")]
        await engine.create_table(TableName="plain", **key_schema())
        page = await engine.streams.list_streams(Limit=2)
        assert [s["StreamArn"] for s in page["Streams"]] == sorted(arns)[:2]
        rest = await engine.streams.list_streams(
            ExclusiveStartStreamArn=page["LastEvaluatedStreamArn"]
        )
        assert [s["StreamArn"] for s in rest["Streams"]] == sorted(arns)[2:]
        assert "LastEvaluatedStreamArn" not in rest
        assert (await engine.streams.list_streams(TableName="plain"))["Streams"] == []
        only = (await engine.streams.list_streams(TableName="bbb"))["Streams"]
        assert only == [{"StreamArn": arns[1], "TableName": "bbb", "StreamLabel": arns[1][-23:]}]

    @pytest.mark.parametrize("limit", [0, 101, -1])
    async def test_limit_range(self, engine: streamkit.Engine, limit: int) -> None:
        with pytest.raises(ValidationException, match="limit"):
            await engine.streams.list_streams(Limit=limit)

    async def test_errors(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await engine.streams.list_streams(TableName="nothing")
        with pytest.raises(ValidationException):
            await engine.streams.list_streams(ExclusiveStartStreamArn="arn:nope")


class TestDescribeStream:
    async def test_shards_and_pagination(self, tmp_path: object, clock: ManualClock) -> None:
        async with streamkit.open_engine(None, clock=clock, stream_shards=3) as engine:
            arn = await stream_table(engine)
            desc = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]
            assert desc["TableName"] == "orders"
            assert desc["StreamViewType"] == "NEW_AND_OLD_IMAGES"
            assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
            assert desc["StreamStatus"] == "ENABLED"
            assert desc["CreationRequestDateTime"] == clock.now()
            ids = [s["ShardId"] for s in desc["Shards"]]
            assert ids == sorted(ids)
            assert len(ids) == 3
            assert all(28 <= len(i) <= 65 for i in ids)
            assert all(
                "EndingSequenceNumber" not in s["SequenceNumberRange"] for s in desc["Shards"]
            )
            assert [s["ShardId"] for s in await shards(engine, arn)] == ids
            page = await engine.streams.describe_stream(
                StreamArn=arn, ExclusiveStartShardId=ids[-1]
            )
            assert page["StreamDescription"]["Shards"] == []
            # an unknown shard id is not an error
            page = await engine.streams.describe_stream(
                StreamArn=arn, ExclusiveStartShardId="shardId-00000000000000000000-00000000"
            )
            assert len(page["StreamDescription"]["Shards"]) == 3

    async def test_errors(self, engine: streamkit.Engine) -> None:
        arn = await stream_table(engine)
        with pytest.raises(ValidationException):
            await engine.streams.describe_stream(StreamArn="garbage")
        with pytest.raises(ResourceNotFoundException, match=r"Stream: .* not found"):
            await engine.streams.describe_stream(StreamArn=arn.replace("orders", "others"))
        with pytest.raises(ValidationException, match="limit"):
            await engine.streams.describe_stream(StreamArn=arn, Limit=101)


async def _iterator(engine: streamkit.Engine, arn: str, kind: str, **extra: str) -> str:
    out = await engine.streams.get_shard_iterator(
        StreamArn=arn,
        ShardId=extra.pop("shard", None) or (await shards(engine, arn))[0]["ShardId"],
        ShardIteratorType=kind,
        **extra,
    )
    token: str = out["ShardIterator"]
    return token


@pytest.fixture
async def one_shard(clock: ManualClock):  # type: ignore[no-untyped-def]
    async with streamkit.open_engine(None, clock=clock, stream_shards=1) as engine:
        yield engine


class TestIterators:
    async def test_positions(self, one_shard: streamkit.Engine) -> None:
        engine = one_shard
        arn = await stream_table(engine)
        latest = await _iterator(engine, arn, "LATEST")
        for n in range(3):
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
        everything = (await engine.streams.get_records(ShardIterator=latest))["Records"]
        assert len(everything) == 3
        seqs = [r["dynamodb"]["SequenceNumber"] for r in everything]
        assert [int(s) for s in seqs] == sorted(int(s) for s in seqs)
        at = await _iterator(engine, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=seqs[1])
        after = await _iterator(engine, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=seqs[1])
        got_at = (await engine.streams.get_records(ShardIterator=at))["Records"]
        got_after = (await engine.streams.get_records(ShardIterator=after))["Records"]
        assert [r["dynamodb"]["SequenceNumber"] for r in got_at] == seqs[1:]
        assert [r["dynamodb"]["SequenceNumber"] for r in got_after] == seqs[2:]
        start = (await shards(engine, arn))[0]["SequenceNumberRange"]["StartingSequenceNumber"]
        from_start = await _iterator(engine, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=start)
        assert len((await engine.streams.get_records(ShardIterator=from_start))["Records"]) == 3
        late = await _iterator(engine, arn, "LATEST")
        assert (await engine.streams.get_records(ShardIterator=late))["Records"] == []

    async def test_pages_stop_at_one_megabyte(self, one_shard: streamkit.Engine) -> None:
        engine = one_shard
        arn = await stream_table(engine)  # NEW_AND_OLD_IMAGES: an INSERT carries its new image
        for n in range(4):
            item = {"pk": {"S": f"k{n}"}, "big": {"S": "x" * 350_000}}
            await engine.put_item(TableName="orders", Item=item)
        it = await _iterator(engine, arn, "TRIM_HORIZON")
        first = await engine.streams.get_records(ShardIterator=it)
        sizes = [r["dynamodb"]["SizeBytes"] for r in first["Records"]]
        assert len(sizes) == 2  # a third record would pass 1 MB
        assert sum(sizes) <= 1024 * 1024 < sum(sizes) + sizes[0]
        second = await engine.streams.get_records(ShardIterator=first["NextShardIterator"])
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in first["Records"] + second["Records"]]
        assert keys == ["k0", "k1", "k2", "k3"]

    async def test_paging_limits_and_reuse(self, one_shard: streamkit.Engine) -> None:
        engine = one_shard
        arn = await stream_table(engine)
        for n in range(5):
            await engine.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
        it = await _iterator(engine, arn, "TRIM_HORIZON")
        first = await engine.streams.get_records(ShardIterator=it, Limit=2)
        again = await engine.streams.get_records(ShardIterator=it, Limit=2)
        assert first["Records"] == again["Records"]  # an iterator is a position, not a lease
        second = await engine.streams.get_records(ShardIterator=first["NextShardIterator"])
        assert len(first["Records"]) + len(second["Records"]) == 5
        empty = await engine.streams.get_records(ShardIterator=second["NextShardIterator"])
        assert empty["Records"] == []
        assert "NextShardIterator" in empty  # open shard: always an iterator
        for limit in (0, -1, 1001):
            with pytest.raises(ValidationException, match="limit"):
                await engine.streams.get_records(ShardIterator=it, Limit=limit)

    async def test_closed_shard_read_to_end_has_no_next_iterator(
        self, one_shard: streamkit.Engine
    ) -> None:
        engine = one_shard
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}})
        it = await _iterator(engine, arn, "TRIM_HORIZON")
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        page = await engine.streams.get_records(ShardIterator=it)
        assert len(page["Records"]) == 1
        assert "NextShardIterator" not in page

    async def test_iterator_validation(self, one_shard: streamkit.Engine) -> None:
        engine = one_shard
        arn = await stream_table(engine)
        shard = (await shards(engine, arn))[0]["ShardId"]
        seq = "1" * 21
        bad = [
            {"ShardIteratorType": "AT_TIMESTAMP"},
            {"ShardIteratorType": "AT_SEQUENCE_NUMBER"},
            {"ShardIteratorType": "TRIM_HORIZON", "SequenceNumber": seq},
            {"ShardIteratorType": "LATEST", "SequenceNumber": seq},
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": "12ab"},
            {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": "5"},
        ]
        for extra in bad:
            with pytest.raises(ValidationException):
                await engine.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **extra)
        with pytest.raises(ResourceNotFoundException):
            await engine.streams.get_shard_iterator(
                StreamArn=arn,
                ShardId="shardId-00000000000000000000-00000000",
                ShardIteratorType="LATEST",
            )

    async def test_expiry_and_tampering(
        self, one_shard: streamkit.Engine, clock: ManualClock
    ) -> None:
        engine = one_shard
        arn = await stream_table(engine)
        it = await _iterator(engine, arn, "TRIM_HORIZON")
        head, _, blob = it.rpartition("|")
        flipped = blob[:5] + ("A" if blob[5] != "A" else "B") + blob[6:]
        for forged in (f"{head}|{flipped}", "garbage", it + "x", it.replace("orders", "others")):
            with pytest.raises(ValidationException):
                await engine.streams.get_records(ShardIterator=forged)
        clock.advance(14 * 60)
        page = await engine.streams.get_records(ShardIterator=it)
        clock.advance(2 * 60)
        await engine.streams.get_records(ShardIterator=page["NextShardIterator"])  # fresh
        with pytest.raises(ExpiredIteratorException):
            await engine.streams.get_records(ShardIterator=it)
