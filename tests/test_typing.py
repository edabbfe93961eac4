"""Users' code type-checks against the engine's typed requests (streamkit/engine/typed.py).

mypy (``mypy.api``, strict, this checkout's settings) checks a small user program: the right
calls pass without a ``# type: ignore``, a misspelt or missing request member is an error.
The program names ``streamkit.engine.typed``, so it is this tree's streamkit that is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """\
import streamkit
from streamkit.engine.typed import PutItemRequest


async def main() -> None:
    async with streamkit.open_engine(None) as db:
        await db.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await db.put_item(TableName="orders", Item={"pk": {"S": "o1"}})
        request: PutItemRequest = {"TableName": "orders", "Item": {"pk": {"S": "o2"}}}
        await db.put_item(**request)
        page = await db.query(TableName="orders", KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "o1"}})
        print(page["Items"])
        await db.put_item(TableName="orders", Itme={"pk": {"S": "o1"}})
        await db.get_item(Key={"pk": {"S": "o1"}})
        await db.create_table(TableName="t", VectorIndexes=[])
        await db.streams.get_records(ShardIterater="x")
        orders = db.table("orders")
        await orders.put_item(Item={"pk": "o3"}, ConditionExpression="attribute_not_exists(pk)")
        await orders.put_item(Item={"pk": "o3"}, TableName="orders")
"""


def test_right_calls_pass_and_misspelt_members_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / "user_program.py"
    program.write_text(PROGRAM)
    monkeypatch.chdir(ROOT)  # this checkout's streamkit, its [tool.mypy] settings and cache
    out, err, _ = api.run(["--no-error-summary", "--show-error-codes", str(program)])
    assert err == ""
    found = re.findall(r"user_program.py:(\d+): error: (.*)  \[([a-z-]+)\]$", out, re.MULTILINE)
    assert [(int(line), code) for line, _, code in found] == [
        (19, "call-arg"),  # Itme=
        (20, "call-arg"),  # no TableName
        (21, "call-arg"),  # VectorIndexes: boto3 has it, streamkit refuses it
        (22, "call-arg"),  # ShardIterater=
        (25, "call-arg"),  # a Table's requests have no TableName
    ], out
    messages = [message for _, message, _ in found]
    assert 'Unexpected keyword argument "Itme" for "put_item"' in messages[0]
    assert 'Missing named argument "TableName" for "get_item"' in messages[1]
    assert 'Unexpected keyword argument "VectorIndexes"' in messages[2]
    assert 'Unexpected keyword argument "ShardIterater" for "get_records"' in messages[3]
    assert 'Unexpected keyword argument "TableName" for "put_item" of "Table"' in messages[4]
