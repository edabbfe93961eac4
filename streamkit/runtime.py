"""The runtime: the one owner of background tasks (TTL sweeper, stream upkeep, mappings).

``open_runtime`` enters an anyio task group, starts each worker with ``tg.start`` (so startup
errors surface before the caller continues), yields, and cancels the workers on exit.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from streamkit.clock import Clock, Signal, SystemClock, background_task
from streamkit.engine import Engine
from streamkit.errors import ClosedError
from streamkit.logs import get_logger
from streamkit.streams import run_retention
from streamkit.ttl import run_ttl_sweeper

if TYPE_CHECKING:  # the mapping machinery loads only when an app has mappings to run
    from streamkit.mappings.app import App
    from streamkit.mappings.config import MappingConfig
    from streamkit.mappings.poller import MappingRunner
    from streamkit.mappings.source import CheckpointStore, StreamSource

__all__ = ["RemoteRuntime", "Runtime", "Worker", "open_remote_runtime", "open_runtime"]

log = get_logger(__name__)

#: A worker: an anyio ``TaskGroup.start`` target taking only ``task_status``.
Worker = Callable[..., Coroutine[Any, Any, None]]


@dataclass(eq=False)
class Runtime:
    """A running runtime: the engine, its clock (the engine's), and its workers' task group."""

    engine: Engine
    clock: Clock
    task_group: TaskGroup
    workers: list[str] = field(default_factory=list)
    mappings: dict[str, MappingRunner] = field(default_factory=dict)
    #: fired whenever a mapping's shard worker changes phase (the test harness waits on it)
    activity: Signal = field(default_factory=Signal)
    _passes: dict[str, anyio.Event] = field(default_factory=dict)
    #: set when the ``open_runtime`` block exits; every later call raises ClosedError
    closed: bool = False

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedError("the runtime is closed: its open_runtime block has exited")

    def next_pass(self, name: str) -> anyio.Event:
        """Return an event set when worker ``name`` (``"ttl_sweeper"``, ``"stream_retention"``)
        next finishes a pass. Take it *before* advancing a manual clock, then wait on it."""
        self._check_open()
        event = self._passes.get(name)
        if event is None:
            event = self._passes[name] = anyio.Event()
        return event

    def pass_done(self, name: str) -> None:
        """Signal that worker ``name`` finished a pass (workers' ``on_pass`` callback)."""
        event = self._passes.pop(name, None)
        if event is not None:
            event.set()

    async def start(self, name: str, worker: Worker) -> None:
        """Start another worker (``worker(task_status=...)``) in the runtime's task group.

        This is how later layers (stream mappings) add their pollers.
        """
        self._check_open()
        await self.task_group.start(_in_background, worker, name=name)
        self.workers.append(name)


async def _in_background(worker: Worker, *, task_status: TaskStatus[None]) -> None:
    """Run a worker marked as background (its sleeps on a manual clock may wait for ever)."""
    background_task.set(True)  # this task's own context: the caller's is untouched
    await worker(task_status=task_status)


@asynccontextmanager
async def open_runtime(
    engine: Engine,
    *apps: App,
    ttl_interval: float = 1.0,
    ttl_batch_size: int = 100,
    ttl_max_rate: float = 2000.0,
    retention_interval: float | None = None,
) -> AsyncIterator[Runtime]:
    """Run the engine's background workers until the block exits.

    Every worker keeps time by the engine's clock (``open_engine(clock=...)``), so the TTL
    sweeper, stream upkeep and the mappings agree with the engine about what time it is.

    Args:
        engine: the engine whose tables and streams the workers maintain.
        apps: the apps whose event-source mappings to run (``@app.on_stream`` handlers), each
            following its table's stream; see :class:`streamkit.mappings.poller.MappingRunner`.
            Mapping names must be unique across the apps (checkpoints are kept by name).
        ttl_interval: seconds between TTL sweeps (an expired item is deleted within about
            this long, plus the engine's ``ttl_delay_seconds``).
        ttl_batch_size: expired items deleted per transaction.
        ttl_max_rate: the sweeper's ceiling in deletes per second.
        retention_interval: seconds between stream upkeep passes (rollover, trimming);
            default: a tenth of the shard rollover interval, at most 60.

    Raises:
        ConfigurationError: two apps register a mapping of the same name.
        ExceptionGroup: a worker failed (its error is inside).
    """
    configs = _mappings(apps)
    clock = engine.clock
    settings = engine.backend.settings
    if retention_interval is None:
        retention_interval = min(60.0, settings.rollover_seconds / 10)
    async with anyio.create_task_group() as tg:
        runtime = Runtime(engine, clock, tg)
        await runtime.start(
            "ttl_sweeper",
            functools.partial(
                run_ttl_sweeper,
                engine,
                clock=clock,
                interval=ttl_interval,
                batch_size=ttl_batch_size,
                max_rate=ttl_max_rate,
                on_pass=functools.partial(runtime.pass_done, "ttl_sweeper"),
            ),
        )
        await runtime.start(
            "stream_retention",
            functools.partial(
                run_retention,
                engine,
                clock=clock,
                interval=retention_interval,
                on_pass=functools.partial(runtime.pass_done, "stream_retention"),
            ),
        )
        for config in configs:
            from streamkit.mappings.poller import MappingRunner

            runner = MappingRunner(engine, config, clock, changed=runtime.activity)
            runtime.mappings[config.name] = runner
            await runtime.start(f"mapping:{config.name}", runner.run)
        log.debug("runtime_started", workers=len(runtime.workers))
        try:
            yield runtime
        finally:
            runtime.closed = True
            for event in runtime._passes.values():  # wake waiters: their next call refuses
                event.set()
            runtime._passes.clear()
            tg.cancel_scope.cancel()
            log.debug("runtime_stopped")


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
) -> AsyncIterator[RemoteRuntime]:
    """Run the apps' mappings on a remote stream source until the block exits.

    One worker: every shard of every mapping's stream is read here (leases, which share the
    shards between workers, are for another layer). There is no engine: the TTL sweeper and
    stream upkeep are the remote server's, and ``current_engine()`` raises in the handlers.

    Args:
        source: where the records come from, e.g.
            :func:`streamkit.mappings.remote.open_remote_source`'s.
        apps: the apps whose mappings to run.
        checkpoints: where the positions go (default: in memory, lost on exit).
        clock: the mappings' clock (retry back-off, windows, record age); default: the
            source's ``clock`` attribute if it has one, else the system clock.

    Raises:
        ConfigurationError: two apps register a mapping of the same name.
    """
    from streamkit.mappings.poller import MappingRunner
    from streamkit.mappings.source import MemoryCheckpoints

    configs = _mappings(apps)
    store = checkpoints if checkpoints is not None else MemoryCheckpoints()
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
