"""What one test costs: a fresh table, 10 writes, and a stream handler drained.

Usage: python -P bench/pertest.py [--tests 30] [--writes 10]

(``-P``: bench/ must not be on ``sys.path``, or bench/http.py hides the standard library's
``http``, which boto3 needs.)

Each "test" starts from nothing and tears everything down, as a pytest test with the plugin's
fixtures does, in four ways, run in turns (round-robin, so noise spreads over all four):

- harness: ``async with open_harness(app)`` on a fresh event loop (``asyncio.run``, as
  pytest-asyncio gives each test its loop); the ``streamkit_harness`` fixture;
- sync harness: ``open_sync_harness(app)``, the loop in a thread; ``streamkit_sync_harness``;
- endpoint + boto3: ``open_sync_endpoint(app)`` on a free loopback port, a fresh
  ``boto3.client("dynamodb")`` found through ``AWS_ENDPOINT_URL_DYNAMODB``, then ``drain()``;
  the ``streamkit_endpoint`` fixture;
- moto: ``mock_aws()`` with the same boto3 calls; moto runs no handlers, so the test reads the
  stream itself (DescribeStream, GetShardIterator, GetRecords) and calls the handler.

Prints the median milliseconds a test (the first test of each kind, which pays the imports and
boto3's model loading, is left out) and each one's ratio to the harness. Needs boto3 and moto
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import structlog

try:
    import boto3
    from moto import mock_aws
except ModuleNotFoundError as missing:
    raise SystemExit(f"{missing}: pip install -e '.[bench]', run with python -P") from missing

import streamkit
from streamkit.server import open_sync_endpoint
from streamkit.testing import open_harness, open_sync_harness

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

seen: list[str] = []
app = streamkit.App()


@app.on_stream("orders", batch_size=100)
def count(event: dict[str, Any], context: object) -> None:
    seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])


def check(writes: int) -> None:
    if len(seen) != writes:
        raise AssertionError(f"the handler saw {len(seen)} records, not {writes}")
    seen.clear()


def harness_test(writes: int) -> None:
    async def body() -> None:
        async with open_harness(app) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            orders = h.engine.table("orders")
            for i in range(writes):
                await orders.put_item(Item={"pk": f"o{i}", "total": i})
            await h.drain()

    asyncio.run(body())
    check(writes)


def sync_harness_test(writes: int) -> None:
    with open_sync_harness(app) as h:
        h.engine.create_table(TableName="orders", **TABLE)
        orders = h.engine.table("orders")
        for i in range(writes):
            orders.put_item(Item={"pk": f"o{i}", "total": i})
        h.drain()
    check(writes)


def boto3_writes(client: Any, writes: int) -> None:
    client.create_table(TableName="orders", **TABLE)
    for i in range(writes):
        client.put_item(TableName="orders", Item={"pk": {"S": f"o{i}"}, "total": {"N": str(i)}})


def endpoint_test(writes: int) -> None:
    with open_sync_endpoint(app) as h:
        assert h.url is not None
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = h.url
        try:
            boto3_writes(boto3.client("dynamodb"), writes)
            h.drain()
        finally:
            del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    check(writes)


def moto_test(writes: int) -> None:
    with mock_aws():
        client = boto3.client("dynamodb")
        boto3_writes(client, writes)
        streams = boto3.client("dynamodbstreams")
        arn = client.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            count(streams.get_records(ShardIterator=iterator), None)
    check(writes)


KINDS: dict[str, Callable[[int], None]] = {
    "harness": harness_test,
    "sync harness": sync_harness_test,
    "endpoint + boto3": endpoint_test,
    "moto mock_aws": moto_test,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=30, help="tests of each kind")
    parser.add_argument("--writes", type=int, default=10)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.tests + 1):
        for kind, test in KINDS.items():
            started = time.perf_counter()
            test(args.writes)
            times[kind].append(time.perf_counter() - started)
    base = statistics.median(times["harness"][1:])
    print(f"{args.tests} tests of each kind, {args.writes} writes each; median ms a test")
    for kind, taken in times.items():
        median = statistics.median(taken[1:])
        print(f"  {kind:18} {median * 1000:8.1f} ms   x{median / base:5.1f}")


if __name__ == "__main__":
    main()
