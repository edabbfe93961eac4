"""Time as an injected dependency: every time-dependent rule reads a Clock."""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Protocol

import anyio

__all__ = ["Clock", "MonotonicClock", "SystemClock", "background_task"]

#: True in the runtime's worker tasks and their children (set by ``Runtime.start``). Their
#: sleeps on a manual clock wait for a test to advance it for as long as it takes; any other
#: ("foreground") sleep is one the caller waits on, which a ManualClock must not let hang.
background_task: ContextVar[bool] = ContextVar("streamkit_background_task", default=False)


class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait for it to pass."""

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clock: ``time.time()`` and ``anyio.sleep()``."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class MonotonicClock:
    """A clock for durations only: ``time.monotonic()``, which never jumps with the wall clock.

    For rules that measure how long something lasted on one machine and never compare times
    between machines (the lease table's timeouts): a wall clock set back would stretch a
    lease past its time. ``now()`` is not an epoch time.
    """

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class Signal:
    """A broadcast "something changed": take :meth:`waiter` first, then check, then wait.

    Here (not in :mod:`streamkit.mappings.poller`, its main user) so that a runtime without
    mappings does not import the mapping machinery for its ``activity`` signal."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def waiter(self) -> anyio.Event:
        if self._event is None:
            self._event = anyio.Event()
        return self._event

    def fire(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()


async def first_of(events: list[anyio.Event]) -> None:
    """Return once any of ``events`` is set (waiters taken from :class:`Signal`\\ s, say);
    with none, wait until cancelled."""
    if not events:
        await anyio.sleep_forever()
    if len(events) == 1:
        await events[0].wait()
        return
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)
