"""The throttling simulator and the client's retries, driven by the manual clock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.backoff import Backoff
from streamkit.engine.keys import key_from_item
from streamkit.engine.throttle import BURST_SECONDS, partition_count, partition_of
from streamkit.errors import (
    ConditionalCheckFailedException,
    ProvisionedThroughputExceededException,
)
from streamkit.model.schema import KeySpec, TableSpec
from streamkit.testing import ManualClock

T = "hot"


def _provisioned(read: int, write: int, **extra: Any) -> dict[str, Any]:
    return {
        "TableName": T,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        **extra,
    }


@pytest.fixture
async def db(clock: ManualClock) -> AsyncIterator[streamkit.Engine]:
    async with streamkit.open_engine(None, clock=clock, throttling=True, max_attempts=1) as engine:
        yield engine


async def _writes_until_throttled(db: streamkit.Engine, pk: str = "k", limit: int = 100_000) -> int:
    for n in range(limit):
        try:
            await db.put_item(TableName=T, Item={"pk": {"S": f"{pk}{n % 7}" if pk else str(n)}})
        except ProvisionedThroughputExceededException:
            return n
    raise AssertionError("never throttled")


class TestBuckets:
    async def test_burst_credit_then_refill(self, db: streamkit.Engine, clock: ManualClock) -> None:
        await db.create_table(**_provisioned(5, 2))
        allowed = await _writes_until_throttled(db)
        assert allowed == 2 * BURST_SECONDS  # 300 s of 2 WCU banked, 1 WCU per small put
        with pytest.raises(ProvisionedThroughputExceededException) as exc:
            await db.put_item(TableName=T, Item={"pk": {"S": "x"}})
        assert exc.value.reasons[0]["reason"] == "TableWriteProvisionedThroughputExceeded"
        assert "ThrottlingReasons" in exc.value.to_wire()[1]
        assert (await db.get_item(TableName=T, Key={"pk": {"S": "x"}})) == {}  # reads unaffected
        clock.advance(1.0)
        await db.put_item(TableName=T, Item={"pk": {"S": "x"}})  # 2 units refilled
        await db.put_item(TableName=T, Item={"pk": {"S": "y"}})
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.put_item(TableName=T, Item={"pk": {"S": "z"}})

    async def test_large_item_goes_into_debt(
        self, db: streamkit.Engine, clock: ManualClock
    ) -> None:
        await db.create_table(**_provisioned(1, 1))
        big = {"pk": {"S": "b"}, "blob": {"S": "x" * 300_000}}  # 293 WCU
        await db.put_item(TableName=T, Item=big)
        await db.put_item(TableName=T, Item=big)  # 300 - 293 = 7 left: still admitted
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.put_item(TableName=T, Item={"pk": {"S": "c"}})
        clock.advance(287.0)  # 300 - 586 = -286, +287 = 1
        await db.put_item(TableName=T, Item={"pk": {"S": "c"}})

    async def test_throttled_write_changes_nothing(self, db: streamkit.Engine) -> None:
        await db.create_table(**_provisioned(1, 1))
        await _writes_until_throttled(db)
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.put_item(TableName=T, Item={"pk": {"S": "never"}})
        got = await db.get_item(TableName=T, Key={"pk": {"S": "never"}}, ConsistentRead=True)
        assert got == {}

    async def test_hot_partition_throttles_while_table_has_room(self, db: streamkit.Engine) -> None:
        await db.create_table(**_provisioned(3000, 3000))
        spec = db._tables[T]
        assert partition_count(spec) == 4  # 3000/3000 + 3000/1000: 750 WCU per partition
        big = {"blob": {"S": "x" * 300_000}}  # 293 WCU a write
        writes = 0
        with pytest.raises(ProvisionedThroughputExceededException) as exc:
            while True:
                await db.put_item(TableName=T, Item={"pk": {"S": "hot"}, **big})
                writes += 1
        assert writes == -(-750 * BURST_SECONDS // 293)  # the partition's 300 s of credit
        assert exc.value.reasons == [
            {"reason": "TableWriteKeyRangeThroughputExceeded", "resource": T}
        ]
        hot = partition_of(key_from_item(spec.key, {"pk": {"S": "hot"}})[0], 4)
        cold = next(
            f"k{n}"
            for n in range(100)
            if partition_of(key_from_item(spec.key, {"pk": {"S": f"k{n}"}})[0], 4) != hot
        )
        await db.put_item(TableName=T, Item={"pk": {"S": cold}})  # the table has room

    async def test_gsi_write_capacity_throttles_table(self, db: streamkit.Engine) -> None:
        await db.create_table(
            **_provisioned(
                5,
                100,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "g", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "by_g",
                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                    }
                ],
            )
        )
        for n in range(300):
            await db.put_item(TableName=T, Item={"pk": {"S": str(n)}, "g": {"S": "x"}})
        with pytest.raises(ProvisionedThroughputExceededException) as exc:
            await db.put_item(TableName=T, Item={"pk": {"S": "next"}})
        assert exc.value.reasons == [
            {"reason": "IndexWriteProvisionedThroughputExceeded", "resource": f"{T}/index/by_g"}
        ]

    async def test_on_demand_not_throttled_unless_asked(self, clock: ManualClock) -> None:
        async with streamkit.open_engine(None, clock=clock, max_attempts=1) as db:
            await db.create_table(**_provisioned(1, 1))
            for n in range(400):  # throttling is off by default
                await db.put_item(TableName=T, Item={"pk": {"S": str(n)}})
            db.throttle.set_table(T, True)
            assert await _writes_until_throttled(db, pk="") == 300


class TestBatches:
    async def test_throttled_writes_come_back_unprocessed(self, db: streamkit.Engine) -> None:
        await db.create_table(**_provisioned(3000, 3000))
        spec = db._tables[T]
        big = {"blob": {"S": "x" * 300_000}}
        with pytest.raises(ProvisionedThroughputExceededException):
            while True:  # drain the hot key's partition
                await db.put_item(TableName=T, Item={"pk": {"S": "hot"}, **big})
        hot = partition_of(key_from_item(spec.key, {"pk": {"S": "hot"}})[0], 4)
        cold = next(
            f"k{n}"
            for n in range(100)
            if partition_of(key_from_item(spec.key, {"pk": {"S": f"k{n}"}})[0], 4) != hot
        )
        hot_request = {"PutRequest": {"Item": {"pk": {"S": "hot"}, "v": {"N": "2"}}}}
        cold_request = {"PutRequest": {"Item": {"pk": {"S": cold}}}}
        out = await db.batch_write_item(RequestItems={T: [hot_request, cold_request]})
        assert out["UnprocessedItems"] == {T: [hot_request]}
        assert await db.get_item(TableName=T, Key={"pk": {"S": cold}}) != {}

    async def test_nothing_processed_raises(self, db: streamkit.Engine) -> None:
        await db.create_table(**_provisioned(1, 1))
        await _writes_until_throttled(db, pk="")
        requests = [{"PutRequest": {"Item": {"pk": {"S": f"b{n}"}}}} for n in range(3)]
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.batch_write_item(RequestItems={T: requests})
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.batch_write_item(RequestItems={T: requests})

    async def test_partial_batch_get(self, db: streamkit.Engine, clock: ManualClock) -> None:
        await db.create_table(**_provisioned(3000, 3000))
        spec = db._tables[T]
        await db.put_item(TableName=T, Item={"pk": {"S": "hot"}, "blob": {"S": "x" * 300_000}})
        # drain the hot key's partition with strongly consistent reads of the 293 KB item
        with pytest.raises(ProvisionedThroughputExceededException):
            while True:
                await db.get_item(TableName=T, Key={"pk": {"S": "hot"}}, ConsistentRead=True)
        hot = partition_of(key_from_item(spec.key, {"pk": {"S": "hot"}})[0], 4)
        cold = next(
            f"k{n}"
            for n in range(100)
            if partition_of(key_from_item(spec.key, {"pk": {"S": f"k{n}"}})[0], 4) != hot
        )
        out = await db.batch_get_item(
            RequestItems={T: {"Keys": [{"pk": {"S": "hot"}}, {"pk": {"S": cold}}]}}
        )
        assert out["UnprocessedKeys"] == {T: {"Keys": [{"pk": {"S": "hot"}}]}}
        assert out["Responses"] == {T: []}


def test_partition_count() -> None:
    spec = TableSpec(
        name="t",
        table_id="x",
        key=KeySpec.of("pk", "S"),
        attribute_types={"pk": "S"},
        created=0.0,
        read_capacity=6000,
        write_capacity=1500,
    )
    assert partition_count(spec) == 4  # ceil(6000/3000 + 1500/1000)


class TestRetries:
    async def test_retries_with_backoff_until_capacity_returns(self, clock: ManualClock) -> None:
        async with streamkit.open_engine(None, clock=clock, throttling=True, max_attempts=5) as db:
            db.retry_policy = Backoff(max_attempts=5, clock=clock, rng=random.Random(1))
            await db.create_table(**_provisioned(1, 1))
            for n in range(300):
                await db.put_item(TableName=T, Item={"pk": {"S": str(n)}})
            done = anyio.Event()

            async def late_write() -> None:
                await db.put_item(TableName=T, Item={"pk": {"S": "late"}})
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(late_write)
                await anyio.wait_all_tasks_blocked()
                assert not done.is_set()  # throttled, sleeping on the clock
                for _ in range(5):
                    clock.advance(1.0)
                    await anyio.wait_all_tasks_blocked()
            assert done.is_set()

    async def test_gives_up_after_max_attempts(self, clock: ManualClock) -> None:
        attempts: list[int] = []

        async def always_throttled(**_: Any) -> dict[str, Any]:
            attempts.append(1)
            raise ProvisionedThroughputExceededException()

        policy = Backoff(max_attempts=3, clock=clock, rng=random.Random(2))
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                with pytest.raises(ProvisionedThroughputExceededException):
                    await policy.call(always_throttled)

            tg.start_soon(run)
            for _ in range(5):
                await anyio.wait_all_tasks_blocked()
                clock.advance(1.0)
        assert len(attempts) == 3

    async def test_client_errors_are_not_retried(self, clock: ManualClock) -> None:
        calls: list[int] = []

        async def failing(**_: Any) -> dict[str, Any]:
            calls.append(1)
            raise ConditionalCheckFailedException()

        with pytest.raises(ConditionalCheckFailedException):
            await Backoff(clock=clock).call(failing)
        assert calls == [1]
