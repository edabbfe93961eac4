"""Streams and TTL benchmarks (no assertions; prints figures).

Usage: python bench/streams.py [--seconds 2] [--repeats 3] [--records 100000]
       [--concurrency 1 64] [--only throughput latency get_records ttl]

1. put_item throughput with a NEW_AND_OLD_IMAGES stream vs without (same run, interleaved
   repeats; median ops/s and the ratio; goal >= 0.85 at 16 in flight), at each
   ``--concurrency`` (1 and 64 unless given); also the process's CPU time per put and its
   ratio, which a busy machine moves less than the rate.
2. Change-to-consumer latency: a writer paced at 1,000 puts/s; one in-process consumer per
   shard waits with ``wait_for_records`` and reads with ``get_records``; latency = time the
   record is in the consumer's hands minus the time just before ``put_item`` returned
   (i.e. the commit). p50 / p99 (goal p50 <= 1 ms, p99 <= 5 ms).
3. GetRecords from TRIM_HORIZON with Limit 1000 over ``--records`` records: records/s.
4. TTL sweeper: expired items deleted per second by ``sweep_once`` alone, then the foreground
   put rate while the runtime's sweeper deletes in the background (vs without).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

import anyio
from _load import run_for  # bench/ is on sys.path when a script runs

import streamkit
from streamkit.runtime import open_runtime
from streamkit.ttl import sweep_once

PAYLOAD = "x" * 150


def schema(name: str, view: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if view:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    return params


def item(i: int, **extra: Any) -> dict[str, Any]:
    return {"pk": {"S": f"key-{i}"}, "payload": {"S": PAYLOAD}, "n": {"N": str(i)}, **extra}


async def bench_throughput(
    folder: str, seconds: float, repeats: int, concurrencies: list[int]
) -> None:
    print("== put_item throughput: NEW_AND_OLD_IMAGES stream vs no stream ==")
    async with streamkit.open_engine(os.path.join(folder, "tp.sqlite3")) as engine:
        await engine.create_table(**schema("plain", None))
        await engine.create_table(**schema("streamed", "NEW_AND_OLD_IMAGES"))
        for concurrency in concurrencies:
            rates: dict[str, list[float]] = {"plain": [], "streamed": []}
            costs: dict[str, list[float]] = {"plain": [], "streamed": []}
            for _ in range(repeats):
                for table in ("plain", "streamed"):
                    counter = iter(range(10**9))

                    async def op(i: int, table: str = table, c: Any = counter) -> object:
                        return await engine.put_item(
                            TableName=table, Item=item(i, v={"N": str(next(c))})
                        )

                    cpu, wall = time.process_time(), time.perf_counter()
                    rate = await run_for(seconds, concurrency, op)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    rates[table].append(rate)
                    costs[table].append(cpu / (rate * wall) * 1e6)
            plain = statistics.median(rates["plain"])
            streamed = statistics.median(rates["streamed"])
            plain_us = statistics.median(costs["plain"])
            streamed_us = statistics.median(costs["streamed"])
            # the CPU time per put (all threads) moves less than the rate on a busy machine
            print(
                f"concurrency {concurrency:>2}: no stream {plain:,.0f} ops/s "
                f"[{plain_us:.1f} us CPU a put], stream {streamed:,.0f} ops/s "
                f"[{streamed_us:.1f} us], ratio {streamed / plain:.2f} "
                f"(by CPU a put {plain_us / streamed_us:.2f})"
            )


async def bench_latency(folder: str, seconds: float) -> None:
    print("== change-to-consumer latency at 1,000 writes/s ==")
    async with streamkit.open_engine(os.path.join(folder, "lat.sqlite3")) as engine:
        await engine.create_table(**schema("orders", "NEW_AND_OLD_IMAGES"))
        arn = (await engine.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]
        desc = await engine.streams.describe_stream(StreamArn=arn)
        sent: dict[str, float] = {}
        latencies: list[float] = []
        client: Any = engine.streams

        async def consume(shard_id: str) -> None:
            it = (
                await client.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST"
                )
            )["ShardIterator"]
            while True:
                await client.wait_for_records(it)
                page = await client.get_records(ShardIterator=it)
                now = time.perf_counter()
                for record in page["Records"]:
                    key = record["dynamodb"]["Keys"]["pk"]["S"]
                    if key in sent:
                        latencies.append(now - sent.pop(key))
                it = page["NextShardIterator"]

        async with anyio.create_task_group() as tg:
            for shard in desc["StreamDescription"]["Shards"]:
                tg.start_soon(consume, shard["ShardId"])
            await anyio.sleep(0.05)
            total = int(seconds * 1000)
            start = time.perf_counter()
            for i in range(total):
                target = start + i / 1000
                delay = target - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                key = f"key-{i}"
                # the commit is acknowledged when put_item returns; take the time before the
                # call to include the whole write path (a slight overestimate)
                sent[key] = time.perf_counter()
                await engine.put_item(TableName="orders", Item=item(i) | {"pk": {"S": key}})
            await anyio.sleep(0.2)
            tg.cancel_scope.cancel()
        latencies.sort()
        ms = [x * 1000 for x in latencies]
        p50, p99 = ms[len(ms) // 2], ms[int(len(ms) * 0.99)]
        print(f"{len(ms)} records: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms")


async def bench_get_records(folder: str, count: int) -> None:
    print(f"== GetRecords of {count:,} records, Limit 1000 ==")
    async with streamkit.open_engine(os.path.join(folder, "gr.sqlite3"), stream_shards=1) as engine:
        await engine.create_table(**schema("orders", "NEW_AND_OLD_IMAGES"))
        arn = (await engine.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]

        async def writer(start: int) -> None:
            for i in range(start, count, 64):
                await engine.put_item(TableName="orders", Item=item(i))

        async with anyio.create_task_group() as tg:
            for w in range(64):
                tg.start_soon(writer, w)
        shard = (await engine.streams.describe_stream(StreamArn=arn))["StreamDescription"][
            "Shards"
        ][0]["ShardId"]
        it = (
            await engine.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        got = 0
        start = time.perf_counter()
        while got < count:
            page = await engine.streams.get_records(ShardIterator=it, Limit=1000)
            got += len(page["Records"])
            it = page["NextShardIterator"]
        elapsed = time.perf_counter() - start
        print(f"{got:,} records in {elapsed:.2f} s: {got / elapsed:,.0f} records/s")


class _Clock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


async def bench_ttl(folder: str, seconds: float) -> None:
    print("== TTL sweeper ==")
    n = 20_000
    async with streamkit.open_engine(os.path.join(folder, "ttl.sqlite3")) as engine:
        await engine.create_table(**schema("orders", "NEW_AND_OLD_IMAGES"))
        await engine.update_time_to_live(
            TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
        past = {"N": str(int(time.time()) - 60)}

        async def fill(start: int, stop: int) -> None:
            async def writer(w: int) -> None:
                for i in range(start + w, stop, 64):
                    await engine.put_item(TableName="orders", Item=item(i, exp=past))

            async with anyio.create_task_group() as tg:
                for w in range(64):
                    tg.start_soon(writer, w)

        await fill(0, n)
        start = time.perf_counter()
        deleted = await sweep_once(engine, clock=_Clock(), batch_size=500, max_rate=1e9)
        elapsed = time.perf_counter() - start
        print(
            f"unthrottled sweep_once: {deleted:,} deletes in {elapsed:.2f} s: "
            f"{deleted / elapsed:,.0f} deletes/s"
        )

        await engine.create_table(**schema("fore", None))

        async def put(i: int) -> object:
            return await engine.put_item(TableName="fore", Item=item(i))

        alone = await run_for(seconds, 64, put)
        await fill(n, 3 * n)
        before = 2 * n
        async with open_runtime(engine, ttl_interval=0.1, ttl_batch_size=100, ttl_max_rate=5000):
            t0 = time.perf_counter()
            during = await run_for(seconds, 64, put)
            t1 = time.perf_counter()
        count = (await engine.describe_table(TableName="orders"))["Table"]["ItemCount"]
        print(
            f"runtime sweeper (max 5,000/s): {before - count:,} deletes in {t1 - t0:.2f} s "
            f"({(before - count) / (t1 - t0):,.0f}/s); foreground puts at concurrency 64: "
            f"{alone:,.0f} ops/s alone, {during:,.0f} ops/s during the sweep "
            f"(ratio {during / alone:.2f})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parts = ("throughput", "latency", "get_records", "ttl")
    parser.add_argument("--only", nargs="+", choices=parts, default=list(parts))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if "throughput" in args.only:
            await bench_throughput(folder, args.seconds, args.repeats, args.concurrency)
        if "latency" in args.only:
            await bench_latency(folder, max(args.seconds, 3.0))
        if "get_records" in args.only:
            await bench_get_records(folder, args.records)
        if "ttl" in args.only:
            await bench_ttl(folder, args.seconds)


if __name__ == "__main__":
    asyncio.run(main())
