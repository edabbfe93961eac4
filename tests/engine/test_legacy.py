"""The legacy parameters boto3 users still send, through the engine end to end."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.errors import ConditionalCheckFailedException, ValidationException
from tests.conftest import key_schema

T = "legacy"


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(TableName=T, **key_schema("pk", "sk"))
    for n in range(4):
        await memory_engine.put_item(
            TableName=T,
            Item={"pk": {"S": "a"}, "sk": {"S": str(n)}, "v": {"N": str(n)}, "x": {"S": "y"}},
        )
    return memory_engine


def key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "a"}, "sk": {"S": sk}}


async def test_expected_on_put_and_delete(db: streamkit.Engine) -> None:
    with pytest.raises(ConditionalCheckFailedException):
        await db.put_item(TableName=T, Item=key("0"), Expected={"pk": {"Exists": False}})
    await db.delete_item(
        TableName=T,
        Key=key("0"),
        Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "0"}]}},
    )
    assert await db.get_item(TableName=T, Key=key("0")) == {}


async def test_attribute_updates(db: streamkit.Engine) -> None:
    out = await db.update_item(
        TableName=T,
        Key=key("1"),
        AttributeUpdates={
            "v": {"Action": "ADD", "Value": {"N": "10"}},
            "x": {"Action": "DELETE"},
            "tags": {"Action": "PUT", "Value": {"SS": ["t"]}},
        },
        ReturnValues="ALL_NEW",
    )
    assert out["Attributes"] == {**key("1"), "v": {"N": "11"}, "tags": {"SS": ["t"]}}


async def test_query_with_key_conditions_filter_and_attributes(db: streamkit.Engine) -> None:
    out = await db.query(
        TableName=T,
        KeyConditions={
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
            "sk": {"ComparisonOperator": "GE", "AttributeValueList": [{"S": "1"}]},
        },
        QueryFilter={"v": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "2"}]}},
        AttributesToGet=["sk"],
    )
    assert out["Items"] == [{"sk": {"S": "1"}}, {"sk": {"S": "3"}}]
    assert out["ScannedCount"] == 3


async def test_scan_filter(db: streamkit.Engine) -> None:
    out = await db.scan(
        TableName=T,
        ScanFilter={
            "v": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "2"}]}
        },
    )
    assert sorted(i["sk"]["S"] for i in out["Items"]) == ["1", "2"]


async def test_mixing_is_refused(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="Can not use both expression and non-expression"):
        await db.get_item(
            TableName=T, Key=key("1"), AttributesToGet=["v"], ProjectionExpression="v"
        )
    with pytest.raises(ValidationException, match="QueryFilter can only contain non-primary key"):
        await db.query(
            TableName=T,
            KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
            QueryFilter={"sk": {"ComparisonOperator": "NOT_NULL"}},
        )
