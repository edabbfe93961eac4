"""One engine per region, opened on first use and closed by the task that opened it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from streamkit.errors import LimitExceededException, ValidationException

__all__ = ["Regions"]

_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")

EngineOpener = Callable[[str], AbstractAsyncContextManager[Any]]


class Regions:
    """Keeps an isolated engine per region; each lives in a task of ``task_group``.

    Each engine is entered and exited inside its own task, so whatever the engine holds
    (connections, cancel scopes) is released by the task that acquired it.

    Args:
        task_group: the group the per-region tasks run in (owned by the server).
        opener: ``opener(region)`` returns the engine's async context manager.
        max_regions: how many regions may be open at once; a request for one more fails.
    """

    def __init__(
        self, task_group: TaskGroup, opener: EngineOpener, *, max_regions: int = 64
    ) -> None:
        self._task_group = task_group
        self._opener = opener
        self._max_regions = max_regions
        self._engines: dict[str, Any] = {}
        self._lock = anyio.Lock()
        self._closing = anyio.Event()

    @property
    def engines(self) -> Mapping[str, Any]:
        """The engines open now, by region (a :class:`~streamkit.engine.regions.RegionGroup`:
        each engine reaches the others, a global table's replicas, through this object)."""
        return self._engines

    @property
    def open_regions(self) -> list[str]:
        """Return the regions whose engines are open, in opening order."""
        return list(self._engines)

    async def engine(self, region: str) -> Any:
        """Return the engine of ``region``, opening it on first use.

        Raises:
            LimitExceededException: ``max_regions`` engines are already open.
            ValidationException: ``region`` is not a region name.
        """
        found = self._engines.get(region)
        if found is not None:
            return found
        if not _REGION.match(region):
            raise ValidationException(f"Invalid region name: {region}")
        async with self._lock:
            found = self._engines.get(region)
            if found is not None:
                return found
            if len(self._engines) >= self._max_regions:
                raise LimitExceededException(
                    f"streamkit serves at most {self._max_regions} regions at once"
                )
            found = await self._task_group.start(self._hold, region)
            self._engines[region] = found
            return found

    def close(self) -> None:
        """Let every region's task close its engine and finish."""
        self._closing.set()

    async def _hold(self, region: str, *, task_status: TaskStatus[Any]) -> None:
        async with self._opener(region) as engine:
            task_status.started(engine)
            await self._closing.wait()
