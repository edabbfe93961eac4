"""The TTL sweeper: finds expired items through the ``ttl`` index and deletes them in bounded,
rate-limited batches (each a conditional delete re-checked inside its transaction)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus

from streamkit.clock import Clock
from streamkit.engine import Engine
from streamkit.logs import get_logger

__all__ = ["run_ttl_sweeper", "sweep_once"]

log = get_logger(__name__)


async def sweep_once(
    engine: Engine,
    *,
    clock: Clock,
    batch_size: int = 100,
    max_rate: float = 2000.0,
) -> int:
    """Delete every item that is expired now, table by table; return how many were deleted.

    Each batch of at most ``batch_size`` deletes is one transaction. After a full batch the
    sweeper sleeps (on ``clock``) long enough to stay under ``max_rate`` deletes per second,
    so foreground writes keep the writer most of the time.
    """
    total = 0
    for table in engine.ttl_tables():
        while True:
            deleted = await engine.expire_items(table, now=clock.now(), limit=batch_size)
            total += deleted
            if deleted:
                log.debug("ttl_batch_deleted", table=table, deleted=deleted)
            if deleted < batch_size:
                break
            await clock.sleep(deleted / max_rate)
    return total


async def run_ttl_sweeper(
    engine: Engine,
    *,
    clock: Clock,
    interval: float = 1.0,
    batch_size: int = 100,
    max_rate: float = 2000.0,
    on_pass: Callable[[], None] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Sweep every ``interval`` seconds of ``clock`` until cancelled (a runtime worker).

    ``on_pass`` is called after each sweep (the runtime uses it to let tests wait for one).
    """
    if batch_size < 1 or max_rate <= 0 or interval <= 0:
        raise ValueError("batch_size, max_rate and interval must be positive")
    task_status.started()
    while True:
        deleted = await sweep_once(engine, clock=clock, batch_size=batch_size, max_rate=max_rate)
        if deleted:
            log.debug("ttl_sweep_finished", deleted=deleted)
        if on_pass is not None:
            on_pass()
        await clock.sleep(interval)
