"""Pollers: one supervisor per mapping following its table's stream, one worker per shard.

The stream comes from a :class:`~streamkit.mappings.source.StreamSource` (the local engine by
default, or a remote DynamoDB Streams endpoint) and the checkpoints go to its
:class:`~streamkit.mappings.source.CheckpointStore`; what follows is the same for both.

A :class:`MappingRunner` attaches to its table's current stream as soon as the table has one
(also when the table is created, or its stream re-enabled, after the runner started), starts a
worker for every shard whose parent is finished (shard lineage), and stops following a stream
once every shard of it is finished. A shard worker reads the records after its checkpoint, waits
for new commits instead of polling, hands each batch to the :class:`ShardProcessor` (Lambda's
retry, bisect and partial-failure rules) and persists the checkpoint it returns, so a restart
resumes where the last commit left off: at-least-once, in order per shard.

Where a shard starts the first time: ``starting_position`` applies to the shards of a stream
that already existed when the mapping started; a stream enabled later, and every child shard,
is read from its beginning (Lambda also reads child shards from TRIM_HORIZON).
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, replace
from typing import Any, Unpack

import anyio
from anyio.abc import TaskStatus
from structlog.contextvars import bound_contextvars

from streamkit.clock import Clock, Signal, first_of
from streamkit.engine import Engine
from streamkit.errors import (
    LeaseLostError,
    ResourceNotFoundException,
    TrimmedDataAccessException,
)
from streamkit.groups import leaves
from streamkit.logs import get_logger
from streamkit.mappings.config import MappingConfig, StreamOptions, check_options
from streamkit.mappings.current import engine_var
from streamkit.mappings.leases import SHARD_END, HeldLease, LeaseCoordinator, ShardInfo
from streamkit.mappings.processor import (
    MappingConfigurationError,
    ProcessorMetrics,
    ShardProcessor,
)
from streamkit.mappings.source import (
    CheckpointStore,
    EngineCheckpoints,
    LocalSource,
    ShardReader,
    StreamSource,
    Waiter,
)

__all__ = ["MappingRunner", "ShardStatus", "Signal"]

log = get_logger(__name__)

PERSIST_RECORDS = 1000  # write a busy shard's checkpoint at least this often (records) ...
PERSIST_SECONDS = 1.0  # ... or this often (seconds on the runtime's clock)


@dataclass(slots=True)
class ShardStatus:
    """What one shard worker is doing (:meth:`MappingRunner.caught_up` reads it)."""

    stream_arn: str
    shard_id: str
    checkpoint: str | None = None  # processed up to here (in memory)
    persisted: str | None = None  # the checkpoint as last written to the store
    phase: str = "starting"  # starting | reading | invoking | gathering | idle | sleeping | done
    wake_at: float | None = None  # while sleeping on the clock (retry back-off, window)
    processor: ShardProcessor | None = None


class _ObservedClock:
    """The runner's clock, telling the shard status while the processor sleeps on it."""

    def __init__(self, clock: Clock, status: ShardStatus, changed: Signal) -> None:
        self._clock = clock
        self._status = status
        self._changed = changed

    def now(self) -> float:
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        previous = self._status.phase
        self._status.phase, self._status.wake_at = "sleeping", self._clock.now() + seconds
        self._changed.fire()
        try:
            await self._clock.sleep(seconds)
        finally:
            self._status.phase, self._status.wake_at = previous, None
            self._changed.fire()


@dataclass(eq=False)
class MappingRunner:
    """Runs one event-source mapping for as long as the runtime runs.

    Its records come from ``source`` (default: the engine's own stream,
    :class:`~streamkit.mappings.source.LocalSource`) and its checkpoints go to
    ``checkpoints`` (default: the engine's database). With a remote source ``engine`` is None
    and ``current_engine()`` has no engine to give the handlers.

    With a lease coordinator (``leases``, many workers sharing the shards) a shard is read only
    while this worker holds its lease: the checkpoints go to the lease table (``leases`` is
    the checkpoint store), a shard starts from its lease's checkpoint, stops at once when the
    lease is lost, and checks the lease before each batch.
    """

    engine: Engine | None
    config: MappingConfig
    clock: Clock
    state: str = "Creating"
    shards: dict[tuple[str, str], ShardStatus] = field(default_factory=dict)
    changed: Signal = field(default_factory=Signal)
    _reconfigured: Signal = field(default_factory=Signal)
    #: why the mapping stopped by itself (state Disabled), until it is enabled again
    error: MappingConfigurationError | None = None
    _scope: anyio.CancelScope | None = None
    _started_at: float = 0.0
    _following: set[str] = field(default_factory=set)
    source: InitVar[StreamSource | None] = None
    checkpoints: InitVar[CheckpointStore | None] = None
    #: the lease coordinator this worker shares the shards through (None: it reads them all)
    leases: LeaseCoordinator | None = None
    stream_source: StreamSource = field(init=False)
    checkpoint_store: CheckpointStore = field(init=False)

    def __post_init__(
        self, source: StreamSource | None, checkpoints: CheckpointStore | None
    ) -> None:
        if self.leases is not None:
            checkpoints = self.leases
        if source is None or checkpoints is None:
            if self.engine is None:
                raise TypeError("a MappingRunner without an engine needs a source and checkpoints")
            source = source or LocalSource(self.engine)
            checkpoints = checkpoints or EngineCheckpoints(self.engine)
        self.stream_source = source
        self.checkpoint_store = checkpoints

    # -- control ---------------------------------------------------------------------------

    def disable(self) -> None:
        """Stop invoking the handler; the position is kept (state Disabled)."""
        self.update(enabled=False)

    def enable(self) -> None:
        """Resume from the kept position (state Enabled)."""
        self.update(enabled=True)

    def update(self, **options: Unpack[StreamOptions]) -> None:
        """Change some of the mapping's options (``on_stream``'s); workers restart with them.

        Raises:
            ConfigurationError: an option is unknown or out of Lambda's range (nothing changes).
        """
        self.config = replace(self.config, **check_options(self.config.table, options))
        self.state = "Updating" if self.config.enabled else "Disabling"
        if self._scope is not None:
            self._scope.cancel()
        self._reconfigured.fire()
        self.changed.fire()

    def metrics(self) -> ProcessorMetrics:
        """Return the mapping's counters summed over its shards (iterator age: the largest)."""
        total = ProcessorMetrics()
        for status in self.shards.values():
            if status.processor is None:
                continue
            m = status.processor.metrics
            for name in (
                "batches",
                "invocations",
                "records",
                "filtered",
                "errors",
                "retries",
                "records_discarded",
                "failures_sent",
            ):
                setattr(total, name, getattr(total, name) + getattr(m, name))
            if m.iterator_age is not None:
                total.iterator_age = max(total.iterator_age or 0.0, m.iterator_age)
        return total

    # -- caught up (the test harness's drain asks) ------------------------------------------

    async def caught_up(self) -> bool:
        """Whether the mapping has processed every record committed to its table so far.

        "Processed" means checkpointed: delivered, filtered out or sent to the failure
        destination. A shard waiting on the clock for a time not reached yet (a retry back-off,
        a batching window) counts as caught up; so does a disabled mapping. A mapping still
        changing state (Creating, Updating, Disabling), a shard whose parent has finished but
        that has no worker yet, or a worker started while this looked, does not: ask again
        after :attr:`changed` fires. Errors are not raised here; :attr:`error` holds them.
        """
        if self.state not in ("Enabled", "Disabled"):
            return False
        if not self.config.enabled:
            return True
        arn = await self.stream_source.current_stream(self.config.table)
        if arn is not None and arn not in self._following:
            return False  # the table's current stream is not followed yet
        now = self.clock.now()
        before = set(self.shards)
        if not await self._every_shard_started():
            return False
        for status in list(self.shards.values()):
            if not await self._shard_caught_up(status, now):
                return False
        return set(self.shards) == before  # else a worker started while we looked

    async def _shard_caught_up(self, status: ShardStatus, now: float) -> bool:
        if status.phase == "done":
            return True
        if status.phase == "sleeping" and status.wake_at is not None:
            return status.wake_at > now
        if status.phase != "idle":
            return False
        if status.wake_at is not None and status.wake_at <= now:
            return False  # a tumbling window is due to close
        return await self.stream_source.caught_up(
            status.stream_arn, status.shard_id, status.checkpoint
        )

    async def _every_shard_started(self) -> bool:
        """Whether every shard whose parent is finished has a worker (lineage hand-over)."""
        for arn in self.following:  # a copy: workers may start meanwhile
            shards = await self._describe(arn)
            present = {s["ShardId"] for s in shards}
            for shard in shards:
                parent = shard.get("ParentShardId")
                parent_done = (
                    parent is None
                    or parent not in present
                    or ((arn, parent) in self.shards and self.shards[arn, parent].phase == "done")
                )
                held = self.leases is None or self._lease(arn, shard["ShardId"]) is not None
                if parent_done and held and (arn, shard["ShardId"]) not in self.shards:
                    return False
        return True

    def _fail(self, group: BaseExceptionGroup[MappingConfigurationError]) -> None:
        """Stop the mapping on an error no retry can fix; keep its position (Disabled)."""
        error = leaves(group)[0]  # nested task groups: the first
        assert isinstance(error, MappingConfigurationError)
        self.error = error
        self.config = replace(self.config, enabled=False)
        log.error("mapping_failed", error=str(error))

    # -- the supervisor --------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the mapping's table until cancelled (an anyio ``TaskGroup.start`` target)."""
        if self.engine is not None:
            engine_var.set(self.engine)  # current_engine() for every handler this task runs
        with bound_contextvars(mapping=self.config.name):
            await self.stream_source.prepare()
            self._started_at = self.clock.now()
            task_status.started()
            while True:
                waiter = self._reconfigured.waiter()
                if self.config.enabled:
                    try:
                        with anyio.CancelScope() as scope:
                            self._scope = scope
                            self.state = "Enabled"
                            self.error = None
                            self.changed.fire()
                            log.debug("mapping_enabled", table=self.config.table)
                            await self._attach()
                    except* MappingConfigurationError as group:
                        self._fail(group)
                    self._scope = None
                    self._following.clear()
                    for status in self.shards.values():
                        if status.phase != "done":
                            status.phase = "starting"
                else:
                    self.state = "Disabled"
                    self.changed.fire()
                    await waiter.wait()

    async def _attach(self) -> None:
        async with anyio.create_task_group() as tg:
            while True:
                waiter = self.stream_source.changes()
                arn = await self.stream_source.current_stream(self.config.table)
                if arn is not None and arn not in self._following:
                    self._following.add(arn)
                    tg.start_soon(self._follow_stream, arn)
                    self.changed.fire()
                await waiter.wait()

    @property
    def following(self) -> frozenset[str]:
        """The ARNs of the streams this runner reads."""
        return frozenset(self._following)

    async def _describe(self, arn: str) -> list[dict[str, Any]]:
        return await self.stream_source.describe(arn)

    async def _follow_stream(self, arn: str) -> None:
        """Run a worker per shard of one stream, parents before children, until all are done."""

        if self.leases is not None:
            await self._follow_leased(arn, self.leases)
            return
        source = self.stream_source
        known = await self.checkpoint_store.load(self.config.name, arn)
        # a source that keeps LATEST in the reader (unsaved) starts every unknown shard there
        first_attach = not known or not source.latest_is_saved
        stream_is_old = source.stream_predates(arn, self._started_at)
        finished = Signal()
        async with anyio.create_task_group() as tg:
            while True:
                waiter = finished.waiter()
                try:
                    shards = await self._describe(arn)
                except ResourceNotFoundException:
                    return  # the stream expired
                present = {s["ShardId"] for s in shards}
                done = {
                    sid for (a, sid), st in self.shards.items() if a == arn and st.phase == "done"
                }
                done |= {sid for sid, (_, is_done) in known.items() if is_done}
                for shard in shards:
                    sid = shard["ShardId"]
                    key = (arn, sid)
                    parent = shard.get("ParentShardId")
                    if sid in done or (key in self.shards and self.shards[key].phase != "starting"):
                        continue
                    if parent is not None and parent in present and parent not in done:
                        continue
                    seq, _ = known.get(sid, (None, False))
                    latest = (
                        first_attach
                        and stream_is_old
                        and parent is None
                        and self.config.starting_position == "LATEST"
                        and sid not in known
                    )
                    status = ShardStatus(arn, sid, checkpoint=seq, persisted=seq, phase="reading")
                    self.shards[key] = status
                    tg.start_soon(self._shard_worker, status, latest, finished)
                ended = all(
                    s.get("SequenceNumberRange", {}).get("EndingSequenceNumber") for s in shards
                )
                if ended and present <= done:
                    return
                self.changed.fire()
                await waiter.wait()

    # -- leases: this worker reads the shards it holds ------------------------------------

    def _lease(self, arn: str, shard_id: str) -> HeldLease | None:
        assert self.leases is not None
        return self.leases.lease(self.config.name, arn, shard_id)

    def _check_lease(self, status: ShardStatus) -> None:
        """Raise LeaseLostError unless this worker may process the shard now (no leases: may)."""
        if self.leases is not None and self._lease(status.stream_arn, status.shard_id) is None:
            raise LeaseLostError(f"the lease on {status.shard_id} is no longer valid")

    async def _follow_leased(self, arn: str, leases: LeaseCoordinator) -> None:
        """:meth:`_follow_stream` for one of many workers: a lease per shard in the lease table
        (created after each describe), a worker for each shard whose lease this one holds.

        Parents before children is the lease layer's rule (a child's lease is not taken before
        its parents' are finished). The loop wakes when a worker ends, when the held leases
        change and after each of the coordinator's passes (a stolen lease becomes valid).
        """
        name = self.config.name
        source = self.stream_source
        first_attach = not await leases.load(name, arn) or not source.latest_is_saved
        stream_is_old = source.stream_predates(arn, self._started_at)
        finished = Signal()
        synced: set[str] = set()
        async with anyio.create_task_group() as tg:
            while True:
                waiters = (finished.waiter(), leases.changed.waiter(), leases.passed.waiter())
                try:
                    shards = await self._describe(arn)
                except ResourceNotFoundException:
                    return  # the stream expired
                new = [
                    ShardInfo(s["ShardId"], (s["ParentShardId"],) if s.get("ParentShardId") else ())
                    for s in shards
                    if s["ShardId"] not in synced
                ]
                if new:
                    await leases.sync_shards(name, arn, new)
                    synced.update(info.shard_id for info in new)
                for shard in shards:
                    sid = shard["ShardId"]
                    key = (arn, sid)
                    if key in self.shards and self.shards[key].phase != "starting":
                        continue  # running here, or finished
                    held = leases.lease(name, arn, sid)
                    if held is None or held.checkpoint == SHARD_END:
                        continue
                    seq = held.checkpoint
                    latest = (
                        first_attach
                        and stream_is_old
                        and shard.get("ParentShardId") is None
                        and self.config.starting_position == "LATEST"
                        and seq is None
                    )
                    status = ShardStatus(arn, sid, checkpoint=seq, persisted=seq, phase="reading")
                    self.shards[key] = status
                    tg.start_soon(self._leased_worker, status, latest, finished, held)
                ended = all(
                    s.get("SequenceNumberRange", {}).get("EndingSequenceNumber") for s in shards
                )
                if ended:
                    known = await leases.load(name, arn)
                    if all(known.get(s["ShardId"], (None, False))[1] for s in shards):
                        return
                self.changed.fire()
                await first_of(list(waiters))

    async def _leased_worker(
        self, status: ShardStatus, latest: bool, finished: Signal, held: HeldLease
    ) -> None:
        """Run the shard's worker while ``held`` lasts: cancelled at once when it is lost."""
        key = (status.stream_arn, status.shard_id)
        try:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    await held.lost.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                await self._shard_worker(status, latest, finished)
                tg.cancel_scope.cancel()
        except* LeaseLostError:
            pass
        finally:
            if status.phase != "done":
                log.info("shard_lease_lost", shard_id=status.shard_id, checkpoint=status.persisted)
                if self.shards.get(key) is status:
                    del self.shards[key]  # started again if this worker takes the lease again
            finished.fire()
            self.changed.fire()

    # -- one shard -------------------------------------------------------------------------

    async def _shard_worker(self, status: ShardStatus, latest: bool, finished: Signal) -> None:
        with bound_contextvars(shard_id=status.shard_id):
            processor = ShardProcessor(
                self.config,
                stream_arn=status.stream_arn,
                shard_id=status.shard_id,
                clock=_ObservedClock(self.clock, status, self.changed),
                region=self.stream_source.region,
                account=self.stream_source.account,
            )
            status.processor = processor
            reader = self.stream_source.reader(status.stream_arn, status.shard_id)
            if latest:
                seq, save = await reader.seek_latest()
                if save:
                    await self._save(status, seq)
            try:
                await self._read_shard(status, processor, reader)
            finally:
                finished.fire()
                self.changed.fire()

    async def _save(self, status: ShardStatus, seq: str | None) -> None:
        name, arn, sid = self.config.name, status.stream_arn, status.shard_id
        await self.checkpoint_store.save(name, arn, sid, seq)
        status.checkpoint = status.persisted = seq

    async def _persist(self, status: ShardStatus) -> None:
        """Write the in-memory checkpoint to the store if it moved since the last write."""
        if status.checkpoint != status.persisted:
            await self._save(status, status.checkpoint)

    async def _read_shard(
        self, status: ShardStatus, processor: ShardProcessor, reader: ShardReader
    ) -> None:
        """Read, invoke and checkpoint until the shard is finished (or the task is cancelled).

        The checkpoint is written when the shard goes idle, every ``PERSIST_RECORDS`` records or
        ``PERSIST_SECONDS``, and on shutdown: a crash redelivers at most that much (Lambda's
        at-least-once), never skips. Reads go through the source's shard reader (locally
        ``StreamsClient.read_lambda_records``, GetRecords without iterator tokens), and an idle
        worker waits on what the reader gives (locally the shard's next commit; remotely the
        next poll).
        """
        config = self.config
        waited = False  # the batching window has been waited for the records at hand
        unsaved = 0
        saved_at = self.clock.now()
        try:
            while True:
                status.phase = "reading"
                committed = reader.waiter()
                try:
                    page = await reader.read(status.checkpoint, config.batch_size)
                except TrimmedDataAccessException:
                    log.warning("checkpoint_trimmed", checkpoint=status.checkpoint)
                    status.checkpoint = None
                    continue
                records = page.records
                if not records:
                    await self._persist(status)
                    if page.exhausted:
                        await self._finish(status, processor)
                        return
                    if committed is not None:  # taken before this read: no commit is missed
                        await self._idle(status, processor, committed)
                        await self._gather(status, reader)
                    continue
                window = config.maximum_batching_window_in_seconds
                if window and not waited and len(records) < config.batch_size:
                    status.phase, status.wake_at = "sleeping", self.clock.now() + window
                    self.changed.fire()
                    await self.clock.sleep(window)
                    status.wake_at = None
                    waited = True
                    continue  # read again: the window's records come with it
                waited = False
                self._check_lease(status)
                status.phase = "invoking"
                self.changed.fire()
                outcome = await processor.process(records)
                if outcome.checkpoint is not None:
                    status.checkpoint = outcome.checkpoint
                unsaved += len(records)
                if unsaved >= PERSIST_RECORDS or self.clock.now() - saved_at >= PERSIST_SECONDS:
                    await self._persist(status)
                    unsaved, saved_at = 0, self.clock.now()
                if len(records) < config.batch_size:
                    await self._gather(
                        status, reader
                    )  # caught up: the next records come as one batch
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self._persist(status)
                except LeaseLostError:  # another worker resumes from the lease's checkpoint
                    log.info("checkpoint_lease_lost", checkpoint=status.checkpoint)

    async def _finish(self, status: ShardStatus, processor: ShardProcessor) -> None:
        await processor.finish()
        await self.checkpoint_store.mark_done(self.config.name, status.stream_arn, status.shard_id)
        status.phase = "done"
        log.debug("shard_finished")

    async def _gather(self, status: ShardStatus, reader: ShardReader) -> None:
        """Let a busy writer's next records land before reading again (the reader decides:
        locally up to ``GATHER_COMMITS`` commits while writers are busy)."""
        status.phase = "gathering"
        await reader.gather()

    async def _idle(
        self, status: ShardStatus, processor: ShardProcessor, committed: Waiter
    ) -> None:
        """Wait for the shard's next records (and, with tumbling windows, the window's end).

        ``committed`` was taken before the read that found nothing, so no commit is missed
        (locally; remotely it is the next poll).
        """
        status.phase = "idle"
        self.changed.fire()
        window = processor.window_end
        if window is None:
            await committed.wait()
            return
        async with anyio.create_task_group() as tg:

            async def records() -> None:
                await committed.wait()
                tg.cancel_scope.cancel()

            async def window_closes() -> None:
                status.wake_at = window
                try:
                    await self.clock.sleep(max(0.0, window - self.clock.now()))
                    status.phase = "invoking"
                    self.changed.fire()
                    await processor.tick()
                finally:
                    status.wake_at = None
                tg.cancel_scope.cancel()

            tg.start_soon(records)
            tg.start_soon(window_closes)
