"""Stream upkeep: shard rollover, trimming records past retention, dropping dead shards and
streams. ``run_retention`` is a runtime worker; ``maintain_once`` is one pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import anyio
from anyio.abc import TaskStatus

from streamkit.clock import Clock
from streamkit.engine import Engine
from streamkit.logs import get_logger

__all__ = ["Upkeep", "maintain_once", "run_retention"]

log = get_logger(__name__)

TRIM_BATCH = 5000  # records deleted per transaction, so foreground writes keep flowing


class Upkeep(NamedTuple):
    """What one maintenance pass did."""

    rolled: int  #: open shards closed and continued by a child
    trimmed: int  #: records deleted
    shards_dropped: int  #: closed shards removed (all their records expired)
    streams_dropped: int  #: disabled streams removed


async def maintain_once(engine: Engine, now: float) -> Upkeep:
    """Roll over due shards, trim expired records, drop dead shards and disabled streams."""
    backend = engine.backend
    cutoff = now - backend.settings.retention_seconds
    rolled = await backend.roll_over_due(now)
    trimmed = 0
    while True:
        count = await backend.trim(cutoff, TRIM_BATCH)
        trimmed += count
        if count < TRIM_BATCH:
            break
    shards, streams = await backend.drop_expired(cutoff)
    await engine.trim_point_in_time_history(now)  # PITR histories, to their recovery periods
    upkeep = Upkeep(rolled, trimmed, shards, streams)
    if any(upkeep):
        log.debug("stream_upkeep", **upkeep._asdict())
    return upkeep


async def run_retention(
    engine: Engine,
    *,
    clock: Clock,
    interval: float = 60.0,
    on_pass: Callable[[], None] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run :func:`maintain_once` every ``interval`` seconds of ``clock`` until cancelled.

    ``on_pass`` is called after each pass (the runtime uses it to let tests wait for one).
    """
    task_status.started()
    while True:
        await maintain_once(engine, clock.now())
        if on_pass is not None:
            on_pass()
        await clock.sleep(interval)
