"""Change capture: which writes produce records, and what a record holds."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.errors import ConditionalCheckFailedException, ValidationException
from streamkit.streams import lambda_record
from tests.conftest import key_schema
from tests.streams.helpers import read_stream, stream_table

S = {"S": "a"}


async def _events(engine: streamkit.Engine, arn: str) -> list[str]:
    return [r["eventName"] for r in await read_stream(engine, arn)]


class TestWhichWrites:
    async def test_insert_modify_remove(self, engine: streamkit.Engine) -> None:
        arn = await stream_table(engine)
        await engine.put_item(TableName="orders", Item={"pk": S, "v": {"N": "1"}})
        await engine.put_item(TableName="orders", Item={"pk": S, "w": {"S": "x"}})
        await engine.delete_item(TableName="orders", Key={"pk": S})
        records = await read_stream(engine, arn)
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
        modify = records[1]["dynamodb"]
        assert modify["OldImage"] == {"pk": S, "v": {"N": "1"}}
        assert modify["NewImage"] == {"pk": S, "w": {"S": "x"}}

    async def test_unchanged_writes_and_missing_deletes_emit_nothing(
        self, engine: streamkit.Engine
    ) -> None:
        arn = await stream_table(engine)
        item = {"pk": S, "n": {"N": "1"}, "ss": {"SS": ["x", "y"]}}
        await engine.put_item(TableName="orders", Item=item)
        await engine.put_item(
            TableName="orders", Item={"pk": S, "n": {"N": "1.0"}, "ss": {"SS": ["y", "x"]}}
        )
        await engine.update_item(
            TableName="orders",
            Key={"pk": S},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
        await engine.delete_item(TableName="orders", Key={"pk": {"S": "missing"}})
        assert await _events(engine, arn) == ["INSERT"]

    async def test_failed_condition_emits_nothing(self, engine: streamkit.Engine) -> None:
        arn = await stream_table(engine)
        with pytest.raises(ConditionalCheckFailedException):
            await engine.put_item(
                TableName="orders", Item={"pk": S}, ConditionExpression="attribute_exists(pk)"
            )
        with pytest.raises(ValidationException):
            await engine.put_item(TableName="orders", Item={"pk": S, "big": {"S": "x" * 500_000}})
        assert await _events(engine, arn) == []

    async def test_update_creating_item_inserts_key_only_image(
        self, engine: streamkit.Engine
    ) -> None:
        arn = await stream_table(engine)
        await engine.update_item(TableName="orders", Key={"pk": S})
        await engine.update_item(
            TableName="orders",
            Key={"pk": S},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
        await engine.update_item(TableName="orders", Key={"pk": S}, UpdateExpression="REMOVE v")
        records = await read_stream(engine, arn)
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
        assert records[0]["dynamodb"]["NewImage"] == {"pk": S}
        assert records[2]["dynamodb"]["NewImage"] == {"pk": S}

    async def test_batch_old_images_come_from_each_table(self, engine: streamkit.Engine) -> None:
        """A batch reads every old item up front: same key in two tables, some keys new."""
        arns = [await stream_table(engine, name) for name in ("one", "two")]
        for name in ("one", "two"):
            await engine.put_item(TableName=name, Item={"pk": S, "at": {"S": name}})
        await engine.batch_write_item(
            RequestItems={
                name: [
                    {"PutRequest": {"Item": {"pk": S, "v": {"N": "2"}}}},
                    {"PutRequest": {"Item": {"pk": {"S": "new"}}}},
                    {"DeleteRequest": {"Key": {"pk": {"S": "absent"}}}},
                ]
                for name in ("one", "two")
            },
        )
        for name, arn in zip(("one", "two"), arns, strict=True):
            records = [r["dynamodb"] for r in await read_stream(engine, arn)]
            changes = [(r["Keys"]["pk"]["S"], r.get("OldImage"), r["NewImage"]) for r in records]
            assert changes == [
                ("a", None, {"pk": S, "at": {"S": name}}),
                ("a", {"pk": S, "at": {"S": name}}, {"pk": S, "v": {"N": "2"}}),
                ("new", None, {"pk": {"S": "new"}}),
            ]

    async def test_batch_and_transaction_writes(self, engine: streamkit.Engine) -> None:
        arn = await stream_table(engine)
        await engine.batch_write_item(
            RequestItems={
                "orders": [
                    {"PutRequest": {"Item": {"pk": {"S": "b1"}}}},
                    {"PutRequest": {"Item": {"pk": {"S": "b2"}}}},
                ]
            }
        )
        await engine.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "orders", "Item": {"pk": {"S": "t1"}}}},
                {"Delete": {"TableName": "orders", "Key": {"pk": {"S": "b1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "orders",
                        "Key": {"pk": {"S": "b2"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
        with pytest.raises(streamkit.errors.TransactionCanceledException):
            await engine.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "orders", "Item": {"pk": {"S": "t2"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "orders",
                            "Key": {"pk": {"S": "nope"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        records = await read_stream(engine, arn)
        changes = sorted((r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records)
        assert changes == [("INSERT", "b1"), ("INSERT", "b2"), ("INSERT", "t1"), ("REMOVE", "b1")]


IMAGES = {
    "KEYS_ONLY": ({}, {}, {}),
    "NEW_IMAGE": ({"NewImage"}, {"NewImage"}, set()),
    "OLD_IMAGE": (set(), {"OldImage"}, {"OldImage"}),
    "NEW_AND_OLD_IMAGES": ({"NewImage"}, {"NewImage", "OldImage"}, {"OldImage"}),
}


class TestRecordFormat:
    @pytest.mark.parametrize("view", sorted(IMAGES))
    async def test_images_follow_view_type(self, engine: streamkit.Engine, view: str) -> None:
        arn = await stream_table(engine, view=view)
        await engine.put_item(TableName="orders", Item={"pk": S, "v": {"N": "1"}})
        await engine.put_item(TableName="orders", Item={"pk": S, "v": {"N": "2"}})
        await engine.delete_item(TableName="orders", Key={"pk": S})
        records = await read_stream(engine, arn)
        for record, expected in zip(records, IMAGES[view], strict=True):
            body = record["dynamodb"]
            assert set(body) - {
                "ApproximateCreationDateTime",
                "Keys",
                "SequenceNumber",
                "SizeBytes",
                "StreamViewType",
            } == set(expected)
            assert body["Keys"] == {"pk": S}
            assert body["StreamViewType"] == view

    async def test_fields_as_the_real_service(self, engine: streamkit.Engine, clock: Any) -> None:
        await engine.create_table(
            TableName="msgs",
            **key_schema("Id", kind="N"),
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        arn = (await engine.describe_table(TableName="msgs"))["Table"]["LatestStreamArn"]
        clock.advance(0.75)
        await engine.put_item(
            TableName="msgs", Item={"Id": {"N": "101"}, "Message": {"S": "New item!"}}
        )
        (record,) = await read_stream(engine, arn)
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert len(record["eventID"]) == 32
        assert int(record["eventID"], 16) >= 0
        assert "userIdentity" not in record
        body = record["dynamodb"]
        assert body["SizeBytes"] == 26  # the AWS documentation's example
        assert body["ApproximateCreationDateTime"] == float(int(clock.now()))
        assert body["SequenceNumber"].isdigit()
        assert 21 <= len(body["SequenceNumber"]) <= 40

    def test_lambda_record_casing(self) -> None:
        record = {
            "eventName": "REMOVE",
            "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
        }
        out = lambda_record(record, "arn:x")
        assert out["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        assert out["eventSourceARN"] == "arn:x"
