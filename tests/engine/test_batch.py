"""BatchWriteItem and BatchGetItem: limits, duplicates, per-table options, capacity, helpers."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.backoff import Backoff
from streamkit.engine.bulk import batch_get_all, batch_write_all
from streamkit.errors import (
    ProvisionedThroughputExceededException,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from tests.conftest import key_schema

T = "batch1"
T2 = "batch2"


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(TableName=T, **key_schema("pk"))
    await memory_engine.create_table(TableName=T2, **key_schema("pk", "sk"))
    return memory_engine


def k(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def put(pk: str, **attrs: str) -> dict[str, Any]:
    return {"PutRequest": {"Item": {**k(pk), **{n: {"S": v} for n, v in attrs.items()}}}}


def delete(pk: str) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": k(pk)}}


async def _get(db: streamkit.Engine, pk: str) -> dict[str, Any] | None:
    return (await db.get_item(TableName=T, Key=k(pk))).get("Item")


class TestBatchWrite:
    async def test_puts_and_deletes_across_tables(self, db: streamkit.Engine) -> None:
        await db.put_item(TableName=T, Item={**k("gone"), "x": {"S": "1"}})
        out = await db.batch_write_item(
            RequestItems={
                T: [put("a", x="1"), delete("gone")],
                T2: [{"PutRequest": {"Item": {**k("a"), "sk": {"S": "s"}}}}],
            }
        )
        assert out == {"UnprocessedItems": {}}
        assert await _get(db, "a") == {**k("a"), "x": {"S": "1"}}
        assert await _get(db, "gone") is None
        got = await db.get_item(TableName=T2, Key={**k("a"), "sk": {"S": "s"}})
        assert "Item" in got

    async def test_put_replaces_whole_item(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put("a", x="1")]})
        await db.batch_write_item(RequestItems={T: [put("a", y="2")]})
        assert await _get(db, "a") == {**k("a"), "y": {"S": "2"}}

    async def test_delete_missing_item_is_fine(self, db: streamkit.Engine) -> None:
        assert await db.batch_write_item(RequestItems={T: [delete("nope")]}) == {
            "UnprocessedItems": {}
        }

    async def test_25_requests_allowed_26_rejected(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put(f"k{i}") for i in range(25)]})
        assert await _get(db, "k24") is not None
        with pytest.raises(ValidationException, match="less than or equal to 25"):
            await db.batch_write_item(RequestItems={T: [put(f"k{i}") for i in range(26)]})

    async def test_more_than_25_over_tables(self, db: streamkit.Engine) -> None:
        two = [{"PutRequest": {"Item": {**k(f"x{i}"), "sk": {"S": "s"}}}} for i in range(13)]
        with pytest.raises(
            ValidationException, match=r"^Too many items requested for the BatchWriteItem call$"
        ):
            await db.batch_write_item(RequestItems={T: [put(f"k{i}") for i in range(13)], T2: two})

    @pytest.mark.parametrize(
        ("requests", "match"),
        [
            pytest.param(None, "Value null at 'requestItems'", id="missing"),
            pytest.param({}, "greater than or equal to 1", id="empty-map"),
            pytest.param({T: []}, "Map value must satisfy constraint", id="empty-list"),
            pytest.param({"x": [put("a")]}, "at 'requestItems'", id="bad-table-name"),
            pytest.param({T: [{}]}, "exactly one of the supported", id="empty-request"),
            pytest.param({T: [{**put("a"), **delete("a")}]}, "exactly one of", id="put-and-delete"),
            pytest.param({T: [{"Bogus": {}}]}, "Unknown parameter", id="unknown-member"),
            pytest.param({T: [{"PutRequest": {}}]}, "Value null at 'item'", id="no-item"),
            pytest.param(
                {T: [{"PutRequest": {"Item": {"x": {"S": "1"}}}}]}, "Missing the key pk", id="nokey"
            ),
            pytest.param(
                {T: [{"DeleteRequest": {"Key": {"pk": {"N": "1"}}}}]},
                "does not match the schema",
                id="wrong-key-type",
            ),
        ],
    )
    async def test_invalid_requests(self, db: streamkit.Engine, requests: Any, match: str) -> None:
        with pytest.raises(ValidationException, match=match):
            await db.batch_write_item(RequestItems=requests)

    async def test_invalid_request_writes_nothing(self, db: streamkit.Engine) -> None:
        bad = {"PutRequest": {"Item": {"pk": {"N": "3"}}}}
        with pytest.raises(ValidationException, match="Type mismatch for key pk"):
            await db.batch_write_item(RequestItems={T: [put("a"), bad, put("b")]})
        assert await _get(db, "a") is None
        assert await _get(db, "b") is None

    async def test_unknown_table_writes_nothing(self, db: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await db.batch_write_item(RequestItems={T: [put("a")], "missing": [put("a")]})
        assert await _get(db, "a") is None

    @pytest.mark.parametrize(
        "requests",
        [[put("a"), put("a")], [delete("a"), delete("a")], [delete("a"), put("a")]],
        ids=["put-put", "delete-delete", "delete-put"],
    )
    async def test_two_requests_on_one_item(
        self, db: streamkit.Engine, requests: list[dict[str, Any]]
    ) -> None:
        with pytest.raises(
            ValidationException, match=r"^Provided list of item keys contains duplicates$"
        ):
            await db.batch_write_item(RequestItems={T: requests})

    async def test_same_key_in_two_tables_is_no_duplicate(self, db: streamkit.Engine) -> None:
        other = {"PutRequest": {"Item": {**k("a"), "sk": {"S": "1"}}}}
        same_hash = {"PutRequest": {"Item": {**k("a"), "sk": {"S": "2"}}}}
        await db.batch_write_item(RequestItems={T: [put("a")], T2: [other, same_hash]})

    async def test_item_over_400_kb(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="Item size has exceeded the maximum"):
            await db.batch_write_item(RequestItems={T: [put("a", x="x" * 410_000)]})

    async def test_each_item_is_written_whole(self, db: streamkit.Engine) -> None:
        """Items of a batch are independent writes: each replaces its item whole."""
        await db.put_item(TableName=T, Item={**k("a"), "old": {"S": "1"}, "keep": {"S": "?"}})
        await db.batch_write_item(RequestItems={T: [put("a", new="2"), put("b", new="3")]})
        assert await _get(db, "a") == {**k("a"), "new": {"S": "2"}}
        assert await _get(db, "b") == {**k("b"), "new": {"S": "3"}}

    async def test_one_store_hop(self, db: streamkit.Engine) -> None:
        before = db.store.statistics()
        await db.batch_write_item(RequestItems={T: [put(f"k{i}") for i in range(25)]})
        after = db.store.statistics()
        assert (after.commits - before.commits, after.writes - before.writes) == (1, 1)

    async def test_consumed_capacity_per_table(self, db: streamkit.Engine) -> None:
        big = "x" * 1500  # 2 WCU
        await db.put_item(TableName=T, Item={**k("old"), "x": {"S": big}})
        out = await db.batch_write_item(
            RequestItems={
                T: [put("a"), put("b", x=big), put("old"), delete("c")],
                T2: [{"PutRequest": {"Item": {**k("a"), "sk": {"S": "1"}}}}],
            },
            ReturnConsumedCapacity="TOTAL",
        )
        # a: 1, b: 2, old: max(old 2, new 1) = 2, missing c: 1
        assert out["ConsumedCapacity"] == [
            {"TableName": T, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0},
            {"TableName": T2, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0},
        ]

    async def test_bad_enum(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="returnItemCollectionMetrics"):
            await db.batch_write_item(RequestItems={T: [put("a")]}, ReturnItemCollectionMetrics="X")


class TestBatchGet:
    async def test_reads_tables_and_skips_missing(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put("a", x="1"), put("b")]})
        out = await db.batch_get_item(
            RequestItems={
                T: {"Keys": [k("a"), k("missing"), k("b")]},
                T2: {"Keys": [{**k("a"), "sk": {"S": "1"}}]},
            }
        )
        assert out == {
            "Responses": {T: [{**k("a"), "x": {"S": "1"}}, k("b")], T2: []},
            "UnprocessedKeys": {},
        }

    async def test_projection_and_names_per_table(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put("a", x="1", y="2")]})
        out = await db.batch_get_item(
            RequestItems={
                T: {
                    "Keys": [k("a")],
                    "ProjectionExpression": "#x",
                    "ExpressionAttributeNames": {"#x": "x"},
                    "ConsistentRead": True,
                }
            }
        )
        assert out["Responses"][T] == [{"x": {"S": "1"}}]

    async def test_unused_name_rejected(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="unused in expressions"):
            await db.batch_get_item(
                RequestItems={
                    T: {
                        "Keys": [k("a")],
                        "ProjectionExpression": "#x",
                        "ExpressionAttributeNames": {"#x": "x", "#y": "y"},
                    }
                }
            )

    async def test_100_keys_allowed_101_rejected(self, db: streamkit.Engine) -> None:
        out = await db.batch_get_item(RequestItems={T: {"Keys": [k(f"k{i}") for i in range(100)]}})
        assert out["Responses"] == {T: []}
        with pytest.raises(ValidationException, match="less than or equal to 100"):
            await db.batch_get_item(RequestItems={T: {"Keys": [k(f"k{i}") for i in range(101)]}})
        two = [{**k(f"x{i}"), "sk": {"S": "s"}} for i in range(50)]
        with pytest.raises(
            ValidationException, match=r"^Too many items requested for the BatchGetItem call$"
        ):
            await db.batch_get_item(
                RequestItems={T: {"Keys": [k(f"k{i}") for i in range(51)]}, T2: {"Keys": two}}
            )

    async def test_duplicate_keys(self, db: streamkit.Engine) -> None:
        with pytest.raises(
            ValidationException, match=r"^Provided list of item keys contains duplicates$"
        ):
            await db.batch_get_item(RequestItems={T: {"Keys": [k("a"), k("a")]}})

    @pytest.mark.parametrize(
        ("request_items", "error", "match"),
        [
            ({T: {}}, ValidationException, "Value null at 'requestItems.batch1.member.keys'"),
            ({T: {"Keys": []}}, ValidationException, "greater than or equal to 1"),
            ({T: {"Keys": [k("a")], "Bogus": 1}}, ValidationException, "Unknown parameter"),
            (
                {T: {"Keys": [k("a")], "AttributesToGet": ["x"], "ProjectionExpression": "x"}},
                ValidationException,
                "Can not use both expression and non-expression parameters",
            ),
            ({T: {"Keys": [{"nope": {"S": "a"}}]}}, ValidationException, "match the schema"),
            ({T: "x"}, SerializationException, "can not be converted"),
            ({"missing": {"Keys": [k("a")]}}, ResourceNotFoundException, "not found"),
        ],
        ids=["no-keys", "empty-keys", "unknown", "mixed", "bad-key", "not-a-map", "no-table"],
    )
    async def test_invalid(
        self, db: streamkit.Engine, request_items: Any, error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            await db.batch_get_item(RequestItems=request_items)

    async def test_legacy_attributes_to_get(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put("a", x="1", y="2")]})
        out = await db.batch_get_item(
            RequestItems={T: {"Keys": [k("a")], "AttributesToGet": ["x"]}}
        )
        assert out["Responses"] == {T: [{"x": {"S": "1"}}]}

    async def test_capacity_each_item_rounded(self, db: streamkit.Engine) -> None:
        await db.batch_write_item(RequestItems={T: [put("a", x="x" * 5000), put("b")]})
        out = await db.batch_get_item(
            RequestItems={
                T: {"Keys": [k("a"), k("b"), k("missing")], "ConsistentRead": True},
                T2: {"Keys": [{**k("a"), "sk": {"S": "1"}}]},
            },
            ReturnConsumedCapacity="TOTAL",
        )
        assert out["ConsumedCapacity"] == [
            {"TableName": T, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
            {"TableName": T2, "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5},
        ]

    async def test_16_mb_response_leaves_unprocessed_keys(self, db: streamkit.Engine) -> None:
        blob = "x" * 390_000
        for start in range(0, 45, 25):
            await db.batch_write_item(
                RequestItems={
                    T: [put(f"k{i:02}", x=blob) for i in range(start, min(start + 25, 45))]
                }
            )
        keys = [k(f"k{i:02}") for i in range(45)]
        request = {"Keys": keys, "ProjectionExpression": "pk", "ConsistentRead": True}
        out = await db.batch_get_item(
            RequestItems={T: request, T2: {"Keys": [{**k("a"), "sk": {"S": "1"}}]}},
            ReturnConsumedCapacity="TOTAL",
        )
        done = len(out["Responses"][T])
        assert done == (16 * 1024 * 1024) // (390_000 + len("pk") + 3 + len("x"))
        assert out["Responses"][T] == [k(f"k{i:02}") for i in range(done)]
        assert out["Responses"][T2] == []
        assert out["UnprocessedKeys"] == {
            T: {**request, "Keys": keys[done:]},
            T2: {"Keys": [{**k("a"), "sk": {"S": "1"}}]},
        }
        assert out["ConsumedCapacity"][0]["CapacityUnits"] == done * 96.0
        again = await batch_get_all(db, out["UnprocessedKeys"])
        assert len(again["Responses"][T]) == 45 - done
        assert again["UnprocessedKeys"] == {}


class FakeClient:
    """Answers batch calls from a script: each call pops one reply or error."""

    def __init__(self, *replies: dict[str, Any] | Exception) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    async def _answer(self, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(params)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        return await self._answer(params)

    async def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return await self._answer(params)


class TestHelpers:
    async def test_write_all_chunks_by_25(self, db: streamkit.Engine) -> None:
        out = await batch_write_all(db, {T: [put(f"k{i}") for i in range(60)]})
        assert out == {"UnprocessedItems": {}}
        got = await batch_get_all(db, {T: {"Keys": [k(f"k{i}") for i in range(60)]}})
        assert len(got["Responses"][T]) == 60

    async def test_write_all_retries_unprocessed_with_backoff(self) -> None:
        delays: list[float] = []

        class Clock:
            def now(self) -> float:
                return 0.0

            async def sleep(self, seconds: float) -> None:
                delays.append(seconds)

        left = {T: [put("b")]}
        client = FakeClient(
            {"UnprocessedItems": left},
            ProvisionedThroughputExceededException(),
            {"UnprocessedItems": {}},
        )
        backoff = Backoff(max_attempts=8, base=0.1, cap=5.0, clock=Clock())
        out = await batch_write_all(client, {T: [put("a"), put("b")]}, backoff=backoff)
        assert out == {"UnprocessedItems": {}}
        assert [c["RequestItems"] for c in client.calls] == [
            {T: [put("a"), put("b")]},
            left,
            left,
        ]
        assert len(delays) == 2
        assert 0 <= delays[0] <= 0.1
        assert 0 <= delays[1] <= 0.2

    async def test_write_all_gives_back_what_is_left(self) -> None:
        left = {T: [put("b")]}
        client = FakeClient(*[{"UnprocessedItems": left}] * 3)
        out = await batch_write_all(
            client, {T: [put("b")]}, backoff=Backoff(max_attempts=3, base=0)
        )
        assert out == {"UnprocessedItems": left}

    async def test_non_retryable_error_propagates(self) -> None:
        client = FakeClient(ValidationException("bad"))
        with pytest.raises(ValidationException):
            await batch_write_all(client, {T: [put("a")]}, backoff=Backoff(base=0))

    async def test_get_all_merges_responses(self) -> None:
        client = FakeClient(
            {
                "Responses": {T: [k("a")]},
                "UnprocessedKeys": {T: {"Keys": [k("b")], "ConsistentRead": True}},
                "ConsumedCapacity": [{"TableName": T, "CapacityUnits": 1.0}],
            },
            {"Responses": {T: [k("b")]}, "UnprocessedKeys": {}},
        )
        out = await batch_get_all(
            client,
            {T: {"Keys": [k("a"), k("b")], "ConsistentRead": True}},
            backoff=Backoff(base=0),
            ReturnConsumedCapacity="TOTAL",
        )
        assert out == {
            "Responses": {T: [k("a"), k("b")]},
            "UnprocessedKeys": {},
            "ConsumedCapacity": [{"TableName": T, "CapacityUnits": 1.0}],
        }
        assert client.calls[1]["RequestItems"] == {T: {"Keys": [k("b")], "ConsistentRead": True}}
        assert client.calls[1]["ReturnConsumedCapacity"] == "TOTAL"
