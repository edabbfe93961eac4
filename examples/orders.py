"""Orders with a materialised view, a poison record, bisect, and a failure destination.

streamkit_handlers.totals keeps per-customer totals of the orders table in ``customer_totals``.
One order arrives with a total of "ten" (a string): the handler raises on it. The mapping
bisects the failing batch until the bad record stands alone, retries it twice more, then writes
Lambda's failure record to a JSON Lines file and moves on; the good orders around it are
counted once (the handler ignores the records it sees again). We then read the poison record
back from the stream by its sequence number, as a consumer of the failure destination would,
fix the order, and the view catches up. A manual clock makes the retry back-offs instant. Exits
by itself:

    python examples/orders.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamkit_handlers, uninstalled

import streamkit
from streamkit.testing import Harness, open_harness
from streamkit_handlers.totals import create_totals_table, make_app


async def settle(h: Harness) -> None:
    """Drain, advancing the clock past every retry back-off, until nothing is left to do."""
    for _ in range(10):
        await h.drain()
        h.clock.advance(10)
    await h.drain()


async def show_totals(h: Harness) -> None:
    items = (await h.engine.table("customer_totals").scan())["Items"]
    for item in sorted(items, key=lambda i: str(i["customer_id"])):
        print(f"  {item['customer_id']}: total {item['total']} over {item['orders']} orders")


async def read_back(engine: streamkit.Engine, failure: dict[str, Any]) -> list[dict[str, Any]]:
    """Fetch the records a failure record points at, from the stream (it carries no data)."""
    info = failure["DDBStreamBatchInfo"]
    iterator = (
        await engine.streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )
    )["ShardIterator"]
    page = await engine.streams.get_records(ShardIterator=iterator, Limit=info["batchSize"])
    records: list[dict[str, Any]] = page["Records"]
    return records


async def main(folder: Path) -> None:
    failures = folder / "failures.jsonl"
    app = make_app(
        "orders",
        "customer_totals",
        batch_size=10,
        maximum_batching_window_in_seconds=1,  # gather the orders into one batch
        bisect_batch_on_function_error=True,
        maximum_retry_attempts=2,
        on_failure=failures,
    )
    async with open_harness(app) as h:  # in memory; one shard, so one batch
        await h.engine.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        await create_totals_table(h.engine, "customer_totals")
        orders = h.engine.table("orders")
        placed: list[tuple[str, str, Any]] = [
            ("o1", "ann", 30),
            ("o2", "bob", 12),
            ("o3", "ann", "ten"),  # the poison record
            ("o4", "bob", 8),
            ("o5", "ann", 5),
        ]
        for order_id, customer, total in placed:
            await orders.put_item(
                Item={"order_id": order_id, "customer_id": customer, "total": total}
            )
        print(f"placed {len(placed)} orders; o3 has total 'ten'")
        await settle(h)

        metrics = h.runtime.mappings["customer_totals"].metrics()
        print(
            f"mapping: {metrics.invocations} invocations, {metrics.errors} failed, "
            f"{metrics.retries} retries, {metrics.records} records applied, "
            f"{metrics.failures_sent} failure record sent"
        )
        print("customer_totals (o3 left out):")
        await show_totals(h)

        print(f"{failures.name}:")
        for line in failures.read_text().splitlines():
            failure = json.loads(line)
            info = failure["DDBStreamBatchInfo"]
            print(
                f"  {failure['requestContext']['condition']} after "
                f"{failure['requestContext']['approximateInvokeCount']} invocations: "
                f"{info['batchSize']} record, sequence {info['startSequenceNumber']}"
            )
            for record in await read_back(h.engine, failure):
                image = record["dynamodb"]["NewImage"]
                print(f"  read back: {record['eventName']} {json.dumps(image, sort_keys=True)}")

        await orders.update_item(
            Key={"order_id": "o3"},
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "total"},
            ExpressionAttributeValues={":t": 10},
        )
        await settle(h)
        print("fixed o3 (total 10); customer_totals:")
        await show_totals(h)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
