"""Mapping runners sharing a stream's shards through a lease table, on the engine and a manual
clock: each reads only the shards it holds, a steal moves a shard without handling a record
twice, and a worker whose lease ran out on its clock stops before its next batch."""

from __future__ import annotations

import random
from typing import Any

import anyio

import streamkit
from streamkit.clock import first_of
from streamkit.mappings.leases import LeaseCoordinator, read_leases
from streamkit.mappings.poller import MappingRunner
from streamkit.testing import ManualClock

T = 9.0
KEYS = 16
TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


def app_for(seen: list[tuple[str, str, int]], worker: str) -> streamkit.App:
    app = streamkit.App()

    @app.on_stream("orders", name="m", starting_position="TRIM_HORIZON")
    def handle(event: dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            image = record["dynamodb"]["NewImage"]
            seen.append((worker, image["pk"]["S"], int(image["v"]["N"])))

    return app


async def put_version(db: streamkit.Engine, version: int) -> None:
    for key in range(KEYS):
        await db.put_item(
            TableName="orders", Item={"pk": {"S": f"k{key}"}, "v": {"N": str(version)}}
        )


async def settle(*runners: MappingRunner) -> None:
    """Wait until every runner has processed what it may (its held shards), checking again
    whenever one of them changes."""
    with anyio.fail_after(30):
        while True:
            waiters = [runner.changed.waiter() for runner in runners]
            if all([await runner.caught_up() for runner in runners]):
                return
            await first_of(list(waiters))


async def owners(db: streamkit.Engine) -> dict[str, str | None]:
    return {lease.shard_id: lease.owner for lease in await read_leases(db, "leases")}


async def test_runners_share_shards_by_lease() -> None:
    shards = 4
    clock = ManualClock()
    seen: list[tuple[str, str, int]] = []
    async with streamkit.open_engine(None, clock=clock, stream_shards=shards) as db:
        await db.create_table(TableName="orders", **TABLE)
        coordinators = {
            name: LeaseCoordinator(
                db,
                clock=clock,
                table="leases",
                worker_id=name,
                lease_timeout=T,
                rng=random.Random(name),
            )
            for name in "ab"
        }
        a, b = coordinators["a"], coordinators["b"]
        await a.ensure_table()
        runners = {
            name: MappingRunner(db, app_for(seen, name).mappings[0], clock, leases=c)
            for name, c in coordinators.items()
        }
        ra, rb = runners["a"], runners["b"]
        async with anyio.create_task_group() as tg:
            for runner in runners.values():
                await tg.start(runner.run)
            with anyio.fail_after(30):  # the runners create a lease per shard (sync_shards)
                while len(await owners(db)) < shards:
                    await anyio.wait_all_tasks_blocked()
            await a.take_pass()  # alone: takes every shard
            await put_version(db, 0)
            await settle(ra, rb)
            assert sorted(seen) == sorted(("a", f"k{k}", 0) for k in range(KEYS))
            assert set(await owners(db)) == {s for _, s in ra.shards}

            # b steals until the load is 2 and 2; a stops each stolen shard when its renewal
            # is refused, b starts it T after the steal (a's validity has run out by then)
            for _ in range(8):
                clock.advance(T / 3)
                for c in (a, b):
                    await c.renew_pass()
                await b.take_pass()
                for c in (a, b):
                    c.passed.fire()
                await settle(ra, rb)
            held = await owners(db)
            assert sorted(str(o) for o in held.values()) == ["a", "a", "b", "b"]
            assert {s for _, s in ra.shards} == {s for s, o in held.items() if o == "a"}
            assert {s for _, s in rb.shards} == {s for s, o in held.items() if o == "b"}
            seen.clear()
            await put_version(db, 1)
            await settle(ra, rb)
            # every record once (the steal moved the checkpoints), and by both workers
            assert sorted((k, v) for _, k, v in seen) == sorted((f"k{k}", 1) for k in range(KEYS))
            assert {w for w, _, _ in seen} == {"a", "b"}

            # a hangs (no more renewals): past T on its clock it handles no batch, and b
            # takes its shards once they have expired on b's clock
            clock.advance(T)
            seen.clear()
            await put_version(db, 2)
            await settle(ra, rb)
            assert all(w == "b" for w, _, _ in seen)
            assert ra.shards == {} or all(st.phase == "starting" for st in ra.shards.values())
            for _ in range(8):
                clock.advance(T / 3)
                await b.renew_pass()
                await b.take_pass()
                b.passed.fire()
                await settle(rb)
            assert set((await owners(db)).values()) == {"b"}
            await settle(rb)
            # nothing skipped: b handled version 2 of every key (a's unprocessed records too)
            assert sorted((k, v) for _, k, v in seen) == sorted((f"k{k}", 2) for k in range(KEYS))
            tg.cancel_scope.cancel()


async def test_a_steal_hands_the_victims_last_checkpoint_over() -> None:
    """a handles a batch of a shard just stolen from it (its lease still valid on its clock);
    its checkpoint is refused (b owns the lease) but handed over in it, and b, starting T after
    the steal, starts after that batch: no record handled twice."""
    shards = 4
    clock = ManualClock()
    seen: list[tuple[str, str, int]] = []
    async with streamkit.open_engine(None, clock=clock, stream_shards=shards) as db:
        await db.create_table(TableName="orders", **TABLE)
        a, b = (
            LeaseCoordinator(
                db,
                clock=clock,
                table="leases",
                worker_id=name,
                lease_timeout=T,
                rng=random.Random(name),
            )
            for name in "ab"
        )
        await a.ensure_table()
        ra = MappingRunner(db, app_for(seen, "a").mappings[0], clock, leases=a)
        rb = MappingRunner(db, app_for(seen, "b").mappings[0], clock, leases=b)
        async with anyio.create_task_group() as tg:
            await tg.start(ra.run)
            await tg.start(rb.run)
            with anyio.fail_after(30):
                while len(await owners(db)) < shards:
                    await anyio.wait_all_tasks_blocked()
            await a.take_pass()
            await put_version(db, 0)
            await settle(ra, rb)
            (stolen,) = await b.take_pass()
            await put_version(db, 1)  # a still handles the stolen shard: valid on its clock
            await settle(ra, rb)
            assert {w for w, _, v in seen if v == 1} == {"a"}
            for _ in range(3):  # T passes: a's renewal is refused, b opens the lease
                clock.advance(T / 3)
                for c in (a, b):
                    await c.renew_pass()
                    c.passed.fire()
                await settle(ra, rb)
            assert stolen.valid(clock.now())
            assert (db.stream_arn("orders"), stolen.shard_id) in rb.shards
            await put_version(db, 2)
            await settle(ra, rb)
            handled = sorted((k, v) for _, k, v in seen)
            assert handled == sorted((f"k{k}", v) for k in range(KEYS) for v in range(3))
            assert any(w == "b" and v == 2 for w, _, v in seen)
            tg.cancel_scope.cancel()
