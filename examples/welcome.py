"""A users table whose new users get a welcome message.

Uses the ready-made streamkit_handlers.notify with a sender of our own (it prints instead of
mailing) and a message built from the user's item. Updates and deletes send nothing; each new
user is welcomed once. Runs in memory with a manual clock, and exits by itself:

    python examples/welcome.py
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamkit_handlers, uninstalled

from streamkit.testing import open_harness
from streamkit_handlers.notify import make_app


class PrintSender:
    """A sender (streamkit_handlers.notify.Sender) that prints each message, not mailing it."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, subject: str, body: str) -> None:
        self.sent += 1
        print(f"  mail: {subject} | {body}")


def welcome(user: Mapping[str, Any], table: str, event_id: str) -> tuple[str, str]:
    """Build the welcome message from the new user's item."""
    return f"to {user['email']}: Welcome, {user['name']}!", f"Your plan: {user.get('plan', 'free')}"


async def main() -> None:
    sender = PrintSender()
    app = make_app("users", sender, message=welcome, name="welcome")
    async with open_harness(app) as h:  # in memory; one shard, so a stable order
        await h.engine.create_table(
            TableName="users",
            KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        users = h.engine.table("users")
        print("signing up ann and bob")
        await users.put_item(Item={"user_id": "u1", "name": "Ann", "email": "ann@example.com"})
        await users.put_item(
            Item={"user_id": "u2", "name": "Bob", "email": "bob@example.com", "plan": "pro"}
        )
        await h.drain()  # every mapping has processed every record so far

        print("ann changes her plan, bob leaves, cy signs up")
        await users.update_item(
            Key={"user_id": "u1"},
            UpdateExpression="SET #p = :p",
            ExpressionAttributeNames={"#p": "plan"},
            ExpressionAttributeValues={":p": "pro"},
        )
        await users.delete_item(Key={"user_id": "u2"})
        await users.put_item(Item={"user_id": "u3", "name": "Cy", "email": "cy@example.com"})
        await h.drain()
        metrics = h.runtime.mappings["welcome"].metrics()
    print(f"welcome mails sent: {sender.sent}; records filtered out: {metrics.filtered}")


if __name__ == "__main__":
    asyncio.run(main())
