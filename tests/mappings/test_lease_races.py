"""Lease-table races: random worker starts, clean stops, crashes and clock jumps (hypothesis).

Several workers share one engine and one manual clock, so "at the same moment" is exact. Each
tick runs every live worker's due passes (renew every T/3, scan + take every P) in a random
interleaving: a take may act on a scan other workers' writes have made stale. A crashed worker
stops renewing but keeps its leases in memory, still believing in each until its own clock
says it may have expired (a hung process, the worst kind of crash). Checked throughout:

- never two workers that both believe a lease valid at the same moment;
- a child shard's lease believed valid only when its parents are finished (SHARD_END);
- no lease left without a believer for longer than T + 2P (+ tick granularity) while a worker
  is alive: one take interval to see the dead owner's last renewal, T to see it unchanged,
  one more to take it;

and once the events stop, every lease has an owner and the load is within one of the target.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, strategies as st

import streamkit
from streamkit.errors import LeaseLostError
from streamkit.mappings.leases import (
    DEFAULT_LEASE_TABLE,
    Lease,
    LeaseCoordinator,
    LeaseScan,
    ShardInfo,
    lease_key,
    read_leases,
)
from streamkit.testing import ManualClock

T = 9.0
MAX_TICK = 1.5
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-12-06T00:00:00.000"


@dataclass(eq=False)
class Worker:
    coordinator: LeaseCoordinator
    next_renew: float
    next_take: float
    alive: bool = True
    scan: LeaseScan | None = None


@dataclass
class World:
    clock: ManualClock
    engine: streamkit.Engine
    take_interval: float
    shards: list[ShardInfo]
    workers: list[Worker] = field(default_factory=list)
    zombies: list[Worker] = field(default_factory=list)  # crashed: no renewals, still believing
    names: int = 0
    disturbed: float = 0.0  # the last clock jump, or the last start after nobody was alive
    unowned_since: dict[str, float] = field(default_factory=dict)
    checkpoints: int = 0  # the last checkpoint value written (each write a new one)

    @property
    def bound(self) -> float:
        return T + 2 * self.take_interval + 2 * MAX_TICK + T / 3

    async def create(self) -> None:
        """The lease table and one free lease per shard, as the first worker makes them."""
        coordinator = LeaseCoordinator(self.engine, clock=self.clock, worker_id="setup")
        await coordinator.ensure_table()
        await coordinator.sync_shards("m", ARN, self.shards)

    async def start(self) -> None:
        name = f"w{self.names}"
        self.names += 1
        coordinator = LeaseCoordinator(
            self.engine,
            clock=self.clock,
            worker_id=name,
            lease_timeout=T,
            take_interval=self.take_interval,
            rng=random.Random(name),
        )
        now = self.clock.now()
        if not self.workers:
            self.disturbed = now
        self.workers.append(Worker(coordinator, now, now))
        await self.check()

    async def stop(self, index: int) -> None:
        worker = self.workers.pop(index % len(self.workers))
        await worker.coordinator.release_all()
        await self.check()

    async def crash(self, index: int) -> None:
        self.zombies.append(self.workers.pop(index % len(self.workers)))
        await self.check()

    async def finish(self, index: int) -> None:
        """A worker reads one of its shards to the end (children may start)."""
        coordinator = self.workers[index % len(self.workers)].coordinator
        valid = coordinator.valid_leases()
        if valid:
            lease = valid[index % len(valid)]
            with contextlib.suppress(LeaseLostError):  # stolen since its last renewal
                await coordinator.mark_done(lease.mapping, lease.stream_arn, lease.shard_id)
        await self.check()

    async def hand_over(self, coordinator: LeaseCoordinator) -> None:
        """What a runner does when a refusal stops a shard's worker: it writes the shard's
        last checkpoint, which lands only while the hand-over is open (nobody started)."""
        for key in sorted(coordinator._handing):
            self.checkpoints += 1
            mapping, stream_arn, shard_id = key.split("|")
            with contextlib.suppress(LeaseLostError):
                await coordinator.save(mapping, stream_arn, shard_id, str(self.checkpoints))

    async def checkpoint(self, index: int) -> None:
        """A worker checkpoints each shard it may process, and (as a runner whose shard
        worker was stopped by a refusal does) each lease just stolen from it: that last one
        lands only while the hand-over is open (the thief has not started)."""
        coordinator = self.workers[index % len(self.workers)].coordinator
        keys = [lease.key for lease in coordinator.valid_leases()]
        keys += sorted(coordinator._handing)
        for key in keys:
            self.checkpoints += 1
            mapping, stream_arn, shard_id = key.split("|")
            with contextlib.suppress(LeaseLostError):  # stolen since its last renewal
                await coordinator.save(mapping, stream_arn, shard_id, str(self.checkpoints))
        await self.check()

    async def jump(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.disturbed = self.clock.now()
        await self.check()

    async def tick(self, seconds: float, order: list[int]) -> None:
        """Advance the clock, then run every live worker's due passes, interleaved."""
        self.clock.advance(seconds)
        now = self.clock.now()
        steps: list[tuple[Worker, str]] = []
        for worker in self.workers:
            if now >= worker.next_renew:
                steps.append((worker, "renew"))
                worker.next_renew = now + T / 3
            if now >= worker.next_take:
                steps += [(worker, "scan"), (worker, "take")]
                worker.next_take = now + self.take_interval
        keyed = sorted(range(len(steps)), key=lambda i: (order[i] if i < len(order) else 0, i))
        scanned: set[int] = set()
        late: list[Worker] = []  # a take drawn before its own scan runs after the others
        for i in keyed:
            worker, step = steps[i]
            if step == "take" and id(worker) not in scanned:
                late.append(worker)
                continue
            await self.step(worker, step)
            if step == "scan":
                scanned.add(id(worker))
        for worker in late:
            await self.step(worker, "take")

    async def step(self, worker: Worker, step: str) -> None:
        coordinator = worker.coordinator
        if step == "renew":
            await coordinator.renew_pass()
            await self.hand_over(coordinator)
        elif step == "scan":
            worker.scan = await coordinator.scan()
        else:
            assert isinstance(worker.scan, LeaseScan)
            await coordinator.take(worker.scan)
        await self.check()

    async def table(self) -> dict[str, Lease]:
        return {lease.key: lease for lease in await read_leases(self.engine, DEFAULT_LEASE_TABLE)}

    def takeable(self, leases: dict[str, Lease]) -> set[str]:
        return {
            key
            for key, lease in leases.items()
            if not lease.done
            and all(p not in leases or leases[p].done for p in lease.parent_keys())
        }

    async def check(self) -> None:
        now = self.clock.now()
        leases = await self.table()
        believers: dict[str, list[str]] = {}
        for worker in [*self.workers, *self.zombies]:
            for held in worker.coordinator.held():
                if held.valid(now):
                    believers.setdefault(held.key, []).append(worker.coordinator.worker_id)
        for key, names in believers.items():
            assert len(names) == 1, f"{key} believed valid by {names} at {now}"
            lease = leases[key]
            (owner,) = [
                w for w in [*self.workers, *self.zombies] if w.coordinator.worker_id == names[0]
            ]
            held = next(h for h in owner.coordinator.held() if h.key == key)
            # once it processes a shard, its owner alone moves the checkpoint: no late
            # hand-over lands after the thief started from what it read
            assert held.checkpoint == lease.checkpoint, (key, held.checkpoint, lease.checkpoint)
            for parent in lease.parent_keys():
                assert parent not in leases or leases[parent].done, f"{key} before {parent}"
        for key in self.takeable(leases):
            if key in believers:
                self.unowned_since.pop(key, None)
                continue
            since = self.unowned_since.setdefault(key, now)
            if self.workers:
                waited = now - max(since, self.disturbed)
                assert waited <= self.bound, f"{key} without an owner for {waited} s"

    async def settle(self) -> None:
        """No more events: every lease gets an owner, and the load evens out."""
        takeable = len(self.takeable(await self.table()))
        for _ in range(int((takeable + 4) * self.take_interval / MAX_TICK + 4 * T / MAX_TICK)):
            await self.tick(MAX_TICK, [])
        leases = await self.table()
        keys = self.takeable(leases)
        target = math.ceil(len(keys) / len(self.workers))
        counts = [len(w.coordinator.valid_leases()) for w in self.workers]
        assert sum(counts) == len(keys), (counts, len(keys))
        assert all(target - 1 <= count <= target for count in counts), (counts, target)


def lineage(roots: int, children: list[int], merge: bool) -> list[ShardInfo]:
    """Roots s0..; a child per chosen root (a split's continuation); maybe one merged child."""
    shards = [ShardInfo(f"s{i}") for i in range(roots)]
    shards += [ShardInfo(f"c{i}", (f"s{i % roots}",)) for i in sorted(set(children))]
    if merge and roots >= 2:
        shards.append(ShardInfo("m", ("s0", "s1")))
    return shards


EVENTS = st.one_of(
    st.tuples(st.just("tick"), st.floats(0.1, MAX_TICK), st.lists(st.integers(0, 30))),
    st.tuples(st.just("start")),
    st.tuples(st.just("stop"), st.integers(0, 9)),
    st.tuples(st.just("crash"), st.integers(0, 9)),
    st.tuples(st.just("finish"), st.integers(0, 9)),
    st.tuples(st.just("checkpoint"), st.integers(0, 9)),
    st.tuples(st.just("jump"), st.floats(T / 2, 3 * T)),
)


@given(
    roots=st.integers(1, 8),
    children=st.lists(st.integers(0, 7), max_size=4),
    merge=st.booleans(),
    take_interval=st.sampled_from([T / 3, T / 2, T]),
    events=st.lists(EVENTS, max_size=40),
)
async def test_lease_races(
    roots: int,
    children: list[int],
    merge: bool,
    take_interval: float,
    events: list[tuple[Any, ...]],
) -> None:
    """No two believing owners, parents first, bounded gaps; then full and balanced."""
    clock = ManualClock()
    async with streamkit.open_engine(None, clock=clock) as engine:
        world = World(clock, engine, take_interval, lineage(roots, children, merge))
        await world.create()
        await world.start()
        for event in events:
            kind = event[0]
            if kind == "tick":
                await world.tick(float(event[1]), list(event[2]))
            elif kind == "start" and len(world.workers) < 5:
                await world.start()
            elif kind == "jump":
                await world.jump(float(event[1]))
            elif kind in ("stop", "crash", "finish", "checkpoint") and world.workers:
                await getattr(world, str(kind))(int(event[1]))
        if not world.workers:
            await world.start()
        await world.settle()
        assert lease_key("m", ARN, "s0") in await world.table()


async def test_a_crash_under_two_survivors_moves_every_lease() -> None:
    """The issue's scene in small: three workers on 8 shards, one crashes, a fourth joins."""
    clock = ManualClock()
    async with streamkit.open_engine(None, clock=clock) as engine:
        world = World(clock, engine, T / 3, [ShardInfo(f"s{i}") for i in range(8)])
        await world.create()
        for _ in range(3):
            await world.start()
        await world.settle()
        assert sorted(len(w.coordinator.valid_leases()) for w in world.workers) == [2, 3, 3]
        await world.crash(1)
        await world.settle()
        assert [len(w.coordinator.valid_leases()) for w in world.workers] == [4, 4]
        await world.start()
        await world.start()
        await world.settle()
        assert [len(w.coordinator.valid_leases()) for w in world.workers] == [2, 2, 2, 2]
