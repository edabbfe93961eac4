"""In-process engine throughput against a raw aiosqlite baseline measured in the same run.

Usage: python bench/engine.py [--seconds 2] [--repeats 3] [--durability normal|full]

Prints ops/s (median of the repeats) for put_item, get_item and update_item (ADD counter) on
~200-byte items at concurrency 1 and 64, on a SQLite file in a temporary folder, and the
baseline: raw aiosqlite doing one upsert per transaction (execute + commit) at concurrency 1.
Also BatchWriteItem in items/s (25 puts per call) and TransactWriteItems of 10 puts per second,
both at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile

import aiosqlite
from _load import KEYS, run_for  # bench/ is on sys.path when a script runs

import streamkit

PAYLOAD = "x" * 150  # with key and attribute names the item is ~200 bytes


async def raw_baseline(folder: str, seconds: float, durability: str) -> float:
    path = os.path.join(folder, "raw.sqlite3")
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        await db.execute("CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
        await db.commit()
        blob = os.urandom(200)

        async def op(i: int) -> None:
            await db.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (str(i).encode(), blob))
            await db.commit()

        return await run_for(seconds, 1, op)


async def engine_rates(folder: str, seconds: float, durability: str) -> dict[str, float]:
    path = os.path.join(folder, "engine.sqlite3")
    rates: dict[str, float] = {}
    async with streamkit.open_engine(path, durability=durability) as db:  # type: ignore[arg-type]
        await db.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        async def put(i: int) -> object:
            return await db.put_item(
                TableName="bench",
                Item={"pk": {"S": f"k{i}"}, "payload": {"S": PAYLOAD}, "n": {"N": str(i)}},
            )

        async def get(i: int) -> object:
            return await db.get_item(TableName="bench", Key={"pk": {"S": f"k{i}"}})

        async def update(i: int) -> object:
            return await db.update_item(
                TableName="bench",
                Key={"pk": {"S": f"k{i}"}},
                UpdateExpression="ADD hits :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

        for concurrency in (1, 64):
            rates[f"put_item c={concurrency}"] = await run_for(seconds, concurrency, put)
            rates[f"get_item c={concurrency}"] = await run_for(seconds, concurrency, get)
            rates[f"update_item c={concurrency}"] = await run_for(seconds, concurrency, update)

        def item(n: int) -> dict[str, object]:
            return {"pk": {"S": f"k{n % KEYS}"}, "payload": {"S": PAYLOAD}, "n": {"N": str(n)}}

        async def batch_write(i: int) -> object:
            requests = [{"PutRequest": {"Item": item(i * 25 + j)}} for j in range(25)]
            return await db.batch_write_item(RequestItems={"bench": requests})

        async def transact(i: int) -> object:
            puts = [{"Put": {"TableName": "bench", "Item": item(i * 10 + j)}} for j in range(10)]
            return await db.transact_write_items(TransactItems=puts)

        batches = await run_for(seconds, 1, batch_write)
        rates["batch_write_item items/s (25/call) c=1"] = batches * 25
        rates["transact_write_items (10 puts) c=1"] = await run_for(seconds, 1, transact)
    return rates


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--durability", choices=("normal", "full"), default="normal")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            base = await raw_baseline(folder, args.seconds, args.durability)
            results.setdefault("raw aiosqlite upsert+commit c=1", []).append(base)
            for name, rate in (await engine_rates(folder, args.seconds, args.durability)).items():
                results.setdefault(name, []).append(rate)
    baseline = statistics.median(results["raw aiosqlite upsert+commit c=1"])
    print(f"durability={args.durability} seconds={args.seconds} repeats={args.repeats}")
    print(f"{'case':40} {'ops/s (median)':>15} {'vs raw':>8}")
    for name, rates in results.items():
        median = statistics.median(rates)
        print(f"{name:40} {median:15,.0f} {median / baseline:8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
