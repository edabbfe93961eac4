"""Backup and restore of a large table against copying it with Scan + BatchWriteItem.

Usage: python bench/backup.py [--items 100000] [--size 200] [--gsi]

Fills a table on disk (in a temporary folder) with ``--items`` items of about ``--size``
bytes, then runs each phase in a fresh child process, so each peak RSS is its own:

- ``backup``: CreateBackup (a snapshot copied into ``backups/<id>.sqlite3``);
- ``restore``: RestoreTableFromBackup into a new table;
- ``copy``: Scan pages (1 MB each) written to a new table with BatchWriteItem, 25 items a
  call, 8 calls in flight: the way to copy a table without backups.

Prints items/s and the child's peak RSS (ru_maxrss) for each, and the speed-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import pk_sk_table

from streamkit import open_engine

TABLE = "big"


def _table(gsi: bool) -> dict[str, Any]:
    spec = pk_sk_table(TABLE)
    if gsi:
        spec["AttributeDefinitions"].append({"AttributeName": "g", "AttributeType": "S"})
        spec["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ]
    return spec


async def fill(path: str, items: int, size: int, gsi: bool) -> None:
    payload = "x" * size
    async with open_engine(path) as engine:
        await engine.create_table(**_table(gsi))
        sem = asyncio.Semaphore(16)

        async def put(start: int) -> None:
            async with sem:
                await engine.batch_write_item(
                    RequestItems={
                        TABLE: [
                            {
                                "PutRequest": {
                                    "Item": {
                                        "pk": {"S": f"p{i % 1000}"},
                                        "sk": {"N": str(i)},
                                        "g": {"S": f"g{i % 97}"},
                                        "v": {"S": payload},
                                    }
                                }
                            }
                            for i in range(start, min(start + 25, items))
                        ]
                    }
                )

        for chunk in range(0, items, 25 * 400):
            await asyncio.gather(*(put(s) for s in range(chunk, min(chunk + 25 * 400, items), 25)))


async def phase(path: str, which: str) -> dict[str, Any]:
    async with open_engine(path) as engine:
        items = (await engine.describe_table(TableName=TABLE))["Table"]["ItemCount"]
        began = time.perf_counter()
        if which == "backup":
            await engine.create_backup(TableName=TABLE, BackupName="bench")
        elif which == "restore":
            listed = await engine.list_backups(TableName=TABLE)
            arn = listed["BackupSummaries"][-1]["BackupArn"]
            await engine.restore_table_from_backup(TargetTableName="restored", BackupArn=arn)
        else:
            spec = _table(gsi=False)
            described = (await engine.describe_table(TableName=TABLE))["Table"]
            spec["TableName"] = "copied"
            spec["AttributeDefinitions"] = described["AttributeDefinitions"]
            if "GlobalSecondaryIndexes" in described:
                spec["GlobalSecondaryIndexes"] = _table(gsi=True)["GlobalSecondaryIndexes"]
            await engine.create_table(**spec)
            sem = asyncio.Semaphore(8)
            tasks: list[asyncio.Task[Any]] = []

            async def write(batch: list[dict[str, Any]]) -> None:
                try:
                    request = {"copied": [{"PutRequest": {"Item": i}} for i in batch]}
                    while request:
                        out = await engine.batch_write_item(RequestItems=request)
                        request = out.get("UnprocessedItems") or {}
                finally:
                    sem.release()

            start: dict[str, Any] | None = None
            while True:
                kwargs: dict[str, Any] = {"TableName": TABLE}
                if start is not None:
                    kwargs["ExclusiveStartKey"] = start
                page = await engine.scan(**kwargs)
                rows = page["Items"]
                for n in range(0, len(rows), 25):
                    await sem.acquire()
                    tasks.append(asyncio.create_task(write(rows[n : n + 25])))
                start = page.get("LastEvaluatedKey")
                if start is None:
                    break
            await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": which, "items": items, "seconds": seconds, "rss_mb": rss_mb}


def _child(path: str, which: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, __file__, "--phase", which, "--db", path],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=200, help="bytes of payload per item")
    parser.add_argument("--gsi", action="store_true", help="give the table a KEYS_ONLY GSI")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(asyncio.run(phase(args.db, args.phase))))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "bench.sqlite3")
        began = time.perf_counter()
        asyncio.run(fill(path, args.items, args.size, args.gsi))
        print(f"filled {args.items:,} items in {time.perf_counter() - began:.1f} s")
        results = {which: _child(path, which) for which in ("backup", "restore", "copy")}
    for r in results.values():
        rate = r["items"] / r["seconds"]
        print(
            f"{r['phase']:8} {r['items']:>9,} items {r['seconds']:7.2f} s "
            f"{rate:>10,.0f} items/s  peak RSS {r['rss_mb']:.0f} MB"
        )
    copy = results["copy"]["seconds"]
    for which in ("backup", "restore"):
        print(f"{which} is {copy / results[which]['seconds']:.1f}x the Scan+BatchWrite copy")


if __name__ == "__main__":
    main()
