"""Export and import against a Scan + BatchWriteItem copy: items/s and peak RSS.

Usage: python bench/export.py [--items 100000] [--repeats 1] [--phases copy,import json,...]
                              [--keep DIR] [--base TREE]

Loads ``--items`` ~200-byte items (``pk``/``sk`` keys, a string, a number, a small map) into a
SQLite file, then runs each phase in a fresh process, so each peak RSS (ru_maxrss) is that
phase's alone:

- copy: Scan (1 MB pages) + BatchWriteItem (25 a call, 16 in flight) into a new table, the
  way a table is copied by hand (the baseline);
- export json / ion: ExportTableToPointInTime to a bucket folder, until COMPLETED;
- import json / ion: ImportTable of that export into a new table, until COMPLETED.

Prints items/s, the speed-up over the copy, peak RSS in MB for each (an import's worker
processes, which parse a large import on the other cores, each in parentheses) and CPU time
per item (the phase's process and its workers together, microseconds).

``--keep DIR`` loads and exports into DIR once and reuses it on later runs (each import goes
into a copy of the database file). ``--base TREE`` runs every phase ``--repeats`` times in
turns, this tree then TREE (a worktree of another commit, put first on PYTHONPATH), and
prints the medians of both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
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
    cpu_before = _cpu()  # the interpreter's start and imports are not the phase's
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
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import's workers
    cpu = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime - cpu_before
    return {
        "phase": name,
        "items": count,
        "seconds": seconds,
        "rss_mb": me.ru_maxrss / 1024,
        "workers": children.ru_maxrss / 1024,
        "cpu_us": cpu / max(count, 1) * 1e6,
    }


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


PHASES = ("copy", "export json", "export ion", "import json", "import ion")


def _run_phase(name: str, folder: Path, tree: str | None) -> dict[str, Any]:
    db, buckets = folder / "bench.sqlite3", folder / "s3"
    if name.startswith("import") or name == "copy":  # writes a table: into a copy of the file
        scratch = folder / "scratch.sqlite3"
        shutil.copyfile(db, scratch)
        db = scratch
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--phase", name, "--db", str(db), "--buckets", str(buckets)],
            check=True, capture_output=True, text=True, env=env, cwd=tree,
        ).stdout  # fmt: skip
    finally:
        for suffix in ("", "-wal", "-shm"):
            (folder / f"scratch.sqlite3{suffix}").unlink(missing_ok=True)
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def _prepare(folder: Path, items: int) -> None:
    """Load the table and export it in both formats into ``folder`` (once)."""
    if (folder / "ready").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    asyncio.run(load(folder / "bench.sqlite3", items))
    print(f"loaded {items:,} items in {time.perf_counter() - start:.1f} s")
    for name in ("export json", "export ion"):
        _run_phase(name, folder, None)  # the files the imports read
    (folder / "ready").write_text(str(items))


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[0])
    for key in ("seconds", "rss_mb", "workers", "cpu_us"):
        out[key] = statistics.median(r.get(key, 0.0) for r in runs)
    return out


def _print(results: list[dict[str, Any]], base_rate: float | None) -> None:
    print(
        f"{'phase':<12} {'items':>9} {'seconds':>8} {'items/s':>9} {'vs copy':>8} {'RSS MB':>7}"
        f" {'CPU us/item':>11}  (largest worker process)"
    )
    for r in results:
        rate = r["items"] / r["seconds"]
        ratio = f"{rate / base_rate:>7.1f}x" if base_rate else f"{'-':>8}"
        print(
            f"{r['phase']:<12} {r['items']:>9,} {r['seconds']:>8.2f} {rate:>9,.0f} "
            f"{ratio} {r['rss_mb']:>7.0f} {r.get('cpu_us', 0.0):>11.1f}"
            + (f"  ({r['workers']:.0f})" if r.get("workers", 0) > 5 else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated")
    parser.add_argument("--keep", help="load and export into this folder once, reuse it")
    parser.add_argument("--base", help="a worktree to run in turns against this one")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--buckets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(asyncio.run(phase(args.phase, Path(args.db), Path(args.buckets)))))
        return
    names = [n.strip() for n in args.phases.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        _prepare(folder, args.items)
        here = str(Path(__file__).resolve().parent.parent)
        trees: list[str | None] = [here] + ([args.base] if args.base else [])
        runs: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
        for turn in range(args.repeats):
            for tree in trees:
                for name in names:
                    result = _run_phase(name, folder, tree)
                    runs.setdefault((tree, name), []).append(result)
                    load_avg = os.getloadavg()[0]
                    print(
                        f"turn {turn + 1} {tree} {name}: {result['items'] / result['seconds']:,.0f}"
                        f" items/s, {result['cpu_us']:.1f} us CPU/item, load {load_avg:.1f}",
                        flush=True,
                    )
        for tree in trees:
            results = [_median(runs[tree, n]) for n in names]
            copies = [r for r in results if r["phase"] == "copy"]
            base_rate = copies[0]["items"] / copies[0]["seconds"] if copies else None
            print(f"\n{tree} (medians of {args.repeats}):")
            _print(results, base_rate)
        if args.base:
            print("\nthis tree / base (items/s, medians):")
            for n in names:
                mine, theirs = _median(runs[here, n]), _median(runs[args.base, n])
                ratio = theirs["seconds"] / mine["seconds"]
                cpu = f"{mine['cpu_us']:.1f} vs {theirs['cpu_us']:.1f}"
                print(f"  {n:<12} {ratio:.2f}x  (CPU {cpu} us/item)")


if __name__ == "__main__":
    main()
