"""Where a mapping's records come from, and where its checkpoints go.

A :class:`~streamkit.mappings.poller.MappingRunner` runs Lambda's event-source-mapping loop
(lineage, batching window, idle waits, checkpoints) over a :class:`StreamSource`; the
:class:`~streamkit.mappings.processor.ShardProcessor` under it is the same for every source, so
every mapping option keeps its meaning whatever the source. Two sources exist:

- :class:`LocalSource`: the engine in this process (reads through
  ``StreamsClient.read_lambda_records``, waits for the shard's next commit, keeps the
  checkpoints in the engine's database: :class:`EngineCheckpoints`);
- :class:`streamkit.mappings.remote.RemoteSource`: a DynamoDB Streams endpoint over HTTP
  (AWS, ``streamkit serve``, any compatible server), through aiobotocore.

Checkpoints go through a :class:`CheckpointStore`: three calls keyed by mapping name, stream
ARN and shard id. :class:`MemoryCheckpoints` and :class:`SqliteCheckpoints` are the remote
source's; a lease table can be another (docs/scale-out.md).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import anyio

from streamkit.engine import Engine
from streamkit.engine.tables import stream_label
from streamkit.storage import checkpoints as checkpoint_rows
from streamkit.streams import StreamsClient
from streamkit.streams.client import describe_shards
from streamkit.streams.records import PackedRecord, parse_sequence_number, sequence_number

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "EngineCheckpoints",
    "LocalSource",
    "MemoryCheckpoints",
    "ShardReader",
    "SourcePage",
    "SqliteCheckpoints",
    "StreamSource",
    "Waiter",
]

#: A shard's checkpoint: the sequence number of the last record done (None: none yet) and
#: whether the shard is finished (closed and read to its end).
Checkpoint = tuple[str | None, bool]

GATHER_COMMITS = 32  # commits a caught-up local worker lets land while writers are busy


class CheckpointStore(Protocol):
    """How far each mapping has processed each shard (at-least-once: written after the work)."""

    async def load(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        """Return shard id -> checkpoint for one mapping's stream (shards never saved: absent)."""
        ...

    async def save(self, mapping: str, stream_arn: str, shard_id: str, seq: str | None) -> None:
        """Record that ``mapping`` processed ``shard_id`` up to and including ``seq``."""
        ...

    async def mark_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        """Record that ``mapping`` read the closed shard ``shard_id`` to its end."""
        ...


class Waiter(Protocol):
    """Something to wait on: an ``anyio.Event``, or a poll interval on a clock."""

    async def wait(self) -> Any: ...


class SourcePage(Protocol):
    """What one read returns: Lambda-shaped records (packed by the local source), and whether
    the shard is read to its end."""

    @property
    def records(self) -> Sequence[Mapping[str, Any] | PackedRecord]: ...

    @property
    def exhausted(self) -> bool: ...


class ShardReader(Protocol):
    """One shard of a stream, as one shard worker reads it."""

    def waiter(self) -> Waiter | None:
        """Return what to wait on for new records; take it *before* the read that may find
        none. None: read again at once (nothing known to wait on yet)."""
        ...

    async def read(self, after: str | None, limit: int) -> SourcePage:
        """Return up to ``limit`` records after sequence number ``after`` (None: from where the
        shard starts for this reader: its oldest record, or LATEST after :meth:`seek_latest`).

        Raises:
            TrimmedDataAccessException: records after ``after`` are gone (retention); the
                caller reads on from ``None`` (the oldest record), as Lambda does.
        """
        ...

    async def gather(self) -> None:
        """After a short batch: let a busy writer's next records land before reading again."""
        ...

    async def seek_latest(self) -> tuple[str | None, bool]:
        """Start this reader at LATEST; return the checkpoint that stands for it, and whether
        to save it (a source that cannot name the position keeps it in the reader)."""
        ...


class StreamSource(Protocol):
    """A DynamoDB Streams endpoint as the mapping runner uses it."""

    region: str
    account: str
    #: whether the LATEST position is saved as a checkpoint when a shard starts there
    latest_is_saved: bool

    async def prepare(self) -> None:
        """Called once when a runner starts (the local source creates its checkpoint table)."""
        ...

    async def current_stream(self, table: str) -> str | None:
        """Return the ARN of the table's newest stream, or None (no table, no stream)."""
        ...

    def changes(self) -> Waiter:
        """Return what to wait on before asking :meth:`current_stream` again."""
        ...

    def stream_predates(self, stream_arn: str, started_at: float) -> bool:
        """Whether the stream existed when the runner started (``starting_position`` applies
        to such streams only; a stream enabled later is read from its beginning)."""
        ...

    async def describe(self, stream_arn: str) -> list[dict[str, Any]]:
        """Return every shard of the stream (DescribeStream's, all pages).

        Raises:
            ResourceNotFoundException: the stream is gone.
        """
        ...

    def reader(self, stream_arn: str, shard_id: str) -> ShardReader:
        """Return a reader for one shard."""
        ...

    async def caught_up(self, stream_arn: str, shard_id: str, checkpoint: str | None) -> bool:
        """Whether an idle worker at ``checkpoint`` has read everything the shard holds."""
        ...


# -- the local engine ------------------------------------------------------------------------


class EngineCheckpoints:
    """Checkpoints in the engine's own database (the local source's, as before)."""

    def __init__(self, engine: Engine) -> None:
        self._backend = engine.backend

    async def load(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        return await self._backend.load_checkpoints(mapping, stream_arn)

    async def save(self, mapping: str, stream_arn: str, shard_id: str, seq: str | None) -> None:
        await self._backend.save_checkpoint(mapping, stream_arn, shard_id, seq)

    async def mark_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        await self._backend.mark_shard_done(mapping, stream_arn, shard_id)


class _LocalShard:
    """A shard of the engine's own stream: read inline, woken by the shard's next commit."""

    __slots__ = ("_arn", "_engine", "_keys_only", "_last", "_shard_id", "_sid", "_streams")

    def __init__(
        self, engine: Engine, streams: StreamsClient, arn: str, shard_id: str, keys_only: bool
    ) -> None:
        self._engine = engine
        self._streams = streams
        self._keys_only = keys_only
        self._arn = arn
        self._shard_id = shard_id
        self._sid: int | None = None
        self._last: tuple[str | None, int] | None = None  # where this reader read last

    def waiter(self) -> anyio.Event | None:
        return None if self._sid is None else self._streams.shard_event(self._sid)

    async def read(self, after: str | None, limit: int) -> SourcePage:
        """Read through the engine's shared pages: the mappings on this shard read each page
        once between them (``reuse``), and this reader reads fresh when it asks at the same
        place twice running (after a batching window, or a retry), so it sees what came since.
        A replication link's reader reads keys only (``read_change_keys``, never shared).
        """
        if self._keys_only:
            page = await self._streams.read_change_keys(
                stream_arn=self._arn, shard_id=self._shard_id, after_sequence=after, limit=limit
            )
            self._sid = page.sid
            return page
        again = self._last == (after, limit)
        self._last = (after, limit)
        page = await self._streams.read_lambda_records(
            stream_arn=self._arn,
            shard_id=self._shard_id,
            after_sequence=after,
            limit=limit,
            reuse=not again,
        )
        self._sid = page.sid
        return page

    async def gather(self) -> None:
        """While writers are busy, let up to ``GATHER_COMMITS`` more commits land.

        Woken by every commit, a worker would read one or two records at a time under a steady
        write load and pay a whole invocation for each; waiting for a lull makes batches of the
        load's size instead. An idle store (a quiet table, a test) is read again at once, so
        this adds no latency there.
        """
        await self._engine.backend.wait_lull(GATHER_COMMITS)

    async def seek_latest(self) -> tuple[str | None, bool]:
        head = await self._engine.backend.shard_head(self._arn, self._shard_id)
        return (None if head is None else sequence_number(head)), True


class LocalSource:
    """The engine in this process as a stream source (no polling: commits wake the readers).

    ``keys_only``: records come as ``StreamsClient.read_change_keys`` gives them (global
    tables' replication links) instead of Lambda's shape.
    """

    latest_is_saved = True

    def __init__(self, engine: Engine, *, keys_only: bool = False) -> None:
        self.engine = engine
        self.keys_only = keys_only
        self.region = engine.region
        self.account = engine.account

    def _streams(self) -> StreamsClient:
        streams = self.engine.streams
        if not isinstance(streams, StreamsClient):  # an engine opened without streams
            raise TypeError("mappings need an engine from streamkit.open_engine")
        return streams

    async def prepare(self) -> None:
        await self.engine.backend.ensure_checkpoints()

    async def current_stream(self, table: str) -> str | None:
        return self.engine.stream_arn(table)

    def changes(self) -> anyio.Event:
        return self.engine.catalog_waiter()

    def stream_predates(self, stream_arn: str, started_at: float) -> bool:
        return stream_arn.rsplit("/", 1)[-1] < stream_label(started_at)

    async def describe(self, stream_arn: str) -> list[dict[str, Any]]:
        return await describe_shards(self.engine.streams, stream_arn)

    def reader(self, stream_arn: str, shard_id: str) -> _LocalShard:
        return _LocalShard(self.engine, self._streams(), stream_arn, shard_id, self.keys_only)

    async def caught_up(self, stream_arn: str, shard_id: str, checkpoint: str | None) -> bool:
        head = await self.engine.backend.shard_head(stream_arn, shard_id)
        if head is None:
            return True
        return checkpoint is not None and parse_sequence_number(checkpoint) >= head


# -- checkpoint stores for the remote source --------------------------------------------------


class MemoryCheckpoints:
    """Checkpoints in this process's memory (lost on exit: a restart reads from the start or
    LATEST again). The remote source's default."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Checkpoint] = {}

    async def load(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        await anyio.lowlevel.checkpoint()
        return {
            sid: row
            for (m, arn, sid), row in self.rows.items()
            if m == mapping and arn == stream_arn
        }

    async def save(self, mapping: str, stream_arn: str, shard_id: str, seq: str | None) -> None:
        await anyio.lowlevel.checkpoint()
        _, done = self.rows.get((mapping, stream_arn, shard_id), (None, False))
        self.rows[mapping, stream_arn, shard_id] = (seq, done)

    async def mark_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        seq, _ = self.rows.get((mapping, stream_arn, shard_id), (None, False))
        self.rows[mapping, stream_arn, shard_id] = (seq, True)


class SqliteCheckpoints:
    """Checkpoints in a SQLite file of their own (the engine's table layout), so one worker
    resumes where it stopped. Each call runs in a worker thread; one process at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._conn = sqlite3.connect(os.fspath(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            checkpoint_rows.ensure_schema(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def _run(self, fn: Any, *args: Any) -> Any:
        def call() -> Any:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._conn, *args)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                return result

        return await anyio.to_thread.run_sync(call)

    async def load(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        rows: dict[str, Checkpoint] = await self._run(checkpoint_rows.load, mapping, stream_arn)
        return rows

    async def save(self, mapping: str, stream_arn: str, shard_id: str, seq: str | None) -> None:
        await self._run(checkpoint_rows.save, mapping, stream_arn, shard_id, seq)

    async def mark_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        await self._run(checkpoint_rows.mark_done, mapping, stream_arn, shard_id)
