"""A foreground sleep on a ManualClock never hangs silently: it fails loudly or autojumps."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import streamkit
from streamkit.errors import ClockStalledError, ProvisionedThroughputExceededException
from streamkit.runtime import open_runtime
from streamkit.testing import ManualClock

BOUND = 30  # real seconds: far more than any of these takes; the old code hung for ever


def _provisioned() -> dict[str, Any]:
    return {
        "TableName": "hot",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    }


async def _throttle(db: streamkit.Engine) -> None:
    """Spend the table's burst credit, so the next put is throttled."""
    await db.create_table(**_provisioned())
    for n in range(300):
        await db.put_item(TableName="hot", Item={"pk": {"S": f"k{n}"}})


async def test_a_throttled_put_with_default_retries_fails_loudly() -> None:
    clock = ManualClock(stall_timeout=0.2)
    with anyio.fail_after(BOUND):
        async with streamkit.open_engine(None, clock=clock, throttling=True) as db:
            await _throttle(db)
            with pytest.raises(
                ClockStalledError, match=r"on a ManualClock nobody advanced for 0\.2 s"
            ):
                await db.put_item(TableName="hot", Item={"pk": {"S": "late"}})


async def test_a_throttled_put_autojumps_to_its_retry() -> None:
    clock = ManualClock(autojump=True)
    start = clock.now()
    with anyio.fail_after(BOUND):
        async with streamkit.open_engine(None, clock=clock, throttling=True, max_attempts=10) as db:
            await _throttle(db)
            await db.put_item(TableName="hot", Item={"pk": {"S": "late"}})  # retried until refilled
            got = await db.get_item(TableName="hot", Key={"pk": {"S": "late"}})
    assert got["Item"] == {"pk": {"S": "late"}}
    assert clock.now() > start  # the back-off passed on the clock, not in real time


async def test_a_throttled_put_fails_after_its_attempts_with_autojump() -> None:
    clock = ManualClock(autojump=True)
    with anyio.fail_after(BOUND):
        async with streamkit.open_engine(None, clock=clock, throttling=True) as db:
            await _throttle(db)
            await db.put_item(TableName="hot", Item={"pk": {"S": "a"}})  # took the refill
            failed = 0
            for n in range(20):  # 3 attempts within 0.35 s of jittered back-off: some fail
                try:
                    await db.put_item(TableName="hot", Item={"pk": {"S": f"b{n}"}})
                except ProvisionedThroughputExceededException:
                    failed += 1
    assert failed > 0


async def test_an_advance_from_another_task_keeps_a_sleep_going() -> None:
    clock = ManualClock(stall_timeout=0.2)
    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:

            async def advance_slowly() -> None:
                for _ in range(4):  # 0.4 s in all: longer than the stall timeout
                    await anyio.sleep(0.1)  # real time: the stall timeout is real time
                    clock.advance(1)

            tg.start_soon(advance_slowly)
            await clock.sleep(4)
    assert clock.now() == 1_700_000_004.0


async def test_background_workers_wait_for_advance() -> None:
    """The runtime's sleepers (the TTL sweeper here) neither stall nor jump the clock."""
    clock = ManualClock(stall_timeout=0.05)
    async with (
        streamkit.open_engine(None, clock=clock) as db,
        open_runtime(db) as runtime,
    ):
        await anyio.sleep(0.2)  # real time past the stall timeout: the sweeper keeps waiting
        swept = runtime.next_pass("ttl_sweeper")
        clock.advance(1)
        with anyio.fail_after(BOUND):
            await swept.wait()
    assert clock.now() == 1_700_000_001.0
