"""The lease client protocol on the wire: an aiobotocore client against ``streamkit serve``."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamkit.errors import LeaseLostError
from streamkit.mappings.leases import SHARD_END, LeaseCoordinator, ShardInfo, read_leases
from streamkit.testing import ManualClock
from tests.server.serving import start_serve, stop

aiobotocore_session = pytest.importorskip("aiobotocore.session")

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-12-06T00:00:00.000"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture
async def client(endpoint: str) -> AsyncIterator[Any]:
    session = aiobotocore_session.get_session()
    async with session.create_client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as dynamodb:
        yield dynamodb


async def test_leases_over_http(client: Any) -> None:
    """Create the table, sync, take, renew, steal, checkpoint, finish and release through
    aiobotocore: conditional failures arrive as botocore ClientErrors and are read alike."""
    clock = ManualClock()
    table = f"leases-{random.randrange(10**9)}"

    def worker(name: str) -> LeaseCoordinator:
        return LeaseCoordinator(
            client, clock=clock, table=table, worker_id=name, lease_timeout=9, rng=random.Random(0)
        )

    a, b = worker("a"), worker("b")
    await a.ensure_table()
    await b.ensure_table()  # exists: ResourceInUseException over the wire, taken as found
    shards = [ShardInfo("s0"), ShardInfo("s1"), ShardInfo("c", ("s0",))]
    assert await a.sync_shards("m", ARN, shards) == 3
    assert await b.sync_shards("m", ARN, shards) == 0  # conditional put refused
    assert sorted(h.shard_id for h in await a.take_pass()) == ["s0", "s1"]
    (stolen,) = await b.take_pass()  # a is over the target of 1
    clock.advance(3)
    await a.renew_pass()  # refused (ConditionalCheckFailed as a ClientError): dropped
    await b.renew_pass()
    assert [h.shard_id for h in a.held()] != [stolen.shard_id]
    assert len(a.held()) == 1
    with pytest.raises(LeaseLostError):
        await a.save("m", ARN, stolen.shard_id, "5")
    clock.advance(6)
    await b.renew_pass()
    await b.save("m", ARN, stolen.shard_id, "12")
    assert await a.load_shard("m", ARN, stolen.shard_id) == ("12", False)
    (mine,) = a.held()
    await a.mark_done("m", ARN, mine.shard_id)
    await b.mark_done("m", ARN, stolen.shard_id)
    (child,) = await a.take_pass()
    assert child.shard_id == "c"
    await a.release_all()
    leases = {lease.shard_id: lease for lease in await read_leases(client, table)}
    assert {s: (lease.owner, lease.checkpoint) for s, lease in leases.items()} == {
        "s0": (None, SHARD_END),
        "s1": (None, SHARD_END),
        "c": (None, None),
    }


async def test_run_on_the_system_clock_creates_and_takes(client: Any) -> None:
    """``run`` against the endpoint on the real clock (the default, monotonic): the table is
    made, leases are held, and released on exit."""
    import anyio

    table = f"leases-{random.randrange(10**9)}"
    coordinator = LeaseCoordinator(client, table=table, lease_timeout=3)
    await coordinator.ensure_table()
    await coordinator.sync_shards("m", ARN, [ShardInfo("s0")])
    async with anyio.create_task_group() as tg:
        passed = coordinator.passed.waiter()
        await tg.start(coordinator.run)
        with anyio.fail_after(10):
            await passed.wait()
        assert [h.shard_id for h in coordinator.valid_leases()] == ["s0"]
        tg.cancel_scope.cancel()
    (lease,) = await read_leases(client, table)
    assert lease.owner is None
