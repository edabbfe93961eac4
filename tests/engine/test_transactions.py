"""TransactWriteItems and TransactGetItems: atomicity, reasons, idempotency, conflicts, capacity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import streamkit
from streamkit.errors import (
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
    SerializationException,
    TransactionCanceledException,
    ValidationException,
)
from streamkit.testing import ManualClock
from tests.conftest import key_schema

T = "tx1"
T2 = "tx2"


@pytest.fixture
async def db(engine: streamkit.Engine) -> streamkit.Engine:
    await engine.create_table(TableName=T, **key_schema("pk"))
    await engine.create_table(TableName=T2, **key_schema("pk"))
    return engine


def k(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def put(pk: str, table: str = T, *, x: str | None = None, **extra: Any) -> dict[str, Any]:
    item = k(pk) if x is None else {**k(pk), "x": {"S": x}}
    return {"Put": {"TableName": table, "Item": item, **extra}}


def check(pk: str, condition: str, **extra: Any) -> dict[str, Any]:
    return {
        "ConditionCheck": {"TableName": T, "Key": k(pk), "ConditionExpression": condition, **extra}
    }


def add(pk: str, **extra: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": T,
            "Key": k(pk),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            **extra,
        }
    }


def delete(pk: str, **extra: Any) -> dict[str, Any]:
    return {"Delete": {"TableName": T, "Key": k(pk), **extra}}


async def _get(db: streamkit.Engine, pk: str, table: str = T) -> dict[str, Any] | None:
    return (await db.get_item(TableName=table, Key=k(pk), ConsistentRead=True)).get("Item")


async def _cancelled(db: streamkit.Engine, *items: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(TransactionCanceledException) as exc:
        await db.transact_write_items(TransactItems=list(items))
    return exc.value.reasons


class TestTransactWrite:
    async def test_all_action_kinds(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("del"), "x": {"S": "1"}})
        await db.put_item(TableName=T, Item={**k("cnt"), "n": {"N": "5"}})
        out = await db.transact_write_items(
            TransactItems=[
                put("new", x="1", ConditionExpression="attribute_not_exists(pk)"),
                put("other", table=T2),
                add(
                    "cnt",
                    ConditionExpression="n = :five",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":five": {"N": "5"}},
                ),
                delete("del", ConditionExpression="attribute_exists(pk)"),
                check("chk", "attribute_not_exists(pk)"),
            ]
        )
        assert out == {}
        assert await _get(db, "new") == {**k("new"), "x": {"S": "1"}}
        assert await _get(db, "other", T2) == k("other")
        assert await _get(db, "cnt") == {**k("cnt"), "n": {"N": "6"}}
        assert await _get(db, "del") is None
        assert await _get(db, "chk") is None

    async def test_every_failed_condition_is_reported(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "n": {"N": "1"}})
        reasons = await _cancelled(
            db,
            put("b"),
            add("a"),
            check("c", "attribute_exists(pk)"),
            put("d", ConditionExpression="attribute_exists(pk)"),
        )
        failed = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
        assert reasons == [{"Code": "None"}, {"Code": "None"}, failed, failed]

    async def test_atomic_all_or_nothing(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "n": {"N": "1"}})
        reasons = await _cancelled(db, put("b"), add("a"), check("c", "attribute_exists(pk)"))
        assert [r["Code"] for r in reasons] == ["None", "None", "ConditionalCheckFailed"]
        assert "Message" not in reasons[0]
        assert await _get(db, "b") is None
        assert await _get(db, "a") == {**k("a"), "n": {"N": "1"}}

    async def test_message_lists_codes(self, db: streamkit.Engine) -> None:
        with pytest.raises(TransactionCanceledException) as exc:
            await db.transact_write_items(
                TransactItems=[check("c", "attribute_exists(pk)"), put("b")]
            )
        _, body = exc.value.to_wire()
        assert body["Message"] == (
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            "[ConditionalCheckFailed, None]"
        )
        assert body["CancellationReasons"][1] == {"Code": "None"}

    async def test_return_values_on_condition_check_failure(self, db: streamkit.Engine) -> None:
        item = {**k("a"), "n": {"N": "1"}}
        await db.put_item(TableName=T, Item=item)
        reasons = await _cancelled(
            db,
            check("a", "attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        )
        assert reasons[0]["Item"] == item
        reasons = await _cancelled(db, check("a", "attribute_not_exists(pk)"))
        assert "Item" not in reasons[0]
        with pytest.raises(ValidationException, match="returnValuesOnConditionCheckFailure"):
            await db.transact_write_items(
                TransactItems=[
                    check("a", "attribute_exists(pk)", ReturnValuesOnConditionCheckFailure="none")
                ]
            )

    async def test_validation_error_reason_is_first_only(self, db: streamkit.Engine) -> None:
        bad = {"Put": {"TableName": T, "Item": {"pk": {"N": "7"}}}}
        bad2 = {"Put": {"TableName": T, "Item": {"pk": {"N": "8"}}}}
        reasons = await _cancelled(
            db, bad, bad2, put("x", ConditionExpression="attribute_exists(pk)")
        )
        assert [r["Code"] for r in reasons] == ["ValidationError", "None", "None"]
        assert "Type mismatch for key pk" in reasons[0]["Message"]

    async def test_item_too_large_is_a_validation_error(self, db: streamkit.Engine) -> None:
        reasons = await _cancelled(db, put("a", x="x" * 410_000))
        assert reasons == [
            {
                "Code": "ValidationError",
                "Message": "Item size has exceeded the maximum allowed size",
            }
        ]
        await db.put_item(TableName=T, Item={**k("b"), "x": {"S": "x" * 300_000}})
        grow = {
            "Update": {
                "TableName": T,
                "Key": k("b"),
                "UpdateExpression": "SET y = :y",
                "ExpressionAttributeValues": {":y": {"S": "y" * 200_000}},
            }
        }
        reasons = await _cancelled(db, put("c"), grow)
        assert reasons[1]["Code"] == "ValidationError"
        assert "Item size to update" in reasons[1]["Message"]
        assert await _get(db, "c") is None

    @pytest.mark.parametrize(
        ("items", "match"),
        [
            pytest.param(None, "Value null at 'transactItems'", id="missing"),
            pytest.param([], "greater than or equal to 1", id="empty"),
            pytest.param([{}], "can only contain one of", id="no-action"),
            pytest.param([{**put("a"), **delete("b")}], "can only contain one of", id="two"),
            pytest.param([check("a", "")], "ConditionExpression", id="empty-condition"),
            pytest.param(
                [{"ConditionCheck": {"TableName": T, "Key": k("a")}}],
                "conditionCheck.conditionExpression",
                id="check-without-condition",
            ),
            pytest.param(
                [{"Update": {"TableName": T, "Key": k("a")}}],
                "transactItems.1.member.update.updateExpression",
                id="update-without-expression",
            ),
            pytest.param(
                [put("a", ConditionExpression="attribute_exists(#xyz)")], "#xyz", id="no-name"
            ),
            pytest.param([put("a", ConditionExpression="pk = :v")], ":v", id="no-value"),
            pytest.param(
                [
                    put(
                        "a",
                        ConditionExpression="attribute_exists(pk)",
                        ExpressionAttributeNames={"#q": "q"},
                    )
                ],
                "unused in expressions: keys: {#q}",
                id="unused-name",
            ),
            pytest.param([put("a", ConditionExpression="hello!")], "Syntax error", id="syntax"),
            pytest.param([put("a"), put("a")], "multiple operations on one item", id="same-put"),
            pytest.param(
                [put("a"), check("a", "attribute_exists(pk)")],
                "^Transaction request cannot include multiple operations on one item$",
                id="put-and-check",
            ),
        ],
    )
    async def test_request_errors(self, db: streamkit.Engine, items: Any, match: str) -> None:
        with pytest.raises(ValidationException, match=match):
            await db.transact_write_items(TransactItems=items)
        assert await _get(db, "a") is None

    async def test_100_actions_allowed_101_rejected(self, db: streamkit.Engine) -> None:
        await db.transact_write_items(TransactItems=[put(f"k{i}") for i in range(100)])
        assert await _get(db, "k99") is not None
        with pytest.raises(ValidationException, match="less than or equal to 100"):
            await db.transact_write_items(TransactItems=[put(f"x{i}") for i in range(101)])

    async def test_4_mb_payload(self, db: streamkit.Engine) -> None:
        blob = "x" * 390_000
        with pytest.raises(ValidationException, match="size cannot exceed 4 MB"):
            await db.transact_write_items(TransactItems=[put(f"k{i}", x=blob) for i in range(11)])
        await db.transact_write_items(TransactItems=[put(f"k{i}", x=blob) for i in range(10)])
        # deleting more than 4 MB of items is fine: the limit is on the request
        await db.transact_write_items(TransactItems=[delete(f"k{i}") for i in range(10)])

    async def test_unknown_table_and_serialization(self, db: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await db.transact_write_items(TransactItems=[put("a"), put("a", table="nope")])
        with pytest.raises(SerializationException):
            await db.transact_write_items(
                TransactItems=[
                    put(
                        "a",
                        ConditionExpression="attribute_exists(#x)",
                        ExpressionAttributeNames={"#x": 7},
                    )
                ]
            )
        assert await _get(db, "a") is None

    async def test_capacity_is_doubled_per_table(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("big"), "x": {"S": "x" * 1500}})
        out = await db.transact_write_items(
            TransactItems=[
                put("a"),
                put("b", table=T2),
                delete("big"),
                check("c", "attribute_not_exists(pk)"),
            ],
            ReturnConsumedCapacity="INDEXES",
        )
        # a: 2, big: 2 x 2, check: 2 (T) ; b: 2 (T2)
        assert out["ConsumedCapacity"] == [
            {
                "TableName": T,
                "CapacityUnits": 8.0,
                "WriteCapacityUnits": 8.0,
                "Table": {"CapacityUnits": 8.0, "WriteCapacityUnits": 8.0},
            },
            {
                "TableName": T2,
                "CapacityUnits": 2.0,
                "WriteCapacityUnits": 2.0,
                "Table": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0},
            },
        ]

    async def test_one_store_hop(self, db: streamkit.Engine) -> None:
        before = db.store.statistics()
        await db.transact_write_items(TransactItems=[put(f"k{i}") for i in range(10)])
        assert db.store.statistics().writes - before.writes == 1


class TestIdempotency:
    async def test_repeat_within_10_minutes_is_not_applied(
        self, db: streamkit.Engine, clock: ManualClock
    ) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "n": {"N": "0"}})
        await db.transact_write_items(TransactItems=[add("a")], ClientRequestToken="t1")
        clock.advance(599)
        out = await db.transact_write_items(
            TransactItems=[add("a")], ClientRequestToken="t1", ReturnConsumedCapacity="TOTAL"
        )
        assert out["ConsumedCapacity"] == [
            {"TableName": T, "CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}
        ]
        assert await _get(db, "a") == {**k("a"), "n": {"N": "1"}}
        clock.advance(1)  # 10 minutes after the first: the token is forgotten
        await db.transact_write_items(TransactItems=[add("a")], ClientRequestToken="t1")
        assert await _get(db, "a") == {**k("a"), "n": {"N": "2"}}

    async def test_without_token_every_call_applies(self, db: streamkit.Engine) -> None:
        for _ in range(2):
            await db.transact_write_items(TransactItems=[add("a")])
        assert await _get(db, "a") == {**k("a"), "n": {"N": "2"}}

    async def test_same_token_other_parameters(
        self, db: streamkit.Engine, clock: ManualClock
    ) -> None:
        await db.transact_write_items(TransactItems=[put("a")], ClientRequestToken="t2")
        with pytest.raises(IdempotentParameterMismatchException):
            await db.transact_write_items(TransactItems=[put("b")], ClientRequestToken="t2")
        assert await _get(db, "b") is None
        clock.advance(600)
        await db.transact_write_items(TransactItems=[put("b")], ClientRequestToken="t2")
        assert await _get(db, "b") is not None

    async def test_cancelled_transaction_does_not_use_the_token(self, db: streamkit.Engine) -> None:
        items = [put("a", ConditionExpression="attribute_exists(pk)")]
        for _ in range(2):
            with pytest.raises(TransactionCanceledException):
                await db.transact_write_items(TransactItems=items, ClientRequestToken="t3")
        await db.transact_write_items(TransactItems=[put("a")], ClientRequestToken="t3")

    async def test_token_length(self, db: streamkit.Engine) -> None:
        await db.transact_write_items(TransactItems=[put("a")], ClientRequestToken="x" * 36)
        with pytest.raises(ValidationException, match="clientRequestToken"):
            await db.transact_write_items(TransactItems=[put("a")], ClientRequestToken="x" * 37)
        with pytest.raises(ValidationException, match="clientRequestToken"):
            await db.transact_write_items(TransactItems=[put("a")], ClientRequestToken="")

    async def test_tokens_survive_reopening(self, tmp_path: Any, clock: ManualClock) -> None:
        path = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(path, clock=clock) as db:
            await db.create_table(TableName=T, **key_schema("pk"))
            await db.transact_write_items(TransactItems=[add("a")], ClientRequestToken="t4")
        async with streamkit.open_engine(path, clock=clock) as db:
            await db.transact_write_items(TransactItems=[add("a")], ClientRequestToken="t4")
            assert await _get(db, "a") == {**k("a"), "n": {"N": "1"}}


class TestConflicts:
    async def test_transactions_in_one_commit_batch_conflict(self, db: streamkit.Engine) -> None:
        """The later of two transactions in flight together on one item is cancelled."""
        results = await asyncio.gather(
            db.put_item(TableName=T2, Item=k("leader")),  # leads; the next two queue together
            db.transact_write_items(TransactItems=[add("a"), put("x")]),
            db.transact_write_items(TransactItems=[put("y"), add("a")]),
            return_exceptions=True,
        )
        assert results[1] == {}
        error = results[2]
        assert isinstance(error, TransactionCanceledException)
        assert error.reasons == [
            {"Code": "None"},
            {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
        ]
        assert await _get(db, "a") == {**k("a"), "n": {"N": "1"}}
        assert await _get(db, "y") is None

    async def test_disjoint_transactions_do_not_conflict(self, db: streamkit.Engine) -> None:
        results = await asyncio.gather(
            db.put_item(TableName=T2, Item=k("leader")),
            db.transact_write_items(TransactItems=[add("a")]),
            db.transact_write_items(TransactItems=[add("b")]),
        )
        assert list(results[1:]) == [{}, {}]

    async def test_later_batches_do_not_conflict(self, db: streamkit.Engine) -> None:
        await db.transact_write_items(TransactItems=[add("a")])
        await db.transact_write_items(TransactItems=[add("a")])
        assert await _get(db, "a") == {**k("a"), "n": {"N": "2"}}

    async def test_cancelled_transaction_holds_no_item(self, db: streamkit.Engine) -> None:
        results = await asyncio.gather(
            db.put_item(TableName=T2, Item=k("leader")),
            db.transact_write_items(TransactItems=[add("a"), check("c", "attribute_exists(pk)")]),
            db.transact_write_items(TransactItems=[add("a")]),
            return_exceptions=True,
        )
        assert isinstance(results[1], TransactionCanceledException)
        assert results[2] == {}


class TestTransactGet:
    async def test_reads_in_order_with_projection(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("a"), "x": {"S": "1"}, "y": {"S": "2"}})
        await db.put_item(TableName=T2, Item=k("b"))
        out = await db.transact_get_items(
            TransactItems=[
                {"Get": {"TableName": T2, "Key": k("b")}},
                {"Get": {"TableName": T, "Key": k("missing")}},
                {
                    "Get": {
                        "TableName": T,
                        "Key": k("a"),
                        "ProjectionExpression": "#x",
                        "ExpressionAttributeNames": {"#x": "x"},
                    }
                },
            ],
            ReturnConsumedCapacity="TOTAL",
        )
        assert out["Responses"] == [{"Item": k("b")}, {}, {"Item": {"x": {"S": "1"}}}]
        assert out["ConsumedCapacity"] == [
            {"TableName": T2, "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0},
            {"TableName": T, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
        ]

    async def test_limits_and_errors(self, db: streamkit.Engine) -> None:
        gets = [{"Get": {"TableName": T, "Key": k(f"k{i}")}} for i in range(101)]
        out = await db.transact_get_items(TransactItems=gets[:100])
        assert out["Responses"] == [{}] * 100
        with pytest.raises(ValidationException, match="less than or equal to 100"):
            await db.transact_get_items(TransactItems=gets)
        with pytest.raises(ValidationException, match="multiple operations on one item"):
            await db.transact_get_items(TransactItems=[gets[0], gets[0]])
        with pytest.raises(ValidationException, match=r"unused in expressions: keys: \{#q\}"):
            await db.transact_get_items(
                TransactItems=[
                    {
                        "Get": {
                            "TableName": T,
                            "Key": k("a"),
                            "ProjectionExpression": "#x",
                            "ExpressionAttributeNames": {"#x": "x", "#q": "q"},
                        }
                    }
                ]
            )
        with pytest.raises(ValidationException, match=r"transactItems\.1\.member\.get"):
            await db.transact_get_items(TransactItems=[{}])
        with pytest.raises(ResourceNotFoundException):
            await db.transact_get_items(
                TransactItems=[{"Get": {"TableName": "nope", "Key": k("a")}}]
            )
