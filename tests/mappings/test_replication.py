"""Replication links between regions, end to end: real engines on SQLite, a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

from streamkit.engine import Engine
from streamkit.errors import ConditionalCheckFailedException, TransactionCanceledException
from streamkit.mappings.replication import Replicator, link_name
from streamkit.storage.versions import Version
from streamkit.streams import Regions
from streamkit.testing import ManualClock
from tests.replication_support import (
    TABLE,
    create_global,
    create_table,
    drain,
    items,
    open_group,
    set_replicas,
)

US, EU, AP = "us-east-1", "eu-west-1", "ap-south-1"


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def _item(pk: str, **attrs: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}


@asynccontextmanager
async def running(group: Regions, clock: ManualClock, **options: Any) -> AsyncIterator[Replicator]:
    async with anyio.create_task_group() as tg:
        replicator = Replicator(group, clock, **options)
        await tg.start(replicator.run)
        yield replicator
        tg.cancel_scope.cancel()


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
        while it is not None:
            page = await engine.streams.get_records(ShardIterator=it)
            out.extend(page["Records"])
            if not page["Records"]:
                break
            it = page.get("NextShardIterator")
    return out


@pytest.fixture
async def group(clock: ManualClock) -> AsyncIterator[Regions]:
    async with open_group([US, EU], clock) as g:
        yield g


class TestLinks:
    async def test_writes_in_each_region_reach_the_other(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            assert {(link.source, link.target) for link in replicator.links} == {
                (US, EU),
                (EU, US),
            }
            await us.put_item(TableName=TABLE, Item=_item("a", v="us"))
            await eu.put_item(TableName=TABLE, Item=_item("b", v="eu"))
            await drain(replicator)
            expected = {"a": _item("a", v="us"), "b": _item("b", v="eu")}
            assert await items(us) == expected
            assert await items(eu) == expected
            clock.advance(1)
            await eu.delete_item(TableName=TABLE, Key=_key("a"))
            await drain(replicator)
            assert await items(us) == await items(eu) == {"b": _item("b", v="eu")}

    async def test_nothing_echoes_back(self, group: Regions, clock: ManualClock) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            await us.put_item(TableName=TABLE, Item=_item("a"))
            await drain(replicator)
            await eu.put_item(TableName=TABLE, Item=_item("b"))
            await drain(replicator)
            assert replicator.link(TABLE, US, EU).shipped == 1
            assert replicator.link(TABLE, EU, US).shipped == 1
            # each region's stream: its own write and the one it received, once each
            assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in await _records(us)) == [
                "a",
                "b",
            ]
            assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in await _records(eu)) == [
                "a",
                "b",
            ]

    async def test_a_keys_only_stream_replicates(self, group: Regions, clock: ManualClock) -> None:
        await create_global(group, view="KEYS_ONLY")
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            await us.put_item(TableName=TABLE, Item=_item("a", v="1"))
            await us.update_item(
                TableName=TABLE,
                Key=_key("a"),
                UpdateExpression="SET w = :w",
                ExpressionAttributeValues={":w": {"S": "2"}},
            )
            await drain(replicator)
            assert await items(eu) == {"a": _item("a", v="1", w="2")}

    async def test_binary_keys_replicate(self, clock: ManualClock) -> None:
        async with open_group([US, EU], clock) as g:
            for engine in g.engines.values():
                await engine.create_table(
                    TableName=TABLE,
                    KeySchema=[
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    AttributeDefinitions=[
                        {"AttributeName": "pk", "AttributeType": "B"},
                        {"AttributeName": "sk", "AttributeType": "N"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
                )
            await set_replicas(g, TABLE, {US: "ACTIVE", EU: "ACTIVE"})
            item = {"pk": {"B": b"\x00\xff"}, "sk": {"N": "1.50"}, "v": {"B": b"x"}}
            async with running(g, clock) as replicator:
                await g[US].put_item(TableName=TABLE, Item=item)
                await drain(replicator)
            got = await g[EU].get_item(
                TableName=TABLE, Key={"pk": {"B": b"\x00\xff"}, "sk": {"N": "1.5"}}
            )
            assert got["Item"] == {"pk": {"B": b"\x00\xff"}, "sk": {"N": "1.5"}, "v": {"B": b"x"}}

    async def test_a_newer_delete_beats_an_older_put_from_elsewhere(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            replicator.pause(TABLE, US, EU)
            replicator.pause(TABLE, EU, US)
            await eu.put_item(TableName=TABLE, Item=_item("a", v="eu-old"))
            clock.advance(0.001)
            await us.put_item(TableName=TABLE, Item=_item("a", v="us"))
            await us.delete_item(TableName=TABLE, Key=_key("a"))  # the tombstone is newest
            replicator.resume(TABLE, US, EU)
            replicator.resume(TABLE, EU, US)
            await drain(replicator)
            assert await items(us) == await items(eu) == {}

    async def test_a_ttl_delete_arrives_as_a_plain_delete(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        await us.update_time_to_live(  # the control plane applies it to every replica
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        described = await eu.describe_time_to_live(TableName=TABLE)
        assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        item = {"pk": {"S": "a"}, "expires": {"N": str(int(clock.now()) + 10)}}
        async with running(group, clock) as replicator:
            await us.put_item(TableName=TABLE, Item=item)
            await drain(replicator)
            clock.advance(60)
            assert await us.expire_items(TABLE, now=clock.now()) == 1
            await drain(replicator)
            assert await items(eu) == {}
            us_remove = [r for r in await _records(us) if r["eventName"] == "REMOVE"]
            eu_remove = [r for r in await _records(eu) if r["eventName"] == "REMOVE"]
            assert us_remove[0]["userIdentity"]["PrincipalId"] == "dynamodb.amazonaws.com"
            assert len(eu_remove) == 1
            assert "userIdentity" not in eu_remove[0]

    async def test_delay_holds_changes_back_on_the_clock(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock, delay=0.8) as replicator:
            await us.put_item(TableName=TABLE, Item=_item("a"))
            await drain(replicator)  # held back: settled, not shipped
            assert await items(eu) == {}
            clock.advance(0.5)
            await drain(replicator)
            assert await items(eu) == {}
            clock.advance(0.3)
            await drain(replicator)
            assert await items(eu) == {"a": _item("a")}
            (status,) = [s for s in await replicator.status() if s.source == US]
            assert status.lag_ms == pytest.approx(800.0)

    async def test_pause_piles_up_and_resume_converges(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            replicator.pause(TABLE, US, EU)
            for n in range(5):
                await us.put_item(TableName=TABLE, Item=_item(f"u{n}"))
            await eu.put_item(TableName=TABLE, Item=_item("e"))
            await drain(replicator)
            assert set(await items(eu)) == {"e"}
            assert set(await items(us)) == {"u0", "u1", "u2", "u3", "u4", "e"}
            by_link = {(s.source, s.target): s for s in await replicator.status()}
            # five writes and the one received from eu-west-1 (read, then not shipped back)
            assert by_link[US, EU].paused
            assert by_link[US, EU].records_behind == 6
            assert not by_link[EU, US].paused
            assert by_link[EU, US].records_behind == 0
            replicator.resume(TABLE, US, EU)
            await drain(replicator)
            assert await items(eu) == await items(us)
            assert all(s.records_behind == 0 for s in await replicator.status())

    async def test_links_stop_when_the_replica_goes(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            await us.put_item(TableName=TABLE, Item=_item("a"))
            await drain(replicator)
            await set_replicas(group, TABLE, {}, regions=[US, EU])  # regional again
            await drain(replicator)
            assert replicator.links == []
            await us.put_item(TableName=TABLE, Item=_item("b"))
            await drain(replicator)
            assert set(await items(eu)) == {"a"}
            arn = us.stream_arn(TABLE)
            assert arn is not None
            assert await us.backend.load_checkpoints(link_name(TABLE, EU), arn) == {}

    async def test_checkpoints_persist_and_a_new_replicator_resumes(
        self, group: Regions, clock: ManualClock
    ) -> None:
        await create_global(group)
        us, eu = group[US], group[EU]
        async with running(group, clock) as replicator:
            await us.put_item(TableName=TABLE, Item=_item("a"))
            await drain(replicator)
        await us.put_item(TableName=TABLE, Item=_item("b"))  # while nothing replicates
        async with running(group, clock) as replicator:
            await drain(replicator)
            assert set(await items(eu)) == {"a", "b"}
            assert replicator.link(TABLE, US, EU).shipped == 1  # b only: a was checkpointed


class TestBackfill:
    async def test_an_existing_table_is_filled_while_writes_go_on(
        self, group: Regions, clock: ManualClock
    ) -> None:
        us, eu = group[US], group[EU]
        await create_table(us)
        for start in range(0, 2500, 25):
            await us.batch_write_item(
                RequestItems={
                    TABLE: [
                        {"PutRequest": {"Item": _item(f"k{n:04}", v="0")}}
                        for n in range(start, start + 25)
                    ]
                }
            )
        await create_table(eu)  # the control plane: the replica's table, then the catalogs
        await set_replicas(group, TABLE, {US: "ACTIVE", EU: "CREATING"})
        async with running(group, clock, backfill_step=1000) as replicator:
            link = replicator.link(TABLE, US, EU)
            assert link.backfilling
            for n in range(0, 2500, 100):  # writes meanwhile: updates, deletes, new items
                await us.put_item(TableName=TABLE, Item=_item(f"k{n:04}", v="1"))
                await us.delete_item(TableName=TABLE, Key=_key(f"k{n + 1:04}"))
                await us.put_item(TableName=TABLE, Item=_item(f"new{n}"))
                await anyio.lowlevel.checkpoint()
            await drain(replicator)
            assert not any(s.backfilling for s in await replicator.status())
            assert await items(eu) == await items(us)
            assert len(await items(eu)) == 2500
            for engine in (us, eu):
                assert dict(engine.global_tables()[TABLE].replicas) == {
                    US: "ACTIVE",
                    EU: "ACTIVE",
                }
            # the link started at the stream's head: the 2,500 older records were not read
            assert link.runner.metrics().records < 2500

    async def test_a_replica_added_to_a_three_region_table(self, clock: ManualClock) -> None:
        async with open_group([US, EU, AP], clock) as g:
            await create_table(g[US])
            await create_table(g[EU])
            await set_replicas(g, TABLE, {US: "ACTIVE", EU: "ACTIVE"})
            async with running(g, clock) as replicator:
                replicator.pause(TABLE, EU, US)  # EU's write has not reached US yet
                await g[US].put_item(TableName=TABLE, Item=_item("u"))
                await g[EU].put_item(TableName=TABLE, Item=_item("e"))
                await drain(replicator)
                await create_table(g[AP])
                await set_replicas(g, TABLE, {US: "ACTIVE", EU: "ACTIVE", AP: "CREATING"})
                await drain(replicator)
                assert set(await items(g[AP])) == {"u", "e"}
                replicator.resume(TABLE, EU, US)
                await drain(replicator)
                for region in (US, EU, AP):
                    assert set(await items(g[region])) == {"u", "e"}
                    assert dict(g[region].global_tables()[TABLE].replicas)[AP] == "ACTIVE"


# -- convergence -----------------------------------------------------------------------------

KEYS = st.sampled_from(["k0", "k1", "k2", "k3"])
VALUES = st.integers(0, 99)
WRITE = st.one_of(
    st.tuples(st.just("put"), KEYS, VALUES),
    st.tuples(st.just("update"), KEYS, VALUES),
    st.tuples(st.just("add"), KEYS, VALUES),
    st.tuples(st.just("delete"), KEYS, VALUES),
    st.tuples(st.just("put_new"), KEYS, VALUES),  # conditional: only if absent
)
STEP = st.one_of(
    st.tuples(st.just("write"), st.integers(0, 2), WRITE),
    st.tuples(st.just("batch"), st.integers(0, 2), st.lists(WRITE, min_size=1, max_size=4)),
    st.tuples(st.just("transact"), st.integers(0, 2), st.lists(WRITE, min_size=1, max_size=4)),
    st.tuples(st.just("advance"), st.integers(0, 2), st.sampled_from([0.0, 0.000001, 0.3, 2.0])),
    st.tuples(st.just("pause"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("resume"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("settle"), st.integers(0, 2), st.integers(0, 3)),
)


async def _write(engine: Engine, op: tuple[str, str, int]) -> None:
    kind, pk, n = op
    key = _key(pk)
    try:
        if kind == "put":
            await engine.put_item(TableName=TABLE, Item={**key, "v": {"N": str(n)}})
        elif kind == "put_new":
            await engine.put_item(
                TableName=TABLE,
                Item={**key, "w": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        elif kind == "update":
            await engine.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET u = :n",
                ExpressionAttributeValues={":n": {"N": str(n)}},
            )
        elif kind == "add":
            await engine.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="ADD c :n",
                ExpressionAttributeValues={":n": {"N": str(n)}},
            )
        else:
            await engine.delete_item(TableName=TABLE, Key=key)
    except ConditionalCheckFailedException:
        pass


def _action(op: tuple[str, str, int]) -> dict[str, Any]:
    kind, pk, n = op
    key = _key(pk)
    if kind in ("put", "put_new"):
        return {"Put": {"TableName": TABLE, "Item": {**key, "v": {"N": str(n)}}}}
    if kind in ("update", "add"):
        return {
            "Update": {
                "TableName": TABLE,
                "Key": key,
                "UpdateExpression": "ADD c :n",
                "ExpressionAttributeValues": {":n": {"N": str(n)}},
            }
        }
    return {"Delete": {"TableName": TABLE, "Key": key}}


def _distinct(ops: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    seen: dict[str, tuple[str, str, int]] = {}
    for op in ops:
        seen.setdefault(op[1], op)
    return list(seen.values())


def _check_history(records: list[dict[str, Any]], final: dict[str, dict[str, Any]]) -> None:
    """A region's stream is a valid history of its table: per key, each record's old image is
    the previous record's new image, and the last new image is the final item."""
    last: dict[str, dict[str, Any] | None] = {}
    for record in records:
        data = record["dynamodb"]
        pk = data["Keys"]["pk"]["S"]
        assert data.get("OldImage") == last.get(pk)
        last[pk] = data.get("NewImage")
    assert {k: v for k, v in last.items() if v is not None} == final


async def _converge(regions: list[str], steps: list[tuple[Any, ...]]) -> None:
    clock = ManualClock()
    async with open_group(regions, clock) as g:
        await create_global(g)
        engines = [g[r] for r in regions]
        #: every state observed right after a write: key -> [(version, item)]
        observed: dict[str, list[tuple[Version, dict[str, Any] | None]]] = {}

        async def observe(engine: Engine, pks: list[str]) -> None:
            states = await engine.replication_state(TABLE, [_key(pk) for pk in pks])
            for pk, state in zip(pks, states, strict=True):
                observed.setdefault(pk, []).append((state.version, state.item))

        async with running(g, clock) as replicator:
            for kind, who, arg in steps:
                engine = engines[who % len(engines)]
                if kind == "write":
                    await _write(engine, arg)
                    await observe(engine, [arg[1]])
                elif kind == "batch":
                    ops = _distinct(arg)
                    await engine.batch_write_item(
                        RequestItems={
                            TABLE: [
                                {"DeleteRequest": {"Key": _key(pk)}}
                                if k == "delete"
                                else {"PutRequest": {"Item": {**_key(pk), "b": {"N": str(n)}}}}
                                for k, pk, n in ops
                            ]
                        }
                    )
                    await observe(engine, [op[1] for op in ops])
                elif kind == "transact":
                    ops = _distinct(arg)
                    with suppress(TransactionCanceledException):
                        await engine.transact_write_items(TransactItems=[_action(o) for o in ops])
                    await observe(engine, [op[1] for op in ops])
                elif kind == "advance":
                    clock.advance(arg)
                elif kind in ("pause", "resume"):
                    source, target = regions[who % len(regions)], regions[arg % len(regions)]
                    if source != target:
                        getattr(replicator, kind)(TABLE, source, target)
                else:  # let the links run a little (or to the end)
                    if arg == 3:
                        await drain(replicator)
                    for _ in range(arg * 5):
                        await anyio.lowlevel.checkpoint()
            for link in replicator.links:
                replicator.resume(link.table, link.source, link.target)
            await drain(replicator)
            expected = {}
            for pk, states in observed.items():
                _, item = max(states, key=lambda s: s[0])
                if item is not None:
                    expected[pk] = item
            for engine in engines:
                final = await items(engine)
                assert final == expected, engine.region
                _check_history(await _records(engine), final)


@settings(max_examples=40)
@given(steps=st.lists(STEP, max_size=30))
def test_two_regions_converge_to_the_last_writer(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(_converge([US, EU], steps))


@settings(max_examples=25)
@given(steps=st.lists(STEP, max_size=30))
def test_three_regions_converge_to_the_last_writer(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(_converge([US, EU, AP], steps))


def test_no_hidden_field_in_any_handler_event_or_record() -> None:
    """What the links write is plain items: nothing of the version reaches a stream record."""

    async def run() -> None:
        clock = ManualClock()
        async with open_group([US, EU], clock) as g:
            await create_global(g)
            async with running(g, clock) as replicator:
                await g[US].put_item(TableName=TABLE, Item=_item("a", v="1"))
                await g[EU].put_item(TableName=TABLE, Item=_item("b", v="2"))
                await drain(replicator)
            text = json.dumps([await _records(g[US]), await _records(g[EU])], default=str)
            assert "at_us" not in text
            assert str(int(clock.now() * 1_000_000)) not in text

    asyncio.run(run())
