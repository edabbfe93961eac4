"""The remote stream source's throughput: one worker reading a `streamkit serve` over HTTP.

Usage: python bench/remote.py [--records 20000] [--shards 1 4] [--batch-size 100 1000]
                              [--repeats 3]

For each shard count: a `streamkit serve --memory --stream-shards N` subprocess, a table with
a NEW_AND_OLD_IMAGES stream and --records items written before the worker starts (150-byte
payloads, as bench/mappings.py). Then, per batch size and repeat, a fresh mapping (a new name,
so it starts at TRIM_HORIZON) with a no-op async handler drains the backlog through
`open_remote_source` + `open_remote_runtime` on the system clock: records/s from the runtime's
start to the handler holding the last record. Medians over the repeats. Needs
`pip install 'streamkit[aws]'` (aiobotocore) and boto3 for the writes.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# bench/http.py, first on sys.path when this script runs, would shadow the standard library's
# http package that boto3 and aiohttp import (as in bench/soak.py)
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import boto3  # noqa: E402

import streamkit  # noqa: E402
from streamkit.mappings.remote import open_remote_source  # noqa: E402
from streamkit.runtime import open_remote_runtime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
PAYLOAD = "x" * 150


def start_serve(shards: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "streamkit", "serve", "--memory", "--port", "0"),
            *("--stream-shards", str(shards), "--log-level", "warning"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.split(" on ", 1)[1].split()[0]


def fill(url: str, records: int) -> None:
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", **KEYS)
    client.create_table(
        TableName="bench",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )

    def chunk(start: int) -> None:
        mine = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", **KEYS)
        for first in range(start, min(start + 2500, records), 25):
            items = [
                {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "payload": {"S": PAYLOAD}}}}
                for i in range(first, min(first + 25, records))
            ]
            mine.batch_write_item(RequestItems={"bench": items})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(chunk, range(0, records, 2500)))


async def drain(url: str, records: int, batch_size: int, name: str) -> float:
    done = asyncio.Event()
    seen = [0]
    app = streamkit.App()

    @app.on_stream("bench", name=name, starting_position="TRIM_HORIZON", batch_size=batch_size)
    async def noop(event: dict[str, Any], context: Any) -> None:
        seen[0] += len(event["Records"])
        if seen[0] >= records:
            done.set()

    async with open_remote_source(endpoint_url=url, region="us-east-1") as source:
        started = time.perf_counter()
        async with open_remote_runtime(source, app):
            await asyncio.wait_for(done.wait(), 600)
            return records / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    runs = 0
    for shards in args.shards:
        process, url = start_serve(shards)
        try:
            fill(url, args.records)
            for batch_size in args.batch_size:
                rates = []
                for _ in range(args.repeats):
                    runs += 1
                    rates.append(await drain(url, args.records, batch_size, f"run{runs}"))
                print(
                    f"remote source, 1 worker, {shards} shard(s), batch_size {batch_size}: "
                    f"median {statistics.median(rates):,.0f} records/s "
                    f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})",
                    flush=True,
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()


if __name__ == "__main__":
    asyncio.run(main())
