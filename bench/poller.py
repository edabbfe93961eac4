"""The local mapping runner's own cost: draining a backlog through MappingRunner.

Usage: python bench/poller.py [--records 20000] [--batch-size 1 100] [--repeats 3] [--mappings 1]

A SQLite file with a NEW_AND_OLD_IMAGES stream gets --records items (150-byte payloads) before
the runtime starts; a mapping with a no-op async handler then drains them at TRIM_HORIZON, and
the figure is records/s from the runtime's start to the handler holding the last record. With
batch_size 1 every record is one read, one invocation and one pass of the shard worker's loop,
so this is the runner's per-batch path (reads through the stream source, checkpoints), which
bench/mappings.py's latency figure hides under its 1,000 writes/s pacing. Also printed: the
process's CPU time per record, which moves less than the wall clock on a shared machine. With
``--mappings 3`` three such mappings drain the same backlog (the figure: until the last one holds
the last record), which is the shared read path's cost (one read and format, three copies). Uses
only public names, so the same script measures an older checkout (PYTHONPATH=that checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import streamkit
from streamkit.runtime import open_runtime

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}
PAYLOAD = "x" * 150


async def drain(
    path: Path, records: int, batch_size: int, mappings: int = 1
) -> tuple[float, float]:
    """Return records/s (wall clock) and CPU microseconds per record (the process's, threads
    included: steadier than the wall clock on a shared machine)."""
    done = asyncio.Event()
    seen = [0]
    app = streamkit.App()

    async def noop(event: dict[str, Any], context: Any) -> None:
        seen[0] += len(event["Records"])
        if seen[0] >= records * mappings:
            done.set()

    for m in range(mappings):
        name = "noop" if m == 0 else f"noop{m}"
        app.on_stream("bench", name=name, starting_position="TRIM_HORIZON", batch_size=batch_size)(
            noop
        )

    async with streamkit.open_engine(path) as db:
        started, cpu = time.perf_counter(), time.process_time()
        async with open_runtime(db, app):
            await asyncio.wait_for(done.wait(), 600)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            return records / wall, cpu / records * 1e6


async def fill(path: Path, records: int) -> None:
    async with streamkit.open_engine(path) as db:
        await db.create_table(TableName="bench", **TABLE)
        for first in range(0, records, 25):
            items = [
                {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "payload": {"S": PAYLOAD}}}}
                for i in range(first, min(first + 25, records))
            ]
            await db.batch_write_item(RequestItems={"bench": items})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mappings", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for batch_size in args.batch_size:
            rates, costs = [], []
            for repeat in range(args.repeats):
                path = Path(folder) / f"b{batch_size}-{repeat}.sqlite3"
                await fill(path, args.records)
                rate, cost = await drain(path, args.records, batch_size, args.mappings)
                rates.append(rate)
                costs.append(cost)
            print(
                f"poller drain, {args.mappings} mapping(s), batch_size {batch_size}: median "
                f"{statistics.median(rates):,.0f} records/s, "
                f"{statistics.median(costs):,.1f} CPU us/record "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates)} records/s; "
                f"{', '.join(f'{c:,.1f}' for c in costs)} us)",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
