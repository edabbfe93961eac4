"""The clock module's small concurrency helpers: Signal and first_of."""

from __future__ import annotations

import anyio
import pytest

from streamkit.clock import Signal, first_of


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_first_of_returns_once_any_event_is_set(count: int) -> None:
    events = [anyio.Event() for _ in range(count)]
    done = anyio.Event()

    async def wait() -> None:
        await first_of(events)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set()
        events[-1].set()
        with anyio.fail_after(5):
            await done.wait()


async def test_first_of_no_events_waits_until_cancelled() -> None:
    with anyio.move_on_after(0.05) as scope:
        await first_of([])
    assert scope.cancelled_caught


async def test_first_of_a_signal_and_an_event() -> None:
    signal = Signal()
    waiters = [signal.waiter(), anyio.Event()]
    signal.fire()
    with anyio.fail_after(5):
        await first_of(waiters)
