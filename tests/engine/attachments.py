"""Watching the databases attached to a store's writer connection (restores, imports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel

from streamkit.storage.sqlite import Store


@asynccontextmanager
async def most_attached(store: Store) -> AsyncIterator[list[int]]:
    """Look between write batches, all through the block, at how many databases the writer's
    connection has attached; yield a list whose one element is the most seen so far."""
    most = [0]

    async def watch() -> None:
        while True:
            names = await store.run_between_writes(
                lambda conn: conn.execute("PRAGMA database_list").fetchall()
            )
            most[0] = max(most[0], len(names) - 1)  # "main" is not attached
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as watching:
        watching.start_soon(watch)
        yield most
        watching.cancel_scope.cancel()
