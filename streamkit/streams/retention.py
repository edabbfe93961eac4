"""Stream upkeep: shard rollover, trimming records past retention, dropping dead shards and
streams. ``run_retention`` is a runtime worker; ``maintain_once`` is one pass."""

from __future__ import annotations

import sqlite3
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
    changes = engine.change_log
    cutoff = now - changes.settings.retention_seconds
    rolled = await engine.store.write(lambda conn: changes.roll_over_due(conn, now))
    trimmed = 0
    while True:
        count = await engine.store.write(lambda conn: _trim(conn, cutoff, TRIM_BATCH))
        trimmed += count
        if count < TRIM_BATCH:
            break
    shards, streams, gone = await engine.store.write(lambda conn: _drop(conn, cutoff))
    for stid in gone:
        changes.forget_stream(stid)
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


def _trim(conn: sqlite3.Connection, cutoff: float, budget: int) -> int:
    """Delete up to ``budget`` records created before ``cutoff``, oldest first per shard."""
    deleted = 0
    for (sid,) in conn.execute("SELECT sid FROM sk_shards").fetchall():
        if deleted >= budget:
            break
        rows = conn.execute(
            "SELECT seq, created FROM sk_records WHERE sid = ? ORDER BY seq LIMIT ?",
            (sid, budget - deleted),
        ).fetchall()
        last = None
        for seq, created in rows:
            if created >= cutoff:
                break
            last = seq
        if last is None:
            continue
        count = conn.execute(
            "DELETE FROM sk_records WHERE sid = ? AND seq <= ?", (sid, last)
        ).rowcount
        conn.execute("UPDATE sk_shards SET trimmed_to = ? WHERE sid = ?", (last, sid))
        deleted += count
    return deleted


def _drop(conn: sqlite3.Connection, cutoff: float) -> tuple[int, int, list[int]]:
    """Remove closed shards closed before ``cutoff`` and disabled streams disabled before it."""
    dead = conn.execute(
        "SELECT sid, stid, end_seq FROM sk_shards WHERE end_seq IS NOT NULL AND closed_at < ?",
        (cutoff,),
    ).fetchall()
    for sid, stid, end in dead:
        conn.execute("DELETE FROM sk_records WHERE sid = ?", (sid,))
        conn.execute("DELETE FROM sk_shards WHERE sid = ?", (sid,))
        conn.execute(
            "UPDATE sk_streams SET seq_floor = max(seq_floor, ?) WHERE stid = ?", (end, stid)
        )
    gone = [
        stid
        for (stid,) in conn.execute(
            "SELECT stid FROM sk_streams WHERE disabled_at IS NOT NULL AND disabled_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM sk_shards WHERE sk_shards.stid = sk_streams.stid)",
            (cutoff,),
        ).fetchall()
    ]
    for stid in gone:
        conn.execute("DELETE FROM sk_streams WHERE stid = ?", (stid,))
    return len(dead), len(gone), gone
