"""A lease request cancelled half-way (the worker shutting down, a caller's scope) leaves no
lease owned by this worker that it does not know of: each call to the table is cancelled in
turn, before it is sent and after it was applied (its answer lost), and then every lease the
table says is this worker's must be one it holds, and a release must free them all."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streamkit
from streamkit.mappings.leases import (
    DEFAULT_LEASE_TABLE,
    LeaseCoordinator,
    ShardInfo,
    read_leases,
)
from streamkit.testing import ManualClock

T = 9.0
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-12-07T00:00:00.000"
SHARDS = [ShardInfo(f"s{i}") for i in range(4)]


class Cancelling:
    """The engine as a lease client whose ``at``-th await point cancels ``scope``: each call
    has two, before it is sent and after it was applied."""

    def __init__(self, engine: streamkit.Engine) -> None:
        self.engine = engine
        self.at = 0
        self.count = 0
        self.scope: anyio.CancelScope | None = None

    async def _point(self) -> None:
        self.count += 1
        if self.count == self.at and self.scope is not None:
            self.scope.cancel()
            await anyio.lowlevel.checkpoint()

    def _call(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(**params: Any) -> Any:
            await self._point()
            result = await getattr(self.engine, name)(**params)
            await self._point()
            return result

        return call

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        return self._call(name)


async def _owned(engine: streamkit.Engine, worker: str) -> dict[str, int]:
    """The leases the table says ``worker`` owns: key -> counter."""
    return {
        lease.key: lease.counter
        for lease in await read_leases(engine, DEFAULT_LEASE_TABLE)
        if lease.owner == worker
    }


def _coordinator(client: Any, clock: ManualClock, name: str) -> LeaseCoordinator:
    return LeaseCoordinator(
        client, clock=clock, worker_id=name, lease_timeout=T, rng=random.Random(name)
    )


async def _check_known(engine: streamkit.Engine, a: LeaseCoordinator) -> None:
    """Every lease the table gives ``a`` is one ``a`` holds; a release frees all but a
    stolen one still waiting out its victim."""
    owned = await _owned(engine, a.worker_id)
    held = {h.key: h for h in a.held()}
    assert set(owned) <= set(held), (owned, held)
    await a.release_all()
    assert await _owned(engine, a.worker_id) == {}


Scenario = Callable[[streamkit.Engine, ManualClock, Cancelling], Awaitable[LeaseCoordinator]]


async def _free(engine: streamkit.Engine, clock: ManualClock, client: Cancelling) -> Any:
    """Four free leases; worker a takes them (one take pass)."""
    a = _coordinator(client, clock, "a")
    return a, a.take_pass


async def _steal(engine: streamkit.Engine, clock: ManualClock, client: Cancelling) -> Any:
    """Worker b holds all four; a steals one (a take pass)."""
    b = _coordinator(engine, clock, "b")
    await b.take_pass()
    a = _coordinator(client, clock, "a")
    await a.scan()
    return a, a.take_pass


async def _renew(engine: streamkit.Engine, clock: ManualClock, client: Cancelling) -> Any:
    """Worker a holds all four and renews them."""
    a = _coordinator(client, clock, "a")
    await a.take_pass()
    clock.advance(T / 3)
    return a, a.renew_pass


async def _checkpoint(engine: streamkit.Engine, clock: ManualClock, client: Cancelling) -> Any:
    """Worker a holds all four and checkpoints each, then marks one done."""
    a = _coordinator(client, clock, "a")
    await a.take_pass()

    async def work() -> None:
        for shard in SHARDS[:3]:
            await a.save("m", ARN, shard.shard_id, "00000000000000000000100")
        await a.mark_done("m", ARN, SHARDS[3].shard_id)

    return a, work


async def _release(engine: streamkit.Engine, clock: ManualClock, client: Cancelling) -> Any:
    """Worker a holds all four and releases them (a clean stop cancelled half-way)."""
    a = _coordinator(client, clock, "a")
    await a.take_pass()
    clock.advance(1)
    return a, a.release_all


@pytest.mark.parametrize(
    "scenario",
    [_free, _steal, _renew, _checkpoint, _release],
    ids=["take", "steal", "renew", "checkpoint", "release"],
)
async def test_cancelled_at_every_await_point(clock: ManualClock, scenario: Any) -> None:
    at = 0
    while True:
        at += 1
        async with streamkit.open_engine(None, clock=clock) as engine:
            setup = _coordinator(engine, clock, "setup")
            await setup.ensure_table()
            await setup.sync_shards("m", ARN, SHARDS)
            client = Cancelling(engine)
            a, step = await scenario(engine, clock, client)
            client.count, client.at = 0, at
            with anyio.CancelScope() as scope:
                client.scope = scope
                await step()
            client.scope = None
            points = client.count
            await _check_known(engine, a)
            if points < at:  # the step ran to its end before the at-th point: all were tried
                assert not scope.cancel_called
                break
    assert at > 2


async def test_a_cancelled_run_releases_what_it_was_taking(clock: ManualClock) -> None:
    """open_leases' block ends while its first take pass is being answered: the leases are
    free at once afterwards (not left owned until they expire)."""
    async with streamkit.open_engine(None, clock=clock) as engine:
        setup = _coordinator(engine, clock, "setup")
        await setup.ensure_table()
        await setup.sync_shards("m", ARN, SHARDS)
        for at in range(1, 40):
            client = Cancelling(engine)
            a = _coordinator(client, clock, f"a{at}")
            client.at = at
            with anyio.CancelScope() as scope:
                client.scope = scope
                async with anyio.create_task_group() as tg:
                    await tg.start(a.run)  # the first pass done (if not cancelled in it)
                    scope.cancel()
            assert await _owned(engine, a.worker_id) == {}, at
            assert a.held() == []
