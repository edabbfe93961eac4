"""A tiny region group and global-table set-up for the replication tests.

Until ``streamkit.open_regions`` and UpdateTable ``ReplicaUpdates`` land, a group is a dict of
in-memory engines and a table is made global by writing ``replicas`` into each region's
catalog (what the control plane does). ``replica_ready`` is a minimal stand-in for the control
plane's method of that name.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio

import streamkit
from streamkit.engine import Engine
from streamkit.errors import ValidationException
from streamkit.mappings.replication import Replicator
from streamkit.storage.tables import save_spec
from streamkit.testing import ManualClock

TABLE = "orders"


class DictGroup:
    """A RegionGroup over engines opened beforehand (no opening on demand)."""

    def __init__(self) -> None:
        self.by_region: dict[str, Engine] = {}

    @property
    def engines(self) -> Mapping[str, Engine]:
        return self.by_region

    async def engine(self, region: str) -> Engine:
        try:
            return self.by_region[region]
        except KeyError:
            raise ValidationException(f"the group does not serve region {region}") from None

    def __getitem__(self, region: str) -> Engine:
        return self.by_region[region]


@asynccontextmanager
async def open_group(regions: list[str], clock: ManualClock) -> AsyncIterator[DictGroup]:
    """Open an in-memory engine per region on one clock, in one group."""
    group = DictGroup()
    async with AsyncExitStack() as stack:
        for region in regions:
            engine = await stack.enter_async_context(
                streamkit.open_engine(None, region=region, clock=clock, max_attempts=1)
            )
            engine.group = group
            group.by_region[region] = engine
        yield group


async def set_replicas(
    group: DictGroup,
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
    group: DictGroup, table: str = TABLE, *, view: str = "NEW_AND_OLD_IMAGES", **extra: Any
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
