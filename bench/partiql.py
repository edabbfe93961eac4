"""CPU time per request of a keyed PartiQL SELECT against the GetItem and Query it stands for.

A SELECT whose WHERE names the whole key (``pk = ? AND sk = ?``) runs as a Query on the
engine; one naming the partition alone is a Query of the partition. Each pair is measured in
turns, in process, on a file database of 5,000 small items (as bench/cpu.py), and the ratio of
the minimum CPU time per call is printed (goal: a keyed SELECT within 1.3x of the GetItem or
Query). Parsing is memoised, so what the SELECT adds is binding the parameters, planning the
Query, rendering it and the engine's own (memoised) expression parse.

    python bench/partiql.py [--count 4000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _load import pk_sk_table  # bench/ is on sys.path when a script runs

import streamkit

TABLE = "bench_partiql"
SELECT_KEY = f'SELECT * FROM "{TABLE}" WHERE pk = ? AND sk = ?'
SELECT_PARTITION = f'SELECT * FROM "{TABLE}" WHERE pk = ?'


def _key(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"user#{i % 5000}"}, "sk": {"N": "0"}}


async def _fill(db: streamkit.Engine) -> None:
    await db.create_table(**pk_sk_table(TABLE))
    for i in range(5000):
        item = {**_key(i), "name": {"S": f"name {i}"}, "count": {"N": str(i)}}
        await db.put_item(TableName=TABLE, Item=item)


def _pairs(db: streamkit.Engine) -> dict[str, Callable[[int], Awaitable[Any]]]:
    def select_key(i: int) -> Awaitable[Any]:
        key = _key(i)
        return db.execute_statement(Statement=SELECT_KEY, Parameters=[key["pk"], key["sk"]])

    def select_partition(i: int) -> Awaitable[Any]:
        return db.execute_statement(Statement=SELECT_PARTITION, Parameters=[_key(i)["pk"]])

    def query(i: int) -> Awaitable[Any]:
        return db.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _key(i)["pk"]},
        )

    def query_key(i: int) -> Awaitable[Any]:
        key = _key(i)
        return db.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk = :s",
            ExpressionAttributeValues={":p": key["pk"], ":s": key["sk"]},
        )

    return {
        "get_item": lambda i: db.get_item(TableName=TABLE, Key=_key(i)),
        "query_key": query_key,
        "select_key": select_key,
        "query": query,
        "select_partition": select_partition,
    }


async def _measure(call: Callable[[int], Awaitable[Any]], count: int) -> float:
    started = time.process_time()
    for i in range(count):
        await call(i)
    return (time.process_time() - started) / count * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000, help="calls per run")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with streamkit.open_engine(os.path.join(folder, "partiql.sqlite3")) as db:
            await _fill(db)
            calls = _pairs(db)
            best = dict.fromkeys(calls, float("inf"))
            for _ in range(args.repeats):
                for name, call in calls.items():  # in turns: drift hits every one alike
                    best[name] = min(best[name], await _measure(call, args.count))
            print(f"{'operation':<18}{'min us/op':>12}")
            for name, value in best.items():
                print(f"{name:<18}{value:>12.1f}")
            print(f"select_key / get_item:        {best['select_key'] / best['get_item']:.2f}x")
            print(f"select_key / query_key:       {best['select_key'] / best['query_key']:.2f}x")
            print(f"select_partition / query:     {best['select_partition'] / best['query']:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
