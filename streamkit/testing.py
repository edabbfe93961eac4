"""Helpers for users' tests: a manual clock, and a harness running an app on an engine.

```python
from streamkit.testing import ManualClock, open_harness

async def test_projection() -> None:
    async with open_harness(app) as h:           # in-memory engine + runtime, manual clock
        await h.engine.create_table(...)
        await h.engine.put_item(...)
        await h.drain()                          # every mapping has processed every record
        ...assert the handler's effect...
        h.clock.advance(30)                      # make retries / windows / TTL due
        await h.drain()
```

Enter the harness in the test body, not in an async fixture: pytest-asyncio runs a fixture's
setup and teardown in different tasks, and the harness owns a task group.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from streamkit.engine import Engine
from streamkit.mappings.app import App
from streamkit.mappings.context import LambdaContext
from streamkit.mappings.events import deserialize_event, make_event, make_stream_record
from streamkit.mappings.poller import MappingRunner, ShardStatus
from streamkit.runtime import Runtime, open_runtime
from streamkit.storage import checkpoints
from streamkit.streams import open_engine
from streamkit.streams.records import parse_sequence_number

__all__ = [
    "Harness",
    "LambdaContext",
    "ManualClock",
    "deserialize_event",
    "make_event",
    "make_stream_record",
    "open_harness",
]


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`.

    ``sleep()`` waits until the clock has been advanced past its deadline, so a test can drive
    background workers deterministically: ``clock.advance(60)`` then
    ``await anyio.wait_all_tasks_blocked()``.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def next_wake(self) -> float | None:
        """Return the earliest time a task sleeping on this clock waits for, or None."""
        while self._sleepers and self._sleepers[0][2].is_set():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), event))
        await event.wait()


@dataclass(eq=False)
class Harness:
    """An engine, the runtime running an app's mappings on it, and the clock they share."""

    engine: Engine
    runtime: Runtime
    clock: ManualClock

    async def drain(self) -> None:
        """Return once every mapping has processed every record committed so far.

        "Processed" means checkpointed: delivered successfully, filtered out, or sent to the
        failure destination. A batch waiting on the clock (a retry back-off, a batching
        window) whose time has not come yet counts as settled: advance the clock and drain
        again to see it run.
        """
        while True:
            changed = self.runtime.activity.waiter()
            if await self._settled():
                return
            await changed.wait()

    async def _settled(self) -> bool:
        """Whether every mapping is caught up; False if anything changed while checking."""
        now = self.clock.now()
        for runner in self.runtime.mappings.values():
            if runner.state not in ("Enabled", "Disabled"):
                return False  # Creating, Updating or Disabling: wait for it to settle
            if not runner.config.enabled:
                continue
            if not runner.attached_to(self.engine.stream_arn(runner.config.table)):
                return False
            before = set(runner.shards)
            if not await self._every_shard_started(runner):
                return False
            for status in list(runner.shards.values()):
                if not await self._shard_settled(status, now):
                    return False
            if set(runner.shards) != before:
                return False  # a worker started while we looked: look again
        return True

    async def _shard_settled(self, status: ShardStatus, now: float) -> bool:
        if status.phase == "done":
            return True
        if status.phase == "sleeping" and status.wake_at is not None:
            return status.wake_at > now
        if status.phase != "idle":
            return False
        if status.wake_at is not None and status.wake_at <= now:
            return False  # a tumbling window is due to close
        head = await self.engine.store.read(
            functools.partial(
                checkpoints.shard_head, stream_arn=status.stream_arn, shard_id=status.shard_id
            )
        )
        if head is None:
            return True
        return status.checkpoint is not None and parse_sequence_number(status.checkpoint) >= head

    async def _every_shard_started(self, runner: MappingRunner) -> bool:
        """Whether every shard whose parent is finished has a worker (lineage hand-over)."""
        for arn in runner.following:
            described = await self.engine.streams.describe_stream(StreamArn=arn)
            shards = described["StreamDescription"]["Shards"]
            present = {s["ShardId"] for s in shards}
            for shard in shards:
                parent = shard.get("ParentShardId")
                started = (arn, shard["ShardId"]) in runner.shards
                parent_done = (
                    parent is None
                    or parent not in present
                    or (
                        runner.shards.get((arn, parent)) is not None
                        and runner.shards[(arn, parent)].phase == "done"
                    )
                )
                if parent_done and not started:
                    return False
        return True


@asynccontextmanager
async def open_harness(
    app: App,
    *,
    clock: ManualClock | None = None,
    path: str | os.PathLike[str] | None = None,
    **engine_options: Any,
) -> AsyncIterator[Harness]:
    """Run ``app``'s mappings on an engine (in memory by default) with a manual clock.

    ``engine_options`` go to :func:`streamkit.open_engine` (``stream_shards=1`` makes the order
    of records across keys deterministic, for instance).
    """
    clock = clock or ManualClock()
    async with (
        open_engine(path, clock=clock, **engine_options) as engine,
        open_runtime(engine, app, clock=clock) as runtime,
    ):
        yield Harness(engine, runtime, clock)
