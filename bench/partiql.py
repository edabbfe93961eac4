"""CPU time per request of keyed PartiQL SELECTs against the GetItem and Queries they stand for.

A SELECT whose WHERE names the whole key (``pk = ? AND sk = ?``) runs as a GetItem; one fixing
the partition (``pk = ?``, ``pk = ? AND sk >= ?``) as a Query. Each pair is measured in turns,
call by call (so the machine's drift weighs on both alike), in process, on a file database of
5,000 small items (as bench/cpu.py); the minimum CPU time per call over the runs and the ratio
are printed (goal: a keyed SELECT within 1.3x of the GetItem or Query). Parsing and planning
are memoised, so what a SELECT adds is checking the request, binding the parameters and
building the request of the operation it runs.

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
SELECT_RANGE = f'SELECT * FROM "{TABLE}" WHERE pk = ? AND sk >= ?'


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

    def select_key_range(i: int) -> Awaitable[Any]:
        key = _key(i)
        return db.execute_statement(Statement=SELECT_RANGE, Parameters=[key["pk"], key["sk"]])

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
            KeyConditionExpression="pk = :p AND sk >= :s",
            ExpressionAttributeValues={":p": key["pk"], ":s": key["sk"]},
        )

    return {
        "get_item": lambda i: db.get_item(TableName=TABLE, Key=_key(i)),
        "query_key": query_key,
        "select_key": select_key,
        "select_key_range": select_key_range,
        "query": query,
        "select_partition": select_partition,
    }


async def _measure_pair(
    first: Callable[[int], Awaitable[Any]], second: Callable[[int], Awaitable[Any]], count: int
) -> tuple[float, float]:
    """CPU microseconds per call of each, calls interleaved one by one so that the machine's
    drift (other processes, frequency) weighs on both alike."""
    clock = time.process_time
    spent = [0.0, 0.0]
    for i in range(count):
        started = clock()
        await first(i)
        middle = clock()
        await second(i)
        spent[0] += middle - started
        spent[1] += clock() - middle
    return spent[0] / count * 1e6, spent[1] / count * 1e6


PAIRS = (
    ("get_item", "select_key"),
    ("query_key", "select_key_range"),
    ("query", "select_partition"),
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=4000, help="calls per run")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with streamkit.open_engine(os.path.join(folder, "partiql.sqlite3")) as db:
            await _fill(db)
            calls = _pairs(db)
            print(f"{'baseline':<12}{'us/op':>8}   {'PartiQL':<18}{'us/op':>8}{'ratio':>8}")
            for base, select in PAIRS:
                runs = [
                    await _measure_pair(calls[base], calls[select], args.count)
                    for _ in range(args.repeats)
                ]
                low_base = min(r[0] for r in runs)
                low_select = min(r[1] for r in runs)
                median = sorted(r[1] / r[0] for r in runs)[len(runs) // 2]
                print(
                    f"{base:<12}{low_base:>8.1f}   {select:<18}{low_select:>8.1f}"
                    f"{low_select / low_base:>7.2f}x  (median of runs {median:.2f}x)"
                )


if __name__ == "__main__":
    asyncio.run(main())
