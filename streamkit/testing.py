"""Helpers for users' tests: a manual clock, and a harness running an app on an engine.

```python
from streamkit.testing import ManualClock, open_harness

async def test_projection() -> None:
    async with open_harness(app) as h:           # in-memory engine + runtime, manual clock
        await h.engine.create_table(...)
        await h.engine.put_item(...)
        await h.drain()                          # every mapping has processed every record
        ...assert the handler's effect...
        h.clock.advance(30)                      # make retries / windows / TTL due
        await h.drain()
```

Enter the harness in the test body, not in an async fixture: pytest-asyncio runs a fixture's
setup and teardown in different tasks, and the harness owns a task group.

Synchronous tests use :func:`open_sync_harness`: the same harness, run on an event loop in a
thread, with blocking methods (``h.engine.put_item(...)``, ``h.drain()``, ``h.advance(30)``).
The pytest plugin (:mod:`streamkit.pytest_plugin`) wraps both as fixtures.

``open_harness(app, regions=["us-east-1", "eu-west-1"])`` runs the app in every region of a
group (:func:`streamkit.open_regions`): ``h.engine`` is the first region's engine,
``h.engines[region]`` any region's, and ``drain()`` waits for every region's mappings and every
``h.runtime.links`` entry.

``drain()`` also waits for the exports and imports under way (the runtime runs them: the
calls answer ``IN_PROGRESS`` at once, as DynamoDB's)::

    export = await h.engine.export_table_to_point_in_time(TableArn=arn, S3Bucket="b")
    await h.drain()                              # the export has ended

``drain()`` never hangs: when nothing it waits for moves for ``h.drain_stall_timeout`` real
seconds (60 by default; ``open_harness(app, drain_stall_timeout=...)``), it raises
:class:`~streamkit.errors.DrainStalledError` naming what is not caught up.
"""

from __future__ import annotations

import heapq
import inspect
import itertools
import math
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from streamkit.clock import background_task, first_of
from streamkit.engine import Engine, Table
from streamkit.engine.transfers import TransferJob
from streamkit.errors import ClockStalledError, ClosedError, DrainStalledError
from streamkit.mappings.app import App
from streamkit.mappings.context import LambdaContext
from streamkit.mappings.events import deserialize_event, make_event, make_stream_record
from streamkit.mappings.poller import MappingRunner
from streamkit.mappings.replication import Replicator
from streamkit.mappings.source import LocalSource
from streamkit.runtime import Runtime, open_runtime
from streamkit.streams import Regions, open_engine, open_regions
from streamkit.streams.client import StreamsClient
from streamkit.streams.records import parse_sequence_number, sequence_number

__all__ = [
    "Blocking",
    "Harness",
    "LambdaContext",
    "ManualClock",
    "SyncHarness",
    "deserialize_event",
    "make_event",
    "make_stream_record",
    "open_harness",
    "open_sync_harness",
]

T = TypeVar("T")

#: Real seconds ``Harness.drain()`` waits without seeing anything move before it raises
#: :class:`~streamkit.errors.DrainStalledError`. Generous: a drain only needs the handlers'
#: own time and a few SQLite reads between two moves, even on a loaded CI machine; a
#: handler that legitimately runs longer than this per batch needs a bigger
#: ``drain_stall_timeout``.
DRAIN_STALL_TIMEOUT: Final = 60.0
#: Real seconds each read of the stall report may take (the store may be what is stuck).
_REPORT_READ_TIMEOUT: Final = 5.0


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance`.

    ``sleep()`` waits until the clock has been advanced past its deadline, so a test can drive
    background workers deterministically: ``clock.advance(60)`` then
    ``await anyio.wait_all_tasks_blocked()``.

    A sleep the caller itself waits on (a client retry's back-off after throttling, a replay's
    retry: any sleep outside the runtime's workers) would hang for ever if nothing else
    advances the clock. So such a "foreground" sleep either:

    - raises :class:`~streamkit.errors.ClockStalledError` when the clock was not advanced for
      ``stall_timeout`` real seconds (default 5; ``None`` waits for ever), or
    - with ``autojump=True``, advances the clock to its own deadline at once (time passes as
      if the sleep had happened; background workers due by then wake too).

    The runtime's workers (TTL sweeper, stream upkeep, mappings and their retries) always wait
    for :meth:`advance`: the harness's ``drain()`` treats them as settled.
    """

    def __init__(
        self,
        start: float = 1_700_000_000.0,
        *,
        autojump: bool = False,
        stall_timeout: float | None = 5.0,
    ) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._counter = itertools.count()
        self._loop_thread: int | None = None  # the thread of the loop its sleepers wait on
        self._advances = 0
        self.autojump = autojump
        self.stall_timeout = stall_timeout

    def now(self) -> float:
        return self._now

    def next_wake(self) -> float | None:
        """Return the earliest time a task sleeping on this clock waits for, or None."""
        while self._sleepers and self._sleepers[0][2].is_set():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        if self._loop_thread not in (None, threading.get_ident()) and self._sleepers:
            # waking an event loop's sleepers from another thread would go unnoticed by it
            raise RuntimeError(
                "ManualClock.advance() called outside its event loop's thread: "
                "use SyncHarness.advance()"
            )
        self._now += seconds
        self._advances += 1
        while self._sleepers and self._sleepers[0][0] <= self._now:
            heapq.heappop(self._sleepers)[2].set()

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock reaches now + ``seconds`` (see the class for foreground sleeps).

        Raises:
            ClockStalledError: a foreground sleep saw no :meth:`advance` for ``stall_timeout``
                real seconds.
        """
        foreground = not background_task.get()
        if seconds <= 0 or (foreground and self.autojump):
            if seconds > 0:
                self.advance(seconds)
            await anyio.lowlevel.checkpoint()
            return
        self._loop_thread = threading.get_ident()
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), event))
        if not foreground or self.stall_timeout is None:
            await event.wait()
            return
        while True:
            advances = self._advances
            with anyio.move_on_after(self.stall_timeout):
                await event.wait()
                return
            if self._advances == advances:
                event.set()  # no longer waiting: next_wake() forgets it
                raise ClockStalledError(
                    f"sleep({seconds:g}) on a ManualClock nobody advanced for "
                    f"{self.stall_timeout:g} s: call clock.advance() from another task, or use "
                    "ManualClock(autojump=True)"
                )


@dataclass(eq=False)
class Harness:
    """An engine (or a group of regions' engines), the runtime running an app's mappings on
    it, and the clock they share.

    Attributes:
        engine: the engine; with regions, the first region's.
        runtime: the runtime running the app's mappings in every region.
        clock: the manual clock of every region.
        group: the group of regions (``open_harness(app, regions=[...])``), or None.
        drain_stall_timeout: real seconds :meth:`drain` may see nothing move before it raises
            :class:`~streamkit.errors.DrainStalledError` (None: wait for ever).
    """

    engine: Engine
    runtime: Runtime
    clock: ManualClock
    group: Regions | None = None
    drain_stall_timeout: float | None = DRAIN_STALL_TIMEOUT

    @property
    def engines(self) -> Mapping[str, Engine]:
        """Return every region's engine by region (``h.engines["eu-west-1"]``); without
        regions, the one engine under its region."""
        return self.runtime.engines

    @property
    def replication(self) -> Replicator:
        """The global-table replication between the harness's regions (``pause(table,
        source, target)``, ``resume(...)``, ``await status()``).

        Raises:
            LookupError: the harness was opened without ``regions``.
        """
        if self.runtime.replication is None:
            raise LookupError("replication runs between regions: open_harness(app, regions=[...])")
        return self.runtime.replication

    async def drain(self) -> None:
        """Return once every mapping of every region, and every entry of ``runtime.links``
        (replication links, say), has processed every record committed so far, and every
        export and import started so far (ExportTableToPointInTime, ImportTable) has ended.

        "Processed" means checkpointed: delivered successfully, filtered out, or sent to the
        failure destination. A batch waiting on the clock (a retry back-off, a batching
        window) whose time has not come yet counts as settled: advance the clock and drain
        again to see it run.

        Nothing may hang: when nothing moves for :attr:`drain_stall_timeout` real seconds (no
        checkpoint advances, no shard starts or ends, no mapping changes state, no link ships,
        no export or import ends, the clock is not advanced), drain raises. A drain that keeps
        moving may take as long as it needs.

        Raises:
            MappingConfigurationError: a mapping stopped because its handler raised a
                ``ConfigurationError`` (such errors are never retried).
            DrainStalledError: nothing moved for ``drain_stall_timeout`` seconds; the message
                names each mapping, link and shard not caught up (its checkpoint and the
                shard's last sequence number), each export or import under way, and each
                engine's queued writes.
        """
        if self.runtime.closed or any(engine.closed for engine in self.engines.values()):
            raise ClosedError("the harness is closed: its open_harness block has exited")
        limit = self.drain_stall_timeout
        mark = self._progress()
        since = anyio.current_time()
        while True:
            changed = [self.runtime.activity.waiter()]
            changed.extend(link.changed.waiter() for link in list(self.runtime.links))
            engines = list(self.engines.values())
            changed.extend(engine.transfers.changed.waiter() for engine in engines)
            deadline = math.inf if limit is None else since + limit
            with anyio.move_on_at(deadline):
                # _settled awaits between its checks: a change meanwhile (a back-fill starting
                # after its link was seen caught up, say) makes its True stale: look again
                if await self._settled() and not any(event.is_set() for event in changed):
                    return
                await first_of(changed)
            progress = self._progress()
            if progress != mark:
                mark, since = progress, anyio.current_time()
            elif anyio.current_time() >= deadline:
                assert limit is not None
                raise DrainStalledError(await self._stall_report(limit))

    async def _settled(self) -> bool:
        """Whether every mapping, link and export or import is caught up (each checked in
        turn)."""
        for engine in list(self.engines.values()):
            if not await engine.transfers.caught_up():
                return False
        for runners in list(self.runtime.region_mappings.values()):
            for runner in list(runners.values()):
                if runner.error is not None:
                    raise runner.error
                if not await runner.caught_up():
                    return False
        for link in list(self.runtime.links):
            if not await link.caught_up():
                return False
        return True

    def _progress(self) -> tuple[object, ...]:
        """What drain counts as moving, read without I/O: every runner's state and shard
        checkpoints, every replication link's shipped count, the exports and imports under
        way, the set of links, and the clock (phase changes alone are not progress)."""
        marks: list[object] = [self.clock.now(), len(self.runtime.links)]
        for region, runners in list(self.runtime.region_mappings.items()):
            for name, runner in list(runners.items()):
                marks.append((region, name, *_runner_marks(runner)))
        if self.runtime.replication is not None:
            for link in self.runtime.replication.links:
                key = (link.table, link.source, link.target, link.shipped, link.backfilling)
                marks.append((*key, *_runner_marks(link.runner)))
        marks.extend(
            tuple((job.arn, job.desc.get(job.status)) for job in _jobs(engine))
            for engine in list(self.engines.values())
        )
        return tuple(marks)

    async def _stall_report(self, limit: float) -> str:
        """Say what drain waits for: the DrainStalledError message."""
        lines: list[str] = []
        for region, runners in list(self.runtime.region_mappings.items()):
            for name, runner in list(runners.items()):
                lines += await _runner_report(f"mapping {name!r} ({region})", runner)
        for link in list(self.runtime.links):
            if isinstance(link, Replicator):
                found = []
                for each in link.links:
                    label = f"replication link {each.table!r} {each.source} -> {each.target}"
                    if each.backfilling:
                        found.append(
                            f"{label}: back-filling {each.target} ({each.shipped} shipped)"
                        )
                    elif not await _bounded(each.caught_up(), True):
                        found += await _runner_report(label, each.runner)
                if not found and not await _bounded(link.caught_up(), True):
                    found.append("replication: catalog changes not acted on yet")
                lines += found
            elif not await _bounded(link.caught_up(), True):
                lines.append(f"link {link!r}: not caught up")
        for region, engine in list(self.engines.items()):
            for job in _jobs(engine):
                kind = "export" if job.status == "ExportStatus" else "import"
                lines.append(f"{kind} {job.arn} ({region}): {job.desc.get(job.status)}")
            if engine.closed:
                continue
            backlog = engine.backend.write_backlog()
            if backlog.queued or backlog.running or backlog.lulls:
                text = f"{region}: {backlog.queued} write(s) queued"
                if backlog.running:
                    text += ", a batch running"
                if backlog.locked_for is not None:
                    text += f", waiting {backlog.locked_for:.1f} s for the database's write lock"
                if backlog.lulls:
                    text += f", {backlog.lulls} stream reader(s) waiting for a lull"
                lines.append(text)
        what = "\n".join(f"  - {line}" for line in lines) or "  (nothing: it settled just now)"
        return (
            f"drain() saw nothing move for {limit:g} s (Harness.drain_stall_timeout); "
            f"not caught up:\n{what}"
        )


def _runner_marks(runner: MappingRunner) -> tuple[object, ...]:
    shards = tuple(
        (key, status.checkpoint, status.phase == "done") for key, status in runner.shards.items()
    )
    return runner.state, runner.config.enabled, runner.error is None, shards


def _jobs(engine: Engine) -> list[TransferJob]:
    return [] if engine.closed else engine.transfers.under_way


async def _bounded(check: Awaitable[T], default: T) -> T:
    """Await ``check`` for at most the report's read timeout (the store may be stuck)."""
    with anyio.move_on_after(_REPORT_READ_TIMEOUT):
        return await check
    return default


async def _runner_report(label: str, runner: MappingRunner) -> list[str]:
    """Lines saying what keeps one mapping runner from being caught up (none if it is)."""
    if await _bounded(runner.caught_up(), False):
        return []
    if runner.state not in ("Enabled", "Disabled"):
        return [f"{label}: state {runner.state}"]
    source = runner.stream_source
    engine = source.engine if isinstance(source, LocalSource) else None
    now = runner.clock.now()
    lines = []
    for (arn, sid), status in list(runner.shards.items()):
        if status.phase == "done":
            continue
        if status.phase == "sleeping" and status.wake_at is not None and status.wake_at > now:
            continue  # settled: waits for the clock
        checkpoint = status.checkpoint or "none yet"
        text = f"{label}, shard {sid} of {arn}: {status.phase}, checkpoint {checkpoint}"
        if engine is not None and not engine.closed:
            head = await _bounded(engine.backend.shard_head(arn, sid), -1)
            after = None if status.checkpoint is None else parse_sequence_number(status.checkpoint)
            if head == -1:
                text += ", shard's last sequence number unknown (the store did not answer)"
            elif head is None:
                text += ", shard empty"
            else:
                behind = await _bounded(engine.backend.pending_records(arn, sid, after), -1)
                text += f", shard's last sequence number {sequence_number(head)}"
                text += f" ({behind} record(s) behind)" if behind >= 0 else ""
                if status.phase == "idle" and behind == 0:
                    continue
        lines.append(text)
    if not lines:
        count = len(runner.shards)
        lines.append(
            f"{label}: not caught up (state {runner.state}, {len(runner.following)} stream(s) "
            f"followed, {count} shard worker(s); a shard worker not started yet?)"
        )
    return lines


@asynccontextmanager
async def open_harness(
    app: App,
    *,
    clock: ManualClock | None = None,
    path: str | os.PathLike[str] | None = None,
    regions: Sequence[str] | None = None,
    replication_delay: float = 0.0,
    drain_stall_timeout: float | None = DRAIN_STALL_TIMEOUT,
    **engine_options: Any,
) -> AsyncIterator[Harness]:
    """Run ``app``'s mappings on an engine (in memory by default) with a manual clock.

    ``engine_options`` go to :func:`streamkit.open_engine` (``stream_shards=1`` makes the order
    of records across keys deterministic, for instance).

    With ``regions`` (``["us-east-1", "eu-west-1"]``) the harness opens a group of those
    regions (:func:`streamkit.open_regions`; ``path`` is then the data directory of their
    ``<region>.sqlite3`` files, in memory by default), runs the app in every region, and
    ``drain()`` waits for all of them. ``h.engine`` is the first region's engine and
    ``h.engines[region]`` any region's. Global tables replicate between them (``drain()``
    waits for every replication link too); ``h.replication`` pauses and resumes links, and
    ``replication_delay`` holds each change back that many seconds of the manual clock.

    ``drain_stall_timeout``: real seconds ``drain()`` may see nothing move before it raises
    :class:`~streamkit.errors.DrainStalledError` (:attr:`Harness.drain_stall_timeout`).
    """
    clock = clock or ManualClock()
    if regions is not None:
        async with (
            open_regions(path, regions=regions, clock=clock, **engine_options) as group,
            open_runtime(
                group, app, replication_delay=replication_delay, replicate_at_once=True
            ) as runtime,
        ):
            yield Harness(runtime.engine, runtime, clock, group, drain_stall_timeout)
        return
    async with (
        open_engine(path, clock=clock, **engine_options) as engine,
        open_runtime(engine, app) as runtime,
    ):
        yield Harness(engine, runtime, clock, None, drain_stall_timeout)


class Blocking:
    """Synchronous access to an engine, a table or ``engine.streams`` living on a portal's loop.

    Every method call runs on the portal's event loop and blocks until it is done; awaitable
    results are awaited there. Engines, tables and stream clients returned are wrapped too, so
    ``h.engine.table("orders").put_item(Item=...)`` works from synchronous code.
    """

    __slots__ = ("_portal", "_target")

    def __init__(self, target: Any, portal: BlockingPortal) -> None:
        self._target = target
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return self._wrap(value)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(_call_on(self._portal, value, *args, **kwargs))

        return call

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, Engine | Table | StreamsClient):
            return Blocking(value, self._portal)
        return value

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


@dataclass(eq=False)
class SyncHarness:
    """A :class:`Harness` running on an event loop in a background thread.

    Attributes:
        harness: the harness itself (its objects belong to the portal's loop: reach them
            through :meth:`call` or :attr:`engine`).
        portal: the anyio portal whose thread runs the loop.
        url: the HTTP endpoint serving the harness' engine, when there is one
            (``streamkit.server.open_sync_endpoint``, the ``streamkit_endpoint`` fixture).
    """

    harness: Harness
    portal: BlockingPortal
    url: str | None = None

    @property
    def engine(self) -> Any:
        """Return the engine with blocking methods (a :class:`Blocking` wrapper)."""
        return Blocking(self.harness.engine, self.portal)

    @property
    def engines(self) -> Mapping[str, Any]:
        """Return every region's engine with blocking methods, by region."""
        return {
            region: Blocking(engine, self.portal) for region, engine in self.harness.engines.items()
        }

    @property
    def clock(self) -> ManualClock:
        """Return the manual clock (move it with :meth:`advance`, not ``clock.advance``)."""
        return self.harness.clock

    @property
    def runtime(self) -> Runtime:
        """Return the runtime (read ``metrics()`` through :meth:`call`)."""
        return self.harness.runtime

    def drain(self) -> None:
        """Block until every mapping (of every region) and every link has processed every
        record committed so far (:meth:`Harness.drain`: it raises
        :class:`~streamkit.errors.DrainStalledError` rather than hang)."""
        self.portal.call(self.harness.drain)

    def advance(self, seconds: float) -> None:
        """Move the manual clock forward, on the loop that owns its sleepers."""
        self.portal.call(self.harness.clock.advance, seconds)

    def call(self, fn: Callable[..., Awaitable[T] | T], *args: Any) -> T:
        """Run ``fn(*args)`` on the harness' loop (awaiting it if async) and return its result."""
        result: T = _call_on(self.portal, fn, *args)
        return result


def _call_on(portal: BlockingPortal, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` on the portal's loop, awaiting what it returns if awaitable."""

    async def run() -> Any:
        result = fn(*args, **kwargs)
        return (await result) if inspect.isawaitable(result) else result

    return portal.call(run)


@contextmanager
def open_sync_harness(
    app: App | None = None,
    *,
    clock: ManualClock | None = None,
    path: str | os.PathLike[str] | None = None,
    regions: Sequence[str] | None = None,
    drain_stall_timeout: float | None = DRAIN_STALL_TIMEOUT,
    **engine_options: Any,
) -> Iterator[SyncHarness]:
    """Run :func:`open_harness` on an event loop in a background thread, for synchronous code.

    The loop (asyncio, through anyio's blocking portal) lives as long as the ``with`` block; the
    harness is entered and exited by one task on it, so this works from any test, fixture or
    script, whatever the async test plugin.
    """
    opening = open_harness(
        app or App(),
        clock=clock,
        path=path,
        regions=regions,
        drain_stall_timeout=drain_stall_timeout,
        **engine_options,
    )
    with run_in_portal(opening) as h:
        yield h


@contextmanager
def run_in_portal(
    opening: AbstractAsyncContextManager[Harness | tuple[Harness, str]],
) -> Iterator[SyncHarness]:
    """Enter ``opening`` (a harness, or a harness and the URL serving it) on an event loop in a
    background thread for as long as the ``with`` block; yield it as a :class:`SyncHarness`."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(opening) as opened,
    ):
        harness, url = opened if isinstance(opened, tuple) else (opened, None)
        yield SyncHarness(harness, portal, url)
