"""The 30-second tour: a table in a SQLite file, items in, a conditional write refused."""

from __future__ import annotations

import asyncio
import sys

import streamkit


async def main(path: str) -> None:
    async with streamkit.open_engine(path) as db:
        if "orders" not in (await db.list_tables())["TableNames"]:
            await db.create_table(
                TableName="orders",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        orders = db.table("orders")
        await orders.put_item(Item={"pk": "o1", "total": 30, "status": "new"})
        await orders.update_item(
            Key={"pk": "o1"},
            UpdateExpression="SET #s = :paid ADD #t :tip",
            ExpressionAttributeNames={"#s": "status", "#t": "total"},
            ExpressionAttributeValues={":paid": "paid", ":tip": 5},
        )
        print(await orders.get_item(Key={"pk": "o1"}))
        try:
            await orders.put_item(Item={"pk": "o1"}, ConditionExpression="attribute_not_exists(pk)")
        except streamkit.errors.ConditionalCheckFailedException as exc:
            print("refused:", exc.code, exc.message)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ".streamkit/quickstart.sqlite3"))
