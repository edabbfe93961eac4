"""Region groups and global-table set-up for the replication and control-plane tests.

A group is ``streamkit.open_regions`` (held in a task of its own, so fixtures can yield it). The
data-path tests make a table global by writing ``replicas`` into each region's catalog (what
the control plane does), to test the data path apart from UpdateTable.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio

import streamkit
from streamkit.engine import Engine
from streamkit.mappings.replication import Replicator
from streamkit.storage.tables import save_spec
from streamkit.streams import Regions
from streamkit.testing import ManualClock

TABLE = "orders"


T = TypeVar("T")


@asynccontextmanager
async def held_in_a_task(manager: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    """Enter ``manager`` in an asyncio task of its own and exit it there.

    pytest-asyncio sets an async fixture up and tears it down in two different tasks, and a
    region group holds a task group, which one task must enter and exit: a fixture yields a
    group through this.
    """
    entered: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()

    async def hold() -> None:
        try:
            async with manager as value:
                entered.set_result(value)
                await release.wait()
        except BaseException as exc:
            if entered.done():
                raise
            entered.set_exception(exc)

    task = asyncio.create_task(hold())
    try:
        yield await entered
    finally:
        release.set()
        await task


@asynccontextmanager
async def open_group(
    regions: list[str], clock: ManualClock, data: Path | None = None
) -> AsyncIterator[Regions]:
    """``streamkit.open_regions`` (in memory, or ``<data>/<region>.sqlite3``) on one clock,
    held in a task of its own (:func:`held_in_a_task`), so fixtures can yield it."""
    regions_cm = streamkit.open_regions(data, regions=regions, clock=clock, max_attempts=1)
    async with held_in_a_task(regions_cm) as group:
        yield group


async def set_replicas(
    group: Regions,
    table: str,
    statuses: Mapping[str, str],
    *,
    regions: Iterable[str] | None = None,
) -> None:
    """Write ``replicas`` (region -> status) into the catalog of every region listed (or of
    ``regions``)."""
    replicas = tuple(sorted(statuses.items()))
    for region in statuses if regions is None else regions:
        engine = group[region]
        new = engine._tables[table].with_changes(replicas=replicas)
        await engine._store.write(functools.partial(save_spec, spec=new))
        engine._tables[table] = new
        engine._catalog_changed()


async def create_table(
    engine: Engine, table: str = TABLE, *, view: str = "NEW_AND_OLD_IMAGES", **extra: Any
) -> None:
    params: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view},
    }
    await engine.create_table(**{**params, **extra})


async def create_global(
    group: Regions, table: str = TABLE, *, view: str = "NEW_AND_OLD_IMAGES", **extra: Any
) -> None:
    """Create ``table`` in every region of the group and make it global (every replica
    ACTIVE)."""
    for engine in group.engines.values():
        await create_table(engine, table, view=view, **extra)
    await set_replicas(group, table, dict.fromkeys(group.engines, "ACTIVE"))


async def drain(replicator: Replicator) -> None:
    """Wait (in real time, bounded) until every link of ``replicator`` is caught up."""
    with anyio.fail_after(20):
        while True:
            changed = replicator.changed.waiter()
            if await replicator.caught_up():
                return
            await changed.wait()


async def items(engine: Engine, table: str = TABLE) -> dict[str, dict[str, Any]]:
    """Return a region's items by partition key (a Scan)."""
    out: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = await engine.scan(**params)
        for item in page["Items"]:
            out[item["pk"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return out
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
