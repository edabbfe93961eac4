"""Session state with TTL, and an archive of expired sessions.

Sessions carry an ``expires_at`` epoch time; TTL deletes them once it has passed, and the
ready-made streamkit_handlers.archive appends each expired session (its last state, as plain
JSON) to a JSON Lines file. A session that is touched gets a later ``expires_at`` and lives on.
The clock is a ManualClock, so an hour passes in an instant. Exits by itself:

    python examples/sessions.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamkit_handlers, uninstalled

from streamkit.testing import Harness, open_harness
from streamkit_handlers.archive import make_app

MINUTE = 60


async def pass_time(h: Harness, seconds: float) -> None:
    """Move the clock on, let the TTL sweeper run once, and let the archive catch up."""
    swept = h.runtime.next_pass("ttl_sweeper")
    h.clock.advance(seconds)
    await swept.wait()
    await h.drain()


async def active(h: Harness) -> list[str]:
    page = await h.engine.table("sessions").scan()
    return sorted(item["session_id"] for item in page["Items"])


def archived(path: Path) -> list[dict[str, Any]]:
    """The archive's entries: {"table", "keys", "item", "deleted_at", "eventID", ...}."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def archived_ids(path: Path) -> list[str]:
    return [entry["keys"]["session_id"] for entry in archived(path)]


async def main(folder: Path) -> None:
    archive = folder / "expired-sessions.jsonl"
    async with open_harness(make_app("sessions", archive)) as h:  # in memory, manual clock
        db = h.engine
        await db.create_table(
            TableName="sessions",
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        await db.update_time_to_live(
            TableName="sessions",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        sessions = db.table("sessions")
        now = int(h.clock.now())
        for sid, user, minutes in (("s-ann", "ann", 15), ("s-bob", "bob", 30), ("s-cy", "cy", 15)):
            await sessions.put_item(
                Item={
                    "session_id": sid,
                    "user": user,
                    "expires_at": now + minutes * MINUTE,
                    "cart": {"items": Decimal(2), "total": Decimal("19.90")},
                    "roles": {"shopper"},
                }
            )
        print(f"t+0:  sessions {await active(h)}")

        await pass_time(h, 10 * MINUTE)
        await sessions.update_item(  # cy is still shopping: her session lasts another hour
            Key={"session_id": "s-cy"},
            UpdateExpression="SET expires_at = :e",
            ExpressionAttributeValues={":e": int(h.clock.now()) + 60 * MINUTE},
        )
        print("t+10: cy touched her session")

        await pass_time(h, 10 * MINUTE)
        print(f"t+20: sessions {await active(h)}, archived {archived_ids(archive)}")

        await pass_time(h, 15 * MINUTE)
        print(f"t+35: sessions {await active(h)}, archived {archived_ids(archive)}")

    print(f"archive {archive.name}:")
    for entry in archived(archive):
        print(" ", json.dumps(entry["item"], sort_keys=True))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
