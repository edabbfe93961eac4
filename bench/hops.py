"""What aiosqlite's public API would cost the store: one hop per statement against one per call.

Usage: python bench/hops.py [--count 2000] [--repeats 5] [--sync NORMAL|FULL]

The store runs each operation (and each group-commit batch) as one synchronous function on
aiosqlite's thread, through aiosqlite's private ``Connection._execute`` and ``_conn``
(storage/sqlite.py). aiosqlite's public API has no call for that: it runs one statement per
await (``execute``, ``execute_fetchall``), and a cursor's rows come back 64 per await. Two
cases, on a WAL file in a temporary folder, each run both ways in turns:

- ``write``: what a PutItem on a table with a stream runs with ``durability="full"`` (traced
  from the engine): BEGIN IMMEDIATE, read the old item, write the item, append the stream
  record, COMMIT; five statements, one hop or five.
- ``scan``: a whole-table read as :meth:`Store.read` does them (exports, counts): 2,000 rows of
  200 bytes, one hop or ``async for`` over a cursor.

Prints CPU time (process, both threads) and wall time per call: minimum and median of the
repeats. The default ``--sync NORMAL`` leaves fsync out, so the hops are what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import aiosqlite

BLOB = b"x" * 200
ROWS = 2000


def _write(raw: sqlite3.Connection, i: int) -> None:
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("SELECT v FROM t WHERE k = ?", (i,)).fetchall()
    raw.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i, BLOB))
    raw.execute("INSERT INTO r(v) VALUES (?)", (BLOB,))
    raw.execute("COMMIT")


async def _write_public(conn: aiosqlite.Connection, i: int) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    await conn.execute_fetchall("SELECT v FROM t WHERE k = ?", (i,))
    await conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i, BLOB))
    await conn.execute("INSERT INTO r(v) VALUES (?)", (BLOB,))
    await conn.execute("COMMIT")


def _scan(raw: sqlite3.Connection) -> list[bytes]:
    return [bytes(v) for (v,) in raw.execute("SELECT v FROM t")]


async def _scan_public(conn: aiosqlite.Connection) -> list[bytes]:
    rows = []
    async with conn.execute("SELECT v FROM t") as cursor:
        async for (v,) in cursor:
            rows.append(bytes(v))
    return rows


async def _per_call(calls: int, fn: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        await fn(i % ROWS)
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="writes per run (scans: 1/100)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sync", choices=("NORMAL", "FULL"), default="NORMAL")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    async with aiosqlite.connect(
        os.path.join(folder, "hops.sqlite3"), isolation_level=None
    ) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={args.sync}")
        await conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        await conn.execute("CREATE TABLE r (n INTEGER PRIMARY KEY, v BLOB)")
        await conn.executemany("INSERT INTO t VALUES (?, ?)", ((i, BLOB) for i in range(ROWS)))
        raw = conn._conn  # what storage/sqlite.py does

        cases: dict[str, tuple[int, Callable[[int], Awaitable[object]]]] = {
            "write, one hop (private _execute)": (
                args.count,
                lambda i: conn._execute(_write, raw, i),
            ),
            "write, a hop a statement (public)": (args.count, lambda i: _write_public(conn, i)),
            "scan, one hop (private _execute)": (
                args.count // 100,
                lambda _: conn._execute(_scan, raw),
            ),
            "scan, async for (public)": (args.count // 100, lambda _: _scan_public(conn)),
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (calls, fn) in cases.items():
                figures[name].append(await _per_call(calls, fn))
    print(f"synchronous={args.sync}, {args.repeats} runs each, us per call")
    print(f"{'case':36} {'cpu min':>9} {'cpu median':>11} {'wall min':>9} {'wall median':>12}")
    for name, runs in figures.items():
        cpu, wall = [c for c, _ in runs], [w for _, w in runs]
        print(
            f"{name:36} {min(cpu):9.1f} {statistics.median(cpu):11.1f} "
            f"{min(wall):9.1f} {statistics.median(wall):12.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
