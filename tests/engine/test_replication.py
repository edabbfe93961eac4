"""The engine side of global tables' replication: hidden versions, apply_replicated, state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit.engine import Engine
from streamkit.engine.replication import ReplicatedChange
from streamkit.errors import ClosedError, ResourceNotFoundException
from streamkit.storage.versions import versions_table
from streamkit.streams import Regions, StreamsClient
from streamkit.streams.records import unpack_record
from streamkit.testing import ManualClock
from tests.replication_support import (
    TABLE,
    create_global,
    create_table,
    items,
    open_group,
    set_replicas,
)

US, EU = "us-east-1", "eu-west-1"
T0 = 1_700_000_000_000_000  # the ManualClock's start in microseconds


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def _item(pk: str, **attrs: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}


async def _records(engine: Engine, table: str = TABLE) -> list[dict[str, Any]]:
    arn = engine.stream_arn(table)
    assert arn is not None
    shards = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    out: list[dict[str, Any]] = []
    for shard in shards:
        it = (
            await engine.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        out.extend((await engine.streams.get_records(ShardIterator=it))["Records"])
    return out


async def _state(engine: Engine, pk: str) -> tuple[dict[str, Any] | None, tuple[int, str]]:
    (state,) = await engine.replication_state(TABLE, [_key(pk)])
    return state.item, state.version


@pytest.fixture
async def group(clock: ManualClock) -> Any:
    async with open_group([US, EU], clock) as g:
        yield g


class TestVersions:
    async def test_a_regional_table_keeps_no_versions(self, group: Regions) -> None:
        engine = group[US]
        await create_table(engine)
        await engine.put_item(TableName=TABLE, Item=_item("a"))
        await engine.delete_item(TableName=TABLE, Key=_key("a"))
        names = await engine.backend.read(
            lambda c: [r[0] for r in c.execute("SELECT name FROM sqlite_master")]
        )
        assert not any(n.startswith("sk_versions_") for n in names)
        assert await _state(engine, "a") == (None, (0, ""))

    async def test_a_local_write_beats_the_version_it_overwrites(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us = group[US]
        await us.put_item(TableName=TABLE, Item=_item("a", v="1"))
        assert await _state(us, "a") == (_item("a", v="1"), (T0, US))
        await us.put_item(TableName=TABLE, Item=_item("a", v="2"))  # same microsecond: +1
        assert await _state(us, "a") == (_item("a", v="2"), (T0 + 1, US))
        clock.advance(1.5)
        await us.update_item(
            TableName=TABLE,
            Key=_key("a"),
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "3"}},
        )
        assert await _state(us, "a") == (_item("a", v="3"), (T0 + 1_500_000, US))

    async def test_a_write_that_changes_nothing_keeps_the_version(
        self, group: Regions, clock: ManualClock
    ) -> None:
        """It has no stream record, so it is not replicated: it must not win elsewhere."""
        await create_global(group)
        us = group[US]
        await us.put_item(TableName=TABLE, Item=_item("a", v="1"))
        clock.advance(1)
        await us.put_item(TableName=TABLE, Item=_item("a", v="1"))
        assert await _state(us, "a") == (_item("a", v="1"), (T0, US))
        assert len(await _records(us)) == 1

    async def test_a_delete_leaves_a_tombstone(self, group: Regions, clock: ManualClock) -> None:
        await create_global(group)
        us = group[US]
        await us.put_item(TableName=TABLE, Item=_item("a"))
        clock.advance(1)
        await us.delete_item(TableName=TABLE, Key=_key("a"))
        assert await _state(us, "a") == (None, (T0 + 1_000_000, US))
        # an older put shipped late does not bring the item back
        late = ReplicatedChange(_key("a"), _item("a", v="late"), (T0 + 500_000, EU))
        assert await us.apply_replicated(TABLE, [late]) == 0
        assert await items(us) == {}

    async def test_batches_and_transactions_are_versioned(self, group: Regions) -> None:
        await create_global(group)
        us = group[US]
        await us.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": _item(k)}} for k in "abc"]}
        )
        await us.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _item("d")}},
                {"Delete": {"TableName": TABLE, "Key": _key("a")}},
            ]
        )
        for pk in "abcd":
            _, version = await _state(us, pk)
            assert version[1] == US
            assert version[0] >= T0
        assert (await _state(us, "a"))[0] is None

    async def test_delete_table_drops_the_versions(self, group: Regions) -> None:
        await create_global(group)
        us = group[US]
        await us.put_item(TableName=TABLE, Item=_item("a"))
        spec = us.global_tables()[TABLE]
        await us.delete_table(TableName=TABLE)
        names = await us.backend.read(
            lambda c: [r[0] for r in c.execute("SELECT name FROM sqlite_master")]
        )
        assert versions_table(spec).strip('"') not in names


class TestApplyReplicated:
    async def test_a_newer_version_wins_and_an_older_one_is_dropped(self, group: Regions) -> None:
        await create_global(group)
        eu = group[EU]
        await eu.put_item(TableName=TABLE, Item=_item("a", v="local"))  # (T0, eu-west-1)
        older = ReplicatedChange(_key("a"), _item("a", v="old"), (T0 - 1, US))
        tie_loses = ReplicatedChange(_key("a"), _item("a", v="tie"), (T0, "ap-south-1"))
        assert await eu.apply_replicated(TABLE, [older, tie_loses]) == 0
        assert (await _state(eu, "a"))[0] == _item("a", v="local")
        tie_wins = ReplicatedChange(_key("a"), _item("a", v="us"), (T0, US))
        assert await eu.apply_replicated(TABLE, [tie_wins]) == 1
        assert await _state(eu, "a") == (_item("a", v="us"), (T0, US))

    async def test_a_table_no_longer_global_takes_no_replicated_change(
        self, group: Regions, clock: ManualClock
    ) -> None:
        """A link's change in flight (or held by a replication delay) when its table went
        regional must not overwrite the regional writes made since: they keep no version."""
        await create_global(group)
        us = group[US]
        await us.put_item(TableName=TABLE, Item=_item("a", v="global"))  # (T0, us-east-1)
        await set_replicas(group, TABLE, {}, regions=[US])  # EU's replica deleted
        clock.advance(10)
        await us.put_item(TableName=TABLE, Item=_item("a", v="regional"))
        late = ReplicatedChange(_key("a"), _item("a", v="late"), (T0 + 1, EU))
        gone = ReplicatedChange(_key("b"), None, (T0 + 1, EU))
        assert await us.apply_replicated(TABLE, [late, gone]) == 0
        assert await items(us) == {"a": _item("a", v="regional")}
        assert [r["eventName"] for r in await _records(us)] == ["INSERT", "MODIFY"]

    async def test_applying_a_batch_twice_changes_nothing_more(self, group: Regions) -> None:
        await create_global(group)
        eu = group[EU]
        batch = [
            ReplicatedChange(_key("a"), _item("a", v="1"), (T0 + 5, US)),
            ReplicatedChange(_key("b"), _item("b", v="1"), (T0 + 6, US)),
            ReplicatedChange(_key("a"), _item("a", v="2"), (T0 + 7, US)),
            ReplicatedChange(_key("c"), None, (T0 + 8, US)),
        ]
        assert await eu.apply_replicated(TABLE, batch) == 3  # of a's two changes, the newer
        after_once = (await items(eu), len(await _records(eu)))
        assert await eu.apply_replicated(TABLE, batch) == 0
        assert (await items(eu), len(await _records(eu))) == after_once
        assert after_once[0] == {"a": _item("a", v="2"), "b": _item("b", v="1")}
        assert after_once[1] == 2  # a INSERT, b INSERT; c: a tombstone, no record

    async def test_a_replicated_write_is_an_ordinary_write_in_its_region(
        self, group: Regions
    ) -> None:
        gsi: dict[str, Any] = {
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        }
        await create_global(group, **gsi)
        eu = group[EU]
        change = ReplicatedChange(_key("a"), _item("a", g="x"), (T0, US))
        await eu.apply_replicated(TABLE, [change])
        found = await eu.query(
            TableName=TABLE,
            IndexName="by_g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "x"}},
        )
        assert found["Items"] == [_item("a", g="x")]
        (record,) = await _records(eu)
        assert record["eventName"] == "INSERT"
        assert record["dynamodb"]["NewImage"] == _item("a", g="x")
        assert "userIdentity" not in record

    async def test_the_version_shows_nowhere(self, group: Regions) -> None:
        await create_global(group)
        eu = group[EU]
        await eu.put_item(TableName=TABLE, Item=_item("a", v="1"))
        await eu.apply_replicated(TABLE, [ReplicatedChange(_key("b"), _item("b"), (T0 + 9, US))])
        await eu.delete_item(TableName=TABLE, Key=_key("a"))
        seen = json.dumps(
            [
                await eu.get_item(TableName=TABLE, Key=_key("b")),
                await eu.scan(TableName=TABLE),
                await eu.query(
                    TableName=TABLE,
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "b"}},
                ),
                await eu.execute_statement(Statement=f'SELECT * FROM "{TABLE}"'),
                await _records(eu),
            ],
            default=str,
        )
        for hidden in (str(T0), "at_us", US, "deleted"):
            assert hidden not in seen

    async def test_unknown_table_and_closed_engine_refuse(self, clock: ManualClock) -> None:
        async with open_group([US], clock) as g:
            engine = g[US]
            with pytest.raises(ResourceNotFoundException):
                await engine.apply_replicated("nope", [])
            with pytest.raises(ResourceNotFoundException):
                await engine.replication_state("nope", [_key("a")])
        with pytest.raises(ClosedError):
            await engine.apply_replicated(TABLE, [])


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without what differs between any two writes (ids, positions, times)."""
    body = {
        k: v
        for k, v in record["dynamodb"].items()
        if k not in ("SequenceNumber", "ApproximateCreationDateTime")
    }
    return {**{k: v for k, v in record.items() if k != "eventID"}, "dynamodb": body}


class TestReplicatedFlag:
    """A replicated change's stream record carries a hidden flag that only links read."""

    async def _both(self, group: Regions) -> tuple[list[Any], list[Any], list[Any]]:
        """The same three changes (INSERT, MODIFY, REMOVE) made locally to "a" in eu-west-1
        and replicated to "b": GetRecords records, Lambda records, the links' key records."""
        await create_global(group)
        eu = group[EU]
        await eu.put_item(TableName=TABLE, Item=_item("a", v="1"))
        await eu.apply_replicated(TABLE, [ReplicatedChange(_key("b"), _item("b", v="1"), (T0, US))])
        await eu.put_item(TableName=TABLE, Item=_item("a", v="2"))
        await eu.apply_replicated(
            TABLE, [ReplicatedChange(_key("b"), _item("b", v="2"), (T0 * 2, US))]
        )
        await eu.delete_item(TableName=TABLE, Key=_key("a"))
        await eu.apply_replicated(TABLE, [ReplicatedChange(_key("b"), None, (T0 * 3, US))])
        arn = eu.stream_arn(TABLE)
        assert arn is not None
        (shard,) = (await eu.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
        page = {"stream_arn": arn, "shard_id": shard["ShardId"], "after_sequence": None}
        streams = eu.streams
        assert isinstance(streams, StreamsClient)
        lambdas = await streams.read_lambda_records(**page, limit=100)
        keys = await streams.read_change_keys(**page, limit=100)
        return await _records(eu), [unpack_record(r) for r in lambdas.records], keys.records

    async def test_the_flag_never_shows_in_records_or_events(self, group: Regions) -> None:
        records, lambdas, _ = await self._both(group)
        for got in (records, lambdas):
            names = ["INSERT", "INSERT", "MODIFY", "MODIFY", "REMOVE", "REMOVE"]
            assert [r["eventName"] for r in got] == names
            local, replicated = got[0::2], got[1::2]
            for mine, theirs in zip(local, replicated, strict=True):
                as_a = json.dumps(_comparable(theirs)).replace('"b"', '"a"')
                assert json.loads(as_a) == _comparable(mine)

    async def test_links_read_keys_of_local_changes_only(self, group: Regions) -> None:
        records, _, keys = await self._both(group)
        assert [r["dynamodb"]["SequenceNumber"] for r in keys] == [
            r["dynamodb"]["SequenceNumber"] for r in records
        ]
        assert [r["dynamodb"].get("Keys") for r in keys] == [_key("a"), None] * 3


class TestReplicatedItems:
    async def test_pages_every_item_with_its_version(self, group: Regions) -> None:
        us = group[US]
        await create_table(us)
        await create_table(group[EU])
        for n in range(5):  # written while the table was regional: no version
            await us.put_item(TableName=TABLE, Item=_item(f"k{n}"))
        await set_replicas(group, TABLE, {US: "ACTIVE", EU: "CREATING"})
        await us.put_item(TableName=TABLE, Item=_item("k5"))
        seen: list[ReplicatedChange] = []
        after = None
        while True:
            page, after = await us.replicated_items(TABLE, after, 2)
            seen.extend(page)
            if after is None:
                break
        assert sorted(c.key["pk"]["S"] for c in seen) == [f"k{n}" for n in range(6)]
        assert {c.key["pk"]["S"]: c.version for c in seen} == {
            **{f"k{n}": (0, US) for n in range(5)},
            "k5": (T0, US),
        }
        assert all(c.item == _item(c.key["pk"]["S"]) for c in seen)
