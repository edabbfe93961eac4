"""The Engine: DynamoDB's API over the SQLite store. Passive: it owns connections, never tasks."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import ClassVar

from streamkit.clock import Clock, SystemClock
from streamkit.engine.control import ControlMixin
from streamkit.engine.items import ItemsMixin
from streamkit.engine.query import QueryMixin
from streamkit.engine.resource import Table
from streamkit.storage import tables as sql
from streamkit.storage.sqlite import Durability, open_store

__all__ = ["Engine", "open_engine"]


class Engine(QueryMixin, ItemsMixin, ControlMixin):
    """DynamoDB's data plane and control plane, with boto3's method names and dict shapes.

    Every method takes the request's members as keyword arguments (``TableName=...``,
    ``Item={"pk": {"S": "a"}}``) and returns the response dict, as ``boto3.client("dynamodb")``
    does, without ``ResponseMetadata``. Binary values are ``bytes``. Errors are the
    :mod:`streamkit.errors` classes named after DynamoDB's error codes.

    Each group of operations is a mixin in its own module (``control``, ``items``, ...);
    :attr:`OPERATIONS` maps every DynamoDB operation name to its method.
    """

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        **ControlMixin.OPERATIONS,
        **ItemsMixin.OPERATIONS,
        **QueryMixin.OPERATIONS,
    }

    def table(self, name: str) -> Table:
        """Return a boto3-resource-style Table that takes and returns native Python values."""
        return Table(self, name)


@asynccontextmanager
async def open_engine(
    path: str | os.PathLike[str] | None = None,
    *,
    region: str = "us-east-1",
    account: str = "000000000000",
    clock: Clock | None = None,
    durability: Durability = "normal",
) -> AsyncIterator[Engine]:
    """Open an engine on a SQLite file (``None`` or ``":memory:"``: in memory).

    Args:
        path: the database file, created with its folder if missing.
        region: the AWS region this engine answers for (ARNs, stream records).
        account: the account id in ARNs.
        clock: the time source for every time-dependent rule; the system clock by default.
        durability: ``"normal"`` (default) or ``"full"``; see
            :func:`streamkit.storage.sqlite.open_store`.
    """
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    async with open_store(path, durability=durability, setup=sql.migrate) as store:
        specs = await store.read(sql.load_specs)
        yield Engine(store, specs, region=region, account=account, clock=clock or SystemClock())
