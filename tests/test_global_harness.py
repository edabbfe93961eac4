"""Global tables through the test harness: regions, the real control plane, handlers, outages.

``open_harness(app, regions=[...])`` with two and three regions; the table already holds items
when UpdateTable ``ReplicaUpdates`` makes it global (one replica at a time, writes going on
while each is filled). Then random interleavings of puts (some conditional), updates, deletes,
batch writes and transactions on a few shared keys from every region, with random pauses and
resumes of links and clock advances.

The model is the last-writer-wins rule of storage/versions.py: a local write that changes an
item gets the version ``(max(now_us, stored at_us + 1), region)``; one that changes nothing
(an equal put, an update to the same values, a delete of an absent item) keeps the stored
version; versions compare as tuples (the region name breaks ties). A write is "settled" (the
harness drained first: no replicated write can land in its region meanwhile) or "racing"
(replication runs while it happens). For a settled write the model predicts the key's item
and version exactly from the region's state just before it; for a racing one the state after
it is recorded as observed (a genuine (version, item) pair; only its version's growth is
checked). After every link is resumed and the harness drained, every region holds exactly the
same items and versions, each key's item being the one of the greatest version any write
produced, and each region's handler saw a valid history of that region's table (each
record's old image is the previous record's new image; the last new image is the item).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.engine import Engine
from streamkit.errors import (
    ClosedError,
    ConditionalCheckFailedException,
    TransactionCanceledException,
)
from streamkit.storage.versions import NO_VERSION, Version
from streamkit.testing import Harness, open_harness

US, EU, AP = "us-east-1", "eu-west-1", "ap-south-1"
TABLE = "orders"
KEY_NAMES = ["k0", "k1", "k2", "k3"]
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

Plain = dict[str, Any]  # an item as {"pk": "k0", "v": 1, ...}
Write = tuple[str, str, int]  # (kind, key, value)

KEYS = st.sampled_from(KEY_NAMES)
VALUES = st.integers(0, 2)  # few values: puts and updates that change nothing happen
WRITE = st.tuples(st.sampled_from(["put", "put_new", "set", "add", "delete"]), KEYS, VALUES)
REGION = st.integers(0, 2)
STEP = st.one_of(
    st.tuples(st.just("write"), REGION, st.booleans(), WRITE),
    st.tuples(
        st.just("batch"),
        REGION,
        st.booleans(),
        st.lists(st.tuples(st.sampled_from(["put", "delete"]), KEYS, VALUES), max_size=4),
    ),
    st.tuples(st.just("transact"), REGION, st.booleans(), st.lists(WRITE, max_size=4)),
    st.tuples(st.just("advance"), REGION, st.booleans(), st.sampled_from([0, 1e-6, 0.001, 1.5])),
    st.tuples(st.just("pause"), REGION, st.booleans(), REGION),
    st.tuples(st.just("resume"), REGION, st.booleans(), REGION),
    st.tuples(st.just("drain"), REGION, st.booleans(), REGION),
)
SETUP = st.lists(st.tuples(REGION, WRITE), max_size=4)  # racing writes while a replica fills


def _app(records: dict[str, list[dict[str, Any]]]) -> streamkit.App:
    """An app whose handler keeps, per region, every record of the table's stream it saw."""
    app = streamkit.App()

    @app.on_stream(TABLE, name="history", starting_position="TRIM_HORIZON")
    async def history(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            records.setdefault(record["awsRegion"], []).append(record)

    return app


def _typed(item: Plain) -> dict[str, Any]:
    return {
        name: {"S": value} if isinstance(value, str) else {"N": str(value)}
        for name, value in item.items()
    }


def _plain(item: dict[str, Any] | None) -> Plain | None:
    if item is None:
        return None
    out: Plain = {}
    for name, value in item.items():
        ((tag, raw),) = value.items()
        assert tag in ("S", "N"), item
        out[name] = raw if tag == "S" else int(raw)
    assert set(out) <= {"pk", "v", "n"}, item  # no hidden attribute anywhere
    return out


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


# -- the model of one write ------------------------------------------------------------------


def _applies(write: Write, old: Plain | None) -> bool:
    """Whether the write's condition holds (only put_new has one: the item must be absent)."""
    return write[0] != "put_new" or old is None


def _image(write: Write, old: Plain | None) -> Plain | None:
    """The item after ``write`` over ``old`` (its condition holding)."""
    kind, pk, value = write
    if kind in ("put", "put_new"):
        return {"pk": pk, "v": value}
    if kind == "set":
        return {**(old or {"pk": pk}), "v": value}
    if kind == "add":
        base = old or {"pk": pk}
        return {**base, "n": base.get("n", 0) + value + 1}
    return None


def _after(
    state: tuple[Version, Plain | None], new: Plain | None, now_us: int, region: str | None
) -> tuple[Version, Plain | None]:
    """The key's (version, item) after a local write of ``new`` (storage/versions.py) in
    ``region`` (None: the table is regional yet, its items have no version)."""
    version, old = state
    if new == old or region is None:  # no write (or no version): the stored version stays
        return version, new
    return (max(now_us, version[0] + 1), region), new


# -- the run ---------------------------------------------------------------------------------


class Run:
    def __init__(self, h: Harness, regions: list[str]) -> None:
        self.h = h
        self.regions = regions
        self.is_global = False
        #: every (version, item) a write produced (or was seen to produce), per key
        self.produced: dict[str, dict[Version, Plain | None]] = {}

    async def state(self, engine: Engine, pks: list[str]) -> list[tuple[Version, Plain | None]]:
        found = await engine.replication_state(TABLE, [_key(pk) for pk in pks])
        return [(s.version, _plain(s.item)) for s in found]

    def record(self, pk: str, version: Version, item: Plain | None) -> None:
        seen = self.produced.setdefault(pk, {})
        if version[0] == 0:  # written while regional (or back-filled): no version yet
            seen[version] = item
            return
        assert seen.setdefault(version, item) == item, (pk, version)  # one item per version

    async def write(self, region: str, settled: bool, writes: list[Write], kind: str) -> None:
        """Run one request (a single write, a batch or a transaction) in ``region``."""
        engine = self.h.engines[region]
        distinct: dict[str, Write] = {}
        for w in writes:
            distinct.setdefault(w[1], w)
        writes = list(distinct.values())
        if not writes:
            return
        if settled:
            await self.h.drain()
        pks = [w[1] for w in writes]
        before = await self.state(engine, pks)
        now_us = int(self.h.clock.now() * 1_000_000)
        olds = [item for _, item in before]
        if kind == "transact":
            ok = all(_applies(w, old) for w, old in zip(writes, olds, strict=True))
            with suppress(TransactionCanceledException):
                await engine.transact_write_items(TransactItems=[_action(w) for w in writes])
        elif kind == "batch":
            ok = True
            await engine.batch_write_item(RequestItems={TABLE: [_request(w) for w in writes]})
        else:
            ok = _applies(writes[0], olds[0])
            with suppress(ConditionalCheckFailedException):
                await _single(engine, writes[0])
        after = await self.state(engine, pks)
        for w, state, now in zip(writes, before, after, strict=True):
            versioned = region if self.is_global else None
            expected = _after(state, _image(w, state[1]), now_us, versioned) if ok else state
            if settled:
                assert now == expected, (region, w, state)
            else:  # a replicated write may have landed meanwhile: versions only grow
                assert now[0] >= state[0], (region, w, state)
            self.record(w[1], *now)

    async def converged(self, records: dict[str, list[dict[str, Any]]]) -> None:
        replication = self.h.replication
        for link in replication.links:
            replication.resume(link.table, link.source, link.target)
        await self.h.drain()
        expected: dict[str, tuple[Version, Plain | None]] = {}
        for pk, produced in self.produced.items():
            version = max(produced)
            expected[pk] = (version, produced[version])
        items = {pk: item for pk, (_, item) in expected.items() if item is not None}
        for region in self.regions:
            engine = self.h.engines[region]
            scanned = (await engine.scan(TableName=TABLE))["Items"]
            assert {i["pk"]["S"]: _plain(i) for i in scanned} == items, region
            states = await self.state(engine, KEY_NAMES)
            for pk, (version, item) in zip(KEY_NAMES, states, strict=True):
                assert item == items.get(pk), (region, pk)
                want = expected.get(pk, (NO_VERSION,))[0]
                if want[0] > 0 and (item is not None or version != NO_VERSION):
                    # written since it went global (a replica added later has no tombstone
                    # of an item deleted before: test_a_tombstone_reaches_a_later_replica)
                    assert version == want, (region, pk)
            _check_history(records.get(region, []), scanned)
        assert all(not s.paused and s.records_behind == 0 for s in await replication.status())


def _check_history(records: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """The records are a valid history of the table: per key, each record's old image is the
    previous record's new image, and the last new image is the item."""
    last: dict[str, dict[str, Any] | None] = {}
    for record in records:
        data = record["dynamodb"]
        pk = data["Keys"]["pk"]["S"]
        assert data.get("OldImage") == last.get(pk), pk
        last[pk] = data.get("NewImage")
        for image in (data.get("OldImage"), data.get("NewImage")):
            _plain(image)
    assert {k: v for k, v in last.items() if v is not None} == {i["pk"]["S"]: i for i in items}


async def _single(engine: Engine, w: Write) -> None:
    kind, pk, value = w
    if kind in ("put", "put_new"):
        condition = {"ConditionExpression": "attribute_not_exists(pk)"} if kind == "put_new" else {}
        item = _typed({"pk": pk, "v": value})
        await engine.put_item(TableName=TABLE, Item=item, **condition)
    elif kind == "delete":
        await engine.delete_item(TableName=TABLE, Key=_key(pk))
    else:
        await engine.update_item(TableName=TABLE, Key=_key(pk), **_update(w))


def _update(w: Write) -> dict[str, Any]:
    kind, _, value = w
    if kind == "set":
        return {
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"N": str(value)}},
        }
    return {
        "UpdateExpression": "ADD n :n",
        "ExpressionAttributeValues": {":n": {"N": str(value + 1)}},
    }


def _action(w: Write) -> dict[str, Any]:
    kind, pk, value = w
    if kind in ("put", "put_new"):
        put: dict[str, Any] = {"TableName": TABLE, "Item": _typed({"pk": pk, "v": value})}
        if kind == "put_new":
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}
    if kind == "delete":
        return {"Delete": {"TableName": TABLE, "Key": _key(pk)}}
    return {"Update": {"TableName": TABLE, "Key": _key(pk), **_update(w)}}


def _request(w: Write) -> dict[str, Any]:
    kind, pk, value = w
    if kind == "delete":
        return {"DeleteRequest": {"Key": _key(pk)}}
    return {"PutRequest": {"Item": _typed({"pk": pk, "v": value})}}


async def _global_run(
    regions: list[str],
    initial: list[tuple[str, int]],
    setup: list[tuple[int, Write]],
    steps: list[tuple[Any, ...]],
) -> None:
    records: dict[str, list[dict[str, Any]]] = {}
    async with open_harness(_app(records), regions=regions) as h:
        run = Run(h, regions)
        first = h.engines[regions[0]]
        await first.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=STREAM,
        )
        for pk, value in initial:  # the table holds items before it is global
            await run.write(regions[0], True, [("put", pk, value)], "write")
        # one replica at a time, each asked for in the newest replica's region, while the
        # regions already replicas take racing writes
        for count, region in enumerate(regions[1:], start=1):
            h.clock.advance(0.001)
            await h.engines[regions[count - 1]].update_table(
                TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}]
            )
            run.is_global = True
            for who, w in setup:
                await run.write(regions[who % count], False, [w], "write")
            await h.drain()  # the back-fill done, ACTIVE is written to every catalog
            for peer in regions[: count + 1]:
                table = (await h.engines[peer].describe_table(TableName=TABLE))["Table"]
                assert {r["RegionName"] for r in table["Replicas"]} == set(regions[: count + 1])
                assert {r["ReplicaStatus"] for r in table["Replicas"]} == {"ACTIVE"}, peer
        for kind, who, settled, arg in steps:
            region = regions[who % len(regions)]
            if kind == "write":
                await run.write(region, settled, [arg], kind)
            elif kind in ("batch", "transact"):
                await run.write(region, settled, arg, kind)
            elif kind == "advance":
                h.clock.advance(arg)
            elif kind == "drain":
                await h.drain()
            else:
                target = regions[arg % len(regions)]
                if target != region:
                    getattr(h.replication, kind)(TABLE, region, target)
        await run.converged(records)


INITIAL = st.lists(st.tuples(KEYS, VALUES), max_size=3)


@settings(max_examples=40, deadline=None)
@given(initial=INITIAL, setup=SETUP, steps=st.lists(STEP, max_size=25))
def test_two_regions_converge_through_the_harness(
    initial: list[tuple[str, int]], setup: list[tuple[int, Write]], steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_global_run([US, EU], initial, setup, steps))


@settings(max_examples=30, deadline=None)
@given(initial=INITIAL, setup=SETUP, steps=st.lists(STEP, max_size=25))
def test_three_regions_converge_through_the_harness(
    initial: list[tuple[str, int]], setup: list[tuple[int, Write]], steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_global_run([US, EU, AP], initial, setup, steps))


async def test_a_tombstone_reaches_a_later_replica() -> None:
    """us-east-1 deletes an item while its link to eu-west-1 is down; ap-south-1 is added
    meanwhile and back-filled from both (eu-west-1 still has the item). Once the link is back,
    every region must have the item deleted: the delete is the last write."""
    key = _key("k")
    async with open_harness(streamkit.App(), regions=[US, EU, AP]) as h:
        us = h.engines[US]
        await us.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await us.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": EU}}])
        await h.drain()
        h.clock.advance(1)
        await us.put_item(TableName=TABLE, Item=key)
        await h.drain()
        h.replication.pause(TABLE, US, EU)
        h.clock.advance(1)
        await us.delete_item(TableName=TABLE, Key=key)
        await us.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": AP}}])
        await h.drain()
        h.replication.resume(TABLE, US, EU)
        await h.drain()
        for region in (US, EU, AP):
            assert (await h.engines[region].scan(TableName=TABLE))["Items"] == [], region


async def test_a_tombstone_older_than_the_replica_reaches_it() -> None:
    """us-east-1 (global with ap-south-1) puts and deletes an item at clock time T (the
    delete's version is (T + 1 us, us-east-1)), then adds eu-west-1, whose back-fill brings the
    tombstone; eu-west-1 then writes the item, still at clock time T. That write overwrote the
    tombstone there, so its version beats it ((T + 2 us, eu-west-1)): it is the last writer
    and every region ends with the item. (Before tombstones were back-filled, eu-west-1's
    write got the older (T, eu-west-1) and lost everywhere but there: the regions diverged.)"""
    key = _key("k")
    async with open_harness(streamkit.App(), regions=[US, EU, AP]) as h:
        us, eu = h.engines[US], h.engines[EU]
        await us.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await us.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": AP}}])
        await h.drain()
        await us.put_item(TableName=TABLE, Item=key)
        await us.delete_item(TableName=TABLE, Key=key)
        await h.drain()
        await us.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": EU}}])
        await h.drain()
        await eu.put_item(TableName=TABLE, Item=key)  # the clock has not moved: time T
        await h.drain()
        for region in (US, EU, AP):
            assert (await h.engines[region].scan(TableName=TABLE))["Items"] == [key], region


async def test_one_drain_sees_each_new_replica_active_everywhere() -> None:
    """A drain() right after each ReplicaUpdates Create returns only once the back-fills are
    done and every catalog says ACTIVE (it returned while the last back-fill was starting, its
    link seen caught up just before, and the catalogs said CREATING)."""
    async with open_harness(streamkit.App(), regions=[US, EU, AP]) as h:
        us = h.engines[US]
        await us.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await us.put_item(TableName=TABLE, Item=_key("k"))
        for count, region in enumerate([EU, AP], start=2):
            asked = h.engines[[US, EU][count - 2]]  # the newest replica asks for the next
            await asked.update_table(
                TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}]
            )
            await h.drain()
            members = [US, EU, AP][:count]
            for peer in members:
                table = (await h.engines[peer].describe_table(TableName=TABLE))["Table"]
                assert table["Replicas"] == [
                    {"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in sorted(members)
                ], peer
                items = (await h.engines[peer].scan(TableName=TABLE))["Items"]
                assert items == [_key("k")], peer


async def test_a_failed_replica_request_leaves_no_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Creates whose second one a region refuses: the first replica (whose catalog the
    replication side may have seen meanwhile) is dropped again; after a drain no link runs and
    no region but the first holds the table."""
    async with open_harness(streamkit.App(), regions=[US, EU, AP]) as h:
        us = h.engines[US]
        await us.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await us.put_item(TableName=TABLE, Item=_key("k"))
        create_eu = h.engines[EU]._create_table_spec

        async def create_then_settle(*args: Any, **kwargs: Any) -> Any:
            created = await create_eu(*args, **kwargs)
            await anyio.wait_all_tasks_blocked()  # the Replicator sees eu-west-1's catalog
            return created

        async def refused(*args: Any, **kwargs: Any) -> Any:
            raise ClosedError("the region's engine is closed")

        monkeypatch.setattr(h.engines[EU], "_create_table_spec", create_then_settle)
        monkeypatch.setattr(h.engines[AP], "_create_table_spec", refused)
        with pytest.raises(ClosedError):
            await us.update_table(
                TableName=TABLE,
                ReplicaUpdates=[{"Create": {"RegionName": EU}}, {"Create": {"RegionName": AP}}],
            )
        await h.drain()
        assert h.replication.links == []
        assert (await h.engines[EU].list_tables())["TableNames"] == []
        assert (await h.engines[AP].list_tables())["TableNames"] == []
        assert "Replicas" not in (await us.describe_table(TableName=TABLE))["Table"]
