"""Event-source mapping figures: handler latency, replay throughput, overhead on writers.

Usage: python bench/mappings.py [--seconds 3] [--repeats 3] [--records 100000] [--gc-freeze]

- latency: a batch_size=1 mapping with a no-op async handler while a writer puts items at a
  steady 1,000 per second; time from just before put_item to the handler holding the record
  (p50, p99), on a SQLite file with a NEW_AND_OLD_IMAGES stream.
- replay: records/s replaying --records records into a no-op async handler, batch_size 1000.
- overhead: put_item ops/s at concurrency 16 with 3 mappings running, against the same with
  none, measured in the same run (ratio); beside it the process's CPU time per put (which
  moves less than the wall clock on a shared machine), the CPU ratio (none / 3 mappings), and
  the mappings' own CPU a put (3 mappings minus none, repeat by repeat).
  --gc-freeze: the collector as ``streamkit serve`` and ``run`` keep it: their first threshold
  (``quiet_gc``, 10,000 net allocations, not 700) and gc.freeze() once the runtime is open.
All figures are medians over the repeats; each repeat's overhead figures are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import run_for  # bench/ is on sys.path when a script runs

import streamkit
from streamkit.cli.process import quiet_gc
from streamkit.mappings.replay import replay
from streamkit.runtime import open_runtime

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
PAYLOAD = "x" * 150


def _item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i}"}, "payload": {"S": PAYLOAD}, "n": {"N": str(i)}}


async def latency(folder: Path, seconds: float) -> tuple[float, float]:
    sent: dict[str, float] = {}
    delays: list[float] = []
    expected = [1 << 62]  # set to the number of writes once the writer stops
    caught_up = asyncio.Event()
    app = streamkit.App()

    @app.on_stream("bench", name="noop", starting_position="TRIM_HORIZON", batch_size=1)
    async def noop(event: dict[str, Any], context: Any) -> None:
        now = time.perf_counter()
        delays.extend(now - sent[r["dynamodb"]["Keys"]["pk"]["S"]] for r in event["Records"])
        if len(delays) >= expected[0]:
            caught_up.set()

    async with streamkit.open_engine(folder / "latency.sqlite3") as db:
        await db.create_table(TableName="bench", **TABLE)
        async with open_runtime(db, app):
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                due = start + i / 1000.0  # a steady 1,000 writes per second
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                key = f"k{i}"
                sent[key] = time.perf_counter()
                await db.put_item(TableName="bench", Item=_item(i))
                i += 1
            expected[0] = i
            if len(delays) < i:
                await caught_up.wait()
    delays.sort()
    return delays[len(delays) // 2] * 1000, delays[int(len(delays) * 0.99)] * 1000


async def replay_rate(folder: Path, records: int) -> float:
    async def noop(event: dict[str, Any], context: Any) -> None:
        return None

    async with streamkit.open_engine(folder / "replay.sqlite3", stream_shards=1) as db:
        await db.create_table(TableName="bench", **TABLE)
        for start in range(0, records, 25):
            await db.batch_write_item(
                RequestItems={
                    "bench": [{"PutRequest": {"Item": _item(i)}} for i in range(start, start + 25)]
                }
            )
        begin = time.perf_counter()
        result = await replay(db, noop, table="bench", batch_size=1000)
        elapsed = time.perf_counter() - begin
        assert result.records == records, result
    return records / elapsed


async def put_rate(
    folder: Path, name: str, seconds: float, mappings: int, *, freeze: bool = False
) -> tuple[float, float]:
    """Return put_item calls/s at 16 in flight, and the process's CPU us per put."""
    app = streamkit.App()
    for m in range(mappings):

        async def noop(event: dict[str, Any], context: Any) -> None:
            return None

        app.on_stream("bench", name=f"m{m}", starting_position="TRIM_HORIZON")(noop)
    async with streamkit.open_engine(folder / f"{name}.sqlite3") as db:
        await db.create_table(TableName="bench", **TABLE)
        async with open_runtime(db, app):
            if freeze:
                gc.freeze()
            writes = itertools.count()

            async def put(i: int) -> object:  # a new value each time: a no-op put has no record
                item = _item(i)
                item["n"] = {"N": str(next(writes))}
                return await db.put_item(TableName="bench", Item=item)

            cpu = time.process_time()
            first = next(writes)
            rate = await run_for(seconds, 16, put)
            puts = next(writes) - first - 1
            return rate, (time.process_time() - cpu) / max(puts, 1) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--gc-freeze", action="store_true")
    args = parser.parse_args()
    if args.gc_freeze:
        quiet_gc()  # as run_serve/run_app (tune_gc): at 700 the handlers' copies ran ~1.4 us a put
    p50s, p99s, replays, none, three, cpu_none, cpu_three = [], [], [], [], [], [], []
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            p50, p99 = await latency(folder, args.seconds)
            p50s.append(p50)
            p99s.append(p99)
            replays.append(await replay_rate(folder, args.records))
            for rates, cpus, count in ((none, cpu_none, 0), (three, cpu_three, 3)):
                rate, cpu = await put_rate(
                    folder, f"m{count}-{r}", args.seconds, count, freeze=args.gc_freeze
                )
                rates.append(rate)
                cpus.append(cpu)
            print(
                f"repeat {r + 1}: put_item c=16 none {none[-1]:,.0f}/s [{cpu_none[-1]:.1f} us], "
                f"3 mappings {three[-1]:,.0f}/s [{cpu_three[-1]:.1f} us]",
                flush=True,
            )
    med = statistics.median
    print(f"repeats={args.repeats} seconds={args.seconds} records={args.records}")
    print(
        "commit-to-handler latency at 1,000 writes/s: "
        f"p50 {med(p50s):.2f} ms, p99 {med(p99s):.2f} ms"
    )
    print(f"replay into a no-op handler, batch 1000: {med(replays):,.0f} records/s")
    print(
        f"put_item c=16: no mappings {med(none):,.0f}/s, 3 mappings {med(three):,.0f}/s, "
        f"ratio {med(three) / med(none):.2f}; CPU a put {med(cpu_none):.1f} / "
        f"{med(cpu_three):.1f} us, ratio {med(cpu_none) / med(cpu_three):.2f}"
    )
    own = [three - none for none, three in zip(cpu_none, cpu_three, strict=True)]
    print(
        f"the 3 mappings' own CPU a put (3 mappings - none, median of repeats): {med(own):.1f} us"
    )


if __name__ == "__main__":
    asyncio.run(main())
