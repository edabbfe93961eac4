"""Helpers for users' tests: a manual clock (and, later, the app harness)."""

from __future__ import annotations

import heapq
import itertools

import anyio

__all__ = ["ManualClock"]


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
