"""Index key values obey DynamoDB's key rules: type, non-empty, 2048/1024 bytes."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.errors import ValidationException
from tests.conftest import key_schema

T = "people"


def gsi(name: str, *keys: tuple[str, str]) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": n, "KeyType": k} for n, k in keys],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    schema = key_schema()
    schema["AttributeDefinitions"] += [
        {"AttributeName": n, "AttributeType": "S"} for n in ("city", "street", "a", "b")
    ]
    await memory_engine.create_table(
        TableName=T,
        **schema,
        GlobalSecondaryIndexes=[
            gsi("by_city", ("city", "HASH"), ("street", "RANGE")),
            gsi("by_ab", ("pk", "HASH"), ("a", "RANGE"), ("b", "RANGE")),
        ],
    )
    return memory_engine


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"city": "c" * 2049}, "Size of hashkey has exceeded the maximum size limit of2048 bytes"),
        (
            {"city": "c", "street": "s" * 1025},
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ),
        (
            {"a": "a" * 600, "b": "b" * 500},
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ),
        ({"city": ""}, "IndexName: by_city, IndexKey: city"),
    ],
)
async def test_writes_with_bad_index_keys_are_refused(
    db: streamkit.Engine, attrs: dict[str, str], message: str
) -> None:
    item = {"pk": {"S": "p"}, **{k: {"S": v} for k, v in attrs.items()}}
    with pytest.raises(ValidationException, match=message):
        await db.put_item(TableName=T, Item=item)
    assert (await db.scan(TableName=T))["Count"] == 0


async def test_limits_are_inclusive(db: streamkit.Engine) -> None:
    item = {
        "pk": {"S": "p"},
        "city": {"S": "c" * 2048},
        "street": {"S": "s" * 1024},
        "a": {"S": "a" * 512},
        "b": {"S": "b" * 512},
    }
    await db.put_item(TableName=T, Item=item)
    for index in ("by_city", "by_ab"):
        assert (await db.scan(TableName=T, IndexName=index))["Count"] == 1


async def test_backfill_skips_values_that_cannot_be_index_keys(
    memory_engine: streamkit.Engine,
) -> None:
    db = memory_engine
    await db.create_table(TableName=T, **key_schema())
    cities: list[dict[str, Any]] = [
        {"S": ""},
        {"S": "x" * 3000},
        {"N": "1"},
        {"S": "oslo"},
        {"B": b""},
    ]
    for i, city in enumerate(cities):
        await db.put_item(TableName=T, Item={"pk": {"S": f"p{i}"}, "city": city})
    await db.update_table(
        TableName=T,
        AttributeDefinitions=[{"AttributeName": "city", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": gsi("by_city", ("city", "HASH"))}],
    )
    while True:
        table = (await db.describe_table(TableName=T))["Table"]
        if table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE":
            break
    out = await db.scan(TableName=T, IndexName="by_city")
    assert [i["pk"]["S"] for i in out["Items"]] == ["p3"]


@pytest.mark.parametrize(
    ("where", "member"),
    [
        ("key", "keySchema.1.member.attributeName"),
        ("definition", "attributeDefinitions.2.member.attributeName"),
        ("projection", "globalSecondaryIndexes.member.projection.nonKeyAttributes.1"),
    ],
)
async def test_key_names_are_at_most_255_bytes(
    memory_engine: streamkit.Engine, where: str, member: str
) -> None:
    long = "é" * 128  # 256 bytes in UTF-8
    schema = key_schema()
    if where == "key":
        schema["KeySchema"][0]["AttributeName"] = long
    elif where == "definition":
        schema["AttributeDefinitions"].append({"AttributeName": long, "AttributeType": "S"})
    extra: dict[str, Any] = {}
    if where == "projection":
        index = gsi("ggg", ("pk", "HASH"))
        index["Projection"] = {"ProjectionType": "INCLUDE", "NonKeyAttributes": [long]}
        extra["GlobalSecondaryIndexes"] = [index]
    with pytest.raises(ValidationException) as caught:
        await memory_engine.create_table(TableName=T, **schema, **extra)
    assert caught.value.message == (
        f"1 validation error detected: Value '{long}' at '{member}' failed to satisfy "
        "constraint: Member must have length less than or equal to 255"
    )
    ok = "é" * 127 + "x"  # 255 bytes
    schema = key_schema(hash_key=ok)
    await memory_engine.create_table(TableName=T, **schema)
