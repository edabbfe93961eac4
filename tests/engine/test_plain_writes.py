"""A plain PutItem or DeleteItem (TableName and Item or Key, nothing else) takes a short path
that skips the request's member and name checks when the table exists; every answer and
error stays the long path's (the same request with ReturnValues="NONE" takes the long one)."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.errors import DynamoDBError
from tests.conftest import key_schema

T = "plain"


@pytest.fixture
async def db(engine: streamkit.Engine) -> streamkit.Engine:
    await engine.create_table(
        TableName=T,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **key_schema("pk", "sk", range_kind="N"),
    )
    return engine


async def _answer(call: Any, **params: Any) -> Any:
    try:
        return ("ok", await call(**params))
    except DynamoDBError as exc:
        return ("error", type(exc).__name__, exc.message)


ITEMS: list[Any] = [
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "tags": {"SS": ["x", "y"]}, "n": {"N": "10"}},
    {"pk": {"S": "a"}, "sk": {"N": "1.50"}, "tags": {"SS": ["x", "x"]}},
    {"pk": {"S": ""}, "sk": {"N": "1"}},
    {"pk": {"S": "a"}},
    {"pk": {"N": "1"}, "sk": {"N": "1"}},
    {"pk": {"S": "x" * 2049}, "sk": {"N": "1"}},
    {"pk": {"S": "é" * 700}, "sk": {"N": "1"}},
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "big": {"S": "x" * (400 * 1024)}},
    {"pk": {"S": "a"}, "sk": {"N": "1"}, "": {"S": "x"}},
    "not a map",
    None,
]


@pytest.mark.parametrize("item", ITEMS)
async def test_put_item_answers_as_the_long_path(db: streamkit.Engine, item: Any) -> None:
    short = await _answer(db.put_item, TableName=T, Item=item)
    long = await _answer(db.put_item, TableName=T, Item=item, ReturnValues="NONE")
    assert short == long


@pytest.mark.parametrize("name", [["plain"], {"a": 1}, 5, "no-such-table", "x", None])
async def test_put_item_with_an_odd_table_name(db: streamkit.Engine, name: Any) -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    short = await _answer(db.put_item, TableName=name, Item=item)
    long = await _answer(db.put_item, TableName=name, Item=item, ReturnValues="NONE")
    assert short == long
    assert short[0] == "error"


@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"S": "a"}, "sk": {"N": "1"}},
        {"pk": {"S": "a"}},
        {"pk": {"S": ""}, "sk": {"N": "1"}},
        {"pk": {"S": "a"}, "sk": {"S": "1"}},
        {"pk": {"S": "a"}, "sk": {"N": "1"}, "other": {"S": "x"}},
        [1],
    ],
)
async def test_delete_item_answers_as_the_long_path(db: streamkit.Engine, key: Any) -> None:
    short = await _answer(db.delete_item, TableName=T, Key=key)
    long = await _answer(db.delete_item, TableName=T, Key=key, ReturnValues="NONE")
    assert short == long


async def test_plain_writes_store_and_record_as_before(db: streamkit.Engine) -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "tags": {"SS": ["x", "y"]}}
    assert await db.put_item(TableName=T, Item=item) == {}
    got = await db.get_item(TableName=T, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert got["Item"] == item
    assert await db.delete_item(TableName=T, Key={"pk": {"S": "a"}, "sk": {"N": "1"}}) == {}
    assert "Item" not in await db.get_item(TableName=T, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    stream = (await db.describe_table(TableName=T))["Table"]["LatestStreamArn"]
    shard = (await db.streams.describe_stream(StreamArn=stream))["StreamDescription"]["Shards"][0]
    iterator = (
        await db.streams.get_shard_iterator(
            StreamArn=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
    )["ShardIterator"]
    records = (await db.streams.get_records(ShardIterator=iterator))["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert records[1]["dynamodb"]["OldImage"] == item


async def test_capacity_is_still_reported_when_asked(db: streamkit.Engine) -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    out = await db.put_item(TableName=T, Item=item, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {
        "TableName": T,
        "CapacityUnits": 1.0,
        "WriteCapacityUnits": 1.0,
    }
