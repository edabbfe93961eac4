"""TTL on global tables, as in DynamoDB: the region that wrote an item last expires it, and the
deletion reaches the other replicas as a plain replicated delete (so only one region's stream
carries the service's userIdentity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from streamkit.engine import Engine
from streamkit.mappings.replication import Replicator
from streamkit.streams import Regions
from streamkit.testing import ManualClock
from streamkit.ttl.sweeper import sweep_once
from tests.replication_support import TABLE, create_global, create_table, drain, items, open_group

US, EU = "us-east-1", "eu-west-1"
SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
TTL = {"Enabled": True, "AttributeName": "expires"}


@asynccontextmanager
async def running(group: Regions, clock: ManualClock) -> AsyncIterator[Replicator]:
    async with anyio.create_task_group() as tg:
        replicator = Replicator(group, clock)
        await tg.start(replicator.run)
        yield replicator
        tg.cancel_scope.cancel()


@pytest.fixture
async def group(clock: ManualClock) -> AsyncIterator[Regions]:
    async with open_group([US, EU], clock) as g:
        yield g


def _item(pk: str, clock: ManualClock, **attrs: str) -> dict[str, Any]:
    expires = {"N": str(int(clock.now()) + 10)}
    return {"pk": {"S": pk}, "expires": expires, **{k: {"S": v} for k, v in attrs.items()}}


async def _removes(engine: Engine) -> list[dict[str, Any]]:
    arn = engine.stream_arn(TABLE)
    assert arn is not None
    described = await engine.streams.describe_stream(StreamArn=arn)
    out: list[dict[str, Any]] = []
    for shard in described["StreamDescription"]["Shards"]:
        iterator = (
            await engine.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        page = await engine.streams.get_records(ShardIterator=iterator)
        out.extend(r for r in page["Records"] if r["eventName"] == "REMOVE")
    return out


@pytest.mark.parametrize("last_writer", [US, EU])
async def test_the_region_that_wrote_an_item_last_expires_it(
    group: Regions, clock: ManualClock, last_writer: str
) -> None:
    await create_global(group)
    await group[US].update_time_to_live(TableName=TABLE, TimeToLiveSpecification=TTL)
    owner, other = group[last_writer], group[EU if last_writer == US else US]
    async with running(group, clock) as replicator:
        await group[US].put_item(TableName=TABLE, Item=_item("a", clock, by=US))
        await drain(replicator)
        if last_writer == EU:
            await group[EU].put_item(TableName=TABLE, Item=_item("a", clock, by=EU))
            await drain(replicator)
        clock.advance(60)
        assert await other.expire_items(TABLE, now=clock.now()) == 0
        assert await items(other) == await items(owner) != {}
        assert await owner.expire_items(TABLE, now=clock.now()) == 1
        await drain(replicator)
        assert await items(owner) == await items(other) == {}
    owner_removes, other_removes = await _removes(owner), await _removes(other)
    assert [r["userIdentity"] for r in owner_removes] == [SERVICE]
    assert len(other_removes) == 1
    assert "userIdentity" not in other_removes[0]


async def test_items_from_before_the_table_went_global_expire_in_the_first_region(
    group: Regions, clock: ManualClock
) -> None:
    # us-east-1 holds the items, unversioned; the back-fill copies them to eu-west-1 with
    # (0, us-east-1): both regions agree the first replica region by name expires them
    us, eu = group[US], group[EU]
    await create_table(us)
    await us.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=TTL)
    for pk in ("a", "b"):
        await us.put_item(TableName=TABLE, Item=_item(pk, clock))
    async with running(group, clock) as replicator:
        await us.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": EU}}])
        await drain(replicator)
        described = (await us.describe_table(TableName=TABLE))["Table"]
        assert {r["ReplicaStatus"] for r in described["Replicas"]} == {"ACTIVE"}
        assert set(await items(eu)) == {"a", "b"}
        clock.advance(60)
        assert await us.expire_items(TABLE, now=clock.now()) == 0
        assert await eu.expire_items(TABLE, now=clock.now()) == 2
        await drain(replicator)
        assert await items(us) == await items(eu) == {}
    assert all("userIdentity" not in r for r in await _removes(us))
    assert [r["userIdentity"] for r in await _removes(eu)] == [SERVICE, SERVICE]


async def test_a_regions_own_items_are_not_starved_by_others_expired_ones(
    group: Regions, clock: ManualClock
) -> None:
    await create_global(group)
    await group[US].update_time_to_live(TableName=TABLE, TimeToLiveSpecification=TTL)
    async with running(group, clock) as replicator:
        for n in range(5):  # expire first, and not eu-west-1's to delete
            await group[US].put_item(TableName=TABLE, Item=_item(f"us{n}", clock))
        clock.advance(1)
        await group[EU].put_item(TableName=TABLE, Item=_item("eu", clock))
        await drain(replicator)
        replicator.pause(TABLE, US, EU)  # an outage: us-east-1's deletions do not arrive
        clock.advance(60)
        assert await sweep_once(group[EU], clock=clock, batch_size=2) == 1
        assert set(await items(group[EU])) == {f"us{n}" for n in range(5)}
        assert await group[US].expire_items(TABLE, now=clock.now(), limit=10) == 5
        replicator.resume(TABLE, US, EU)
        await drain(replicator)
        assert await items(group[US]) == await items(group[EU]) == {}
