"""``open_regions``: several regions' engines opened together, as one group.

A :class:`Regions` group is what :class:`streamkit.engine.regions.RegionGroup` describes: the
engines of several regions of one data directory (``<dir>/<region>.sqlite3``, the files
``streamkit serve`` uses) or of several in-memory databases, each engine with
``engine.group`` set to the group, all on one clock. ``streamkit serve`` uses the same class,
opening a region on its first request.

Each engine is entered and exited inside a task of its own (in the group's task group), so
whatever the engine holds (connections, cancel scopes) is released by the task that acquired
it, whichever task asked for the region first.
"""

from __future__ import annotations

import os
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from streamkit.clock import Clock, Signal, SystemClock
from streamkit.engine import Engine
from streamkit.errors import ClosedError, LimitExceededException, ValidationException
from streamkit.streams.opening import open_engine

__all__ = ["MAX_REGIONS", "EngineOpener", "Regions", "open_region_group", "open_regions"]

#: how many regions one group (one ``streamkit serve``) keeps open at once
MAX_REGIONS = 64

_REGION = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")

#: ``opener(region)``: the async context manager of that region's engine
EngineOpener = Callable[[str], AbstractAsyncContextManager[Engine]]
#: called with each engine the group opens, before anyone else can use it
OpenListener = Callable[[Engine], Awaitable[None]]

CLOSED = "the region group is closed: its open_regions block has exited"


def region_path(data_dir: str | os.PathLike[str], region: str) -> Path:
    """Return the database file of ``region`` in ``data_dir`` (what ``streamkit serve`` uses)."""
    return Path(data_dir) / f"{region}.sqlite3"


class Regions(Mapping[str, Engine]):
    """The open engines of a group of regions, by region (a read-only mapping).

    ``group["eu-west-1"]`` is that region's engine (KeyError if it is not open), iteration
    gives the open regions in opening order, and :meth:`engine` opens a region on demand when
    the group allows it. Made by :func:`open_regions` (or :func:`open_region_group`); use it
    only inside that block.

    Attributes:
        clock: the one clock every region's engine keeps time by.
        allowed: the regions the group may open, or ``None`` for any (``streamkit serve``).
        max_regions: how many regions may be open at once.
        opened: fired after each region opens (a worker watching the group waits on it).
    """

    def __init__(
        self,
        task_group: TaskGroup,
        opener: EngineOpener,
        *,
        clock: Clock,
        allowed: Iterable[str] | None = None,
        max_regions: int = MAX_REGIONS,
    ) -> None:
        self._task_group = task_group
        self._opener = opener
        self.clock = clock
        self.allowed = None if allowed is None else tuple(dict.fromkeys(allowed))
        self.max_regions = max_regions
        self._engines: dict[str, Engine] = {}
        self._listeners: list[OpenListener] = []
        self._lock = anyio.Lock()
        self._closed = False
        self._releases: list[anyio.Event] = []  # one per region's task, set by close()
        self.opened = Signal()

    # -- the mapping of open engines ------------------------------------------------------

    def __getitem__(self, region: str) -> Engine:
        self._check_open()
        return self._engines[region]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._engines))

    def __len__(self) -> int:
        return len(self._engines)

    def __repr__(self) -> str:
        return f"Regions({list(self._engines)!r})"

    @property
    def engines(self) -> Mapping[str, Engine]:
        """Return the engines open now, by region (a live read-only view)."""
        return MappingProxyType(self._engines)

    @property
    def open_regions(self) -> list[str]:
        """Return the regions whose engines are open, in opening order."""
        return list(self._engines)

    @property
    def closed(self) -> bool:
        """Whether the group's block has exited (its engines are closed)."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(CLOSED)

    # -- opening --------------------------------------------------------------------------

    async def engine(self, region: str) -> Engine:
        """Return the engine of ``region``, opening it on first use if the group allows it.

        Raises:
            ValidationException: ``region`` is not a region name, or not one this group was
                opened with.
            LimitExceededException: ``max_regions`` engines are already open.
            ClosedError: the group's block has exited.
        """
        found = self._engines.get(region)
        if found is not None and not self._closed:  # the hot path: every request
            return found
        self._check_open()
        if not _REGION.match(region):
            raise ValidationException(f"Invalid region name: {region!r}")
        if self.allowed is not None and region not in self.allowed:
            raise ValidationException(
                f"Region {region} is not one of the regions this group was opened with: "
                + ", ".join(self.allowed)
            )
        async with self._lock:
            self._check_open()
            found = self._engines.get(region)
            if found is not None:
                return found
            if len(self._engines) >= self.max_regions:
                raise LimitExceededException(
                    f"streamkit serves at most {self.max_regions} regions at once"
                )
            release = anyio.Event()  # set: this region's task closes its engine
            done = anyio.Event()  # set by that task once its engine is closed
            self._releases.append(release)
            engine: Engine = await self._task_group.start(self._hold, region, release, done)
            try:
                # listeners (the runtime) start the region's workers before anyone else uses
                # it; one added meanwhile is called too (the list is read by index)
                index = 0
                while index < len(self._listeners):
                    await self._listeners[index](engine)
                    index += 1
            except BaseException:
                release.set()  # not handed out: close it, so the next use can open it again
                with anyio.CancelScope(shield=True):
                    await done.wait()
                raise
            self._engines[region] = engine
        self.opened.fire()
        return engine

    def subscribe(self, listener: OpenListener) -> Callable[[], None]:
        """Call ``await listener(engine)`` for each region opened from now on, before the
        engine is handed to anyone; return a function that stops it. The regions open
        already are in :attr:`engines` (read them after subscribing)."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        """Let every region's task close its engine and finish."""
        self._closed = True
        for release in self._releases:
            release.set()

    async def _hold(
        self,
        region: str,
        release: anyio.Event,
        done: anyio.Event,
        *,
        task_status: TaskStatus[Engine],
    ) -> None:
        try:
            async with self._opener(region) as engine:
                engine.join_group(self)
                task_status.started(engine)
                await release.wait()
        finally:
            done.set()


@asynccontextmanager
async def open_region_group(
    opener: EngineOpener,
    *,
    clock: Clock,
    regions: Iterable[str] = (),
    on_demand: bool = False,
    max_regions: int = MAX_REGIONS,
) -> AsyncIterator[Regions]:
    """A :class:`Regions` group whose engines ``opener(region)`` opens; closed on exit.

    ``regions`` are opened at once, in order. With ``on_demand`` any other region opens on
    first use (``streamkit serve``); without it the group serves only ``regions``.

    An exception from the block (a failed start, e.g. DatabaseInUseError from a region's
    file, or the caller's own) is re-raised as itself, not wrapped in an ExceptionGroup.
    """
    wanted = list(dict.fromkeys(regions))
    error: BaseException | None = None
    async with anyio.create_task_group() as task_group:
        group = Regions(
            task_group,
            opener,
            clock=clock,
            allowed=None if on_demand else wanted,
            max_regions=max_regions,
        )
        try:
            for region in wanted:
                await group.engine(region)
            yield group
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the task group
            error = exc
        finally:
            group.close()
    if error is not None:
        raise error


@asynccontextmanager
async def open_regions(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    regions: Iterable[str],
    clock: Clock | None = None,
    **engine_options: Any,
) -> AsyncIterator[Regions]:
    """Open an engine per region, as one group; close them all when the block exits.

    ```python
    async with streamkit.open_regions(None, regions=["us-east-1", "eu-west-1"]) as group:
        east, west = group["us-east-1"], group["eu-west-1"]
    ```

    Args:
        data_dir: the folder of the regions' databases, ``<data_dir>/<region>.sqlite3`` (the
            files ``streamkit serve --data-dir`` uses); ``None``: each region in memory.
        regions: the regions to open (at least one); the group serves only these
            (:meth:`Regions.engine` refuses others with ValidationException).
        clock: the one clock of every region (the system clock by default).
        engine_options: the other :func:`streamkit.open_engine` options, for every region
            (``region`` is each one's own; ``path`` comes from ``data_dir``).

    Raises:
        ValidationException: no regions, or a region name that is not one.
        DatabaseInUseError: a region's file is open for writing elsewhere.
    """
    wanted = list(dict.fromkeys(regions))
    if not wanted:
        raise ValidationException("open_regions needs at least one region")
    for name in ("region", "path"):
        if name in engine_options:
            raise TypeError(f"open_regions() takes no {name!r}: each region has its own")
    shared = clock or SystemClock()

    def opener(region: str) -> AbstractAsyncContextManager[Engine]:
        path = None if data_dir is None else region_path(data_dir, region)
        return open_engine(path, region=region, clock=shared, **engine_options)

    async with open_region_group(opener, clock=shared, regions=wanted) as group:
        yield group
