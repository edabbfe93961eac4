"""What the layers above the engine need from its store and change log, by name.

The streams client, stream retention, the mapping runners, the test harness and the CLI read
and write the change log, the mapping checkpoints and the catalog through this one object
(``engine.backend``) rather than through the store and the engine's private state, so the
engine can change how it keeps them without those layers noticing.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Mapping
from typing import TypeVar

import anyio

from streamkit.model.schema import TableSpec
from streamkit.storage import changes, checkpoints
from streamkit.storage.changes import ChangeLog, StreamSettings
from streamkit.storage.sqlite import Store, StoreBacklog

__all__ = ["Checkpoint", "StreamBackend"]

T = TypeVar("T")

#: A mapping's position in one shard: (sequence number of the last record done, finished).
Checkpoint = tuple[str | None, bool]


class StreamBackend:
    """The engine's change log, mapping checkpoints and catalog, as named operations."""

    def __init__(self, store: Store, log: ChangeLog, tables: Mapping[str, TableSpec]) -> None:
        self._store = store
        self._log = log
        self._tables = tables  # the engine's catalog (a live view: never copied)

    # -- state ---------------------------------------------------------------------------

    @property
    def settings(self) -> StreamSettings:
        """How streams are laid out (shards, rollover, retention)."""
        return self._log.settings

    @property
    def closed(self) -> bool:
        """Whether the engine's ``open_engine`` block has exited."""
        return self._store.closed

    def check_open(self) -> None:
        """Raise ClosedError if the engine's ``open_engine`` block has exited."""
        self._store.check_open()

    @property
    def read_only(self) -> bool:
        """Whether another process owns the database (nothing here wakes on its commits)."""
        return self._store.read_only

    def has_table(self, name: str) -> bool:
        """Whether the catalog has a table of that name."""
        return name in self._tables

    def write_backlog(self) -> StoreBacklog:
        """Return the store's writes queued or waiting now (the harness's stall report)."""
        return self._store.backlog()

    # -- change notification -------------------------------------------------------------

    def shard_waiter(self, sid: int) -> anyio.Event:
        """Return an event set after the next commit that appends to shard ``sid``."""
        return self._log.waiter(sid)

    async def wait_lull(self, commits: int) -> None:
        """Wait while writers are busy, for at most ``commits`` more commits."""
        await self._store.wait_lull(commits)

    # -- the stream read side: the streams client's queries --------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a whole-stream query on a reader thread (see ``Store.read``)."""
        return await self._store.read(fn)

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short query inline, after one yield (see ``Store.read_point``)."""
        return await self._store.read_point(fn)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a short query inline, without yielding (see ``Store.read_now``)."""
        return self._store.read_now(fn)

    async def shard_head(self, stream_arn: str, shard_id: str) -> int | None:
        """Return the sequence number (as stored) of a shard's newest record, or None."""
        return await self._store.read(
            functools.partial(checkpoints.shard_head, stream_arn=stream_arn, shard_id=shard_id)
        )

    async def pending_records(self, stream_arn: str, shard_id: str, after: int | None) -> int:
        """Return how many of a shard's records come after ``after`` (stored form; None: all)."""
        return await self._store.read(
            functools.partial(
                checkpoints.pending, stream_arn=stream_arn, shard_id=shard_id, after=after
            )
        )

    # -- retention -------------------------------------------------------------------------

    async def roll_over_due(self, now: float) -> int:
        """Close every open shard older than the rollover interval and open its child."""
        return await self._store.write(lambda conn: self._log.roll_over_due(conn, now))

    async def trim(self, cutoff: float, budget: int) -> int:
        """Delete up to ``budget`` records created before ``cutoff``; return how many."""
        return await self._store.write(lambda conn: changes.trim_records(conn, cutoff, budget))

    async def drop_expired(self, cutoff: float) -> tuple[int, int]:
        """Remove shards closed, and streams disabled, before ``cutoff``; return how many."""

        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            shards, streams, gone = changes.drop_expired(conn, cutoff)
            for stid in gone:  # here, in the batch: none of this log's batches runs beside it
                self._log.forget_stream(stid)
            return shards, streams

        return await self._store.write(run)

    # -- mapping checkpoints -----------------------------------------------------------------

    async def ensure_checkpoints(self) -> None:
        """Create the checkpoints table if this database has none yet."""
        await self._store.write(checkpoints.ensure_schema)

    async def load_checkpoints(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        """Return shard id -> checkpoint for one mapping's stream."""
        return await self._store.read(lambda conn: checkpoints.load(conn, mapping, stream_arn))

    async def all_checkpoints(self) -> list[tuple[str, str, str, str | None, bool]]:
        """Return every checkpoint as (mapping, stream ARN, shard id, sequence, finished)."""
        return await self._store.read(checkpoints.all_rows)

    async def save_checkpoint(
        self, mapping: str, stream_arn: str, shard_id: str, seq: str | None
    ) -> None:
        """Record that ``mapping`` has processed ``shard_id`` up to and including ``seq``."""
        await self._store.write(
            lambda conn: checkpoints.save(conn, mapping, stream_arn, shard_id, seq)
        )

    async def mark_shard_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        """Record that ``mapping`` has read ``shard_id`` to the end of the closed shard."""
        await self._store.write(
            lambda conn: checkpoints.mark_done(conn, mapping, stream_arn, shard_id)
        )

    async def replace_checkpoints(
        self, mapping: str, stream_arn: str, positions: dict[str, Checkpoint]
    ) -> None:
        """Set one mapping's checkpoints on a stream to ``positions``, dropping the others."""
        await self._store.write(
            lambda conn: checkpoints.replace(conn, mapping, stream_arn, positions)
        )
