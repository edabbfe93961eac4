"""UpdateItem that only removes, on an item that does not exist: no item, no record."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from tests.conftest import key_schema

T = "things"
KEY = {"pk": {"S": "ghost"}}


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(
        TableName=T,
        **key_schema(),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return memory_engine


async def records(db: streamkit.Engine) -> list[Any]:
    arn = (await db.describe_table(TableName=T))["Table"]["LatestStreamArn"]
    shard = (await db.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"][0]
    iterator = await db.streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    return list((await db.streams.get_records(ShardIterator=iterator["ShardIterator"]))["Records"])


@pytest.mark.parametrize("returns", ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"])
@pytest.mark.parametrize(
    ("expression", "values"),
    [
        ("REMOVE a", None),
        ("REMOVE a.b[3].c, d[0]", None),
        ("DELETE s :v", {":v": {"SS": ["x"]}}),
        ("REMOVE a DELETE s :v", {":v": {"NS": ["1"]}}),
    ],
)
async def test_only_removing_creates_nothing(
    db: streamkit.Engine, expression: str, values: dict[str, Any] | None, returns: str
) -> None:
    extra = {} if values is None else {"ExpressionAttributeValues": values}
    out = await db.update_item(
        TableName=T, Key=KEY, UpdateExpression=expression, ReturnValues=returns, **extra
    )
    assert out == {}
    assert (await db.scan(TableName=T))["Count"] == 0
    assert await records(db) == []


async def test_legacy_delete_actions_create_nothing(db: streamkit.Engine) -> None:
    await db.update_item(TableName=T, Key=KEY, AttributeUpdates={"a": {"Action": "DELETE"}})
    assert (await db.scan(TableName=T))["Count"] == 0


async def test_a_set_still_creates_the_item(db: streamkit.Engine) -> None:
    out = await db.update_item(
        TableName=T,
        Key=KEY,
        UpdateExpression="SET b = :b REMOVE a",
        ExpressionAttributeValues={":b": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    assert out["Attributes"] == {**KEY, "b": {"N": "1"}}
    assert len(await records(db)) == 1


async def test_no_update_expression_still_creates_the_key(db: streamkit.Engine) -> None:
    await db.update_item(TableName=T, Key=KEY)
    assert (await db.get_item(TableName=T, Key=KEY))["Item"] == KEY


async def test_in_a_transaction_too(db: streamkit.Engine) -> None:
    await db.transact_write_items(
        TransactItems=[{"Update": {"TableName": T, "Key": KEY, "UpdateExpression": "REMOVE a"}}]
    )
    assert (await db.scan(TableName=T))["Count"] == 0
    assert await records(db) == []


async def test_removing_from_an_existing_item_still_writes(db: streamkit.Engine) -> None:
    await db.put_item(TableName=T, Item={**KEY, "a": {"S": "x"}})
    out = await db.update_item(
        TableName=T, Key=KEY, UpdateExpression="REMOVE a", ReturnValues="UPDATED_OLD"
    )
    assert out["Attributes"] == {"a": {"S": "x"}}
    assert len(await records(db)) == 2
