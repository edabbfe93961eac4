"""PutItem, GetItem, UpdateItem, DeleteItem: conditions, return values, capacity, bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.errors import (
    ConditionalCheckFailedException,
    ResourceNotFoundException,
    TransactionCanceledException,
    ValidationException,
)
from tests.conftest import key_schema

T = "items"


@pytest.fixture
async def db(engine: streamkit.Engine) -> streamkit.Engine:
    await engine.create_table(TableName=T, **key_schema("pk", "sk"))
    return engine


def k(pk: str, sk: str = "1") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


async def _get(db: streamkit.Engine, pk: str, sk: str = "1") -> dict[str, Any] | None:
    return (await db.get_item(TableName=T, Key=k(pk, sk), ConsistentRead=True)).get("Item")


class TestPutGet:
    async def test_round_trip_all_types(self, db: streamkit.Engine) -> None:
        item = {
            **k("a"),
            "s": {"S": ""},
            "n": {"N": "01.50"},
            "b": {"B": b"\x00\xff"},
            "t": {"BOOL": True},
            "z": {"NULL": True},
            "l": {"L": [{"S": "x"}, {"N": "2"}]},
            "m": {"M": {"inner": {"SS": ["a", "b"]}}},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": [b"a", b"b"]},
        }
        await db.put_item(TableName=T, Item=item)
        got = await _get(db, "a")
        assert got is not None
        assert got["n"] == {"N": "1.5"}
        assert got["b"] == {"B": b"\x00\xff"}
        assert got["m"] == {"M": {"inner": {"SS": ["a", "b"]}}}
        assert set(got) == set(item)

    async def test_missing_item(self, db: streamkit.Engine) -> None:
        assert await db.get_item(TableName=T, Key=k("none")) == {}

    async def test_projection(self, db: streamkit.Engine) -> None:
        await db.put_item(
            TableName=T, Item={**k("a"), "x": {"M": {"y": {"N": "1"}, "z": {"N": "2"}}}}
        )
        got = await db.get_item(
            TableName=T,
            Key=k("a"),
            ProjectionExpression="#x.y, pk",
            ExpressionAttributeNames={"#x": "x"},
        )
        assert got["Item"] == {"pk": {"S": "a"}, "x": {"M": {"y": {"N": "1"}}}}

    async def test_return_all_old(self, db: streamkit.Engine) -> None:
        first = await db.put_item(
            TableName=T, Item={**k("a"), "v": {"N": "1"}}, ReturnValues="ALL_OLD"
        )
        assert first == {}
        second = await db.put_item(
            TableName=T, Item={**k("a"), "v": {"N": "2"}}, ReturnValues="ALL_OLD"
        )
        assert second["Attributes"]["v"] == {"N": "1"}

    async def test_put_return_values_allowed(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="ReturnValues can only be ALL_OLD or NONE"):
            await db.put_item(TableName=T, Item=k("a"), ReturnValues="ALL_NEW")

    @pytest.mark.parametrize(
        ("item", "message"),
        [
            ({"pk": {"S": "a"}}, "Missing the key sk in the item"),
            ({"pk": {"N": "1"}, "sk": {"S": "1"}}, "Type mismatch"),
            ({"pk": {"S": ""}, "sk": {"S": "1"}}, "empty string"),
        ],
    )
    async def test_bad_keys(self, db: streamkit.Engine, item: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationException) as exc:
            await db.put_item(TableName=T, Item=item)
        assert message in exc.value.message

    async def test_get_key_must_match_schema(self, db: streamkit.Engine) -> None:
        for key in (
            {"pk": {"S": "a"}},
            {**k("a"), "x": {"S": "1"}},
            {"pk": {"N": "1"}, "sk": {"S": "1"}},
        ):
            with pytest.raises(ValidationException, match="does not match the schema"):
                await db.get_item(TableName=T, Key=key)

    async def test_oversize_item_changes_nothing(self, db: streamkit.Engine) -> None:
        big = {**k("a"), "blob": {"S": "x" * (400 * 1024)}}
        with pytest.raises(ValidationException, match="Item size has exceeded"):
            await db.put_item(TableName=T, Item=big)
        assert await _get(db, "a") is None

    async def test_missing_table(self, db: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await db.put_item(TableName="nope", Item=k("a"))

    async def test_consumed_capacity(self, db: streamkit.Engine) -> None:
        item = {**k("a"), "blob": {"S": "x" * 5000}}
        out = await db.put_item(TableName=T, Item=item, ReturnConsumedCapacity="TOTAL")
        assert out["ConsumedCapacity"]["CapacityUnits"] == 5.0  # ceil(~5 KB / 1 KB)
        got = await db.get_item(TableName=T, Key=k("a"), ReturnConsumedCapacity="INDEXES")
        assert got["ConsumedCapacity"]["CapacityUnits"] == 1.0  # eventual: ceil(5 KB/4 KB)/2
        assert got["ConsumedCapacity"]["Table"] == {"CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}
        strong = await db.get_item(
            TableName=T, Key=k("a"), ConsistentRead=True, ReturnConsumedCapacity="TOTAL"
        )
        assert strong["ConsumedCapacity"]["CapacityUnits"] == 2.0
        missing = await db.get_item(TableName=T, Key=k("b"), ReturnConsumedCapacity="TOTAL")
        assert missing["ConsumedCapacity"]["CapacityUnits"] == 0.5


class TestConditions:
    async def test_attribute_not_exists(self, db: streamkit.Engine) -> None:
        cond = "attribute_not_exists(pk)"
        await db.put_item(TableName=T, Item={**k("a"), "v": {"N": "1"}}, ConditionExpression=cond)
        with pytest.raises(ConditionalCheckFailedException) as exc:
            await db.put_item(
                TableName=T, Item={**k("a"), "v": {"N": "2"}}, ConditionExpression=cond
            )
        assert exc.value.item is None
        assert (await _get(db, "a") or {})["v"] == {"N": "1"}

    async def test_failure_returns_old_item_when_asked(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "v": {"N": "1"}})
        with pytest.raises(ConditionalCheckFailedException) as exc:
            await db.delete_item(
                TableName=T,
                Key=k("a"),
                ConditionExpression="v = :two",
                ExpressionAttributeValues={":two": {"N": "2"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        assert exc.value.item == {**k("a"), "v": {"N": "1"}}
        status, body = exc.value.to_wire()
        assert status == 400
        assert body["Item"] == exc.value.item
        assert body["__type"].endswith("#ConditionalCheckFailedException")

    async def test_unused_value_is_rejected(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="unused"):
            await db.put_item(
                TableName=T,
                Item=k("a"),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":x": {"S": "1"}},
            )

    async def test_values_without_expression(self, db: streamkit.Engine) -> None:
        with pytest.raises(
            ValidationException, match="can only be specified when using expressions"
        ):
            await db.put_item(
                TableName=T, Item=k("a"), ExpressionAttributeValues={":x": {"S": "1"}}
            )

    async def test_syntax_error_changes_nothing(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException):
            await db.put_item(TableName=T, Item=k("a"), ConditionExpression="pk = = 1")
        assert await _get(db, "a") is None

    async def test_concurrent_conditional_puts_one_wins(self, db: streamkit.Engine) -> None:
        """Group commit keeps each conditional write's result as if it ran alone."""
        wins: list[int] = []
        losses: list[int] = []

        async def attempt(i: int) -> None:
            try:
                await db.put_item(
                    TableName=T,
                    Item={**k("race"), "who": {"N": str(i)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                wins.append(i)
            except ConditionalCheckFailedException:
                losses.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(32):
                tg.start_soon(attempt, i)
        assert len(wins) == 1
        assert len(losses) == 31
        assert (await _get(db, "race") or {})["who"] == {"N": str(wins[0])}


class TestUpdateItem:
    async def test_upsert_and_add_counter(self, db: streamkit.Engine) -> None:
        for _ in range(3):
            out = await db.update_item(
                TableName=T,
                Key=k("c"),
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        assert out["Attributes"] == {"hits": {"N": "3"}}

    async def test_a_set_cannot_nest_past_the_limit(self, db: streamkit.Engine) -> None:
        """Each value is valid alone; placed at a.a they would hold a map at level 32."""
        inner: dict[str, Any] = {"S": "leaf"}
        for _ in range(31):
            inner = {"M": {"a": inner}}  # 31 wraps: the most an attribute may hold
        item = {**k("n"), "a": {"M": {"a": {"S": "x"}}}}
        await db.put_item(TableName=T, Item=item)
        update = {"TableName": T, "Key": k("n"), "ExpressionAttributeValues": {":v": inner}}
        await db.update_item(**update, UpdateExpression="SET a = :v")
        await db.put_item(TableName=T, Item=item)
        with pytest.raises(ValidationException, match="Nesting Levels have exceeded"):
            await db.update_item(**update, UpdateExpression="SET a.a = :v")
        with pytest.raises(TransactionCanceledException) as cancelled:  # as for a size error
            await db.transact_write_items(
                TransactItems=[{"Update": {**update, "UpdateExpression": "SET a.a = :v"}}]
            )
        assert cancelled.value.reasons[0]["Code"] == "ValidationError"
        assert cancelled.value.reasons[0]["Message"].startswith("Nesting Levels have exceeded")
        assert await _get(db, "n") == item

    async def test_without_expression_creates_key_only_item(self, db: streamkit.Engine) -> None:
        assert await db.update_item(TableName=T, Key=k("e"), ReturnValues="ALL_NEW") == {
            "Attributes": k("e")
        }
        assert await _get(db, "e") == k("e")

    async def test_return_values(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "x": {"N": "1"}, "y": {"S": "keep"}})
        old = await db.update_item(
            TableName=T,
            Key=k("a"),
            UpdateExpression="SET x = x + :d",
            ExpressionAttributeValues={":d": {"N": "4"}},
            ReturnValues="UPDATED_OLD",
        )
        assert old["Attributes"] == {"x": {"N": "1"}}
        new = await db.update_item(
            TableName=T, Key=k("a"), UpdateExpression="REMOVE y", ReturnValues="ALL_NEW"
        )
        assert new["Attributes"] == {**k("a"), "x": {"N": "5"}}
        everything = await db.update_item(
            TableName=T,
            Key=k("a"),
            UpdateExpression="SET z = :z",
            ExpressionAttributeValues={":z": {"BOOL": False}},
            ReturnValues="ALL_OLD",
        )
        assert everything["Attributes"] == {**k("a"), "x": {"N": "5"}}

    async def test_cannot_update_key(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="part of the key"):
            await db.update_item(
                TableName=T,
                Key=k("a"),
                UpdateExpression="SET pk = :v",
                ExpressionAttributeValues={":v": {"S": "b"}},
            )

    async def test_type_error_changes_nothing(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "s": {"S": "text"}})
        with pytest.raises(ValidationException):
            await db.update_item(
                TableName=T,
                Key=k("a"),
                UpdateExpression="ADD s :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        assert await _get(db, "a") == {**k("a"), "s": {"S": "text"}}

    async def test_condition_on_update(self, db: streamkit.Engine) -> None:
        with pytest.raises(ConditionalCheckFailedException):
            await db.update_item(
                TableName=T,
                Key=k("a"),
                UpdateExpression="SET v = :v",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":v": {"N": "1"}},
            )
        assert await _get(db, "a") is None

    async def test_oversize_update(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "a": {"S": "x" * 300_000}})
        with pytest.raises(ValidationException, match="Item size to update has exceeded"):
            await db.update_item(
                TableName=T,
                Key=k("a"),
                UpdateExpression="SET b = :b",
                ExpressionAttributeValues={":b": {"S": "y" * 200_000}},
            )


class TestDeleteItem:
    async def test_delete_returns_old(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "v": {"N": "1"}})
        out = await db.delete_item(
            TableName=T, Key=k("a"), ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL"
        )
        assert out["Attributes"]["v"] == {"N": "1"}
        assert out["ConsumedCapacity"]["CapacityUnits"] == 1.0
        assert await _get(db, "a") is None

    async def test_delete_missing_costs_one_unit(self, db: streamkit.Engine) -> None:
        out = await db.delete_item(TableName=T, Key=k("zz"), ReturnConsumedCapacity="TOTAL")
        assert out == {
            "ConsumedCapacity": {"TableName": T, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}
        }


class TestTableResource:
    async def test_native_values(self, db: streamkit.Engine) -> None:
        table = db.table(T)
        await table.put_item(
            Item={"pk": "a", "sk": "1", "amount": 3, "tags": {"x", "y"}, "raw": b"\x01"}
        )
        got = await table.get_item(Key={"pk": "a", "sk": "1"})
        assert got["Item"] == {
            "pk": "a",
            "sk": "1",
            "amount": Decimal(3),
            "tags": {"x", "y"},
            "raw": b"\x01",
        }
        out = await table.update_item(
            Key={"pk": "a", "sk": "1"},
            UpdateExpression="SET amount = amount + :n",
            ExpressionAttributeValues={":n": 2},
            ReturnValues="UPDATED_NEW",
        )
        assert out["Attributes"] == {"amount": Decimal(5)}
        await table.delete_item(Key={"pk": "a", "sk": "1"})
        assert await table.get_item(Key={"pk": "a", "sk": "1"}) == {}
