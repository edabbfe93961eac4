"""Global secondary indexes with multi-attribute keys: up to 4 HASH and 4 RANGE attributes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.engine import gsi
from streamkit.errors import ValidationException
from streamkit.storage.codec import encode_key_parts
from tests.conftest import key_schema

T = "matches"
#: by_round: HASH (tournament S, area N), RANGE (round S, score N, tag B)
DEFS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "tournament", "AttributeType": "S"},
    {"AttributeName": "area", "AttributeType": "N"},
    {"AttributeName": "round", "AttributeType": "S"},
    {"AttributeName": "score", "AttributeType": "N"},
    {"AttributeName": "tag", "AttributeType": "B"},
]
KEYS = [
    {"AttributeName": "tournament", "KeyType": "HASH"},
    {"AttributeName": "area", "KeyType": "HASH"},
    {"AttributeName": "round", "KeyType": "RANGE"},
    {"AttributeName": "score", "KeyType": "RANGE"},
    {"AttributeName": "tag", "KeyType": "RANGE"},
]
INDEX = {"IndexName": "by_round", "KeySchema": KEYS, "Projection": {"ProjectionType": "ALL"}}


async def create(db: streamkit.Engine, **extra: Any) -> None:
    await db.create_table(
        TableName=T,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=DEFS,
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[INDEX],
        **extra,
    )


def item(
    pk: str, tournament: str, area: int, round_: str, score: int, tag: bytes
) -> dict[str, Any]:
    return {
        "pk": {"S": pk},
        "tournament": {"S": tournament},
        "area": {"N": str(area)},
        "round": {"S": round_},
        "score": {"N": str(score)},
        "tag": {"B": tag},
    }


async def query(db: streamkit.Engine, condition: str, **values: Any) -> list[str]:
    out: list[str] = []
    params: dict[str, Any] = {
        "TableName": T,
        "IndexName": "by_round",
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": {f":{k}": v for k, v in values.items()},
    }
    while True:
        page = await db.query(**params)
        out += [i["pk"]["S"] for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return out
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def S(v: str) -> dict[str, Any]:
    return {"S": v}


def N(v: int) -> dict[str, Any]:
    return {"N": str(v)}


class TestSchema:
    async def test_describe_shows_every_key_attribute_in_order(
        self, tmp_path: Path, clock: Any
    ) -> None:
        path = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(path, clock=clock) as db:
            await create(db)
        async with streamkit.open_engine(path, clock=clock) as db:  # from the catalog
            table = (await db.describe_table(TableName=T))["Table"]
        assert table["GlobalSecondaryIndexes"][0]["KeySchema"] == KEYS

    @pytest.mark.parametrize(
        ("keys", "message"),
        [
            (
                [{"AttributeName": n, "KeyType": "HASH"} for n in ("a", "b", "c", "d", "e")],
                "at most 4 HASH KeySchemaElements, found 5",
            ),
            (
                [{"AttributeName": "a", "KeyType": "HASH"}]
                + [{"AttributeName": n, "KeyType": "RANGE"} for n in ("b", "c", "d", "e", "f")],
                "at most 4 RANGE KeySchemaElements, found 5",
            ),
            (
                [
                    {"AttributeName": "a", "KeyType": "HASH"},
                    {"AttributeName": "b", "KeyType": "RANGE"},
                    {"AttributeName": "c", "KeyType": "HASH"},
                ],
                "every HASH KeySchemaElement must come before every RANGE",
            ),
            (
                [
                    {"AttributeName": "a", "KeyType": "HASH"},
                    {"AttributeName": "b", "KeyType": "HASH"},
                    {"AttributeName": "a", "KeyType": "RANGE"},
                ],
                "the attribute a is used more than once",
            ),
            (
                [
                    {"AttributeName": "a", "KeyType": "HASH"},
                    {"AttributeName": "z", "KeyType": "HASH"},
                ],
                "Some index key attributes are not defined in AttributeDefinitions",
            ),
            (
                [{"AttributeName": "a", "KeyType": "RANGE"}],
                "The first KeySchemaElement is not a HASH key type",
            ),
        ],
    )
    async def test_bad_gsi_key_schemas(
        self, memory_engine: streamkit.Engine, keys: list[dict[str, str]], message: str
    ) -> None:
        defs = [{"AttributeName": n, "AttributeType": "S"} for n in "abcdef"]
        with pytest.raises(ValidationException, match=message):
            await memory_engine.create_table(
                TableName="tee",
                KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
                AttributeDefinitions=defs,
                BillingMode="PAY_PER_REQUEST",
                GlobalSecondaryIndexes=[
                    {"IndexName": "idx", "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}
                ],
            )
        assert (await memory_engine.list_tables())["TableNames"] == []

    async def test_tables_and_lsis_keep_one_plus_one(self, memory_engine: streamkit.Engine) -> None:
        defs = [{"AttributeName": n, "AttributeType": "S"} for n in "abc"]
        three = [
            {"AttributeName": "a", "KeyType": "HASH"},
            {"AttributeName": "b", "KeyType": "RANGE"},
            {"AttributeName": "c", "KeyType": "RANGE"},
        ]
        with pytest.raises(ValidationException, match="less than or equal to 2"):
            await memory_engine.create_table(
                TableName="tee",
                KeySchema=three,
                AttributeDefinitions=defs,
                BillingMode="PAY_PER_REQUEST",
            )
        with pytest.raises(ValidationException, match="less than or equal to 2"):
            await memory_engine.create_table(
                TableName="tee",
                KeySchema=three[:2],
                AttributeDefinitions=defs,
                BillingMode="PAY_PER_REQUEST",
                LocalSecondaryIndexes=[
                    {
                        "IndexName": "lsi",
                        "KeySchema": three,
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )


class TestWritesAndQueries:
    @pytest.fixture
    async def db(self, memory_engine: streamkit.Engine) -> streamkit.Engine:
        await create(memory_engine)
        rows = [
            ("m1", "winter", 1, "final", 10, b"\x00"),
            ("m2", "winter", 1, "semi", 30, b"\x01"),
            ("m3", "winter", 1, "semi", 20, b"\x02"),
            ("m4", "winter", 1, "semi", 20, b"\x00\x01"),
            ("m5", "winter", 2, "semi", 20, b"\x00"),
            ("m6", "summer", 1, "semi", 20, b"\x00"),
            ("m7", "winter", 1, "quarter", -5, b"\xff"),
        ]
        for row in rows:
            await memory_engine.put_item(TableName=T, Item=item(*row))
        sparse = item("m8", "winter", 1, "semi", 1, b"")
        del sparse["tag"]  # missing one key attribute: not in the index
        await memory_engine.put_item(TableName=T, Item=sparse)
        return memory_engine

    async def test_partition_needs_every_hash_value(self, db: streamkit.Engine) -> None:
        got = await query(db, "tournament = :t AND area = :r", t=S("winter"), r=N(1))
        assert got == ["m1", "m7", "m4", "m3", "m2"]  # round, then score, then tag order
        with pytest.raises(ValidationException, match="missed key schema element: area"):
            await query(db, "tournament = :t", t=S("winter"))

    async def test_leading_range_values_then_a_condition(self, db: streamkit.Engine) -> None:
        base = "tournament = :t AND area = :r AND "
        args = {"t": S("winter"), "r": N(1)}
        assert await query(db, base + "round = :a", a=S("semi"), **args) == ["m4", "m3", "m2"]
        assert await query(
            db, base + "round = :a AND score = :s", a=S("semi"), s=N(20), **args
        ) == [
            "m4",
            "m3",
        ]
        assert await query(
            db, base + "round = :a AND score > :s", a=S("semi"), s=N(20), **args
        ) == ["m2"]
        assert await query(db, base + "round < :a", a=S("semi"), **args) == ["m1", "m7"]
        assert await query(db, base + "begins_with(round, :a)", a=S("q"), **args) == ["m7"]
        got = await query(
            db,
            base + "round = :a AND score = :s AND tag BETWEEN :x AND :y",
            a=S("semi"),
            s=N(20),
            x={"B": b"\x00"},
            y={"B": b"\x00\x01"},
            **args,
        )
        assert got == ["m4"]

    @pytest.mark.parametrize(
        ("condition", "message"),
        [
            ("round = :a AND tag = :b", "missed key schema element: score"),
            ("score = :s", "missed key schema element: round"),
            ("round > :a AND score = :s", "Query key condition not supported"),
            ("round = :a AND pk = :a", "Query key condition not supported"),
        ],
    )
    async def test_range_rules(self, db: streamkit.Engine, condition: str, message: str) -> None:
        values = {"t": S("winter"), "r": N(1), "a": S("semi"), "s": N(1), "b": {"B": b"x"}}
        used = {k: v for k, v in values.items() if f":{k}" in condition or k in "tr"}
        with pytest.raises(ValidationException, match=message):
            await query(db, "tournament = :t AND area = :r AND " + condition, **used)

    async def test_pages_carry_every_key_attribute(self, db: streamkit.Engine) -> None:
        page = await db.query(
            TableName=T,
            IndexName="by_round",
            KeyConditionExpression="tournament = :t AND area = :r",
            ExpressionAttributeValues={":t": S("winter"), ":r": N(1)},
            Limit=2,
        )
        assert set(page["LastEvaluatedKey"]) == {
            "pk",
            "tournament",
            "area",
            "round",
            "score",
            "tag",
        }

    async def test_scan_skips_sparse_items(self, db: streamkit.Engine) -> None:
        out = await db.scan(TableName=T, IndexName="by_round", Select="COUNT")
        assert out["Count"] == 7

    async def test_changing_a_key_value_moves_the_entry(self, db: streamkit.Engine) -> None:
        await db.update_item(
            TableName=T,
            Key={"pk": S("m1")},
            UpdateExpression="SET area = :r",
            ExpressionAttributeValues={":r": N(2)},
        )
        assert await query(db, "tournament = :t AND area = :r", t=S("winter"), r=N(2)) == [
            "m1",
            "m5",
        ]
        await db.delete_item(TableName=T, Key={"pk": S("m5")})
        assert await query(db, "tournament = :t AND area = :r", t=S("winter"), r=N(2)) == ["m1"]

    async def test_wrong_type_for_a_key_attribute_is_refused(self, db: streamkit.Engine) -> None:
        bad = item("x", "winter", 1, "semi", 1, b"")
        bad["score"] = S("high")
        with pytest.raises(ValidationException, match="Type mismatch for Index Key score"):
            await db.put_item(TableName=T, Item=bad)


async def test_online_backfill_of_a_multi_key_index(
    memory_engine: streamkit.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gsi, "BACKFILL_CHUNK", 3)
    db = memory_engine
    await db.create_table(TableName=T, **key_schema())
    for i in range(10):
        await db.put_item(TableName=T, Item=item(f"m{i}", "w", i % 2, "r", i, b"t"))
    await db.update_table(
        TableName=T,
        AttributeDefinitions=DEFS,
        GlobalSecondaryIndexUpdates=[{"Create": INDEX}],
    )
    while True:
        index = (await db.describe_table(TableName=T))["Table"]["GlobalSecondaryIndexes"][0]
        if index["IndexStatus"] == "ACTIVE":
            break
    assert index["KeySchema"] == KEYS
    got = await query(
        db, "tournament = :t AND area = :r AND round = :a", t=S("w"), r=N(1), a=S("r")
    )
    assert got == ["m1", "m3", "m5", "m7", "m9"]


# -- the order-preserving encoding, against a model -----------------------------------------


def order(value: dict[str, Any]) -> tuple[int, Any]:
    ((kind, raw),) = value.items()
    if kind == "N":
        return (1, Decimal(raw))
    return (0, raw.encode()) if kind == "S" else (2, bytes(raw))


@given(st.data())
@settings(max_examples=300)
def test_encoded_parts_sort_as_tuples(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 4))
    kinds = data.draw(st.lists(st.sampled_from(["S", "N", "B"]), min_size=size, max_size=size))
    by_kind = {
        "S": st.text(alphabet="a\x00b\U0001f600", max_size=4).map(S),
        "N": st.integers(-1000, 1000).map(N),
        "B": st.binary(max_size=4).map(lambda b: {"B": b}),
    }
    rows = data.draw(st.lists(st.tuples(*(by_kind[k] for k in kinds)), min_size=2, max_size=8))
    by_bytes = sorted(rows, key=lambda r: encode_key_parts(r))
    by_model = sorted(rows, key=lambda r: [order(v) for v in r])
    assert [[order(v) for v in r] for r in by_bytes] == [[order(v) for v in r] for r in by_model]


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "ab", "b", "\x00", "a\x00"]), st.integers(-3, 3)),
        min_size=1,
        max_size=12,
        unique=True,
    ),
    st.integers(0, 1),
    st.sampled_from(["=", "<", "<=", ">", ">=", "BETWEEN", "begins_with"]),
    st.sampled_from(["a", "ab", "b", "", "\x00"]),
    st.sampled_from(["a", "b", "c"]),
    st.integers(-3, 3),
    st.integers(-3, 3),
)
@settings(max_examples=150)
async def test_queries_match_a_model(
    rows: list[tuple[str, int]],
    depth: int,
    op: str,
    first: str,
    upper: str,
    low: int,
    high: int,
) -> None:
    """Query on (round S, score N) with a random last condition equals filtering in Python."""
    async with streamkit.open_engine(None) as db:
        await create(db)
        for i, (round_, score) in enumerate(rows):
            await db.put_item(TableName=T, Item=item(f"m{i}", "w", 1, round_, score, b"t"))
        base = "tournament = :t AND area = :r"
        values: dict[str, Any] = {"t": S("w"), "r": N(1)}
        ordered = sorted(range(len(rows)), key=lambda i: (rows[i][0].encode(), rows[i][1]))
        if depth == 0:  # the condition is on round
            attr, one, two = "round", S(first), S(upper)
            pick: Any = lambda i: rows[i][0].encode()  # noqa: E731
            a: Any = first.encode()
            b: Any = upper.encode()
        else:  # round = first, the condition on score
            base += " AND round = :f"
            values["f"] = S(first)
            ordered = [i for i in ordered if rows[i][0] == first]
            attr, one, two = "score", N(low), N(high)
            pick = lambda i: rows[i][1]  # noqa: E731
            a, b = low, high
            if op == "begins_with":
                op = ">="
        if op == "BETWEEN":
            if a > b:
                return
            condition = f"{attr} BETWEEN :x AND :y"
            values |= {"x": one, "y": two}
            want = [i for i in ordered if a <= pick(i) <= b]
        elif op == "begins_with":
            condition = f"begins_with({attr}, :x)"
            values["x"] = one
            want = [i for i in ordered if pick(i).startswith(a)]
        else:
            condition = f"{attr} {op} :x"
            values["x"] = one
            test: Any = {
                "=": lambda v: v == a,
                "<": lambda v: v < a,
                "<=": lambda v: v <= a,
                ">": lambda v: v > a,
                ">=": lambda v: v >= a,
            }[op]
            want = [i for i in ordered if test(pick(i))]
        if depth == 0 and first == "":
            return  # an empty string is not a valid key value
        got = await query(db, f"{base} AND {condition}", **values)
        assert got == [f"m{i}" for i in want]


@pytest.mark.parametrize(
    ("index", "names"),
    [(None, ["pk"]), ("by_round", ["tournament", "area", "round", "score", "tag"])],
)
async def test_query_filter_may_not_name_a_key_attribute(
    memory_engine: streamkit.Engine, index: str | None, names: list[str]
) -> None:
    await create(memory_engine)
    if index is None:
        target: dict[str, Any] = {"KeyConditionExpression": "pk = :v"}
        values: dict[str, Any] = {":v": S("m1")}
    else:
        target = {
            "IndexName": index,
            "KeyConditionExpression": "tournament = :v AND area = :n",
        }
        values = {":v": S("w"), ":n": N(1)}
    for name in names:
        with pytest.raises(
            ValidationException,
            match=f"Filter Expression can only contain non-primary key attributes: "
            f"Primary key attribute: {name}",
        ):
            await memory_engine.query(
                TableName=T,
                FilterExpression="attribute_exists(extra) AND (size(#k) > :z OR extra = :z)",
                ExpressionAttributeNames={"#k": name},
                ExpressionAttributeValues={**values, ":z": N(0)},
                **target,
            )
    out = await memory_engine.query(  # a non-key attribute is fine (pk on an index too)
        TableName=T,
        FilterExpression="attribute_exists(extra)",
        ExpressionAttributeValues=values,
        **target,
    )
    assert out["Count"] == 0
