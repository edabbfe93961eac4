"""Query and Scan: key conditions, order, paging, filters, Select, segments, indexes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import ValidationException
from tests.conftest import key_schema

T = "events"


@pytest.fixture
async def db(memory_engine: streamkit.Engine) -> streamkit.Engine:
    await memory_engine.create_table(
        TableName=T,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_l",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["tag"]},
            }
        ],
    )
    return memory_engine


async def _put(db: streamkit.Engine, pk: str, n: str, **extra: dict[str, Any]) -> None:
    await db.put_item(TableName=T, Item={"pk": {"S": pk}, "n": {"N": n}, **extra})


def _ns(out: dict[str, Any]) -> list[str]:
    return [i["n"]["N"] for i in out["Items"]]


async def _query(db: streamkit.Engine, cond: str, values: dict[str, Any], **kw: Any) -> Any:
    return await db.query(
        TableName=T, KeyConditionExpression=cond, ExpressionAttributeValues=values, **kw
    )


class TestKeyConditions:
    @pytest.fixture
    async def numbers(self, db: streamkit.Engine) -> streamkit.Engine:
        for n in ("-10", "-1.5", "0", "2", "10", "100", "1E+3"):
            await _put(db, "a", n)
        await _put(db, "b", "5")
        return db

    @pytest.mark.parametrize(
        ("cond", "values", "expected"),
        [
            ("pk = :p", {}, ["-10", "-1.5", "0", "2", "10", "100", "1000"]),
            ("pk = :p AND n = :x", {":x": {"N": "10"}}, ["10"]),
            ("pk = :p AND n < :x", {":x": {"N": "2"}}, ["-10", "-1.5", "0"]),
            ("pk = :p AND n <= :x", {":x": {"N": "2"}}, ["-10", "-1.5", "0", "2"]),
            ("pk = :p AND n > :x", {":x": {"N": "10"}}, ["100", "1000"]),
            ("pk = :p AND n >= :x", {":x": {"N": "10"}}, ["10", "100", "1000"]),
            (
                "pk = :p AND n BETWEEN :x AND :y",
                {":x": {"N": "-1.5"}, ":y": {"N": "10"}},
                ["-1.5", "0", "2", "10"],
            ),
        ],
    )
    async def test_numeric_sort_key(
        self, numbers: streamkit.Engine, cond: str, values: dict[str, Any], expected: list[str]
    ) -> None:
        out = await _query(numbers, cond, {":p": {"S": "a"}, **values})
        assert _ns(out) == expected
        back = await _query(numbers, cond, {":p": {"S": "a"}, **values}, ScanIndexForward=False)
        assert _ns(back) == expected[::-1]

    async def test_begins_with_on_string_key(self, memory_engine: streamkit.Engine) -> None:
        await memory_engine.create_table(TableName="str", **key_schema("pk", "sk"))
        for sk in ("a", "ab", "abc", "abd", "b", "a\uffff", "ac"):
            await memory_engine.put_item(TableName="str", Item={"pk": {"S": "p"}, "sk": {"S": sk}})
        out = await memory_engine.query(
            TableName="str",
            KeyConditionExpression="pk = :p AND begins_with(sk, :b)",
            ExpressionAttributeValues={":p": {"S": "p"}, ":b": {"S": "ab"}},
        )
        assert [i["sk"]["S"] for i in out["Items"]] == ["ab", "abc", "abd"]

    async def test_type_mismatch(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="Condition parameter type does not match"):
            await _query(db, "pk = :p AND n > :x", {":p": {"S": "a"}, ":x": {"S": "1"}})

    async def test_partition_needs_equality(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="Query key condition not supported"):
            await _query(db, "pk > :p", {":p": {"S": "a"}})

    async def test_missing_key_condition(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="KeyConditionExpression parameter"):
            await db.query(TableName=T)


class TestPagingAndFilters:
    async def test_limit_pages_and_last_key(self, db: streamkit.Engine) -> None:
        for n in range(5):
            await _put(db, "a", str(n))
        seen: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            kw: dict[str, Any] = {"Limit": 2}
            if start is not None:
                kw["ExclusiveStartKey"] = start
            out = await _query(db, "pk = :p", {":p": {"S": "a"}}, **kw)
            seen += _ns(out)
            start = out.get("LastEvaluatedKey")
            if start is None:
                break
            assert set(start) == {"pk", "n"}
        assert seen == ["0", "1", "2", "3", "4"]

    async def test_filter_counts_and_empty_pages(self, db: streamkit.Engine) -> None:
        for n in range(6):
            await _put(db, "a", str(n), odd={"BOOL": n % 2 == 1})
        out = await db.query(
            TableName=T,
            KeyConditionExpression="pk = :p",
            FilterExpression="odd = :t",
            ExpressionAttributeValues={":p": {"S": "a"}, ":t": {"BOOL": True}},
            Limit=1,
        )
        assert out["Count"] == 0
        assert out["ScannedCount"] == 1
        assert out["Items"] == []
        assert out["LastEvaluatedKey"] == {"pk": {"S": "a"}, "n": {"N": "0"}}

    async def test_one_megabyte_page(self, db: streamkit.Engine) -> None:
        blob = {"S": "x" * 300_000}
        for n in range(5):
            await _put(db, "a", str(n), blob=blob)
        out = await db.query(
            TableName=T,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            Select="COUNT",
        )
        assert out["Count"] == 4  # the 4th item crosses 1 MB and ends the page
        assert "Items" not in out
        assert out["LastEvaluatedKey"]["n"] == {"N": "3"}

    async def test_select_rules(self, db: streamkit.Engine) -> None:
        base = {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}},
        }
        with pytest.raises(ValidationException, match="when choosing to get only the Count"):
            await db.query(TableName=T, Select="COUNT", ProjectionExpression="pk", **base)
        with pytest.raises(ValidationException, match="Must specify the AttributesToGet"):
            await db.query(TableName=T, Select="SPECIFIC_ATTRIBUTES", **base)
        with pytest.raises(ValidationException, match="ALL_PROJECTED_ATTRIBUTES can be used only"):
            await db.query(TableName=T, Select="ALL_PROJECTED_ATTRIBUTES", **base)

    async def test_bad_start_key(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="The provided starting key is invalid"):
            await db.scan(TableName=T, ExclusiveStartKey={"pk": {"S": "a"}})

    async def test_limit_range(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="greater than or equal to 1"):
            await db.scan(TableName=T, Limit=0)


class TestIndexes:
    async def test_gsi_query_projection_and_sparseness(self, db: streamkit.Engine) -> None:
        await _put(db, "a", "1", g={"S": "red"}, tag={"S": "t1"}, secret={"S": "no"})
        await _put(db, "b", "2", g={"S": "red"}, tag={"S": "t2"})
        await _put(db, "c", "3")  # no g: not in the index
        out = await db.query(
            TableName=T,
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "red"}},
        )
        assert out["Items"] == [
            {"pk": {"S": "a"}, "n": {"N": "1"}, "g": {"S": "red"}, "tag": {"S": "t1"}},
            {"pk": {"S": "b"}, "n": {"N": "2"}, "g": {"S": "red"}, "tag": {"S": "t2"}},
        ]
        scan = await db.scan(TableName=T, IndexName="by_g")
        assert scan["Count"] == 2
        table = (await db.describe_table(TableName=T))["Table"]
        assert table["ItemCount"] == 3
        gsi = table["GlobalSecondaryIndexes"][0]
        assert gsi["ItemCount"] == 2  # sparse: item c has no g
        assert 0 < gsi["IndexSizeBytes"] < table["TableSizeBytes"]

    async def test_gsi_follows_updates_and_deletes(self, db: streamkit.Engine) -> None:
        await _put(db, "a", "1", g={"S": "red"})
        await db.update_item(
            TableName=T,
            Key={"pk": {"S": "a"}, "n": {"N": "1"}},
            UpdateExpression="SET g = :b",
            ExpressionAttributeValues={":b": {"S": "blue"}},
        )

        async def colour(c: str) -> int:
            out = await db.query(
                TableName=T,
                IndexName="by_g",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"S": c}},
                Select="COUNT",
            )
            return int(out["Count"])

        assert (await colour("red"), await colour("blue")) == (0, 1)
        await db.delete_item(TableName=T, Key={"pk": {"S": "a"}, "n": {"N": "1"}})
        assert await colour("blue") == 0

    async def test_index_key_type_checked(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="Type mismatch for Index Key g"):
            await _put(db, "a", "1", g={"N": "1"})
        assert (await db.scan(TableName=T))["Count"] == 0

    async def test_gsi_rules(self, db: streamkit.Engine) -> None:
        base = {
            "IndexName": "by_g",
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "red"}},
        }
        with pytest.raises(ValidationException, match="Consistent reads are not supported"):
            await db.query(TableName=T, ConsistentRead=True, **base)
        with pytest.raises(
            ValidationException, match="Select type ALL_ATTRIBUTES is not supported"
        ):
            await db.query(TableName=T, Select="ALL_ATTRIBUTES", **base)
        with pytest.raises(ValidationException, match="does not have the specified index: nope"):
            await db.query(TableName=T, **{**base, "IndexName": "nope"})

    async def test_lsi_fetches_unprojected_attributes(self, db: streamkit.Engine) -> None:
        await _put(db, "a", "1", l={"S": "z"}, extra={"S": "e"})
        await _put(db, "a", "2", l={"S": "y"})
        keys_only = await db.query(
            TableName=T,
            IndexName="by_l",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
        )
        assert [i["l"]["S"] for i in keys_only["Items"]] == ["y", "z"]
        assert "extra" not in keys_only["Items"][1]
        full = await db.query(
            TableName=T,
            IndexName="by_l",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            Select="ALL_ATTRIBUTES",
        )
        assert full["Items"][1]["extra"] == {"S": "e"}
        page = await db.query(
            TableName=T,
            IndexName="by_l",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            Limit=1,
        )
        assert page["LastEvaluatedKey"] == {"pk": {"S": "a"}, "n": {"N": "2"}, "l": {"S": "y"}}
        rest = await db.query(
            TableName=T,
            IndexName="by_l",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "a"}},
            ExclusiveStartKey=page["LastEvaluatedKey"],
        )
        assert [i["l"]["S"] for i in rest["Items"]] == ["z"]

    async def test_index_capacity(self, db: streamkit.Engine) -> None:
        out = await db.put_item(
            TableName=T,
            Item={"pk": {"S": "a"}, "n": {"N": "1"}, "g": {"S": "x"}},
            ReturnConsumedCapacity="INDEXES",
        )
        assert out["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {
            "by_g": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}
        }
        assert out["ConsumedCapacity"]["CapacityUnits"] == 2.0


class TestScanSegments:
    async def test_segment_validation(self, db: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="TotalSegments parameter is required"):
            await db.scan(TableName=T, Segment=0)
        with pytest.raises(ValidationException, match="is not less than TotalSegments"):
            await db.scan(TableName=T, Segment=2, TotalSegments=2)
        with pytest.raises(ValidationException, match="less than or equal to 1000000"):
            await db.scan(TableName=T, Segment=0, TotalSegments=1_000_001)


class TestEncodedVariants:
    """query_encoded / scan_encoded serialise to the same JSON as query / scan."""

    @staticmethod
    def _json(result: dict[str, Any]) -> bytes:
        return orjson.dumps(result, default=lambda value: value.hex())  # bytes in B values

    @pytest.fixture
    async def full(self, db: streamkit.Engine) -> streamkit.Engine:
        for n in range(6):
            extra: dict[str, Any] = {"l": {"S": f"l{5 - n}"}, "tag": {"SS": ["t", str(n)]}}
            if n % 2:
                extra["bin"] = {"B": bytes([n])}  # stored with marshal: no fragment
            await _put(db, "a", str(n), g={"S": "x"}, **extra)
        return db

    @pytest.mark.parametrize(
        ("members", "fragments"),
        [
            ({}, True),
            ({"Limit": 4}, True),
            ({"ScanIndexForward": False, "Limit": 2}, True),
            ({"Select": "COUNT", "Limit": 3}, False),
            ({"FilterExpression": "attribute_exists(bin)"}, False),
            ({"ProjectionExpression": "n, bin"}, False),
            ({"IndexName": "by_l"}, True),
            ({"IndexName": "by_l", "Select": "ALL_ATTRIBUTES", "Limit": 2}, False),
            ({"IndexName": "by_g", "KeyConditionExpression": "g = :x", "Limit": 5}, True),
        ],
    )
    async def test_query(
        self, full: streamkit.Engine, members: dict[str, Any], fragments: bool
    ) -> None:
        params: dict[str, Any] = {
            "TableName": T,
            "KeyConditionExpression": "pk = :a",
            "ReturnConsumedCapacity": "TOTAL",
            **members,
        }
        used = params["KeyConditionExpression"] + params.get("FilterExpression", "")
        values = {":a": {"S": "a"}, ":two": {"N": "2"}, ":x": {"S": "x"}}
        params["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in used}
        plain = await full.query(**params)
        encoded = await full.query_encoded(**params)
        assert self._json(encoded) == self._json(plain)
        found = [i for i in encoded.get("Items", []) if isinstance(i, orjson.Fragment)]
        assert bool(found) == fragments

    async def test_scan(self, full: streamkit.Engine) -> None:
        for members in (
            {},
            {"Limit": 3},
            {"IndexName": "by_g"},
            {"Segment": 0, "TotalSegments": 2},
        ):
            plain = await full.scan(TableName=T, **members)
            encoded = await full.scan_encoded(TableName=T, **members)
            assert self._json(encoded) == self._json(plain)
            assert any(isinstance(i, orjson.Fragment) for i in encoded["Items"])

    async def test_pages_cut_at_one_megabyte_continue_alike(self, db: streamkit.Engine) -> None:
        for n in range(4):
            await _put(db, "big", str(n), payload={"S": "x" * 390_000})
        params: dict[str, Any] = {
            "TableName": T,
            "KeyConditionExpression": "pk = :b",
            "ExpressionAttributeValues": {":b": {"S": "big"}},
        }
        counts = []
        while True:
            plain = await db.query(**params)
            encoded = await db.query_encoded(**params)
            assert self._json(encoded) == self._json(plain)
            counts.append(plain["Count"])
            if "LastEvaluatedKey" not in plain:
                break
            params["ExclusiveStartKey"] = plain["LastEvaluatedKey"]
        assert counts == [3, 1]


_keys = st.tuples(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(-50, 50))


@settings(max_examples=25)
@given(
    keys=st.sets(_keys, max_size=40),
    total=st.integers(1, 7),
    limit=st.one_of(st.none(), st.integers(1, 9)),
)
async def test_paged_parallel_scan_matches_model(
    memory_engine: streamkit.Engine, keys: set[tuple[str, int]], total: int, limit: int | None
) -> None:
    """Segments are disjoint, and together with paging return every item exactly once."""
    db = memory_engine
    if "mdl" in (await db.list_tables())["TableNames"]:
        await db.delete_table(TableName="mdl")
    await db.create_table(TableName="mdl", **key_schema("pk", "sk", kind="S"))
    for pk, n in keys:
        await db.put_item(TableName="mdl", Item={"pk": {"S": pk}, "sk": {"S": f"{n:+04d}"}})
    seen: list[tuple[str, str]] = []
    for segment in range(total):
        start = None
        while True:
            kw: dict[str, Any] = {"Segment": segment, "TotalSegments": total}
            if limit:
                kw["Limit"] = limit
            if start:
                kw["ExclusiveStartKey"] = start
            out = await db.scan(TableName="mdl", **kw)
            seen += [(i["pk"]["S"], i["sk"]["S"]) for i in out["Items"]]
            start = out.get("LastEvaluatedKey")
            if not start:
                break
    assert sorted(seen) == sorted((pk, f"{n:+04d}") for pk, n in keys)
    for pk in {k[0] for k in keys}:
        out = await db.table("mdl").query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": pk}
        )
        expected = sorted(f"{n:+04d}" for p, n in keys if p == pk)
        assert [i["sk"] for i in out["Items"]] == expected


@settings(max_examples=25)
@given(
    values=st.lists(st.decimals(-(10**6), 10**6, places=3), min_size=1, max_size=25, unique=True)
)
async def test_numeric_sort_order_matches_decimal_order(
    memory_engine: streamkit.Engine, values: list[Decimal]
) -> None:
    db = memory_engine
    if "num" in (await db.list_tables())["TableNames"]:
        await db.delete_table(TableName="num")
    await db.create_table(TableName="num", **key_schema("pk", "n", kind="N"))
    table = db.table("num")
    for v in values:
        await table.put_item(Item={"pk": 1, "n": v})
    out = await table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": 1})
    assert [i["n"] for i in out["Items"]] == sorted(values)
