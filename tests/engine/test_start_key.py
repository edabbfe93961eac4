"""ExclusiveStartKey must lie inside what the request could return (DynamoDB's checks)."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.errors import ValidationException
from tests.conftest import key_schema

T = "things"


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(TableName=T, **key_schema("pk", "sk"))
    for pk in ("a", "b"):
        for sk in ("1", "2", "3"):
            await memory_engine.put_item(TableName=T, Item={"pk": {"S": pk}, "sk": {"S": sk}})
    return memory_engine


def start(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


async def query(db: streamkit.Engine, condition: str, esk: dict[str, Any]) -> list[str]:
    out = await db.query(
        TableName=T,
        KeyConditionExpression=condition,
        ExpressionAttributeValues={
            k: v for k, v in {":p": {"S": "a"}, ":s": {"S": "2"}}.items() if k in condition
        },
        ExclusiveStartKey=esk,
    )
    return [i["sk"]["S"] for i in out["Items"]]


async def test_a_start_key_in_the_range_continues_after_it(db: streamkit.Engine) -> None:
    assert await query(db, "pk = :p", start("a", "1")) == ["2", "3"]
    assert await query(db, "pk = :p AND sk >= :s", start("a", "2")) == ["3"]


async def test_a_start_key_in_another_partition_is_refused(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException) as caught:
        await query(db, "pk = :p", start("b", "1"))
    assert caught.value.message == (
        "The provided starting key is outside query boundaries based on provided conditions"
    )


async def test_a_start_key_outside_the_sort_condition_is_refused(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="does not match the range key predicate"):
        await query(db, "pk = :p AND sk > :s", start("a", "1"))


async def test_a_scan_start_key_outside_its_segment_is_refused(db: streamkit.Engine) -> None:
    keys = []
    for segment in range(4):
        page = await db.scan(TableName=T, Segment=segment, TotalSegments=4)
        keys += [(segment, {k: item[k] for k in ("pk", "sk")}) for item in page["Items"]]
    segment, key = keys[0]
    other = (segment + 1) % 4
    await db.scan(TableName=T, Segment=segment, TotalSegments=4, ExclusiveStartKey=key)
    with pytest.raises(ValidationException, match="does not map to the provided Segment"):
        await db.scan(TableName=T, Segment=other, TotalSegments=4, ExclusiveStartKey=key)
