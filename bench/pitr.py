"""Point-in-time recovery on a large table: enabling (recording the items already there),
RestoreTableToPointInTime, and a Scan + BatchWriteItem copy of the same table, in items/s,
with the process's peak RSS.

    python bench/pitr.py [--items 200000] [--copy-items 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from typing import Any

from _load import pk_sk_table  # bench/ is on sys.path when a script runs

import streamkit

SOURCE = "bench_pitr"


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"user#{i}"},
        "sk": {"N": str(i % 7)},
        "name": {"S": f"name {i}"},
        "email": {"S": f"user{i}@example.com"},
        "count": {"N": str(i)},
        "tags": {"SS": ["a", "b", "c"]},
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _load(db: streamkit.Engine, table: str, count: int) -> None:
    async def worker(first: int) -> None:
        for start in range(first, count, 25 * 8):
            batch = [
                {"PutRequest": {"Item": _item(i)}} for i in range(start, min(start + 25, count))
            ]
            await db.batch_write_item(RequestItems={table: batch})

    await asyncio.gather(*(worker(w * 25) for w in range(8)))


async def _copy(db: streamkit.Engine, source: str, target: str, limit: int) -> int:
    """The seed's "Option 3": Scan pages of the source, BatchWriteItem them into the target."""
    await db.create_table(**pk_sk_table(target))
    copied, start = 0, None
    while copied < limit:
        page = await db.scan(
            TableName=source, **({"ExclusiveStartKey": start} if start else {}), Limit=1000
        )
        items = page["Items"]
        for i in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[i : i + 25]]
            await db.batch_write_item(RequestItems={target: batch})
        copied += len(items)
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    return copied


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--copy-items", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with streamkit.open_engine(os.path.join(folder, "pitr.sqlite3")) as db:
            await db.create_table(**pk_sk_table(SOURCE))
            started = time.perf_counter()
            await _load(db, SOURCE, args.items)
            print(f"load      {args.items / (time.perf_counter() - started):>10,.0f} items/s")
            started = time.perf_counter()
            await db.update_continuous_backups(
                TableName=SOURCE,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            print(f"enable    {args.items / (time.perf_counter() - started):>10,.0f} items/s")
            for i in range(0, args.items, 10):  # a tenth of the items change once
                await db.put_item(TableName=SOURCE, Item={**_item(i), "count": {"N": "-1"}})
            started = time.perf_counter()
            await db.restore_table_to_point_in_time(
                SourceTableName=SOURCE, TargetTableName="restored", UseLatestRestorableTime=True
            )
            seconds = time.perf_counter() - started
            print(f"restore   {args.items / seconds:>10,.0f} items/s  ({seconds:.1f} s)")
            started = time.perf_counter()
            copied = await _copy(db, SOURCE, "copied", args.copy_items)
            print(
                f"copy      {copied / (time.perf_counter() - started):>10,.0f} items/s"
                "  (Scan + BatchWriteItem)"
            )
            print(f"peak RSS  {_rss_mb():>10,.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
