"""What the benchmark scripts share: the load loop (N workers calling one operation for S
seconds) and the table they mostly use."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

KEYS = 10_000  # workers cycle through this many item keys


def pk_sk_table(name: str) -> dict[str, Any]:
    """CreateTable parameters for an on-demand table keyed by ``pk`` (S) and ``sk`` (N)."""
    return {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


async def run_for(
    seconds: float, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> float:
    """Call ``op(key_number)`` from ``concurrency`` workers for ``seconds``; return calls/s."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(wid: int) -> None:
        nonlocal done
        i = wid
        while time.perf_counter() < deadline:
            await op(i % KEYS)
            i += concurrency
            done += 1

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for w in range(concurrency):
            tg.start_soon(worker, w)
    return done / (time.perf_counter() - start)
