"""A global orders table in two regions, a simulated outage between them, and convergence.

The same app runs in us-east-1 and eu-west-1: its handler, in each region, logs every change
to that region's replica of ``orders`` (its own region's writes and the ones replicated from
the other, as with a Lambda function deployed in both regions of an AWS global table).

1. ``orders`` is created in us-east-1 and already holds an order; UpdateTable ReplicaUpdates
   adds a replica in eu-west-1, which is filled from the existing items and becomes ACTIVE.
2. Each region takes an order; both regions see both.
3. Outage: the links between the regions are paused. Each region takes an order, and both
   change order o2 differently (a conflict): the regions now disagree.
4. The links resume: both regions converge to the same items. o2 keeps the later write (last
   writer wins, by a hidden per-item timestamp); o3, written in both regions at the same
   instant, keeps us-east-1's write (equal times: the greater region name wins).

Runs in memory on a manual clock (replication is immediate: no delay), and exits by itself:

    python examples/global_orders.py
"""

from __future__ import annotations

import asyncio
from typing import Any

import streamkit
from streamkit.testing import Harness, open_harness

US, EU = "us-east-1", "eu-west-1"
app = streamkit.App()
seen: dict[str, list[str]] = {US: [], EU: []}


@app.on_stream("orders", name="order_log", starting_position="TRIM_HORIZON")
async def order_log(event: dict[str, Any], context: Any) -> None:
    """Log each change of this region's replica (local and replicated writes alike)."""
    for record in event["Records"]:
        change = record["dynamodb"]
        order_id = change["Keys"]["order_id"]["S"]
        status = change.get("NewImage", {}).get("status", {}).get("S", "-")
        seen[record["awsRegion"]].append(f"{record['eventName']} {order_id} {status}")


async def show(h: Harness, title: str) -> None:
    print(title)
    for region in (US, EU):
        items = (await h.engines[region].table("orders").scan())["Items"]
        rows = sorted(f"{i['order_id']}={i['status']}" for i in items)
        print(f"  {region}: {' '.join(rows)}")


async def put(h: Harness, region: str, order_id: str, status: str) -> None:
    await (
        h.engines[region]
        .table("orders")
        .put_item(Item={"order_id": order_id, "status": status, "region": region})
    )


async def main() -> None:
    async with open_harness(app, regions=[US, EU], stream_shards=1) as h:
        us = h.engines[US]
        await us.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        await put(h, US, "o1", "placed")  # an item the table holds before it is global

        # 1. make the table global: a replica in eu-west-1, filled from the existing items
        await us.update_table(TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": EU}}])
        await h.drain()  # the back-fill, the links and both regions' handlers caught up
        table = (await h.engines[EU].describe_table(TableName="orders"))["Table"]
        replicas = ", ".join(f"{r['RegionName']} {r['ReplicaStatus']}" for r in table["Replicas"])
        print(f"global table {table['GlobalTableVersion']}: {replicas}")

        # 2. writes in both regions reach both
        h.clock.advance(1)
        await put(h, US, "o2", "placed")
        await h.drain()  # (a stable order for the handlers' logs below)
        await put(h, EU, "o3", "placed")
        await h.drain()
        await show(h, "after writes in both regions:")

        # 3. a simulated outage: both links paused, writes and a conflict on both sides
        h.replication.pause("orders", US, EU)
        h.replication.pause("orders", EU, US)
        h.clock.advance(1)
        await put(h, US, "o4", "placed")
        await put(h, EU, "o5", "placed")
        await put(h, US, "o2", "shipped")  # o2 changed in us-east-1 first...
        await put(h, US, "o3", "paid")  # ...o3 in both regions at the same instant
        await put(h, EU, "o3", "cancelled")
        h.clock.advance(0.5)
        await put(h, EU, "o2", "cancelled")  # ...and o2 in eu-west-1 half a second later
        await h.drain()  # paused links count as caught up
        await show(h, "during the outage (the regions disagree):")
        print("replication status during the outage:")
        for s in await h.replication.status():
            print(f"  {s.source} -> {s.target}: {s.records_behind} records behind, paused")

        # 4. the links come back: both regions converge
        h.replication.resume("orders", US, EU)
        h.replication.resume("orders", EU, US)
        await h.drain()
        await show(h, "after the outage (converged):")
        print("  o2: eu-west-1's write was the later one (last writer wins)")
        print("  o3: both written at the same instant; us-east-1 > eu-west-1 breaks the tie")
        print("replication status:")
        for s in await h.replication.status():
            print(
                f"  {s.source} -> {s.target}: {s.records_behind} records behind, "
                f"lag {s.lag_ms:.0f} ms, paused {s.paused}"
            )

        for region in (US, EU):
            print(f"{region} handler saw:")
            for line in seen[region]:
                print(f"  {line}")


if __name__ == "__main__":
    asyncio.run(main())
