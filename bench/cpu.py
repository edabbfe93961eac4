"""CPU time per engine operation, in process: the engine's share of what bench/http.py measures.

Throughput on the shared 2-core machine moves by 30% between runs; the process's CPU time per
operation moves much less, and its minimum over several runs is a fair estimate of the cost
(noise only ever adds). Same items, table and stream as bench/http.py (a file database, a
NEW_AND_OLD_IMAGES stream, 5,000 items that puts overwrite), ``--concurrency`` writers sharing
group commits. To compare two versions, run it in turns with ``PYTHONPATH`` pointing at each
work tree.

    python bench/cpu.py [--ops put update batch_write query get batch_get] [--repeats 7] [--pitr]

``--pitr`` turns point-in-time recovery on for the table first (its cost on writes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _load import pk_sk_table  # bench/ is on sys.path when a script runs

import streamkit

TABLE = "bench_cpu"


def _item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"user#{i % 5000}"},
        "sk": {"N": "0"},
        "name": {"S": f"name {i}"},
        "email": {"S": f"user{i}@example.com"},
        "count": {"N": str(i)},
        "tags": {"SS": ["a", "b", "c"]},
    }


def _key(i: int, keys: int = 1000) -> dict[str, Any]:
    return {"pk": {"S": f"user#{i % keys}"}, "sk": {"N": "0"}}


async def _fill(db: streamkit.Engine) -> None:
    await db.create_table(
        **pk_sk_table(TABLE),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for i in range(5000):
        await db.put_item(TableName=TABLE, Item=_item(i))
    for sk in range(100):
        item = {"pk": {"S": "query#100"}, "sk": {"N": str(sk)}, "payload": {"S": "x" * 100}}
        await db.put_item(TableName=TABLE, Item=item)


def _operations(db: streamkit.Engine) -> dict[str, tuple[Callable[[int], Awaitable[Any]], int]]:
    """Each operation, and how many of the ``--count`` calls it makes (batches and queries
    cost more, so they run a twentieth as many)."""
    fresh = itertools.count(5000)
    return {
        "put": (lambda i: db.put_item(TableName=TABLE, Item=_item(next(fresh))), 1),
        "update": (
            lambda i: db.update_item(
                TableName=TABLE,
                Key=_key(i),
                UpdateExpression="ADD #c :one",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
            1,
        ),
        "batch_write": (
            lambda i: db.batch_write_item(
                RequestItems={
                    TABLE: [{"PutRequest": {"Item": _item(next(fresh))}} for _ in range(25)]
                }
            ),
            20,
        ),
        "query": (
            lambda i: db.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "query#100"}},
            ),
            20,
        ),
        "get": (lambda i: db.get_item(TableName=TABLE, Key=_key(i)), 1),
        "batch_get": (  # 100 keys, one in six with no item
            lambda i: db.batch_get_item(
                RequestItems={TABLE: {"Keys": [_key(i * 100 + j, 6000) for j in range(100)]}}
            ),
            20,
        ),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ops",
        nargs="+",
        default=["put", "update", "batch_write", "query", "get", "batch_get"],
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--count", type=int, default=6000, help="calls per run (see _operations)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pitr", action="store_true", help="point-in-time recovery on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with streamkit.open_engine(os.path.join(folder, "cpu.sqlite3")) as db:
            await _fill(db)
            if args.pitr:
                spec = {"PointInTimeRecoveryEnabled": True}
                await db.update_continuous_backups(
                    TableName=TABLE, PointInTimeRecoverySpecification=spec
                )
            operations = _operations(db)
            print(f"{'operation':<12}{'min us/op':>12}{'median us/op':>15}")
            for name in args.ops:
                call, divisor = operations[name]
                count, samples = args.count // divisor, []
                for _ in range(args.repeats):

                    async def worker(first: int, n: int = count, fn: Any = call) -> None:
                        for i in range(first, n, args.concurrency):
                            await fn(i)

                    started = time.process_time()
                    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
                    samples.append((time.process_time() - started) / count * 1e6)
                print(f"{name:<12}{min(samples):>12.1f}{statistics.median(samples):>15.1f}")


if __name__ == "__main__":
    asyncio.run(main())
