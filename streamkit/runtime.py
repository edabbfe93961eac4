"""The runtime: the one owner of background tasks (TTL sweeper, stream upkeep, exports and
imports, mappings), for one engine or for every region of a group.

``open_runtime`` enters an anyio task group, starts each worker with ``tg.start`` (so startup
errors surface before the caller continues), yields, and cancels the workers on exit.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from streamkit.clock import Clock, Signal, SystemClock, background_task, first_of
from streamkit.engine import Engine
from streamkit.errors import ClosedError
from streamkit.logs import get_logger
from streamkit.streams import Regions, run_retention
from streamkit.ttl import run_ttl_sweeper

if TYPE_CHECKING:  # the mapping machinery loads only when an app has mappings to run
    from streamkit.engine.transfers import TransferJob, TransferQueue
    from streamkit.mappings.app import App
    from streamkit.mappings.config import MappingConfig
    from streamkit.mappings.leases import LeaseCoordinator
    from streamkit.mappings.poller import MappingRunner
    from streamkit.mappings.replication import Replicator
    from streamkit.mappings.source import CheckpointStore, StreamSource

__all__ = [
    "Drainable",
    "RemoteRuntime",
    "Runtime",
    "Worker",
    "open_remote_runtime",
    "open_runtime",
    "run_transfers",
]

log = get_logger(__name__)

#: A worker: an anyio ``TaskGroup.start`` target taking only ``task_status``.
Worker = Callable[..., Coroutine[Any, Any, None]]


class Drainable(Protocol):
    """Something the test harness's ``drain()`` waits on besides the mappings (a replication
    link, say): it is caught up when it has nothing left to do with what was committed."""

    #: fired whenever :meth:`caught_up` may have changed its answer
    changed: Signal

    async def caught_up(self) -> bool:
        """Whether everything committed so far has been dealt with."""
        ...


@dataclass(eq=False)
class Runtime:
    """A running runtime: its engines, their clock, and its workers' task group.

    With one engine (``open_runtime(engine)``) the workers run on that engine and have their
    plain names (``"ttl_sweeper"``, ``"mapping:<name>"``). With a group of regions
    (``open_runtime(group)``) every region runs its own workers, named with the region
    (``"ttl_sweeper:eu-west-1"``, ``"mapping:<name>:eu-west-1"``), including regions the group
    opens later (``streamkit serve``).
    """

    _engine: Engine | None
    clock: Clock
    task_group: TaskGroup
    #: the group of regions this runtime runs, or None for a single engine
    group: Regions | None = None
    workers: list[str] = field(default_factory=list)
    #: region -> mapping name -> runner, for every region the runtime runs
    region_mappings: dict[str, dict[str, MappingRunner]] = field(default_factory=dict)
    #: what ``drain()`` waits on besides the mappings (add with :meth:`add_link`)
    links: list[Drainable] = field(default_factory=list)
    #: global tables' replication between the group's regions (None for a single engine)
    replication: Replicator | None = None
    #: fired whenever a mapping's shard worker changes phase, a region starts or a link is
    #: added (the test harness waits on it)
    activity: Signal = field(default_factory=Signal)
    _passes: dict[tuple[str, str], anyio.Event] = field(default_factory=dict)
    #: set when the ``open_runtime`` block exits; every later call raises ClosedError
    closed: bool = False

    @property
    def engine(self) -> Engine:
        """Return the engine (with a group: the first region's)."""
        if self._engine is not None:
            return self._engine
        assert self.group is not None
        for engine in self.group.engines.values():
            return engine
        raise LookupError("the runtime's group has no region open yet")

    @property
    def engines(self) -> Mapping[str, Engine]:
        """Return the engines the runtime runs, by region."""
        if self.group is not None:
            return self.group.engines
        return {self.engine.region: self.engine}

    @property
    def mappings(self) -> dict[str, MappingRunner]:
        """Return the mappings of :attr:`engine` by name (every region's:
        :attr:`region_mappings`)."""
        return self.region_mappings.setdefault(self.engine.region, {})

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the runtime is closed: its open_runtime block has exited")

    def add_link(self, link: Drainable) -> None:
        """Have ``drain()`` wait on ``link`` too (a later layer's worker, e.g. replication)."""
        self._check_open()
        self.links.append(link)
        self.activity.fire()

    def remove_link(self, link: Drainable) -> None:
        """Stop waiting on ``link``."""
        if link in self.links:
            self.links.remove(link)
        self.activity.fire()

    def next_pass(self, name: str, region: str | None = None) -> anyio.Event:
        """Return an event set when worker ``name`` (``"ttl_sweeper"``, ``"stream_retention"``)
        next finishes a pass. Take it *before* advancing a manual clock, then wait on it.

        With a group, ``region`` picks the region; ``None`` waits for a pass in every region
        open now.
        """
        self._check_open()
        if region is None and self.group is not None:
            events = [self._pass_event(name, r) for r in self.group.engines]
            if len(events) == 1:
                return events[0]
            every = anyio.Event()
            self.task_group.start_soon(_set_after_all, events, every)
            return every
        return self._pass_event(name, self.engine.region if region is None else region)

    def _pass_event(self, name: str, region: str) -> anyio.Event:
        event = self._passes.get((name, region))
        if event is None:
            event = self._passes[name, region] = anyio.Event()
        return event

    def pass_done(self, name: str, region: str | None = None) -> None:
        """Signal that worker ``name`` finished a pass (workers' ``on_pass`` callback)."""
        key = (name, self.engine.region if region is None else region)
        event = self._passes.pop(key, None)
        if event is not None:
            event.set()

    async def start(self, name: str, worker: Worker) -> None:
        """Start another worker (``worker(task_status=...)``) in the runtime's task group.

        This is how later layers (stream mappings) add their pollers.
        """
        self._check_open()
        await self.task_group.start(_in_background, worker, name=name)
        self.workers.append(name)


async def run_transfers(
    engine: Engine, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Run the engine's exports and imports (ExportTableToPointInTime, ImportTable) until
    cancelled: a worker, which :func:`open_runtime` starts for every engine it runs.

    While it runs, those calls queue their job and answer at once (``IN_PROGRESS``), and each
    job runs in a task of this worker's task group, several at a time; without it, each call
    runs its job before it returns (:mod:`streamkit.engine.transfers`). Cancelled, it cancels
    the jobs under way (they end ``FAILED``, ``FailureCode`` ``Cancelled``) and waits for them
    to clean up (files, worker processes); jobs queued and not begun end ``FAILED`` too.

    A job's unexpected error (a bug) ends that job ``FAILED`` and is logged; the worker and
    the other jobs go on.
    """
    queue = engine.transfers
    with queue.attach():
        async with anyio.create_task_group() as jobs:
            task_status.started()
            while True:
                changed = queue.changed.waiter()
                job = queue.take()
                if job is None:
                    await changed.wait()
                else:
                    await jobs.start(_run_transfer, queue, job)


async def _run_transfer(
    queue: TransferQueue, job: TransferJob, *, task_status: TaskStatus[None]
) -> None:
    try:
        task_status.started()  # in the try: from here on, done() is called whatever happens
        await job.run()
    except Exception:
        log.exception("transfer_failed", arn=job.arn)
    finally:
        queue.done(job)


async def _set_after_all(events: list[anyio.Event], every: anyio.Event) -> None:
    for event in events:
        await event.wait()
    every.set()


async def _in_background(worker: Worker, *, task_status: TaskStatus[None]) -> None:
    """Run a worker marked as background (its sleeps on a manual clock may wait for ever)."""
    background_task.set(True)  # this task's own context: the caller's is untouched
    await worker(task_status=task_status)


@dataclass(frozen=True, slots=True)
class _Settings:
    """``open_runtime``'s options, applied to each region's workers."""

    configs: tuple[MappingConfig, ...]
    ttl_interval: float
    ttl_batch_size: int
    ttl_max_rate: float
    retention_interval: float | None


async def _start_region(runtime: Runtime, engine: Engine, settings: _Settings) -> None:
    """Start one engine's TTL sweeper, stream upkeep, exports and imports, and mappings."""
    region = engine.region
    if region in runtime.region_mappings:
        return  # already running (a region seen both open and opening)
    runners = runtime.region_mappings[region] = {}
    suffix = "" if runtime.group is None else f":{region}"
    clock = runtime.clock
    retention_interval = settings.retention_interval
    if retention_interval is None:
        retention_interval = min(60.0, engine.backend.settings.rollover_seconds / 10)
    await runtime.start(
        f"ttl_sweeper{suffix}",
        functools.partial(
            run_ttl_sweeper,
            engine,
            clock=clock,
            interval=settings.ttl_interval,
            batch_size=settings.ttl_batch_size,
            max_rate=settings.ttl_max_rate,
            on_pass=functools.partial(runtime.pass_done, "ttl_sweeper", region),
        ),
    )
    await runtime.start(
        f"stream_retention{suffix}",
        functools.partial(
            run_retention,
            engine,
            clock=clock,
            interval=retention_interval,
            on_pass=functools.partial(runtime.pass_done, "stream_retention", region),
        ),
    )
    await runtime.start(f"transfers{suffix}", functools.partial(run_transfers, engine))
    for config in settings.configs:
        from streamkit.mappings.poller import MappingRunner

        runner = MappingRunner(engine, config, clock, changed=runtime.activity)
        runners[config.name] = runner
        await runtime.start(f"mapping:{config.name}{suffix}", runner.run)
    runtime.activity.fire()


@asynccontextmanager
async def open_runtime(
    engine: Engine | Regions,
    *apps: App,
    ttl_interval: float = 1.0,
    ttl_batch_size: int = 100,
    ttl_max_rate: float = 2000.0,
    retention_interval: float | None = None,
    replication_delay: float = 0.0,
    replicate_at_once: bool = False,
) -> AsyncIterator[Runtime]:
    """Run the background workers of an engine, or of every region of a group, until the
    block exits.

    Every worker keeps time by the engine's clock (``open_engine(clock=...)``; a group's one
    clock), so the TTL sweeper, stream upkeep and the mappings agree with the engine about
    what time it is.

    Each engine's exports and imports run here too (:func:`run_transfers`, the worker
    ``"transfers"``): while the runtime runs, ExportTableToPointInTime and ImportTable answer
    at once and their jobs run in the runtime's task group; its exit cancels them.

    Args:
        engine: the engine whose tables and streams the workers maintain, or a group of
            regions (:func:`streamkit.open_regions`): each region runs its own workers and
            the apps' mappings on its own tables, regions the group opens later included.
        apps: the apps whose event-source mappings to run (``@app.on_stream`` handlers), each
            following its table's stream; see :class:`streamkit.mappings.poller.MappingRunner`.
            Mapping names must be unique across the apps (checkpoints are kept by name).
        ttl_interval: seconds between TTL sweeps (an expired item is deleted within about
            this long, plus the engine's ``ttl_delay_seconds``).
        ttl_batch_size: expired items deleted per transaction.
        ttl_max_rate: the sweeper's ceiling in deletes per second.
        retention_interval: seconds between stream upkeep passes (rollover, trimming);
            default: a tenth of the shard rollover interval, at most 60.
        replication_delay: with a group, seconds each change to a global table waits
            before it is shipped to the other replicas (default 0: at once; AWS: about a
            second). The group's replication runs as :attr:`Runtime.replication`, started
            when a region first has a global table (the replication machinery loads then).
        replicate_at_once: start the replication with the runtime instead (the test
            harness does, so ``h.replication`` is there from the start).

    Raises:
        ConfigurationError: two apps register a mapping of the same name.
        ClosedError: the group's block has exited.
        ExceptionGroup: a worker failed (its error is inside).
    """
    settings = _Settings(
        _mappings(apps), ttl_interval, ttl_batch_size, ttl_max_rate, retention_interval
    )
    group = engine if isinstance(engine, Regions) else None
    if group is not None and group.closed:
        raise ClosedError("the region group is closed: its open_regions block has exited")
    single = None if isinstance(engine, Regions) else engine
    async with anyio.create_task_group() as tg:
        runtime = Runtime(single, engine.clock, tg, group)
        unsubscribe: Callable[[], None] | None = None
        try:
            if single is not None:
                await _start_region(runtime, single, settings)
            else:
                assert group is not None

                async def started(opened: Engine) -> None:
                    await _start_region(runtime, opened, settings)

                unsubscribe = group.subscribe(started)
                for opened in list(group.engines.values()):
                    await _start_region(runtime, opened, settings)
                replicate = functools.partial(
                    _replicate, runtime, group, replication_delay, wait=not replicate_at_once
                )
                await runtime.start("replication", replicate)
            log.debug("runtime_started", workers=len(runtime.workers))
            yield runtime
        finally:
            if unsubscribe is not None:
                unsubscribe()
            runtime.closed = True
            for event in runtime._passes.values():  # wake waiters: their next call refuses
                event.set()
            runtime._passes.clear()
            tg.cancel_scope.cancel()
            log.debug("runtime_stopped")


async def _replicate(
    runtime: Runtime,
    group: Regions,
    delay: float,
    *,
    wait: bool,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run the group's global-table replication (a link between every pair of replicas);
    with ``wait``, only once some region has a global table, so a group without one never
    loads the replication machinery."""
    if wait:
        task_status.started()
        task_status = anyio.TASK_STATUS_IGNORED
        while True:
            waiters = [group.opened.waiter()]
            waiters += [engine.catalog_waiter() for engine in list(group.engines.values())]
            if any(engine.global_tables() for engine in list(group.engines.values())):
                break
            await first_of(waiters)
    from streamkit.mappings.replication import Replicator

    replicator = Replicator(group, runtime.clock, delay=delay)
    runtime.replication = replicator
    runtime.add_link(replicator)
    await replicator.run(task_status=task_status)


@dataclass(eq=False)
class RemoteRuntime:
    """A running set of mappings on a remote stream source (no engine in this process)."""

    source: StreamSource
    checkpoints: CheckpointStore
    clock: Clock
    task_group: TaskGroup
    mappings: dict[str, MappingRunner] = field(default_factory=dict)
    #: fired whenever a mapping's shard worker changes phase
    activity: Signal = field(default_factory=Signal)


@asynccontextmanager
async def open_remote_runtime(
    source: StreamSource,
    *apps: App,
    checkpoints: CheckpointStore | None = None,
    clock: Clock | None = None,
    leases: LeaseCoordinator | None = None,
) -> AsyncIterator[RemoteRuntime]:
    """Run the apps' mappings on a remote stream source until the block exits.

    Without ``leases`` this is the only worker: every shard of every mapping's stream is read
    here. With a running lease coordinator (:func:`streamkit.mappings.leases.open_leases`,
    entered before this block so that it releases the leases after the last checkpoints) this
    worker reads only the shards it holds the lease of, and the checkpoints go to the lease
    table. There is no engine: the TTL sweeper and stream upkeep are the remote server's, and
    ``current_engine()`` raises in the handlers.

    Args:
        source: where the records come from, e.g.
            :func:`streamkit.mappings.remote.open_remote_source`'s.
        apps: the apps whose mappings to run.
        checkpoints: where the positions go (default: in memory, lost on exit; with
            ``leases``: the lease table, and this must be None).
        clock: the mappings' clock (retry back-off, windows, record age); default: the
            source's ``clock`` attribute if it has one, else the system clock.
        leases: share the shards with other workers through this coordinator's lease table.

    Raises:
        ConfigurationError: two apps register a mapping of the same name.
    """
    from streamkit.mappings.poller import MappingRunner
    from streamkit.mappings.source import MemoryCheckpoints

    configs = _mappings(apps)
    if leases is not None and checkpoints is not None:
        raise TypeError("with leases the checkpoints are the lease table's: pass one, not both")
    store: CheckpointStore = MemoryCheckpoints()
    if leases is not None:
        store = leases
    elif checkpoints is not None:
        store = checkpoints
    if clock is None:
        clock = getattr(source, "clock", None) or SystemClock()
    async with anyio.create_task_group() as tg:
        runtime = RemoteRuntime(source, store, clock, tg)
        for config in configs:
            runner = MappingRunner(
                None,
                config,
                clock,
                changed=runtime.activity,
                source=source,
                checkpoints=store,
                leases=leases,
            )
            runtime.mappings[config.name] = runner
            await tg.start(_in_background, runner.run)
        log.debug("remote_runtime_started", mappings=len(runtime.mappings))
        try:
            yield runtime
        finally:
            tg.cancel_scope.cancel()
            log.debug("remote_runtime_stopped")


def _mappings(apps: tuple[App, ...]) -> tuple[MappingConfig, ...]:
    """The apps' mappings, merged; importing the mapping machinery only if there are apps."""
    if not apps:
        return ()
    from streamkit.mappings.app import App

    merged = App()
    for app in apps:
        merged.include(app)  # refuses a name registered twice
    return merged.mappings
