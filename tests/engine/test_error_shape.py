"""Errors read like botocore's ClientError: response["Error"], ResponseMetadata, operation_name."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.backoff import Backoff
from streamkit.errors import (
    ConditionalCheckFailedException,
    DynamoDBError,
    InternalServerError,
    ProvisionedThroughputExceededException,
    ResourceNotFoundException,
    TransactionCanceledException,
)
from tests.conftest import key_schema

T = "shapes"


async def _raised(call: Any) -> DynamoDBError:
    with pytest.raises(DynamoDBError) as info:
        await call
    return info.value


def test_response_is_botocores_parse_of_the_wire_body() -> None:
    err = ResourceNotFoundException()
    assert err.response == {
        "Error": {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
        "message": "Requested resource not found",
    }
    assert err.operation_name == ""
    assert InternalServerError().response["ResponseMetadata"] == {"HTTPStatusCode": 500}


def test_modelled_members_sit_at_the_top_of_the_response() -> None:
    reasons = [{"Code": "ConditionalCheckFailed", "Message": "no"}, {"Code": "None"}]
    cancelled = TransactionCanceledException(reasons=reasons)
    assert cancelled.response["CancellationReasons"] == reasons
    assert cancelled.response["Message"] == cancelled.message
    assert cancelled.response["Error"]["Code"] == "TransactionCanceledException"
    item = {"pk": {"S": "a"}}
    assert ConditionalCheckFailedException(item=item).response["Item"] == item
    throttled = ProvisionedThroughputExceededException(reasons=[{"reason": "x"}])
    assert throttled.response["ThrottlingReasons"] == [{"reason": "x"}]


async def test_the_engine_names_the_failed_operation(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    missing = await _raised(db.put_item(TableName="nope", Item={"pk": {"S": "a"}}))
    assert missing.operation_name == "PutItem"
    assert missing.response["Error"]["Code"] == "ResourceNotFoundException"
    assert (await _raised(db.query(TableName="nope"))).operation_name == "Query"
    assert (await _raised(db.describe_table(TableName="nope"))).operation_name == "DescribeTable"


async def test_cancellation_reasons_as_botocore_puts_them(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    await db.create_table(TableName=T, **key_schema())
    await db.put_item(TableName=T, Item={"pk": {"S": "a"}})
    err = await _raised(
        db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": T,
                        "Item": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Put": {"TableName": T, "Item": {"pk": {"S": "b"}}}},
            ]
        )
    )
    assert err.operation_name == "TransactWriteItems"
    assert err.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in err.response["CancellationReasons"]] == [
        "ConditionalCheckFailed",
        "None",
    ]


async def test_operation_name_without_retries(memory_engine: streamkit.Engine) -> None:
    db = memory_engine
    db.retry_policy = Backoff(max_attempts=1, clock=db.clock)  # the server's fast path
    err = await _raised(db.get_item(TableName="nope", Key={"pk": {"S": "a"}}))
    assert err.operation_name == "GetItem"
