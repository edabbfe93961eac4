"""Global tables' replication: a link per ordered pair of replicas, and their supervisor.

A link A->B of table T is a built-in event-source mapping on A's stream: a
:class:`~streamkit.mappings.poller.MappingRunner` whose handler is a :class:`_Shipper`, so it
has what every mapping has (batches, checkpoints persisted in A's database, retry with
back-off, order per key, at-least-once). Shipping is state-based: for each key in a batch the
shipper reads A's *current* item and hidden version and ships it to B
(``engine.apply_replicated``, last writer wins) only if the version's region is A
(``engine.replication_changes`` reads just those). A write
that reached A from elsewhere is shipped by its own region, so nothing echoes back, and
shipping a state twice or late is harmless. A link reads only the records' keys
(``StreamsClient.read_change_keys``: no Lambda formatting), so a KEYS_ONLY stream replicates
too, and skips unread the records of changes that replication applied (a hidden flag on the
stored record, never shown in GetRecords or an event): those are shipped by their origin.

The :class:`Replicator` supervises the links of every global table of a region group: it
watches each engine's catalog, starts a link per ordered pair of replicas, back-fills a
CREATING replica from every ACTIVE one in bounded steps while writes go on, then calls
``engine.replica_ready``, and stops the links of a replica that is gone. Where a new link
starts (no checkpoint yet):

- towards a CREATING replica: the source stream's head at that moment, persisted at once, then
  the back-fill ships every item present (whatever was written before the head is in the
  back-fill, whatever after is in the link's records);
- from a CREATING replica, or between two ACTIVE ones: the stream's beginning (starting earlier
  is only wasted work, never wrong).

Options: ``delay`` (a record is shipped no earlier than its write time plus ``delay`` seconds
on the clock, to make local runs look like AWS), :meth:`Replicator.pause` /
:meth:`Replicator.resume` (a simulated outage: writes pile up on both sides and converge on
resume), :meth:`Replicator.status` (records behind and ReplicationLatency per link). The
harness drains the links through ``caught_up()`` and ``changed`` (the Replicator is itself one
such "drainable": every link shares its signal).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import anyio
from anyio.abc import TaskGroup, TaskStatus

from streamkit.clock import Clock, Signal, background_task, first_of
from streamkit.engine import Engine
from streamkit.errors import (
    ClosedError,
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from streamkit.logs import get_logger
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.poller import MappingRunner
from streamkit.mappings.source import LocalSource
from streamkit.streams.records import parse_sequence_number, sequence_number

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from streamkit.engine.keys import EncodedKey
    from streamkit.engine.regions import RegionGroup
    from streamkit.engine.replication import ReplicatedChange

    #: a back-fill's pages: ``engine.replicated_items`` or ``engine.replicated_tombstones``
    _PageReader = Callable[
        [str, EncodedKey | None, int], Awaitable[tuple[list[ReplicatedChange], EncodedKey | None]]
    ]

__all__ = [
    "BACKFILL_STEP",
    "LINK_BATCH",
    "LinkStatus",
    "ReplicationLink",
    "Replicator",
    "link_name",
]

log = get_logger(__name__)

#: records a link reads per batch (one read of the source, one transaction on the target)
LINK_BATCH: Final = 1000
#: items a back-fill ships per transaction on the new replica
BACKFILL_STEP: Final = 1000
_CREATING: Final = "CREATING"


def link_name(table: str, target: str) -> str:
    """The mapping name a link A->``target`` of ``table`` keeps its checkpoints under in A's
    database (``$`` keeps it apart from users' mappings, which are Python names)."""
    return f"$replication/{table}/{target}"


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """One link, as :meth:`Replicator.status` reports it.

    ``lag_ms`` is the ReplicationLatency figure: for the link's newest shipped batch, the time
    from the newest write in it (in its region) to its application in the target region (None
    before the first batch).
    """

    table: str
    source: str
    target: str
    records_behind: int
    lag_ms: float | None
    paused: bool
    backfilling: bool


@dataclass(eq=False)
class ReplicationLink:
    """A running link: ``table``'s changes from region ``source`` to region ``target``."""

    table: str
    source: str
    target: str
    engine: Engine  # the source region's
    runner: MappingRunner
    clock: Clock
    #: the latest shipped batch's ReplicationLatency in ms (None before any)
    lag_ms: float | None = None
    #: items shipped (won or not at the target), back-fills included
    shipped: int = 0
    backfilling: bool = False
    _delayed_until: float | None = None
    _resumed: Signal = field(default_factory=Signal)

    @property
    def changed(self) -> Signal:
        """Fired whenever the link's state changes (the Replicator's, shared by every link)."""
        return self.runner.changed

    @property
    def paused(self) -> bool:
        return not self.runner.config.enabled

    async def caught_up(self) -> bool:
        """Whether every change of the source so far is shipped (a paused link counts as
        caught up; so does a batch held back by ``delay`` until a time not reached yet)."""
        if self.paused:
            return True
        if self.backfilling:
            return False
        if self._delayed_until is not None and self._delayed_until > self.clock.now():
            return True
        return await self.runner.caught_up()

    async def records_behind(self) -> int:
        """Return how many of the source stream's records the link has not shipped yet."""
        engine = self.engine
        arn = engine.stream_arn(self.table)
        if arn is None:
            return 0
        known = await engine.backend.load_checkpoints(self.runner.config.name, arn)
        behind = 0
        for shard in await LocalSource(engine).describe(arn):
            sid = shard["ShardId"]
            status = self.runner.shards.get((arn, sid))
            seq, done = known.get(sid, (None, False))
            if status is not None:
                seq, done = status.checkpoint, status.phase == "done"
            if not done:
                after = None if seq is None else parse_sequence_number(seq)
                behind += await engine.backend.pending_records(arn, sid, after)
        return behind

    async def _unpaused(self) -> None:
        while True:
            waiter = self._resumed.waiter()
            if not self.paused:
                return
            await waiter.wait()

    async def _hold(self, written_at: float, delay: float) -> None:
        """Wait until ``written_at + delay`` on the clock (the ``delay`` option)."""
        due = written_at + delay
        if due <= self.clock.now():
            return
        self._delayed_until = due
        self.changed.fire()
        try:
            await self.clock.sleep(due - self.clock.now())
        finally:
            self._delayed_until = None
            self.changed.fire()


class _Shipper:
    """A link's handler: ships the batch's keys' current states that originated at the source."""

    def __init__(self, group: RegionGroup, delay: float) -> None:
        self.group = group
        self.delay = delay
        self.link: ReplicationLink | None = None

    def __repr__(self) -> str:  # the name a handler's logs carry
        link = self.link
        return "replication" if link is None else f"replication {link.source}->{link.target}"

    async def __call__(self, event: dict[str, Any], context: object) -> None:
        link = self.link
        assert link is not None
        wanted = [
            record["dynamodb"]["Keys"]
            for record in event["Records"]
            if "Keys" in record["dynamodb"]
        ]
        if not wanted:  # every change came from elsewhere: shipped by its own region
            return
        source = link.engine
        changes = await source.replication_changes(link.table, wanted)
        if not changes:
            return
        newest = max(c.version[0] for c in changes) / 1_000_000
        if self.delay:
            await link._hold(newest, self.delay)
        target = await self.group.engine(link.target)
        await target.apply_replicated(link.table, changes)
        link.shipped += len(changes)
        link.lag_ms = max(0.0, (link.clock.now() - newest) * 1000.0)


LinkKey = tuple[str, str, str]  # (table, source, target)


class Replicator:
    """Runs the replication links of every global table of a region group (a runtime worker).

    Args:
        group: the regions (``RegionGroup``: ``engines``, ``await engine(region)``).
        clock: the runtime's clock (``delay``, back-off, ReplicationLatency).
        delay: seconds a change waits before it is shipped (0: at once).
        batch_size: records a link reads per batch.
        backfill_step: items a back-fill ships per transaction.
    """

    def __init__(
        self,
        group: RegionGroup,
        clock: Clock,
        *,
        delay: float = 0.0,
        batch_size: int = LINK_BATCH,
        backfill_step: int = BACKFILL_STEP,
    ) -> None:
        if delay < 0:
            raise ValueError(f"delay must be 0 or more seconds, not {delay!r}")
        self.group = group
        self.clock = clock
        self.delay = delay
        self.batch_size = batch_size
        self.backfill_step = backfill_step
        #: fired whenever a link or the set of links changes (every link's ``changed``)
        self.changed = Signal()
        self._links: dict[LinkKey, ReplicationLink] = {}
        self._scopes: dict[LinkKey, anyio.CancelScope] = {}
        self._backfills: dict[LinkKey, anyio.CancelScope] = {}
        self._filled: set[LinkKey] = set()  # links that have back-filled their target
        self._readied: set[tuple[str, str]] = set()  # (table, target) marked ACTIVE
        self._paused: set[LinkKey] = set()
        self._poke = Signal()  # wakes the supervisor (a back-fill stopped early)

    # -- what the harness and users read ----------------------------------------------------

    @property
    def links(self) -> list[ReplicationLink]:
        """The running links."""
        return list(self._links.values())

    def link(self, table: str, source: str, target: str) -> ReplicationLink:
        """Return the running link ``source`` -> ``target`` of ``table``.

        Raises:
            KeyError: no such link runs (yet).
        """
        return self._links[table, source, target]

    async def caught_up(self) -> bool:
        """Whether every link is caught up and every catalog change has been acted on."""
        if self._plan_differs():
            return False
        for link in list(self._links.values()):
            if not await link.caught_up():
                return False
        return True

    async def status(self) -> list[LinkStatus]:
        """Return every link's status, sorted by (table, source, target)."""
        out = []
        for key in sorted(self._links):
            link = self._links[key]
            out.append(
                LinkStatus(
                    link.table,
                    link.source,
                    link.target,
                    await link.records_behind(),
                    link.lag_ms,
                    link.paused,
                    link.backfilling,
                )
            )
        return out

    # -- outages ----------------------------------------------------------------------------

    def pause(self, table: str, source: str, target: str) -> None:
        """Stop shipping ``table``'s changes from ``source`` to ``target`` (a simulated outage);
        writes pile up in both regions. The link keeps its position."""
        key = (table, source, target)
        self._paused.add(key)
        link = self._links.get(key)
        if link is not None and not link.paused:
            link.runner.disable()
        self.changed.fire()

    def resume(self, table: str, source: str, target: str) -> None:
        """Ship again from where the link stopped; both regions converge."""
        key = (table, source, target)
        self._paused.discard(key)
        link = self._links.get(key)
        if link is not None and link.paused:
            link.runner.enable()
            link._resumed.fire()
        self.changed.fire()

    # -- the supervisor ---------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Supervise the links until cancelled (an anyio ``TaskGroup.start`` target)."""
        background_task.set(True)  # sleeps on a manual clock wait for it to be advanced
        async with anyio.create_task_group() as tg:
            started = False
            while True:
                regions = set(self.group.engines)
                waiters = [e.catalog_waiter() for e in list(self.group.engines.values())]
                waiters.append(self._poke.waiter())
                opened: Signal | None = getattr(self.group, "opened", None)
                if opened is not None:  # a region opened later (serve opens them on demand)
                    waiters.append(opened.waiter())
                await self._reconcile(tg)
                if not started:
                    task_status.started()
                    started = True
                if set(self.group.engines) == regions:  # else watch the regions opened too
                    await first_of(waiters)

    def _wanted(self) -> tuple[dict[LinkKey, tuple[str, str]], dict[tuple[str, str], set[str]]]:
        """From the open engines' catalogs: the links that should run, each with the statuses
        of its (source, target); and for each (table, target) replica still CREATING, the
        ACTIVE replicas it is back-filled from (in any region's view: the control plane
        writes the catalogs one region after the other)."""
        links: dict[LinkKey, tuple[str, str]] = {}
        creating: dict[tuple[str, str], set[str]] = {}
        for region, engine in list(self.group.engines.items()):
            if engine.closed:
                continue
            for name, spec in engine.global_tables().items():
                statuses = dict(spec.replicas)
                if region not in statuses:
                    continue
                for target, status in statuses.items():
                    if status == _CREATING:
                        creating.setdefault((name, target), set()).update(
                            r for r, st in statuses.items() if st != _CREATING and r != target
                        )
                    if target != region:
                        links[name, region, target] = (statuses[region], status)
        return links, creating

    @staticmethod
    def _to_fill(links: dict[LinkKey, tuple[str, str]]) -> set[LinkKey]:
        """The links that back-fill their target: from an ACTIVE replica to a CREATING one."""
        return {k for k, (src, dst) in links.items() if src != _CREATING and dst == _CREATING}

    def _plan_differs(self) -> bool:
        links, creating = self._wanted()
        if set(links) != set(self._links):
            return True
        if any(k not in self._filled and k not in self._backfills for k in self._to_fill(links)):
            return True
        # filled but some catalog still says CREATING: being marked ACTIVE (or due to be)
        return any(
            all((t, s, d) in self._filled for s in sources) for (t, d), sources in creating.items()
        )

    def _ready_due(self, table: str, target: str, sources: set[str]) -> bool:
        """Whether every source has filled ``target`` and it is not marked ACTIVE yet."""
        return (table, target) not in self._readied and all(
            (table, s, target) in self._filled for s in sources
        )

    async def _reconcile(self, tg: TaskGroup) -> None:
        links, creating = self._wanted()
        for key in [k for k in self._links if k not in links]:
            await self._stop(key)
        for key, (source_status, target_status) in links.items():
            if key not in self._links:
                try:
                    await self._start(tg, key, source_status, target_status)
                except (ClosedError, ResourceNotFoundException) as exc:
                    log.warning("replication_link_not_started", link=key, error=str(exc))
        to_fill = self._to_fill(links)
        self._filled &= to_fill  # a replica ACTIVE (or gone) may be created again later
        self._readied &= set(creating)
        for key in to_fill:
            if key in self._links and key not in self._filled and key not in self._backfills:
                scope = anyio.CancelScope()
                self._backfills[key] = scope
                self._links[key].backfilling = True  # not caught up from now, not from its start
                tg.start_soon(self._backfill, scope, self._links[key])
        for (table, target), sources in creating.items():
            if self._ready_due(table, target, sources):
                await self._mark_ready(table, target, sources)
        self.changed.fire()

    async def _mark_ready(self, table: str, target: str, sources: set[str]) -> None:
        """Every ACTIVE replica has filled ``target``: the control plane marks it ACTIVE."""
        self._readied.add((table, target))
        for source in sorted(sources):
            engine = self.group.engines.get(source)
            if engine is not None and not engine.closed:
                try:
                    await engine.replica_ready(table, target)
                except (ClosedError, ResourceNotFoundException) as exc:
                    log.warning("replica_ready_failed", table=table, target=target, error=str(exc))
                    continue
                log.info("replica_ready", table=table, target=target)
                return

    async def _start(
        self, tg: TaskGroup, key: LinkKey, source_status: str, target_status: str
    ) -> None:
        table, source, target = key
        engine = await self.group.engine(source)
        # open the target too (serve opens regions on demand): its own links start with it,
        # so a backlog it holds is shipped after a restart even if nothing asks for it
        with contextlib.suppress(ValidationException, LimitExceededException):
            await self.group.engine(target)
        name = link_name(table, target)
        arn = engine.stream_arn(table)
        await engine.backend.ensure_checkpoints()
        if arn is not None and source_status != _CREATING and target_status == _CREATING:
            known = await engine.backend.load_checkpoints(name, arn)
            if not known:  # LATEST, persisted at once: the back-fill ships what came before
                for shard in await LocalSource(engine).describe(arn):
                    head = await engine.backend.shard_head(arn, shard["ShardId"])
                    seq = None if head is None else sequence_number(head)
                    await engine.backend.save_checkpoint(name, arn, shard["ShardId"], seq)
        shipper = _Shipper(self.group, self.delay)
        config = MappingConfig(
            name=name,
            table=table,
            handler=shipper,
            batch_size=self.batch_size,
            starting_position="TRIM_HORIZON",
            maximum_retry_attempts=-1,
            timeout=900.0,
            enabled=key not in self._paused,
        )
        runner = MappingRunner(
            engine,
            config,
            self.clock,
            changed=self.changed,
            source=LocalSource(engine, keys_only=True),
        )
        link = ReplicationLink(table, source, target, engine, runner, self.clock)
        shipper.link = link
        scope = anyio.CancelScope()
        self._links[key] = link
        self._scopes[key] = scope
        await tg.start(self._run_link, scope, runner)
        log.info("replication_link_started", table=table, source=source, target=target)

    @staticmethod
    async def _run_link(
        scope: anyio.CancelScope,
        runner: MappingRunner,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with scope:
            await runner.run(task_status=task_status)

    async def _stop(self, key: LinkKey) -> None:
        link = self._links.pop(key)
        self._scopes.pop(key).cancel()
        backfill = self._backfills.pop(key, None)
        if backfill is not None:
            backfill.cancel()
        table, source, target = key
        engine = link.engine
        arn = engine.stream_arn(table)
        if arn is not None and not engine.closed:  # a replica added again starts afresh
            await engine.backend.replace_checkpoints(link.runner.config.name, arn, {})
        log.info("replication_link_stopped", table=table, source=source, target=target)

    async def _backfill(self, scope: anyio.CancelScope, link: ReplicationLink) -> None:
        """Ship every item of the link's source to its (new) target, in bounded steps."""
        key = (link.table, link.source, link.target)
        with scope:
            try:
                await self._fill_from(link)
                self._filled.add(key)
                log.info("replica_backfilled", table=key[0], source=key[1], target=key[2])
            except (ResourceNotFoundException, ClosedError) as exc:
                log.warning("replica_backfill_stopped", link=key, error=str(exc))
            finally:
                link.backfilling = False
                if self._backfills.get(key) is scope:
                    del self._backfills[key]
                self._poke.fire()  # the supervisor marks the replica ready, or starts again
                self.changed.fire()

    async def _fill_from(self, link: ReplicationLink) -> None:
        """Ship every item of the source, then every tombstone (a delete made before the link
        started must still beat an older write the target holds or gets)."""
        await self._fill_pages(link, link.engine.replicated_items)
        await self._fill_pages(link, link.engine.replicated_tombstones)

    async def _fill_pages(self, link: ReplicationLink, read: _PageReader) -> None:
        after = None
        while True:
            await link._unpaused()
            page, after = await read(link.table, after, self.backfill_step)
            while True:
                target = await self.group.engine(link.target)
                appeared = target.catalog_waiter()
                try:
                    await target.apply_replicated(link.table, page)
                    break
                except ResourceNotFoundException:  # the replica's table is not created yet
                    await appeared.wait()
            link.shipped += len(page)
            if after is None:
                return
