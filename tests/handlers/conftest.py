"""Shared helpers for the ready-made handlers' tests."""

from __future__ import annotations

from typing import Any

import streamkit
from streamkit.testing import Harness


def stream_table(key: str = "pk", view: str = "NEW_AND_OLD_IMAGES") -> dict[str, Any]:
    """CreateTable members: a string hash key and a stream."""
    return {
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view},
    }


async def settle(h: Harness, *, rounds: int = 30, step: float = 10.0) -> None:
    """Drain, advancing the clock between drains so every retry back-off comes due."""
    for _ in range(rounds):
        await h.drain()
        h.clock.advance(step)
    await h.drain()


async def expire(h: Harness, seconds: float) -> None:
    """Advance the clock by ``seconds``, wait for one TTL sweep, and drain the mappings."""
    swept = h.runtime.next_pass("ttl_sweeper")
    h.clock.advance(seconds)
    await swept.wait()
    await h.drain()


async def put(engine: streamkit.Engine, table: str, item: dict[str, Any]) -> None:
    await engine.table(table).put_item(Item=item)
