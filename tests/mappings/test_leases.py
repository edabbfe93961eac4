"""The lease table's rules, one by one, on the real engine and a manual clock."""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streamkit
from streamkit.clock import background_task
from streamkit.errors import InternalServerError, LeaseLostError
from streamkit.mappings.leases import (
    DEFAULT_LEASE_TABLE,
    SHARD_END,
    HeldLease,
    Lease,
    LeaseCoordinator,
    LeaseScan,
    ShardInfo,
    default_worker_id,
    lease_key,
    open_leases,
    read_leases,
)
from streamkit.testing import ManualClock

T = 9.0  # the lease timeout of these tests
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-12-06T00:00:00.000"


def worker(engine: streamkit.Engine, clock: ManualClock, name: str, **kw: Any) -> LeaseCoordinator:
    return LeaseCoordinator(
        engine, clock=clock, worker_id=name, lease_timeout=T, rng=random.Random(name), **kw
    )


async def setup(
    engine: streamkit.Engine, clock: ManualClock, shards: int, *names: str
) -> list[LeaseCoordinator]:
    workers = [worker(engine, clock, name) for name in names]
    await workers[0].ensure_table()
    await workers[0].sync_shards("m", ARN, [ShardInfo(f"s{i}") for i in range(shards)])
    return workers


async def table(engine: streamkit.Engine) -> dict[str, Lease]:
    return {lease.shard_id: lease for lease in await read_leases(engine, DEFAULT_LEASE_TABLE)}


async def put_owned(engine: streamkit.Engine, owners: dict[str, str | None]) -> None:
    """Write leases as if workers long gone or elsewhere held them: shard id -> owner."""
    for shard, owner in owners.items():
        item: dict[str, Any] = {
            "leaseKey": {"S": lease_key("m", ARN, shard)},
            "mapping": {"S": "m"},
            "streamArn": {"S": ARN},
            "shardId": {"S": shard},
            "leaseCounter": {"N": "1"},
            "parentShardIds": {"L": []},
        }
        if owner is not None:
            item["leaseOwner"] = {"S": owner}
        await engine.put_item(TableName=DEFAULT_LEASE_TABLE, Item=item)


def shards_of(held: list[HeldLease]) -> list[str]:
    return sorted(lease.shard_id for lease in held)


class TestTable:
    async def test_created_once_on_demand(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """The first worker creates the table (PAY_PER_REQUEST, leaseKey); the next finds it."""
        a, b = worker(memory_engine, clock, "a"), worker(memory_engine, clock, "b")
        await a.ensure_table()
        await b.ensure_table()
        described = (await memory_engine.describe_table(TableName=DEFAULT_LEASE_TABLE))["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert described["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]

    async def test_table_name_is_configurable(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """``table=`` names the lease table."""
        await worker(memory_engine, clock, "a", table="mine").ensure_table()
        assert (await memory_engine.list_tables())["TableNames"] == ["mine"]

    async def test_sync_creates_each_lease_once(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Workers racing to create a shard's lease end with one free lease per shard."""
        a, b = await setup(memory_engine, clock, 0, "a", "b")
        shards = [ShardInfo("s0"), ShardInfo("s1", ("s0",))]
        assert await a.sync_shards("m", ARN, shards) == 2
        assert await b.sync_shards("m", ARN, shards) == 0
        leases = await table(memory_engine)
        assert sorted(leases) == ["s0", "s1"]
        assert leases["s1"].parent_ids == ("s0",)
        assert leases["s0"].owner is None
        assert leases["s0"].counter == 0

    async def test_prune_deletes_finished_leases_of_trimmed_shards(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Finished leases of shards gone from the stream go; unfinished or listed ones stay,
        and a child whose parent lease went is not held back."""
        (a,) = await setup(memory_engine, clock, 0, "a")
        await a.sync_shards("m", ARN, [ShardInfo("p"), ShardInfo("q"), ShardInfo("c", ("p",))])
        await a.sync_shards("other", ARN, [ShardInfo("p")])
        await a.take_pass()
        await a.mark_done("m", ARN, "p")
        await a.mark_done("other", ARN, "p")
        await a.sync_shards("m", ARN, [ShardInfo("c", ("p",))], prune=True)  # p trimmed
        leases = await read_leases(memory_engine, DEFAULT_LEASE_TABLE)
        assert sorted((lease.mapping, lease.shard_id) for lease in leases) == [
            ("m", "c"),
            ("m", "q"),  # gone from the stream but unfinished: kept
            ("other", "p"),  # another mapping's
        ]
        assert [h.shard_id for h in await a.take_pass() if h.mapping == "m"] == ["c"]

    def test_worker_id_defaults_to_host_pid_random(self) -> None:
        """The default worker id names the host and process, and differs between workers."""
        first, second = default_worker_id(), default_worker_id()
        assert first != second
        host, pid, _ = first.split(":")
        assert host
        assert int(pid) > 0


class TestRenew:
    async def test_lone_worker_takes_every_free_lease(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Free leases are taken at once; the owner is written and the counter bumped."""
        (a,) = await setup(memory_engine, clock, 3, "a")
        assert shards_of(await a.take_pass()) == ["s0", "s1", "s2"]
        assert shards_of(a.valid_leases()) == ["s0", "s1", "s2"]
        leases = await table(memory_engine)
        assert {lease.owner for lease in leases.values()} == {"a"}
        assert {lease.counter for lease in leases.values()} == {1}
        assert {lease.owner_switches for lease in leases.values()} == {1}

    async def test_renewal_keeps_a_lease_valid(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Renewed every T/3, a lease stays valid; each renewal bumps the counter."""
        (a,) = await setup(memory_engine, clock, 1, "a")
        await a.take_pass()
        for _ in range(6):
            clock.advance(T / 3)
            await a.renew_pass()
            assert a.lease("m", ARN, "s0") is not None
        assert (await table(memory_engine))["s0"].counter == 7

    async def test_unrenewed_lease_is_dropped_by_its_owner_clock(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A worker that could not renew stops using the lease once T has passed since the
        start of its last successful write, by its own clock."""
        (a,) = await setup(memory_engine, clock, 1, "a")
        (held,) = await a.take_pass()
        clock.advance(T - 0.01)
        assert held.valid(clock.now())
        clock.advance(0.01)
        assert not held.valid(clock.now())
        assert a.lease("m", ARN, "s0") is None
        a.expire()
        assert held.lost.is_set()
        assert a.held() == []

    async def test_failed_renewal_drops_the_lease_at_once(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A renewal refused by the table (someone else wrote the lease) ends it at once."""
        (a,) = await setup(memory_engine, clock, 1, "a")
        (held,) = await a.take_pass()
        await memory_engine.update_item(
            TableName=DEFAULT_LEASE_TABLE,
            Key={"leaseKey": {"S": held.key}},
            UpdateExpression="SET leaseOwner = :x, leaseCounter = leaseCounter + :one",
            ExpressionAttributeValues={":x": {"S": "x"}, ":one": {"N": "1"}},
        )
        assert held.valid(clock.now())
        await a.renew_pass()
        assert held.lost.is_set()
        assert not held.valid(clock.now())
        assert a.held() == []

    async def test_renewal_failing_otherwise_keeps_the_lease_until_it_expires(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """An endpoint error (not a refusal) leaves the lease until its time runs out."""
        (a,) = await setup(memory_engine, clock, 1, "a")
        (held,) = await a.take_pass()
        await memory_engine.delete_table(TableName=DEFAULT_LEASE_TABLE)
        await memory_engine.create_table(
            TableName=DEFAULT_LEASE_TABLE,
            KeySchema=[{"AttributeName": "other", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # every write now fails validation
        clock.advance(T / 3)
        await a.renew_pass()
        assert held.valid(clock.now())
        clock.advance(T)
        await a.renew_pass()
        assert held.lost.is_set()
        assert a.held() == []


class TestTake:
    async def test_expired_lease_taken_after_t_unchanged_on_the_taker_clock(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A lease whose counter the taker saw unchanged for T is taken; not a moment sooner."""
        (b,) = await setup(memory_engine, clock, 0, "b")
        await put_owned(memory_engine, {"s0": "crashed"})
        assert await b.take_pass() == []  # first sight: counter 1, since now
        clock.advance(T - 0.5)
        assert await b.take_pass() == []
        clock.advance(0.5)
        (held,) = await b.take_pass()
        assert held.valid(clock.now())
        lease = (await table(memory_engine))["s0"]
        assert (lease.owner, lease.counter) == ("b", 2)

    async def test_a_renewal_restarts_the_taker_wait(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """While the owner renews, the counter moves and its lease never expires for others."""
        a, b = await setup(memory_engine, clock, 1, "a", "b")
        await a.take_pass()
        for _ in range(9):
            await b.take_pass()
            clock.advance(T / 3)
            await a.renew_pass()
        assert b.held() == []
        assert shards_of(a.valid_leases()) == ["s0"]

    async def test_crashed_worker_leases_move_to_the_survivor(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A worker that stops renewing: its leases go to the others once expired, and the
        crashed one's own view had already stopped it (no moment with two valid owners)."""
        a, b = await setup(memory_engine, clock, 4, "a", "b")
        await a.take_pass()
        await b.take_pass()  # steals one: a is over the target of 2
        (stolen,) = b.held()
        assert not stolen.valid(clock.now())  # waits out a's validity first
        for _ in range(3):
            clock.advance(T / 3)
            await a.renew_pass()
            await b.renew_pass()
        await b.take_pass()  # steals a second: a holds 3, over the target
        await a.renew_pass()  # refused for that one
        assert len(a.held()) == 2
        assert len(b.held()) == 2
        assert stolen.valid(clock.now())
        a_leases = a.held()  # a crashes now: no more renewals
        elapsed = 0.0
        while len(b.valid_leases()) < 4:
            clock.advance(T / 3)
            elapsed += T / 3
            await b.renew_pass()
            await b.take_pass()
            for held in a_leases:
                assert not (held.valid(clock.now()) and b.lease("m", ARN, held.shard_id))
        assert elapsed <= T + 2 * b.take_interval

    async def test_free_lease_taken_at_once_by_a_worker_under_target(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A released lease needs no waiting: its owner stopped using it before freeing it."""
        a, b = await setup(memory_engine, clock, 2, "a", "b")
        await a.take_pass()
        (first, second) = a.held()
        await a.release(first)
        (taken,) = await b.take_pass()
        assert taken.shard_id == first.shard_id
        assert taken.valid(clock.now())
        assert first.lost.is_set()
        assert second.valid(clock.now())

    async def test_a_lost_race_for_a_free_lease_tries_the_next_one(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Taking from a stale scan: a free lease another worker took first is skipped, and
        the next is tried in the same pass, up to the number needed."""
        a, b = await setup(memory_engine, clock, 0, "a", "b")
        await put_owned(memory_engine, {f"s{i}": None for i in range(4)} | {"s4": "x", "s5": "y"})
        stale = await b.scan()
        plan = b.plan(stale)  # target ceil(6/3) = 2: two of the four free ones
        assert plan.needed == 2
        assert plan.take[0].shard_id in {"s0", "s1"}  # the first choice will be gone
        only = {k: v for k, v in stale.leases.items() if v.shard_id in {"s0", "s1"}}
        assert shards_of(await a.take(LeaseScan(only, stale.at))) == ["s0", "s1"]
        assert shards_of(await b.take(stale)) == ["s2", "s3"]

    async def test_a_worker_at_target_takes_nothing(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """With 4 leases and 2 workers holding 2 each, nobody takes or steals."""
        a, b = await setup(memory_engine, clock, 2, "a", "b")
        await a.take_pass()
        await a.sync_shards("m", ARN, [ShardInfo("s2"), ShardInfo("s3")])
        assert len(await b.take_pass()) == 2  # free ones, up to the target
        clock.advance(T / 3)
        await a.renew_pass()
        await b.renew_pass()
        assert await a.take_pass() == []
        assert await b.take_pass() == []
        assert len(a.held()) == len(b.held()) == 2


class TestBalance:
    async def test_target_is_ceil_and_one_steal_per_pass(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A newcomer facing one worker with 7 leases steals one per pass up to ceil(7/2)."""
        a, b = await setup(memory_engine, clock, 7, "a", "b")
        await a.take_pass()
        counts = []
        for _ in range(5):
            counts.append(len(await b.take_pass()))
            clock.advance(T / 3)
            await a.renew_pass()
            await b.renew_pass()
        assert counts == [1, 1, 1, 0, 0]
        assert (len(a.held()), len(b.held())) == (4, 3)

    async def test_never_steals_from_a_worker_under_target(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """6 leases, owners over (3), at (2) and under target: the thief steals from the one
        over the target only."""
        (c,) = await setup(memory_engine, clock, 0, "c")
        await put_owned(
            memory_engine, {"s0": "x", "s1": "x", "s2": "x", "s3": "y", "s4": "y", "s5": "c0"}
        )
        (stolen,) = await c.take_pass()  # target ceil(6/4) = 2; x holds 3
        assert (await table(memory_engine))[stolen.shard_id].owner_switches == 1
        assert stolen.shard_id in {"s0", "s1", "s2"}
        assert await c.take_pass() == []  # x is at target now, c needs only one more

    async def test_steals_from_a_worker_at_target_only_when_needing_more_than_one(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """7 leases, two workers at target 3 and one at 1: the one needing 2 may steal from
        a worker at the target (the KCL's rule, so such a spread still converges)."""
        (c,) = await setup(memory_engine, clock, 0, "c")
        owners: dict[str, str | None] = {f"s{i}": "x" if i < 3 else "y" for i in range(6)}
        await put_owned(memory_engine, owners)
        await c.sync_shards("m", ARN, [ShardInfo("s6")])
        (free,) = await c.take_pass()  # the free one first
        assert free.shard_id == "s6"
        (stolen,) = await c.take_pass()
        assert stolen.shard_id != "s6"
        assert await c.take_pass() == []  # now 2 of target 3: needs one, nobody is over

    async def test_stolen_lease_unused_until_the_victim_validity_ran_out(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Between the steal and T after it, the thief does not use the lease; the victim
        stops at its next renewal; at no moment are both using it."""
        a, b = await setup(memory_engine, clock, 2, "a", "b")
        await a.take_pass()
        (stolen,) = await b.take_pass()
        victim = next(h for h in a.held() if h.key == stolen.key)
        assert victim.valid(clock.now())
        assert not stolen.valid(clock.now())
        clock.advance(T / 3)
        await a.renew_pass()
        await b.renew_pass()
        assert victim.lost.is_set()
        clock.advance(T * 2 / 3 - 0.01)
        assert not stolen.valid(clock.now())  # not yet T after the steal
        clock.advance(0.01)
        assert not stolen.valid(clock.now())  # T after it: the thief opens it first
        await b.renew_pass()  # (run does so at once) closing the victim's hand-over
        assert stolen.valid(clock.now())


class TestHandOver:
    """A steal opens a hand-over: until the thief starts (T after the steal), the victim may
    still write its last checkpoint into the lease, and the thief starts after it: a steal
    does not make the victim's last batch come again."""

    async def _stolen(
        self, engine: streamkit.Engine, clock: ManualClock
    ) -> tuple[LeaseCoordinator, LeaseCoordinator, HeldLease]:
        a, b = await setup(engine, clock, 2, "a", "b")
        await a.take_pass()
        await a.save("m", ARN, "s0", "100")
        await a.save("m", ARN, "s1", "100")
        (stolen,) = await b.take_pass()
        assert stolen.checkpoint == "100"
        assert not stolen.opened
        return a, b, stolen

    async def _wait_out(self, b: LeaseCoordinator, clock: ManualClock) -> None:
        """The thief renews every T/3 (run's passes); the one T after the steal opens it."""
        for _ in range(3):
            clock.advance(T / 3)
            await b.renew_pass()

    async def test_the_victims_last_checkpoint_is_where_the_thief_starts(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        a, b, stolen = await self._stolen(memory_engine, clock)
        with pytest.raises(LeaseLostError):  # refused: a stops, but its checkpoint stays
            await a.save("m", ARN, stolen.shard_id, "200")
        lease = (await table(memory_engine))[stolen.shard_id]
        assert (lease.owner, lease.checkpoint, lease.counter) == ("b", "200", stolen.counter)
        await self._wait_out(b, clock)  # the last renewal opens it
        assert stolen.valid(clock.now())
        assert stolen.checkpoint == "200"
        with pytest.raises(LeaseLostError):  # closed: nothing more from the victim
            await a.save("m", ARN, stolen.shard_id, "300")
        assert (await table(memory_engine))[stolen.shard_id].checkpoint == "200"

    async def test_after_a_refused_renewal(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """The victim learns of the steal from its renewal, then writes its last checkpoint
        (as a runner does when its shard worker stops)."""
        a, b, stolen = await self._stolen(memory_engine, clock)
        clock.advance(T / 3)
        await a.renew_pass()
        assert a.lease("m", ARN, stolen.shard_id) is None
        with pytest.raises(LeaseLostError):
            await a.save("m", ARN, stolen.shard_id, "150")
        await b.renew_pass()
        clock.advance(T / 3)
        await b.renew_pass()
        clock.advance(T / 3)
        await b.renew_pass()
        assert stolen.valid(clock.now())
        assert stolen.checkpoint == "150"

    async def test_too_late_once_the_thief_started(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        a, b, stolen = await self._stolen(memory_engine, clock)
        await self._wait_out(b, clock)
        assert stolen.valid(clock.now())
        assert stolen.checkpoint == "100"
        with pytest.raises(LeaseLostError):
            await a.save("m", ARN, stolen.shard_id, "200")
        lease = (await table(memory_engine))[stolen.shard_id]
        assert (lease.owner, lease.checkpoint) == ("b", "100")

    async def test_a_shard_finished_by_the_victim(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """The victim read the shard to its end: SHARD_END is handed over and the lease is
        free and finished; the thief, opening it, finds it is no longer its own."""
        a, b, stolen = await self._stolen(memory_engine, clock)
        with pytest.raises(LeaseLostError):
            await a.mark_done("m", ARN, stolen.shard_id)
        lease = (await table(memory_engine))[stolen.shard_id]
        assert lease.done
        assert lease.owner is None
        await self._wait_out(b, clock)
        assert stolen.lost.is_set()
        assert b.held() == []

    async def test_a_take_after_a_release_reads_the_handed_over_checkpoint(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """The thief stops before opening it: it frees it with the hand-over open, so a
        third worker takes it only T after seeing it free (its victim may still be using it
        until then), not at once; the victim hands over meanwhile; the third starts after."""
        a, b, stolen = await self._stolen(memory_engine, clock)
        await b.release_all()
        lease = (await table(memory_engine))[stolen.shard_id]
        assert (lease.owner, lease.handover_from) == (None, "a")
        with pytest.raises(LeaseLostError):
            await a.save("m", ARN, stolen.shard_id, "250")
        c = worker(memory_engine, clock, "c")
        first = await c.take_pass()  # a holds the other one: c would take the free one at once
        assert stolen.shard_id not in shards_of(first)
        clock.advance(T)
        taken = {h.shard_id: h for h in await c.take_pass()}
        assert taken[stolen.shard_id].checkpoint == "250"
        lease = (await table(memory_engine))[stolen.shard_id]
        assert (lease.owner, lease.handover_from) == ("c", None)

    async def test_a_failed_opening_waits_for_the_next_renewal(
        self, memory_engine: streamkit.Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The write that opens a stolen lease fails (the endpoint, not a refusal): run tries
        again at its next renewal, not at once and again and again without the clock moving."""
        _, b, stolen = await self._stolen(memory_engine, clock)
        for _ in range(2):  # renewed meanwhile, so still valid when it is to be opened
            clock.advance(T / 3)
            await b.renew_pass()
        clock.advance(T / 3)
        assert not stolen.opened
        assert clock.now() >= stolen.valid_from

        class Failing:
            async def update_item(self, **params: Any) -> dict[str, Any]:
                raise InternalServerError("the endpoint is down")

            def __getattr__(self, name: str) -> Any:
                return getattr(memory_engine, name)

        b.client = Failing()
        passes = 0
        renew_pass = b.renew_pass

        async def counted() -> None:
            nonlocal passes
            passes += 1
            await renew_pass()

        monkeypatch.setattr(b, "renew_pass", counted)

        async def background(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            background_task.set(True)
            await b.run(task_status=task_status)

        async with anyio.create_task_group() as tg:
            await tg.start(background)
            for _ in range(200):  # the clock does not move: no pass is due
                await anyio.lowlevel.checkpoint()
            assert passes == 1
            assert not stolen.opened
            passed = b.passed.waiter()
            clock.advance(b.renew_interval)
            with anyio.fail_after(10):
                await passed.wait()
            assert passes == 2
            tg.cancel_scope.cancel()


class TestParents:
    async def test_child_waits_for_parent_shard_end(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A child's lease is taken only once its parents' checkpoints are SHARD_END."""
        (a,) = await setup(memory_engine, clock, 0, "a")
        shards = [ShardInfo("p0"), ShardInfo("p1"), ShardInfo("c", ("p0", "p1"))]
        await a.sync_shards("m", ARN, shards)
        assert shards_of(await a.take_pass()) == ["p0", "p1"]
        await a.mark_done("m", ARN, "p0")
        assert await a.take_pass() == []
        await a.save("m", ARN, "p1", "100")
        assert await a.take_pass() == []
        await a.mark_done("m", ARN, "p1")
        assert shards_of(await a.take_pass()) == ["c"]
        assert await a.load_shard("m", ARN, "p0") == (None, True)

    async def test_child_of_a_parent_without_lease_starts(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A parent whose lease is gone (trimmed before this mapping saw it) does not block."""
        (a,) = await setup(memory_engine, clock, 0, "a")
        await a.sync_shards("m", ARN, [ShardInfo("c", ("gone",))])
        assert shards_of(await a.take_pass()) == ["c"]

    async def test_finished_leases_are_not_balanced(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """Finished and blocked leases count for nobody's target."""
        a, b = await setup(memory_engine, clock, 0, "a", "b")
        shards = [
            ShardInfo("p0"),
            ShardInfo("p1"),
            *(ShardInfo(f"c{i}", ("p0",)) for i in range(4)),
        ]
        await a.sync_shards("m", ARN, shards)
        assert shards_of(await a.take_pass()) == ["p0", "p1"]
        assert len(await b.take_pass()) == 1  # target ceil(2/2) = 1: steals one of a's two


class TestCheckpoints:
    async def test_save_and_load(self, memory_engine: streamkit.Engine, clock: ManualClock) -> None:
        """The checkpoint lives in the lease; saving resets the owner switches."""
        (a,) = await setup(memory_engine, clock, 1, "a")
        assert await a.load_shard("m", ARN, "s0") == (None, False)
        assert await a.load_shard("m", ARN, "absent") == (None, False)
        await a.take_pass()
        await a.save("m", ARN, "s0", "42")
        assert await a.load_shard("m", ARN, "s0") == ("42", False)
        lease = (await table(memory_engine))["s0"]
        assert (lease.checkpoint, lease.owner_switches, lease.counter) == ("42", 0, 2)

    async def test_load_gives_every_shard_of_the_mapping_stream(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """The CheckpointStore's load: one mapping's stream, held or not; None clears."""
        (a,) = await setup(memory_engine, clock, 3, "a")
        await a.sync_shards("other", ARN, [ShardInfo("s0")])
        await a.sync_shards("m", "arn:other-stream", [ShardInfo("s0")])
        await a.take_pass()
        await a.save("m", ARN, "s0", "5")
        await a.save("m", ARN, "s1", "6")
        await a.mark_done("m", ARN, "s2")
        assert await a.load("m", ARN) == {
            "s0": ("5", False),
            "s1": ("6", False),
            "s2": (None, True),
        }
        await a.save("m", ARN, "s1", None)
        assert (await a.load("m", ARN))["s1"] == (None, False)
        assert (await table(memory_engine))["s1"].checkpoint is None

    async def test_save_without_the_lease_refused_and_table_unchanged(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A worker whose lease was taken cannot move the checkpoint: LeaseLostError."""
        a, b = await setup(memory_engine, clock, 1, "a", "b")
        await a.take_pass()
        with pytest.raises(LeaseLostError):
            await b.save("m", ARN, "s0", "1")
        await a.save("m", ARN, "s0", "10")
        clock.advance(T)  # a crashed: b takes the expired lease
        await b.take_pass()
        clock.advance(T)
        (held,) = await b.take_pass()
        assert held.checkpoint == "10"
        with pytest.raises(LeaseLostError):
            await a.save("m", ARN, "s0", "99")  # expired on a's clock
        a._held[held.key].valid_until = clock.now() + T  # a clock that runs slow
        with pytest.raises(LeaseLostError):
            await a.save("m", ARN, "s0", "99")  # refused by the table
        assert await b.load_shard("m", ARN, "s0") == ("10", False)
        await b.save("m", ARN, "s0", "11")
        assert await b.load_shard("m", ARN, "s0") == ("11", False)

    async def test_mark_done_ends_and_frees_the_lease(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """SHARD_END, owner removed, nobody takes it again."""
        a, b = await setup(memory_engine, clock, 1, "a", "b")
        (held,) = await a.take_pass()
        await a.mark_done("m", ARN, "s0")
        assert held.lost.is_set()
        assert a.held() == []
        lease = (await table(memory_engine))["s0"]
        assert (lease.checkpoint, lease.owner) == (SHARD_END, None)
        assert await b.take_pass() == []


class TestShutdown:
    async def test_release_all_frees_every_lease_at_once(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """A clean stop checkpoints, then releases: the others take over on their next pass."""
        a, b = await setup(memory_engine, clock, 3, "a", "b")
        await a.take_pass()
        await a.save("m", ARN, "s1", "7")
        await a.release_all()
        assert {lease.owner for lease in (await table(memory_engine)).values()} == {None}
        assert shards_of(await b.take_pass()) == ["s0", "s1", "s2"]
        assert await b.load_shard("m", ARN, "s1") == ("7", False)

    async def test_open_leases_runs_a_worker_for_the_block(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """open_leases: table made and leases taken on entry, renewed on the clock, released
        on exit; a second worker joining gets its share."""
        await setup(memory_engine, clock, 4, "setup")
        async with open_leases(memory_engine, clock=clock, worker_id="a", lease_timeout=T) as a:
            assert len(a.valid_leases()) == 4
            async with open_leases(
                memory_engine, clock=clock, worker_id="b", lease_timeout=T, take_interval=T / 3
            ) as b:
                for _ in range(9):
                    passed = b.passed.waiter()
                    clock.advance(T / 3)
                    with anyio.fail_after(10):
                        await passed.wait()
                    await anyio.wait_all_tasks_blocked()
                assert len(b.valid_leases()) == 2
            assert b.held() == []
            assert len(a.held()) == 2  # b's two are free again, for a's next take pass
        owners = {lease.owner for lease in (await table(memory_engine)).values()}
        assert owners == {None}

    @pytest.mark.parametrize("interval", [T, 1.0])
    async def test_a_dead_workers_leases_move_within_t_and_two_take_intervals(
        self, memory_engine: streamkit.Engine, clock: ManualClock, interval: float
    ) -> None:
        """The take interval is run's (``--take-interval``): a worker that stops renewing
        just after another's scan loses its leases to it T after that worker's next scan
        sees the renewal (within T plus two take intervals): 2T with the default interval
        (T), T + 1 s with 1 s."""
        (a,) = await setup(memory_engine, clock, 4, "a")
        await a.take_pass()
        step = 0.5
        async with open_leases(
            memory_engine, clock=clock, worker_id="b", lease_timeout=T, take_interval=interval
        ) as b:
            assert len(b.held()) == 1  # its first pass steals one of a's four
            clock.advance(step)
            elapsed = step
            await a.renew_pass()  # a's last sign of life; then it dies (no release)
            while len(b.valid_leases()) < 4:
                clock.advance(step)
                elapsed += step
                await anyio.wait_all_tasks_blocked()
                assert elapsed <= T + 2 * interval + step
        assert T + interval - step <= elapsed <= T + 2 * interval + step

    def test_intervals_must_be_positive(self, memory_engine: streamkit.Engine) -> None:
        with pytest.raises(ValueError, match="lease_timeout"):
            LeaseCoordinator(memory_engine, lease_timeout=0)
        with pytest.raises(ValueError, match="take_interval"):
            LeaseCoordinator(memory_engine, take_interval=0)

    async def test_run_renews_in_the_background_and_releases_when_cancelled(
        self, memory_engine: streamkit.Engine, clock: ManualClock
    ) -> None:
        """``run`` renews every T/3 on the clock, takes on its interval, releases on exit."""
        (a,) = await setup(memory_engine, clock, 2, "a")

        async def background(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            background_task.set(True)
            await a.run(task_status=task_status)

        async with anyio.create_task_group() as tg:
            passed = a.passed.waiter()
            await tg.start(background)
            with anyio.fail_after(10):
                await passed.wait()
            assert shards_of(a.valid_leases()) == ["s0", "s1"]
            for _ in range(6):
                passed = a.passed.waiter()
                clock.advance(T / 3)
                with anyio.fail_after(10):
                    await passed.wait()
                assert shards_of(a.valid_leases()) == ["s0", "s1"]
            assert shards_of(a.valid_leases()) == ["s0", "s1"]
            assert (await table(memory_engine))["s0"].counter >= 7
            tg.cancel_scope.cancel()
        assert {lease.owner for lease in (await table(memory_engine)).values()} == {None}
