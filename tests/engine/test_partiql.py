"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction on the engine."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import (
    ConditionalCheckFailedException,
    DuplicateItemException,
    DynamoDBError,
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
    SerializationException,
    TransactionCanceledException,
    ValidationException,
)
from tests.conftest import key_schema

T = "music"


@pytest.fixture
async def db(engine: streamkit.Engine) -> streamkit.Engine:
    schema = key_schema("pk", "sk", range_kind="N")
    schema["AttributeDefinitions"].append({"AttributeName": "genre", "AttributeType": "S"})
    await engine.create_table(
        TableName=T,
        **schema,
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_genre",
                "KeySchema": [{"AttributeName": "genre", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for pk in ("a", "b"):
        for sk in range(1, 6):
            await engine.put_item(
                TableName=T,
                Item={
                    "pk": {"S": pk},
                    "sk": {"N": str(sk)},
                    "genre": {"S": "rock" if sk % 2 else "jazz"},
                    "n": {"N": str(sk * 10)},
                    "tags": {"SS": ["x", "y"]},
                    "info": {"M": {"year": {"N": "2020"}, "list": {"L": [{"S": "p"}]}}},
                },
            )
    return engine


async def run(db: streamkit.Engine, statement: str, *params: Any, **extra: Any) -> dict[str, Any]:
    members: dict[str, Any] = {"Statement": statement, **extra}
    if params:
        members["Parameters"] = list(params)
    return await db.execute_statement(**members)


def sks(items: list[dict[str, Any]]) -> list[int]:
    return [int(item["sk"]["N"]) for item in items]


# -- SELECT -----------------------------------------------------------------------------------


async def test_select_keyed_is_a_query_with_the_same_capacity(db: streamkit.Engine) -> None:
    out = await run(
        db,
        "SELECT * FROM music WHERE pk = 'a' AND sk >= 3",
        ReturnConsumedCapacity="TOTAL",
    )
    query = await db.query(
        TableName=T,
        KeyConditionExpression="pk = :p AND sk >= :s",
        ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"N": "3"}},
        ReturnConsumedCapacity="TOTAL",
    )
    assert out["Items"] == query["Items"]
    assert sks(out["Items"]) == [3, 4, 5]
    assert out["ConsumedCapacity"] == query["ConsumedCapacity"]
    scan = await run(db, 'SELECT * FROM "music" WHERE n > 0', ReturnConsumedCapacity="TOTAL")
    assert len(scan["Items"]) == 10
    direct = await db.scan(
        TableName=T,
        FilterExpression="n > :z",
        ExpressionAttributeValues={":z": {"N": "0"}},
        ReturnConsumedCapacity="TOTAL",
    )
    assert scan["ConsumedCapacity"] == direct["ConsumedCapacity"]


async def test_select_projection_paths_and_indexes(db: streamkit.Engine) -> None:
    out = await run(
        db,
        'SELECT n, info.year, info.list[0] FROM "music" WHERE pk=? AND sk=?',
        {"S": "a"},
        {"N": "2"},
    )
    assert out["Items"] == [
        {"n": {"N": "20"}, "info": {"M": {"year": {"N": "2020"}, "list": {"L": [{"S": "p"}]}}}}
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("pk = 'a' AND sk BETWEEN 2 AND 3", [2, 3]),
        ("pk = 'a' AND n > 25", [3, 4, 5]),
        ("pk = 'a' AND sk <> 2 AND sk < 4", [1, 3]),
        ("pk = 'a' AND NOT (n = 10 OR n = 20)", [3, 4, 5]),
        ("pk = 'a' AND genre IN ['jazz']", [2, 4]),
        ("pk = 'a' AND contains(tags, 'x') AND sk = 1", [1]),
        ("pk = 'a' AND attribute_type(n, 'N') AND size(tags) = 2 AND sk <= 1", [1]),
        ("pk = 'a' AND missing_attr IS MISSING AND sk = 5", [5]),
        ("pk = 'a' AND n IS NOT MISSING AND sk = 5", [5]),
        ("pk = 'a' AND info.year = 2020 AND sk = 4", [4]),
        ("begins_with(genre, 'ja') AND pk = 'b'", [2, 4]),
        ("pk IN ['a', 'b'] AND sk = 1", [1, 1]),
        ("sk = 3", [3, 3]),
        ("pk = 'zzz'", []),
    ],
)
async def test_select_where(db: streamkit.Engine, where: str, expected: list[int]) -> None:
    out = await run(db, f"SELECT * FROM music WHERE {where}")
    assert sorted(sks(out["Items"])) == sorted(expected)


async def test_select_index_and_order_by(db: streamkit.Engine) -> None:
    out = await run(db, 'SELECT pk, sk FROM "music"."by_genre" WHERE genre = ?', {"S": "jazz"})
    assert sorted(sks(out["Items"])) == [2, 2, 4, 4]
    desc = await run(db, "SELECT * FROM music WHERE pk = 'a' ORDER BY sk DESC")
    assert sks(desc["Items"]) == [5, 4, 3, 2, 1]
    asc = await run(db, "SELECT * FROM music WHERE pk = 'a' ORDER BY sk ASC")
    assert sks(asc["Items"]) == [1, 2, 3, 4, 5]
    with pytest.raises(ValidationException):
        await run(db, "SELECT * FROM music ORDER BY sk")
    with pytest.raises(ValidationException):
        await run(db, "SELECT * FROM music WHERE pk = 'a' ORDER BY n")
    with pytest.raises(ValidationException, match="does not have the specified index"):
        await run(db, 'SELECT * FROM "music"."nope"')


async def test_select_paging_with_next_token(db: streamkit.Engine) -> None:
    for statement in (
        "SELECT * FROM music WHERE pk = 'a'",
        "SELECT * FROM music",
        "SELECT * FROM music WHERE pk IN ['a', 'b']",
    ):
        seen: list[int] = []
        token: str | None = None
        pages = 0
        while True:
            extra: dict[str, Any] = {"Limit": 2}
            if token is not None:
                extra["NextToken"] = token
            out = await run(db, statement, **extra)
            assert len(out["Items"]) <= 2
            seen += sks(out["Items"])
            pages += 1
            token = out.get("NextToken")
            if token is None:
                break
        expected = 5 if "pk = 'a'" in statement else 10
        assert len(seen) == expected, statement
        assert pages >= 3
    with pytest.raises(ValidationException, match="NextToken"):
        await run(db, "SELECT * FROM music", NextToken="garbage!")


async def test_select_consistent_read_and_unknown_table(db: streamkit.Engine) -> None:
    out = await run(db, "SELECT * FROM music WHERE pk = 'a'", ConsistentRead=True)
    assert len(out["Items"]) == 5
    with pytest.raises(ResourceNotFoundException):
        await run(db, "SELECT * FROM nope")


# -- INSERT / UPDATE / DELETE ---------------------------------------------------------------


async def test_insert_and_duplicate(db: streamkit.Engine) -> None:
    out = await run(
        db,
        "INSERT INTO music VALUE {'pk': 'c', 'sk': 1, 'tags': <<'a', 'b'>>, "
        "'nums': <<1, 2>>, 'l': [1, 'two', true, null], 'm': {'x': ?}}",
        {"S": "param"},
    )
    assert out == {"Items": []}
    got = await db.get_item(TableName=T, Key={"pk": {"S": "c"}, "sk": {"N": "1"}})
    assert got["Item"]["tags"] == {"SS": ["a", "b"]}
    assert got["Item"]["nums"]["NS"] == ["1", "2"]
    assert got["Item"]["l"] == {"L": [{"N": "1"}, {"S": "two"}, {"BOOL": True}, {"NULL": True}]}
    assert got["Item"]["m"] == {"M": {"x": {"S": "param"}}}
    with pytest.raises(DuplicateItemException, match="Duplicate primary key exists in table"):
        await run(db, "INSERT INTO music VALUE {'pk': 'c', 'sk': 1}")


async def test_update_set_remove_and_returning(db: streamkit.Engine) -> None:
    out = await run(
        db,
        "UPDATE music SET n = n + 5 SET tags = set_add(tags, <<'z'>>) "
        "SET info.list = list_append(info.list, ['q']) REMOVE genre "
        "WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *",
    )
    item = out["Items"][0]
    assert item["n"] == {"N": "15"}
    assert sorted(item["tags"]["SS"]) == ["x", "y", "z"]
    assert item["info"]["M"]["list"]["L"] == [{"S": "p"}, {"S": "q"}]
    assert "genre" not in item
    out = await run(
        db,
        "UPDATE music SET tags = set_delete(tags, <<'x'>>) WHERE pk = 'a' AND sk = 1 "
        "RETURNING MODIFIED OLD *",
    )
    assert sorted(out["Items"][0]["tags"]["SS"]) == ["x", "y", "z"]
    out = await run(db, "UPDATE music SET n = 1 WHERE pk = 'a' AND sk = 1 RETURNING MODIFIED NEW *")
    assert out["Items"] == [{"n": {"N": "1"}}]
    out = await run(db, "UPDATE music SET n = 2 WHERE pk = 'a' AND sk = 1 RETURNING ALL OLD *")
    assert out["Items"][0]["n"] == {"N": "1"}


async def test_update_conditions_and_missing_items(db: streamkit.Engine) -> None:
    with pytest.raises(ConditionalCheckFailedException):  # UPDATE never creates an item
        await run(db, "UPDATE music SET n = 1 WHERE pk = 'zz' AND sk = 1")
    with pytest.raises(ConditionalCheckFailedException) as failed:
        await run(
            db,
            "UPDATE music SET n = 1 WHERE pk = 'a' AND sk = 2 AND n = 999",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert failed.value.item is not None
    assert failed.value.item["n"] == {"N": "20"}
    await run(db, "UPDATE music SET n = 1 WHERE pk = 'a' AND sk = 2 AND n = 20")
    with pytest.raises(ValidationException, match="mandatory equality on all key attributes"):
        await run(db, "UPDATE music SET n = 1 WHERE pk = 'a'")
    with pytest.raises(ValidationException, match="part of the key"):
        await run(db, "UPDATE music SET sk = 1 WHERE pk = 'a' AND sk = 2")


async def test_delete(db: streamkit.Engine) -> None:
    out = await run(db, "DELETE FROM music WHERE pk = 'zz' AND sk = 1")
    assert out == {"Items": []}
    with pytest.raises(ConditionalCheckFailedException):
        await run(db, "DELETE FROM music WHERE pk = 'a' AND sk = 1 AND n = 0")
    out = await run(db, "DELETE FROM music WHERE pk = 'a' AND sk = 1 RETURNING ALL OLD *")
    assert out["Items"][0]["n"] == {"N": "10"}
    with pytest.raises(ValidationException, match="mandatory equality"):
        await run(db, "DELETE FROM music WHERE sk = 1")
    with pytest.raises(ValidationException):
        await run(db, "DELETE FROM music WHERE pk = 'a' AND sk = 2 RETURNING ALL NEW *")


async def test_writes_feed_the_stream_and_indexes(db: streamkit.Engine) -> None:
    await run(db, "INSERT INTO music VALUE {'pk': 'g', 'sk': 1, 'genre': 'pop'}")
    out = await run(db, 'SELECT * FROM "music"."by_genre" WHERE genre = \'pop\'')
    assert len(out["Items"]) == 1


# -- parameters and errors ------------------------------------------------------------------


async def test_parameters_must_match(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="Number of parameters"):
        await run(db, "SELECT * FROM music WHERE pk = ?")
    with pytest.raises(ValidationException, match="Number of parameters"):
        await run(db, "SELECT * FROM music WHERE pk = 'a'", {"S": "x"})
    with pytest.raises(ValidationException):
        await run(db, "SELECT * FROM music", Parameters=[])


@pytest.mark.parametrize(
    "statement",
    [
        "SELEC * FROM music",
        "SELECT * FROM",
        "SELECT * FROM music WHERE",
        "SELECT * FROM music WHERE pk = 'a' garbage",
        "INSERT INTO music VALUE 1",
        "UPDATE music WHERE pk = 'a'",
        "DELETE music WHERE pk = 'a'",
        "SELECT * FROM music WHERE pk = 'unterminated",
        "SELECT * FROM music WHERE " + "(" * 500 + "pk = 'a'" + ")" * 500,
        "SELECT * FROM music WHERE " + " AND ".join(["n = 1"] * 400),
        "x" * 9000,
    ],
)
async def test_malformed_statements(db: streamkit.Engine, statement: str) -> None:
    with pytest.raises(ValidationException):
        await run(db, statement)


async def test_exists_only_in_transactions(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException):
        await run(db, "EXISTS(SELECT * FROM music WHERE pk = 'a' AND sk = 1)")


# -- BatchExecuteStatement ------------------------------------------------------------------


async def test_batch_reads_and_writes(db: streamkit.Engine) -> None:
    out = await db.batch_execute_statement(
        Statements=[
            {"Statement": "SELECT * FROM music WHERE pk = 'a' AND sk = 1"},
            {
                "Statement": "SELECT n FROM music WHERE pk = ? AND sk = ?",
                "Parameters": [{"S": "b"}, {"N": "2"}],
            },
            {"Statement": "SELECT * FROM music WHERE pk = 'zz' AND sk = 1"},
            {"Statement": "SELECT * FROM music WHERE pk = 'a'"},
            {"Statement": "SELEC nonsense"},
        ]
    )
    responses = out["Responses"]
    assert responses[0]["Item"]["n"] == {"N": "10"}
    assert responses[1] == {"TableName": T, "Item": {"n": {"N": "20"}}}
    assert responses[2] == {"TableName": T}
    assert responses[3]["Error"]["Code"] == "ValidationError"
    assert responses[4]["Error"]["Code"] == "ValidationError"
    out = await db.batch_execute_statement(
        Statements=[
            {"Statement": "INSERT INTO music VALUE {'pk': 'n', 'sk': 1}"},
            {"Statement": "INSERT INTO music VALUE {'pk': 'a', 'sk': 1}"},
            {
                "Statement": "UPDATE music SET n = 0 WHERE pk = 'a' AND sk = 2 AND n = 1",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
            {"Statement": "DELETE FROM music WHERE pk = 'b' AND sk = 5"},
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    codes = [r.get("Error", {}).get("Code") for r in out["Responses"]]
    assert codes == [None, "DuplicateItem", "ConditionalCheckFailed", None]
    assert out["Responses"][2]["Error"]["Item"]["n"] == {"N": "20"}
    assert out["ConsumedCapacity"][0]["TableName"] == T


async def test_batch_rules(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="only read statements or only write"):
        await db.batch_execute_statement(
            Statements=[
                {"Statement": "SELECT * FROM music WHERE pk = 'a' AND sk = 1"},
                {"Statement": "DELETE FROM music WHERE pk = 'a' AND sk = 1"},
            ]
        )
    with pytest.raises(ValidationException, match="less than or equal to 25"):
        await db.batch_execute_statement(
            Statements=[{"Statement": "SELECT * FROM music WHERE pk = 'a' AND sk = 1"}] * 26
        )
    with pytest.raises(ValidationException):
        await db.batch_execute_statement(Statements=[])


# -- ExecuteTransaction ---------------------------------------------------------------------


async def test_transaction_writes_all_or_nothing(db: streamkit.Engine) -> None:
    statements = [
        {"Statement": "INSERT INTO music VALUE {'pk': 't', 'sk': 1}"},
        {"Statement": "UPDATE music SET n = 0 WHERE pk = 'a' AND sk = 1"},
        {"Statement": "DELETE FROM music WHERE pk = 'b' AND sk = 1"},
        {"Statement": "EXISTS(SELECT * FROM music WHERE pk = 'a' AND sk = 2 AND n = 20)"},
    ]
    await db.execute_transaction(TransactStatements=statements, ClientRequestToken="tok")
    got = await run(db, "SELECT * FROM music WHERE pk = 't'")
    assert len(got["Items"]) == 1
    # the same token and statements: answered again, nothing done twice
    await db.execute_transaction(TransactStatements=statements, ClientRequestToken="tok")
    with pytest.raises(IdempotentParameterMismatchException):
        await db.execute_transaction(TransactStatements=statements[:1], ClientRequestToken="tok")
    with pytest.raises(TransactionCanceledException) as cancelled:
        await db.execute_transaction(
            TransactStatements=[
                {"Statement": "UPDATE music SET n = 99 WHERE pk = 'a' AND sk = 3"},
                {"Statement": "INSERT INTO music VALUE {'pk': 't', 'sk': 1}"},
                {"Statement": "EXISTS(SELECT * FROM music WHERE pk = 'a' AND sk = 4 AND n = 0)"},
            ]
        )
    codes = [r["Code"] for r in cancelled.value.reasons]
    assert codes == ["None", "DuplicateItem", "ConditionalCheckFailed"]
    untouched = await run(db, "SELECT n FROM music WHERE pk = 'a' AND sk = 3")
    assert untouched["Items"] == [{"n": {"N": "30"}}]


async def test_transaction_reads_and_rules(db: streamkit.Engine) -> None:
    out = await db.execute_transaction(
        TransactStatements=[
            {"Statement": "SELECT n FROM music WHERE pk = 'a' AND sk = 1"},
            {"Statement": "SELECT * FROM music WHERE pk = 'zz' AND sk = 1"},
        ]
    )
    assert out["Responses"] == [{"Item": {"n": {"N": "10"}}}, {}]
    with pytest.raises(ValidationException, match="only read statements or only write"):
        await db.execute_transaction(
            TransactStatements=[
                {"Statement": "SELECT n FROM music WHERE pk = 'a' AND sk = 1"},
                {"Statement": "DELETE FROM music WHERE pk = 'a' AND sk = 1"},
            ]
        )
    with pytest.raises(ValidationException, match="less than or equal to 100"):
        await db.execute_transaction(
            TransactStatements=[{"Statement": "SELECT * FROM music WHERE pk = 'a' AND sk = 1"}]
            * 101
        )
    with pytest.raises(ValidationException, match="mandatory equality"):
        await db.execute_transaction(
            TransactStatements=[{"Statement": "SELECT * FROM music WHERE pk = 'a'"}]
        )


async def test_resource_table_takes_native_values(db: streamkit.Engine) -> None:
    table = db.table(T)
    await table.execute_statement(
        Statement="INSERT INTO music VALUE {'pk': ?, 'sk': ?, 'tags': ?}",
        Parameters=["native", 1, {"p", "q"}],
    )
    out = await table.execute_statement(
        Statement="SELECT * FROM music WHERE pk = ?", Parameters=["native"]
    )
    assert out["Items"] == [{"pk": "native", "sk": 1, "tags": {"p", "q"}}]


@pytest.mark.parametrize(
    ("statement", "bad"),
    [
        ("SELECT * FROM music WHERE pk = ? AND sk = 1", {"N": "not a number"}),
        ("SELECT * FROM music WHERE pk = 'a' AND n = ?", {"N": "x"}),
        ("INSERT INTO music VALUE {'pk': 'q', 'sk': 1, 'v': ?}", {"N": "x"}),
        ("SELECT * FROM music WHERE pk = ?", {"Z": "x"}),
        ("SELECT * FROM music WHERE pk = ?", "plain"),
        ("INSERT INTO music VALUE {'pk': 'q', 'sk': 1, 'v': <<?, 'a'>>}", {"N": "1"}),
    ],
)
async def test_bad_parameters_are_refused(db: streamkit.Engine, statement: str, bad: Any) -> None:
    with pytest.raises((ValidationException, SerializationException)):
        await run(db, statement, bad)


_PIECES = st.sampled_from(
    [
        "SELECT", "*", "FROM", "music", '"music"', '"music"."by_genre"', "WHERE", "pk", "sk",
        "n", "genre", "=", "?", "'a'", "1", "AND", "OR", "NOT", "(", ")", "[", "]", "IN",
        "BETWEEN", "IS", "MISSING", "begins_with(", ",", "ORDER", "BY", "DESC", "UPDATE",
        "SET", "REMOVE", "DELETE", "INSERT", "INTO", "VALUE", "{'pk': 'a', 'sk': 1}",
        "RETURNING", "ALL", "OLD", "NEW", "*", "+", "set_add(", "<<'x'>>", "size(", "EXISTS",
    ]
)  # fmt: skip


@given(st.lists(_PIECES, min_size=1, max_size=18), st.integers(0, 3))
@settings(max_examples=150, deadline=None)
def test_any_statement_is_an_answer_or_a_dynamodb_error(pieces: list[str], params: int) -> None:
    async def attempt() -> None:
        async with streamkit.open_engine(None) as db:
            await db.create_table(TableName=T, **key_schema("pk", "sk", range_kind="N"))
            members: dict[str, Any] = {"Statement": " ".join(pieces)}
            if params:
                members["Parameters"] = [{"S": "a"}] * params
            with contextlib.suppress(DynamoDBError):
                await db.execute_statement(**members)
            with contextlib.suppress(DynamoDBError):
                await db.execute_transaction(TransactStatements=[members])
            with contextlib.suppress(DynamoDBError):
                await db.batch_execute_statement(Statements=[members])

    asyncio.run(attempt())


async def test_misplaced_exists_index_reads_and_tokens(db: streamkit.Engine) -> None:
    exists = {"Statement": "EXISTS(SELECT * FROM music WHERE pk = 'a' AND sk = 1)"}
    out = await db.batch_execute_statement(Statements=[exists])
    assert out["Responses"][0]["Error"]["Code"] == "ValidationError"
    assert (await run(db, "SELECT * FROM music WHERE pk = 'a' AND sk = 1"))["Items"]  # untouched
    with pytest.raises(ValidationException, match="index"):
        await db.execute_transaction(
            TransactStatements=[
                {"Statement": "SELECT * FROM \"music\".\"by_genre\" WHERE genre = 'x' AND pk = 'a'"}
            ]
        )
    page = await run(db, "SELECT * FROM music WHERE pk = 'a'", Limit=1)
    with pytest.raises(ValidationException, match="NextToken"):
        await run(db, "SELECT * FROM music WHERE pk = 'a' AND sk = 1", NextToken=page["NextToken"])


async def test_request_members_are_checked(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="greater than or equal to 1"):
        await run(db, "SELECT * FROM music WHERE pk = 'a' AND sk = 1", Limit=0)
    with pytest.raises(ValidationException, match="enum"):
        await db.batch_execute_statement(
            Statements=[{"Statement": "SELECT * FROM music WHERE pk = 'a' AND sk = 1"}],
            ReturnConsumedCapacity="ALL",
        )
    with pytest.raises(ValidationException, match="Unknown parameter"):
        await run(db, "SELECT * FROM music", TableName=T)
