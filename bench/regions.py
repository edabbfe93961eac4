"""Regions in ``streamkit serve``: what opening a region costs, and what finding one costs.

The server opens a region on its first request. Before issue #13 each region opened its own
engine and runtime; now the regions are one group (``streamkit.streams.Regions``) with one
runtime over them. This measures, in-process with ``open_server(data_dir=None, port=0)``:

- open: milliseconds to open one more in-memory region (``await server.regions.engine(r)``,
  the call the dispatcher makes), for 16 regions, with an app of one mapping;
- lookup: microseconds of the hot path, ``server.regions.engine(r)`` for an open region (every
  request makes it); the best of 9 rounds of 20,000 calls in each run (as timeit does).

Each run is a fresh interpreter in the tree measured (``PYTHONPATH``); with ``--tree``
(repeatable) the trees take turns run by run, so a slow spell on this shared machine falls on
all of them; medians are printed, with each tree's ratio to the first.

    python bench/regions.py [--runs 7] [--tree NAME PATH ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, time, anyio, streamkit
from streamkit.server import open_server

app = streamkit.App()

@app.on_stream("orders", name="noop")
async def noop(event, context):
    pass

async def main():
    opens, lookups = [], []
    async with open_server(port=0, data_dir=None, app=app) as server:
        for n in range(16):
            t = time.perf_counter()
            await server.regions.engine(f"bench-{n}")
            opens.append((time.perf_counter() - t) * 1e3)
        for _ in range(9):
            t = time.perf_counter()
            for _ in range(20_000):
                await server.regions.engine("bench-7")
            lookups.append((time.perf_counter() - t) / 20_000 * 1e6)
    print(json.dumps({"open_ms": sorted(opens)[len(opens) // 2],
                      "lookup_us": min(lookups)}))

anyio.run(main)
"""


def run(tree: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=tree, check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tree", nargs=2, action="append", metavar=("NAME", "PATH"))
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = args.tree or [["this", here]]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in trees}
    for _ in range(args.runs):
        for name, path in trees:
            results[name].append(run(path))
    first: dict[str, float] = {}
    for name, _ in trees:
        medians = {
            key: statistics.median(r[key] for r in results[name])
            for key in ("open_ms", "lookup_us")
        }
        first = first or medians
        ratios = ", ".join(f"{k} x{medians[k] / first[k]:.2f}" for k in medians)
        print(
            f"{name}: open {medians['open_ms']:.2f} ms/region, "
            f"lookup {medians['lookup_us']:.2f} us ({ratios})"
        )


if __name__ == "__main__":
    main()
