"""Read costs against table size: GetItem and Query(100) on 10k vs 1M items, parallel Scan, RSS.

Usage: python bench/query.py [--sizes 10000 1000000] [--seconds 2] [--repeats 3]

For each table size, loads ~200-byte items (100 per partition) into a SQLite file, then
reports (medians of the repeats): GetItem ops/s and Query of one 100-item partition ops/s at
concurrency 1, full Scan items/s with 1, 2 and 4 parallel segments, and the process's peak
RSS. The ratio column compares each size with the smallest one measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _load import pk_sk_table  # bench/ is on sys.path when a script runs

import streamkit

PAYLOAD = "x" * 150
PER_PARTITION = 100


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"p{i // PER_PARTITION}"},
        "sk": {"N": str(i % PER_PARTITION)},
        "payload": {"S": PAYLOAD},
    }


async def load(db: streamkit.Engine, count: int) -> float:
    """Insert ``count`` items; return items/s (batches of 25 when the engine has them)."""
    start = time.perf_counter()
    batched = "BatchWriteItem" in db.OPERATIONS
    queue = iter(range(count))

    async def worker() -> None:
        while True:
            chunk = [i for _, i in zip(range(25 if batched else 1), queue, strict=False)]
            if not chunk:
                return
            if batched:
                requests = [{"PutRequest": {"Item": _item(i)}} for i in chunk]
                await db.batch_write_item(RequestItems={"bench": requests})  # type: ignore[attr-defined]
            else:
                await db.put_item(TableName="bench", Item=_item(chunk[0]))

    await asyncio.gather(*(worker() for _ in range(32)))
    return count / (time.perf_counter() - start)


async def rate(seconds: float, op: Callable[[], Awaitable[object]]) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        await op()
        done += 1
    return done / (time.perf_counter() - start)


async def scan_rate(db: streamkit.Engine, segments: int) -> float:
    async def one(segment: int) -> int:
        seen = 0
        kwargs: dict[str, Any] = {
            "TableName": "bench",
            "Segment": segment,
            "TotalSegments": segments,
        }
        while True:
            page = await db.scan(**kwargs)
            seen += page["Count"]
            if "LastEvaluatedKey" not in page:
                return seen
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    start = time.perf_counter()
    total = sum(await asyncio.gather(*(one(s) for s in range(segments))))
    return total / (time.perf_counter() - start)


async def measure(folder: Path, count: int, seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    async with streamkit.open_engine(folder / f"q{count}.sqlite3") as db:
        await db.create_table(**pk_sk_table("bench"))
        out["load items/s"] = await load(db, count)
        partitions = count // PER_PARTITION
        rng = random.Random(7)

        async def get() -> object:
            i = rng.randrange(count)
            return await db.get_item(
                TableName="bench", Key={k: v for k, v in _item(i).items() if k != "payload"}
            )

        async def query() -> object:
            page = await db.query(
                TableName="bench",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"p{rng.randrange(partitions)}"}},
            )
            assert page["Count"] == PER_PARTITION
            return page

        out["get_item ops/s"] = await rate(seconds, get)
        out["query(100) ops/s"] = await rate(seconds, query)
        for segments in (1, 2, 4):
            out[f"scan {segments} seg items/s"] = await scan_rate(db, segments)
    out["peak RSS MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for _ in range(args.repeats):
                for name, value in (await measure(Path(tmp), size, args.seconds)).items():
                    results.setdefault(size, {}).setdefault(name, []).append(value)
                (Path(tmp) / f"q{size}.sqlite3").unlink()
    base = results[args.sizes[0]]
    for size in args.sizes:
        print(f"\n{size:,} items (median of {args.repeats})")
        for name, values in results[size].items():
            median = statistics.median(values)
            ratio = median / statistics.median(base[name])
            print(f"  {name:24} {median:14,.0f}   x{ratio:.2f} vs {args.sizes[0]:,}")


if __name__ == "__main__":
    asyncio.run(main())
