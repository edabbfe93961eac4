"""Global-table replication figures: lag, throughput, making a filled table global.

Usage: python bench/replication.py [--seconds 3] [--repeats 3] [--items 100000] [--backlog 20000]

Two regions in one process (an engine per region on its own SQLite file, one event loop),
a table global in both, the replication links run by a ``Replicator`` on the system clock.

- lag: a writer puts items in us-east-1 at a steady 1,000 per second; time from just before
  put_item to the change applied in eu-west-1 (``apply_replicated`` returned), p50 and p99.
- throughput: put_item ops/s at concurrency 16 in us-east-1 of a global table (links running)
  against a regional table in a process without replication (the single-region rate), and the
  rate items reach eu-west-1 (everything written, until the last one is applied there), also
  per CPU second of the process (both regions' work: on a loaded machine, the steadier figure).
- backlog: a link paused while --backlog puts are made, then resumed: items/s until it has
  caught up (the link alone, no writer competing), against the single-region rate.
- global: a table holding --items items is made global (its replica CREATING in eu-west-1);
  seconds until the back-fill is done and the replica ACTIVE.
All figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from _load import run_for  # bench/ is on sys.path when a script runs

import streamkit
from streamkit.clock import SystemClock
from streamkit.engine import Engine
from streamkit.mappings.replication import Replicator
from streamkit.storage.tables import save_spec

US, EU = "us-east-1", "eu-west-1"
TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
PAYLOAD = "x" * 150


def _item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i}"}, "payload": {"S": PAYLOAD}, "n": {"N": str(i)}}


class _Group:
    """The engines of the regions, opened beforehand (until ``streamkit.open_regions``)."""

    def __init__(self) -> None:
        self.by_region: dict[str, Engine] = {}

    @property
    def engines(self) -> Mapping[str, Engine]:
        return self.by_region

    async def engine(self, region: str) -> Engine:
        return self.by_region[region]


@asynccontextmanager
async def _regions(folder: Path, name: str) -> AsyncIterator[_Group]:
    group = _Group()
    async with AsyncExitStack() as stack:
        for region in (US, EU):
            group.by_region[region] = await stack.enter_async_context(
                streamkit.open_engine(folder / f"{name}-{region}.sqlite3", region=region)
            )
        yield group


async def _set_replicas(group: _Group, statuses: dict[str, str]) -> None:
    """What UpdateTable ReplicaUpdates does to the catalogs (the control plane's part)."""
    replicas = tuple(sorted(statuses.items()))
    for engine in group.engines.values():
        new = engine._tables["bench"].with_changes(replicas=replicas)
        await engine._store.write(functools.partial(save_spec, spec=new))
        engine._tables["bench"] = new
        engine._catalog_changed()


@asynccontextmanager
async def _replicating(group: _Group) -> AsyncIterator[Replicator]:
    async with anyio.create_task_group() as tg:
        replicator = Replicator(group, SystemClock())
        await tg.start(replicator.run)
        yield replicator
        tg.cancel_scope.cancel()


def _watch_applied(engine: Engine, on_applied: Any) -> None:
    """Call ``on_applied(changes)`` each time ``engine.apply_replicated`` returns."""
    apply = engine.apply_replicated

    async def applied(table: str, changes: Any) -> int:
        won = await apply(table, changes)
        on_applied(changes)
        return won

    engine.apply_replicated = applied  # type: ignore[method-assign]


async def lag(folder: Path, seconds: float) -> tuple[float, float]:
    sent: dict[str, float] = {}
    delays: list[float] = []
    expected = [1 << 62]
    done = asyncio.Event()

    def on_applied(changes: Any) -> None:
        now = time.perf_counter()
        delays.extend(now - sent[c.key["pk"]["S"]] for c in changes)
        if len(delays) >= expected[0]:
            done.set()

    async with _regions(folder, "lag") as group:
        for engine in group.engines.values():
            await engine.create_table(TableName="bench", **TABLE)
        await _set_replicas(group, {US: "ACTIVE", EU: "ACTIVE"})
        _watch_applied(group.by_region[EU], on_applied)
        us = group.by_region[US]
        async with _replicating(group):
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                due = start + i / 1000.0  # a steady 1,000 writes per second
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                sent[f"k{i}"] = time.perf_counter()
                await us.put_item(TableName="bench", Item=_item(i))
                i += 1
            expected[0] = i
            if len(delays) < i:
                await done.wait()
    delays.sort()
    return delays[len(delays) // 2] * 1000, delays[int(len(delays) * 0.99)] * 1000


async def _put_load(engine: Engine, seconds: float) -> tuple[float, int]:
    writes = itertools.count()

    async def put(i: int) -> object:  # a new value each time: a no-op put has no record
        item = _item(i)
        item["n"] = {"N": str(next(writes))}
        return await engine.put_item(TableName="bench", Item=item)

    rate = await run_for(seconds, 16, put)
    return rate, next(writes)


async def single_region_rate(folder: Path, name: str, seconds: float) -> tuple[float, float]:
    """Return put_item/s (wall clock) and puts per CPU second of the process."""
    async with streamkit.open_engine(folder / f"{name}.sqlite3") as db:
        await db.create_table(TableName="bench", **TABLE)
        cpu = time.process_time()
        rate, count = await _put_load(db, seconds)
        cpu = time.process_time() - cpu
    return rate, count / cpu


async def replicated_rates(folder: Path, name: str, seconds: float) -> tuple[float, float, float]:
    """Return (put_item/s in us-east-1 with the links running, items/s applied in eu-west-1
    from the first write until the last write is applied there, and items written and
    replicated per CPU second of the process over that time: both regions' work)."""
    applied = [0]

    def on_applied(changes: Any) -> None:
        applied[0] += len(changes)

    async with _regions(folder, name) as group:
        for engine in group.engines.values():
            await engine.create_table(TableName="bench", **TABLE)
        await _set_replicas(group, {US: "ACTIVE", EU: "ACTIVE"})
        _watch_applied(group.by_region[EU], on_applied)
        async with _replicating(group) as replicator:
            begin, cpu = time.perf_counter(), time.process_time()
            rate, count = await _put_load(group.by_region[US], seconds)
            while True:  # until the link is caught up
                changed = replicator.changed.waiter()
                if await replicator.caught_up():
                    break
                await changed.wait()
            elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    return rate, applied[0] / elapsed, count / cpu


async def backlog_rate(folder: Path, name: str, items: int) -> tuple[float, float]:
    """Return items/s a link ships a backlog of ``items`` writes (paused while they were made)
    until caught up: the link's own throughput, with no writer competing."""
    async with _regions(folder, name) as group:
        for engine in group.engines.values():
            await engine.create_table(TableName="bench", **TABLE)
        await _set_replicas(group, {US: "ACTIVE", EU: "ACTIVE"})
        async with _replicating(group) as replicator:
            replicator.pause("bench", US, EU)
            us = group.by_region[US]
            for start in range(0, items, 25):
                await us.batch_write_item(
                    RequestItems={
                        "bench": [
                            {"PutRequest": {"Item": _item(i)}} for i in range(start, start + 25)
                        ]
                    }
                )
            begin, cpu = time.perf_counter(), time.process_time()
            replicator.resume("bench", US, EU)
            while True:
                changed = replicator.changed.waiter()
                if await replicator.caught_up():
                    break
                await changed.wait()
            elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
        count = (await group.by_region[EU].describe_table(TableName="bench"))["Table"]["ItemCount"]
        assert count == items, count
    return items / elapsed, items / cpu


async def make_global(folder: Path, name: str, items: int) -> tuple[float, float]:
    """Return the wall-clock and CPU seconds from the replica's CREATING to its ACTIVE."""
    async with _regions(folder, name) as group:
        us, eu = group.by_region[US], group.by_region[EU]
        await us.create_table(TableName="bench", **TABLE)
        for start in range(0, items, 25):
            await us.batch_write_item(
                RequestItems={
                    "bench": [{"PutRequest": {"Item": _item(i)}} for i in range(start, start + 25)]
                }
            )
        await eu.create_table(TableName="bench", **TABLE)
        active = asyncio.Event()

        async def replica_ready(table: str, region: str) -> None:  # the control plane's
            await _set_replicas(group, {US: "ACTIVE", EU: "ACTIVE"})
            active.set()

        us.replica_ready = replica_ready  # type: ignore[attr-defined]
        begin, cpu = time.perf_counter(), time.process_time()
        await _set_replicas(group, {US: "ACTIVE", EU: "CREATING"})
        async with _replicating(group):
            await active.wait()
            elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
        count = (await eu.describe_table(TableName="bench"))["Table"]["ItemCount"]
        assert count == items, count
    return elapsed, cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=20_000)
    args = parser.parse_args()
    p50s, p99s, single, single_cpu, written, shipped, shipped_cpu = [], [], [], [], [], [], []
    backlog, backlog_cpu, fills, fills_cpu = [], [], [], []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            p50, p99 = await lag(folder, args.seconds)
            p50s.append(p50)
            p99s.append(p99)
            rate, per_cpu = await single_region_rate(folder, f"single{r}", args.seconds)
            single.append(rate)
            single_cpu.append(per_cpu)
            w, s, s_cpu = await replicated_rates(folder, f"rep{r}", args.seconds)
            written.append(w)
            shipped.append(s)
            shipped_cpu.append(s_cpu)
            rate, per_cpu = await backlog_rate(folder, f"backlog{r}", args.backlog)
            backlog.append(rate)
            backlog_cpu.append(per_cpu)
            wall, cpu = await make_global(folder, f"fill{r}", args.items)
            fills.append(wall)
            fills_cpu.append(cpu)
    med = statistics.median
    print(f"repeats={args.repeats} seconds={args.seconds} items={args.items}")
    print(f"replication lag at 1,000 writes/s: p50 {med(p50s):.2f} ms, p99 {med(p99s):.2f} ms")
    print(
        f"put_item c=16: single region {med(single):,.0f}/s, global (links running) "
        f"{med(written):,.0f}/s, ratio {med(written) / med(single):.2f}"
    )
    print(
        f"replicated into eu-west-1: {med(shipped):,.0f} items/s, "
        f"{med(shipped) / med(single):.2f} of the single-region write rate; per CPU second "
        f"(written and replicated): {med(shipped_cpu):,.0f} puts against "
        f"{med(single_cpu):,.0f} puts ({med(shipped_cpu) / med(single_cpu):.2f})"
    )
    print(
        f"a paused link's backlog of {args.backlog:,} puts shipped at {med(backlog):,.0f} items/s, "
        f"{med(backlog) / med(single):.2f} of the single-region write rate; per CPU second: "
        f"{med(backlog_cpu):,.0f} items against {med(single_cpu):,.0f} puts "
        f"({med(backlog_cpu) / med(single_cpu):.2f})"
    )
    print(
        f"making a {args.items:,}-item table global: ACTIVE after {med(fills):.2f} s "
        f"({med(fills_cpu):.2f} s of CPU)"
    )


if __name__ == "__main__":
    asyncio.run(main())
