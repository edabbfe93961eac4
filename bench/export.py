"""Export and import against a Scan + BatchWriteItem copy: items/s and peak RSS.

Usage: python bench/export.py [--items 100000] [--repeats 1]

Loads ``--items`` ~200-byte items (``pk``/``sk`` keys, a string, a number, a small map) into a
SQLite file, then runs each phase in a fresh process, so each peak RSS (ru_maxrss) is that
phase's alone:

- copy: Scan (1 MB pages) + BatchWriteItem (25 a call, 16 in flight) into a new table, the
  way a table is copied by hand (the baseline);
- export json / ion: ExportTableToPointInTime to a bucket folder, until COMPLETED;
- import json / ion: ImportTable of that export into a new table, until COMPLETED.

Prints items/s, the speed-up over the copy, and peak RSS in MB for each (an import's worker
processes, which parse a large import on the other cores, each in parentheses).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import pk_sk_table  # bench/ is on sys.path when a script runs

import streamkit


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"p{i // 100:07d}"},
        "sk": {"N": str(i % 100)},
        "payload": {"S": "x" * 120},
        "n": {"N": str(i * 7)},
        "m": {"M": {"a": {"S": "b"}, "c": {"N": "1.5"}}},
    }


async def load(path: Path, count: int) -> None:
    async with streamkit.open_engine(path) as db:
        await db.create_table(**pk_sk_table("bench"))
        queue = iter(range(count))

        async def worker() -> None:
            while chunk := [i for _, i in zip(range(25), queue, strict=False)]:
                requests = [{"PutRequest": {"Item": _item(i)}} for i in chunk]
                await db.batch_write_item(RequestItems={"bench": requests})

        await asyncio.gather(*(worker() for _ in range(16)))
        await db.update_continuous_backups(  # DynamoDB's exports need PITR on
            TableName="bench",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


async def copy(db: streamkit.Engine) -> int:
    await db.create_table(**pk_sk_table("copy"))
    pages: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=4)
    copied = 0

    async def reader() -> None:
        params: dict[str, Any] = {"TableName": "bench"}
        while True:
            page = await db.scan(**params)
            await pages.put(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for _ in range(16):
            await pages.put(None)

    async def writer() -> None:
        nonlocal copied
        while (items := await pages.get()) is not None:
            for start in range(0, len(items), 25):
                chunk = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
                left: dict[str, Any] = {"copy": chunk}
                while left:
                    left = (await db.batch_write_item(RequestItems=left))["UnprocessedItems"]
                copied += len(chunk)

    await asyncio.gather(reader(), *(writer() for _ in range(16)))
    return copied


def _forever() -> Any:
    while True:
        yield None


async def _done(calls: Any) -> dict[str, Any]:
    """Poll Describe* (AWS's way) until the status is no longer IN_PROGRESS."""
    for call in calls:
        reply = await call
        desc: dict[str, Any] = reply.get("ExportDescription") or reply["ImportTableDescription"]
        if desc.get("ExportStatus", desc.get("ImportStatus")) != "IN_PROGRESS":
            return desc
        await asyncio.sleep(0.01)
    raise AssertionError("unreachable")


async def phase(name: str, path: Path, buckets: Path) -> dict[str, Any]:
    async with streamkit.open_engine(path, s3_dir=buckets) as db:
        start = time.perf_counter()
        if name == "copy":
            count = await copy(db)
        elif name.startswith("export"):
            fmt = "ION" if name.endswith("ion") else "DYNAMODB_JSON"
            arn = (await db.describe_table(TableName="bench"))["Table"]["TableArn"]
            started = await db.export_table_to_point_in_time(
                TableArn=arn, S3Bucket="bench", S3Prefix=fmt, ExportFormat=fmt
            )
            export_arn = started["ExportDescription"]["ExportArn"]
            desc = await _done(db.describe_export(ExportArn=export_arn) for _ in _forever())
            assert desc["ExportStatus"] == "COMPLETED", desc
            count = desc["ItemCount"]
        else:
            fmt = "ION" if name.endswith("ion") else "DYNAMODB_JSON"
            folder = next((buckets / "bench" / fmt / "AWSDynamoDB").iterdir())
            prefix = f"{fmt}/AWSDynamoDB/{folder.name}/data/"
            table = f"imported_{fmt.lower()}"
            started = await db.import_table(
                S3BucketSource={"S3Bucket": "bench", "S3KeyPrefix": prefix},
                InputFormat=fmt,
                InputCompressionType="GZIP",
                TableCreationParameters={**pk_sk_table(table)},
            )
            import_arn = started["ImportTableDescription"]["ImportArn"]
            desc = await _done(db.describe_import(ImportArn=import_arn) for _ in _forever())
            assert desc["ImportStatus"] == "COMPLETED", desc
            assert desc["ErrorCount"] == 0, desc
            count = desc["ImportedItemCount"]
        seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # import workers
    return {"phase": name, "items": count, "seconds": seconds, "rss_mb": rss, "workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--buckets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(asyncio.run(phase(args.phase, Path(args.db), Path(args.buckets)))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db, buckets = Path(tmp) / "bench.sqlite3", Path(tmp) / "s3"
        start = time.perf_counter()
        asyncio.run(load(db, args.items))
        print(f"loaded {args.items:,} items in {time.perf_counter() - start:.1f} s")
        results = []
        for name in ("copy", "export json", "export ion", "import json", "import ion"):
            out = subprocess.run(
                [sys.executable, __file__, "--phase", name, "--db", str(db),
                 "--buckets", str(buckets)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            results.append(json.loads(out.splitlines()[-1]))
        base = results[0]["items"] / results[0]["seconds"]
        print(
            f"{'phase':<12} {'items':>9} {'seconds':>8} {'items/s':>9} {'vs copy':>8} {'RSS MB':>7}"
            "  (largest worker process)"
        )
        for r in results:
            rate = r["items"] / r["seconds"]
            print(
                f"{r['phase']:<12} {r['items']:>9,} {r['seconds']:>8.2f} {rate:>9,.0f} "
                f"{rate / base:>7.1f}x {r['rss_mb']:>7.0f}"
                + (f"  ({r['workers']:.0f})" if r.get("workers", 0) > 5 else "")
            )


if __name__ == "__main__":
    main()
