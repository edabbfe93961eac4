"""A table deleted and created again under its name behaves as a brand-new table.

The engine keeps per-table state in memory (the catalog, TTL settings, the TTL attribute the
write path indexes, throttling buckets, stream shard caches). A stateful test drives one
long-lived engine through creates, deletes and re-creates with every feature on, and replays
everything since the latest create on a fresh engine: every answer and every observation must
be the same. Idempotency tokens are left out on purpose: DynamoDB keys them by account, not by
table, so a token used before the delete is still remembered after it (docs/differences.md has
no entry because this is the service's behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import streamkit
from streamkit.errors import DynamoDBError, ProvisionedThroughputExceededException
from streamkit.testing import ManualClock, open_harness
from streamkit.ttl import sweep_once

NAME = "recreated"
VIEWS = st.sampled_from([None, "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
KEYS = st.sampled_from(["a", "b", "c"])
GSI = {
    "IndexName": "by_grp",
    "KeySchema": [{"AttributeName": "grp", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
}


def _create_params(view: str | None, provisioned: bool, with_gsi: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": NAME,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    if provisioned:
        params["BillingMode"] = "PROVISIONED"
        params["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    else:
        params["BillingMode"] = "PAY_PER_REQUEST"
    if with_gsi:
        gsi = dict(GSI)
        if provisioned:
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
        params["GlobalSecondaryIndexes"] = [gsi]
        params["AttributeDefinitions"].append({"AttributeName": "grp", "AttributeType": "S"})
    if view is not None:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    return params


def _table_shape(described: dict[str, Any]) -> dict[str, Any]:
    """What a fresh table and a re-created one must share (no ARNs, ids or timestamps)."""
    table = described["Table"]
    return {
        "keys": table["KeySchema"],
        "billing": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "throughput": {
            k: v
            for k, v in table["ProvisionedThroughput"].items()
            if k in ("ReadCapacityUnits", "WriteCapacityUnits")
        },
        "stream": table.get("StreamSpecification"),
        "gsis": sorted(
            (g["IndexName"], g["IndexStatus"], g.get("ItemCount"))
            for g in table.get("GlobalSecondaryIndexes", [])
        ),
        "count": table["ItemCount"],
        "size": table["TableSizeBytes"],
    }


async def _stream_records(db: streamkit.Engine) -> list[tuple[Any, ...]]:
    """The current stream's records, without sequence numbers, ids or times."""
    arn = db.stream_arn(NAME)
    if arn is None:
        return []
    streams = db.streams
    shards = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    out: list[tuple[Any, ...]] = []
    for shard in shards:
        iterator = (
            await streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        while iterator is not None:
            page = await streams.get_records(ShardIterator=iterator)
            for r in page["Records"]:
                data = r["dynamodb"]
                out.append(
                    (
                        r["eventName"],
                        data["Keys"],
                        data.get("NewImage"),
                        data.get("OldImage"),
                        "userIdentity" in r,
                    )
                )
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


class RecreateModel(RuleBasedStateMachine):
    """``db`` lives through every generation of the table; ``fresh`` is opened at each create."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.stack = contextlib.AsyncExitStack()
        self.fresh_stack: contextlib.AsyncExitStack | None = None
        self.folder = tempfile.TemporaryDirectory()
        self.clock = ManualClock()
        self.db = self.run(self.stack.enter_async_context(self._open("long")))
        self.fresh: streamkit.Engine | None = None

    def _open(self, name: str) -> contextlib.AbstractAsyncContextManager[streamkit.Engine]:
        return streamkit.open_engine(
            Path(self.folder.name) / f"{name}.sqlite3",
            clock=self.clock,
            throttling=True,
            max_attempts=1,
            ttl_cooldown_seconds=60.0,
        )

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def teardown(self) -> None:
        if self.fresh_stack is not None:
            self.run(self.fresh_stack.aclose())
        self.run(self.stack.aclose())
        self.runner.close()
        self.folder.cleanup()

    def both(self, operation: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run one operation on both engines; their outcomes (result or error) must match in
        kind, errors exactly. Returns both outcomes (``("ok", result)`` or ``("error", ...)``)."""
        assert self.fresh is not None
        outcomes: list[tuple[Any, ...]] = []
        for db in (self.db, self.fresh):
            try:
                outcomes.append(("ok", self.run(getattr(db, operation)(**params))))
            except DynamoDBError as exc:
                outcomes.append(("error", exc.code, exc.message))
        assert outcomes[0][0] == outcomes[1][0], outcomes
        if outcomes[0][0] == "error":
            assert outcomes[0] == outcomes[1]
        return outcomes

    @property
    def exists(self) -> bool:
        return self.fresh is not None

    @precondition(lambda self: not self.exists)
    @rule(view=VIEWS, provisioned=st.booleans(), with_gsi=st.booleans())
    def create(self, view: str | None, provisioned: bool, with_gsi: bool) -> None:
        self.fresh_stack = contextlib.AsyncExitStack()
        generation = len(list(Path(self.folder.name).glob("fresh*.sqlite3")))
        self.fresh = self.run(
            self.fresh_stack.enter_async_context(self._open(f"fresh{generation}"))
        )
        outcome = self.both("create_table", **_create_params(view, provisioned, with_gsi))
        assert outcome[0][0] == "ok", outcome

    @precondition(lambda self: self.exists)
    @rule()
    def delete(self) -> None:
        self.run(self.db.delete_table(TableName=NAME))
        assert self.fresh_stack is not None
        self.run(self.fresh_stack.aclose())
        self.fresh, self.fresh_stack = None, None

    @precondition(lambda self: self.exists)
    @rule(enabled=st.booleans(), attribute=st.sampled_from(["expires", "other"]))
    def update_ttl(self, enabled: bool, attribute: str) -> None:
        self.both(
            "update_time_to_live",
            TableName=NAME,
            TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute},
        )

    @precondition(lambda self: self.exists)
    @rule(
        pk=KEYS, grp=st.sampled_from(["red", "blue"]), ttl=st.integers(-5, 100), big=st.booleans()
    )
    def put(self, pk: str, grp: str, ttl: int, big: bool) -> None:
        item = {
            "pk": {"S": pk},
            "grp": {"S": grp},
            "expires": {"N": str(int(self.clock.now()) + ttl)},
            "other": {"N": str(int(self.clock.now()) + ttl)},
        }
        if big:  # ~300 write units: a table of 1 WCU (300 s of burst) is throttled at the next
            item["pad"] = {"S": "x" * 300_000}
        self.both("put_item", TableName=NAME, Item=item)

    @precondition(lambda self: self.exists)
    @rule()
    def add_gsi(self) -> None:
        self.both(
            "update_table",
            TableName=NAME,
            AttributeDefinitions=[{"AttributeName": "grp", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": {**GSI, "IndexName": "later"}}],
        )

    @rule(seconds=st.sampled_from([1.0, 30.0, 120.0]))
    def advance_and_sweep(self, seconds: float) -> None:
        self.clock.advance(seconds)
        deleted = [self.run(sweep_once(self.db, clock=self.clock))]
        if self.fresh is not None:
            deleted.append(self.run(sweep_once(self.fresh, clock=self.clock)))
            assert deleted[0] == deleted[1]

    @invariant()
    def same_as_fresh(self) -> None:
        if self.fresh is None:
            assert NAME not in self.run(self.db.list_tables())["TableNames"]
            return
        a, b = self.db, self.fresh
        described = [self.run(x.describe_table(TableName=NAME)) for x in (a, b)]
        assert _table_shape(described[0]) == _table_shape(described[1])
        assert self.run(a.describe_time_to_live(TableName=NAME)) == self.run(
            b.describe_time_to_live(TableName=NAME)
        )
        assert a.ttl_tables() == b.ttl_tables()
        # A Scan spends read capacity on both engines alike, so it may be throttled, alike.
        scans = self.both("scan", TableName=NAME)
        if scans[0][0] == "ok":
            items = [sorted(s[1]["Items"], key=lambda i: i["pk"]["S"]) for s in scans]
            assert items[0] == items[1]
        assert self.run(_stream_records(a)) == self.run(_stream_records(b))


RecreateModel.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
TestRecreate = RecreateModel.TestCase


async def test_ttl_setting_does_not_survive_delete(memory_engine: streamkit.Engine) -> None:
    """The pytest-fixture pattern: a table with TTL created, deleted and created again."""
    params = _create_params(None, False, False)
    spec = {"Enabled": True, "AttributeName": "expires"}
    await memory_engine.create_table(**params)
    await memory_engine.update_time_to_live(TableName=NAME, TimeToLiveSpecification=spec)
    await memory_engine.delete_table(TableName=NAME)
    await memory_engine.create_table(**params)
    described = await memory_engine.describe_time_to_live(TableName=NAME)
    assert described["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    assert memory_engine.ttl_tables() == []
    await memory_engine.update_time_to_live(TableName=NAME, TimeToLiveSpecification=spec)
    assert memory_engine.ttl_tables() == [NAME]


async def test_throttle_buckets_do_not_survive_delete(clock: ManualClock) -> None:
    """A re-created provisioned table starts with its full burst, as a new table does."""
    params = _create_params(None, True, False)
    item = {"pk": {"S": "a"}, "pad": {"S": "x" * 300_000}}
    async with streamkit.open_engine(None, clock=clock, throttling=True, max_attempts=1) as db:
        await db.create_table(**params)
        for _ in range(2):  # the burst may go into debt once
            await db.put_item(TableName=NAME, Item=item)
        with pytest.raises(ProvisionedThroughputExceededException):
            await db.put_item(TableName=NAME, Item=item)
        await db.delete_table(TableName=NAME)
        await db.create_table(**params)
        await db.put_item(TableName=NAME, Item=item)


async def test_mapping_follows_the_recreated_tables_new_stream() -> None:
    """A handler sees the old table's records, then the new table's, each exactly once."""
    seen: list[tuple[str, str]] = []
    app = streamkit.App()

    @app.on_stream(NAME, name="collect", starting_position="TRIM_HORIZON")
    async def collect(event: dict[str, Any], context: Any) -> None:
        seen.extend((r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in event["Records"])

    params = _create_params("NEW_IMAGE", False, False)
    async with open_harness(app) as h:  # one manual clock: both creates in the same millisecond
        await h.engine.create_table(**params)
        await h.engine.put_item(TableName=NAME, Item={"pk": {"S": "old"}})
        await h.drain()
        first = h.engine.stream_arn(NAME)
        await h.engine.delete_table(TableName=NAME)
        await h.engine.create_table(**params)
        await h.engine.put_item(TableName=NAME, Item={"pk": {"S": "new"}})
        await h.drain()
        assert h.engine.stream_arn(NAME) != first
    assert seen == [("INSERT", "old"), ("INSERT", "new")]
