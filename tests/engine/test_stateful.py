"""A stateful model test: any sequence of writes leaves the engine equal to a plain dict.

Puts, conditional puts, ADD updates, deletes, batch writes and transactions run against a real
engine (SQLite file, with a GSI) and against a dict; after every step a Scan, GetItems and a
Query on the GSI must agree with the dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import streamkit
from streamkit.errors import ConditionalCheckFailedException, TransactionCanceledException

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
GROUPS = st.sampled_from(["red", "blue"])
AMOUNTS = st.integers(-5, 5)

TABLE: dict[str, Any] = {
    "TableName": "model",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "grp", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_grp",
            "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
}


def _item(pk: str, grp: str, n: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "grp": {"S": grp}, "n": {"N": str(n)}}


class EngineModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.stack = contextlib.AsyncExitStack()
        self.folder = tempfile.TemporaryDirectory()
        self.db: streamkit.Engine = self.run(
            self.stack.enter_async_context(
                streamkit.open_engine(Path(self.folder.name) / "m.sqlite3", max_attempts=1)
            )
        )
        self.run(self.db.create_table(**TABLE))
        self.model: dict[str, tuple[str, int]] = {}

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.runner.close()
        self.folder.cleanup()

    @rule(pk=KEYS, grp=GROUPS, n=AMOUNTS)
    def put(self, pk: str, grp: str, n: int) -> None:
        self.run(self.db.put_item(TableName="model", Item=_item(pk, grp, n)))
        self.model[pk] = (grp, n)

    @rule(pk=KEYS, grp=GROUPS, n=AMOUNTS)
    def put_if_absent(self, pk: str, grp: str, n: int) -> None:
        try:
            self.run(
                self.db.put_item(
                    TableName="model",
                    Item=_item(pk, grp, n),
                    ConditionExpression="attribute_not_exists(pk)",
                )
            )
        except ConditionalCheckFailedException:
            assert pk in self.model
        else:
            assert pk not in self.model
            self.model[pk] = (grp, n)

    @rule(pk=KEYS, n=AMOUNTS)
    def add(self, pk: str, n: int) -> None:
        try:
            self.run(
                self.db.update_item(
                    TableName="model",
                    Key={"pk": {"S": pk}},
                    UpdateExpression="ADD n :d",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":d": {"N": str(n)}},
                )
            )
        except ConditionalCheckFailedException:
            assert pk not in self.model
        else:
            grp, old = self.model[pk]
            self.model[pk] = (grp, old + n)

    @rule(pk=KEYS)
    def delete(self, pk: str) -> None:
        self.run(self.db.delete_item(TableName="model", Key={"pk": {"S": pk}}))
        self.model.pop(pk, None)

    @rule(puts=st.dictionaries(KEYS, st.tuples(GROUPS, AMOUNTS), max_size=3), drop=KEYS)
    def batch(self, puts: dict[str, tuple[str, int]], drop: str) -> None:
        requests = [{"PutRequest": {"Item": _item(pk, g, n)}} for pk, (g, n) in puts.items()]
        if drop not in puts:
            requests.append({"DeleteRequest": {"Key": {"pk": {"S": drop}}}})
        out = self.run(self.db.batch_write_item(RequestItems={"model": requests}))
        assert out["UnprocessedItems"] == {}
        self.model.update(puts)
        if drop not in puts:
            self.model.pop(drop, None)

    @rule(first=KEYS, second=KEYS, grp=GROUPS, n=AMOUNTS)
    def transaction(self, first: str, second: str, grp: str, n: int) -> None:
        """Put ``first`` and delete ``second`` only if ``second`` exists: all or nothing."""
        if first == second:
            return
        try:
            self.run(
                self.db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "model", "Item": _item(first, grp, n)}},
                        {
                            "Delete": {
                                "TableName": "model",
                                "Key": {"pk": {"S": second}},
                                "ConditionExpression": "attribute_exists(pk)",
                            }
                        },
                    ]
                )
            )
        except TransactionCanceledException:
            assert second not in self.model
        else:
            self.model[first] = (grp, n)
            del self.model[second]

    @invariant()
    def table_equals_model(self) -> None:
        items = self.run(self.db.scan(TableName="model", ConsistentRead=True))["Items"]
        found = {i["pk"]["S"]: (i["grp"]["S"], int(i["n"]["N"])) for i in items}
        assert found == self.model

    @invariant()
    def index_equals_model(self) -> None:
        for grp in ("red", "blue"):
            page = self.run(
                self.db.query(
                    TableName="model",
                    IndexName="by_grp",
                    KeyConditionExpression="grp = :g",
                    ExpressionAttributeValues={":g": {"S": grp}},
                )
            )
            assert sorted(i["pk"]["S"] for i in page["Items"]) == sorted(
                pk for pk, (g, _) in self.model.items() if g == grp
            )


EngineModel.TestCase.settings = settings(max_examples=20, stateful_step_count=15, deadline=None)
TestEngineModel = EngineModel.TestCase
