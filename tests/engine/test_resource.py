"""The resource-style Table's boto3 extras: condition builders and batch_writer().

Against the real engine; boto3 (a test dependency) provides ``Key`` and ``Attr``.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key

import streamkit
from streamkit.backoff import Backoff
from streamkit.errors import (
    ConditionalCheckFailedException,
    ProvisionedThroughputExceededException,
    ValidationException,
)
from streamkit.testing import ManualClock
from tests.conftest import key_schema

T = "orders"


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(TableName=T, **key_schema("pk", "sk", kind="N"))
    return memory_engine


async def _fill(table: streamkit.Table, count: int = 5) -> None:
    for n in range(count):
        await table.put_item(Item={"pk": 1, "sk": n, "total": n * 10, "status": "open"})


class TestConditionBuilders:
    async def test_key_condition_and_filter(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        await _fill(table)
        page = await table.query(
            KeyConditionExpression=Key("pk").eq(1) & Key("sk").between(1, 3),
            FilterExpression=Attr("total").gt(10),
        )
        assert [item["sk"] for item in page["Items"]] == [Decimal(2), Decimal(3)]
        assert page["ScannedCount"] == 3

    async def test_scan_filter_with_own_placeholders(self, db: streamkit.Engine) -> None:
        """Generated placeholders join the ones the caller wrote, as boto3 merges them."""
        table = db.table(T)
        await _fill(table)
        page = await table.scan(
            FilterExpression=Attr("status").eq("open") & Attr("total").lt(20),
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "sk"},
        )
        assert sorted(item["sk"] for item in page["Items"]) == [Decimal(0), Decimal(1)]

    async def test_condition_expression(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        await table.put_item(Item={"pk": 1, "sk": 1}, ConditionExpression=Attr("pk").not_exists())
        with pytest.raises(ConditionalCheckFailedException):
            await table.put_item(
                Item={"pk": 1, "sk": 1}, ConditionExpression=Attr("pk").not_exists()
            )
        await table.update_item(
            Key={"pk": 1, "sk": 1},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={":t": 5},
            ConditionExpression=Attr("pk").exists() & Attr("total").not_exists(),
        )
        with pytest.raises(ConditionalCheckFailedException):
            await table.delete_item(Key={"pk": 1, "sk": 1}, ConditionExpression=Attr("total").eq(6))
        await table.delete_item(Key={"pk": 1, "sk": 1}, ConditionExpression=Attr("total").eq(5))
        assert await table.get_item(Key={"pk": 1, "sk": 1}) == {}

    async def test_strings_pass_through(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        await _fill(table, 2)
        page = await table.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": 1}
        )
        assert page["Count"] == 2

    async def test_a_filter_is_no_key_condition(self, db: streamkit.Engine) -> None:
        """boto3's builder refuses an Attr condition as KeyConditionExpression."""
        from boto3.exceptions import DynamoDBNeedsKeyConditionError

        with pytest.raises(DynamoDBNeedsKeyConditionError):
            await db.table(T).query(KeyConditionExpression=Attr("pk").eq(1))

    def test_boto3_is_not_imported_by_streamkit(self) -> None:
        code = "import sys, streamkit, streamkit.testing; assert 'boto3' not in sys.modules"
        subprocess.run([sys.executable, "-c", code], check=True)


class TestBatchWriter:
    async def test_flushes_every_25_and_on_exit(self, db: streamkit.Engine) -> None:
        calls: list[int] = []
        original = db.batch_write_item

        async def counting(**params: Any) -> dict[str, Any]:
            calls.append(len(params["RequestItems"][T]))
            return await original(**params)

        db.batch_write_item = counting  # type: ignore[method-assign]
        table = db.table(T)
        async with table.batch_writer() as batch:
            for n in range(60):
                await batch.put_item(Item={"pk": 1, "sk": n})
            assert calls == [25, 25]  # the last 10 wait for the block's exit
            await batch.delete_item(Key={"pk": 1, "sk": 0})
        assert calls == [25, 25, 11]
        page = await table.query(KeyConditionExpression=Key("pk").eq(1))
        assert page["Count"] == 59

    async def test_flushes_when_the_block_raises(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        with pytest.raises(RuntimeError):
            async with table.batch_writer() as batch:
                await batch.put_item(Item={"pk": 1, "sk": 1})
                raise RuntimeError
        assert await table.get_item(Key={"pk": 1, "sk": 1}) != {}

    async def test_overwrite_by_pkeys_keeps_the_last(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        async with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            await batch.put_item(Item={"pk": 1, "sk": 1, "v": "first"})
            await batch.put_item(Item={"pk": 1, "sk": 2, "v": "other"})
            await batch.put_item(Item={"pk": 1, "sk": 1, "v": "second"})
        got = await table.get_item(Key={"pk": 1, "sk": 1})
        assert got["Item"]["v"] == "second"
        async with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            await batch.put_item(Item={"pk": 1, "sk": 3})
            await batch.delete_item(Key={"pk": 1, "sk": 3})
        assert await table.get_item(Key={"pk": 1, "sk": 3}) == {}

    async def test_duplicate_keys_without_overwrite_fail_as_in_boto3(
        self, db: streamkit.Engine
    ) -> None:
        with pytest.raises(ValidationException):
            async with db.table(T).batch_writer() as batch:
                await batch.put_item(Item={"pk": 1, "sk": 1})
                await batch.put_item(Item={"pk": 1, "sk": 1})

    async def test_unprocessed_items_are_sent_again(self) -> None:
        """A throttled hot partition hands requests back; the writer re-sends them."""
        clock = ManualClock(autojump=True)  # back-offs and retries jump the clock
        async with streamkit.open_engine(None, clock=clock, throttling=True, max_attempts=1) as db:
            await db.create_table(
                TableName=T,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1001},
            )  # two partitions of ~500 WCU, each banking 300 s of it
            table = db.table(T)
            blob = "x" * 390_000  # 381 write units a put
            with pytest.raises(ProvisionedThroughputExceededException):
                while True:  # the hot key's partition spends its burst
                    await table.put_item(Item={"pk": "hot", "blob": blob})
            db.retry_policy = Backoff(max_attempts=20, clock=clock)  # now: wait for capacity
            responses: list[dict[str, Any]] = []
            original = db.batch_write_item

            async def recording(**params: Any) -> dict[str, Any]:
                responses.append(await original(**params))
                return responses[-1]

            db.batch_write_item = recording  # type: ignore[method-assign]
            async with table.batch_writer() as batch:
                for n in range(25):
                    await batch.put_item(Item={"pk": f"k{n}"})
                assert 0 < len(responses[0]["UnprocessedItems"][T]) < 25  # the hot ones
            assert responses[-1]["UnprocessedItems"] == {}
            page = await table.scan(Select="COUNT")
            assert page["Count"] == 26


class _ThrottledEngine:
    """An engine whose BatchWriteItem hands every request back ``busy`` times, then takes it."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.sleeps: list[float] = []
        self.clock = self

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        if self.busy:
            self.busy -= 1
            return {"UnprocessedItems": params["RequestItems"]}
        return {"UnprocessedItems": {}}


async def test_batch_writer_backs_off_by_the_one_policy_and_never_overflows() -> None:
    """Re-sends wait 50 ms, doubling, at most 5 s, however long the table stays busy."""
    engine = _ThrottledEngine(busy=1100)
    table = streamkit.Table(engine, T)  # type: ignore[arg-type]
    async with table.batch_writer() as batch:
        await batch.put_item(Item={"pk": "a"})
    assert engine.sleeps[:8] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    assert len(engine.sleeps) == 1100
    assert set(engine.sleeps[7:]) == {5.0}
