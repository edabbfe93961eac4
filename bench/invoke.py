"""Cost of one handler call (call_handler) for a no-op async handler: the mapping hot path's
per-invocation overhead (time limit, exit checks, per-step timing of async handlers).

Usage: python bench/invoke.py [--calls 20000] [--repeats 5]; prints the median us per call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio

from streamkit.mappings.invoke import call_handler


async def noop(event: dict[str, Any], context: Any) -> None:
    await anyio.lowlevel.checkpoint()


async def main(calls: int, repeats: int) -> None:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            await call_handler(noop, {"Records": []}, None, time_limit=3.0)
        runs.append((time.perf_counter() - started) / calls * 1e6)
    print(f"call_handler, no-op async handler: {statistics.median(runs):.2f} us/call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main, args.calls, args.repeats)
