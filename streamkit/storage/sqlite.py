"""The SQLite store: one writer with group commit and a small pool of readers, one thread each.

Every operation is a plain synchronous function ``fn(conn) -> T`` that runs whole on the
connection's worker thread, so an operation costs one thread hop however many statements it runs
(aiosqlite's per-statement await costs 15-80 us each on this machine).

Writes go through :meth:`Store.write`. Concurrent writers share commits: the first writer to
arrive becomes the leader and runs every queued operation in one ``BEGIN IMMEDIATE ... COMMIT``,
each inside its own SAVEPOINT, so one operation's failure (a failed condition, a bad value)
rolls back only that operation and every operation's result is what it would be alone. When the
batch is done, leadership passes to the oldest waiting writer; no task is ever spawned, so the
engine stays passive.

aiosqlite has no public call for "run this function on your thread"; ``_execute`` is that call
and has been stable since 0.16. It is used here and nowhere else, and pyproject pins the range.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

import aiosqlite
import anyio

from streamkit.errors import InternalServerError

__all__ = ["Durability", "Store", "StoreStatistics", "open_store"]

T = TypeVar("T")
Durability = Literal["normal", "full"]
_LEAD: Any = object()  # resolves a waiting writer's future: "you lead the next batch"


@dataclass(slots=True, eq=False)
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = field(default=(False, None))


class StoreStatistics(NamedTuple):
    """Counters of a store since it was opened."""

    commits: int  #: write transactions run (each may hold many operations)
    writes: int  #: write operations run


def _raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    return conn._conn  # the sqlite3 connection owned by aiosqlite's thread


async def _call(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    # aiosqlite's private "run fn on the connection thread"; see the module docstring.
    result: T = await conn._execute(fn, *args)  # type: ignore[no-untyped-call]
    return result


def _run_batch(conn: sqlite3.Connection, ops: list[_Op]) -> None:
    """Run ``ops`` in one transaction on the writer thread; record each op's outcome."""
    single = len(ops) == 1
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            if not single:
                conn.execute("SAVEPOINT op")
            try:
                op.outcome = (True, op.fn(conn))
            except Exception as exc:  # noqa: BLE001 - the op's own error is its result
                op.outcome = (False, exc)
                if single:
                    conn.execute("ROLLBACK")
                    return
                conn.execute("ROLLBACK TO op")
            if not single:
                conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        error = InternalServerError(f"storage failure: {exc}")
        for op in ops:
            op.outcome = (False, error)
        if not isinstance(exc, Exception):
            raise


class Store:
    """Owns the SQLite connections; a passive object that never starts tasks."""

    def __init__(
        self,
        writer: aiosqlite.Connection,
        readers: Sequence[aiosqlite.Connection] = (),
        point_reader: sqlite3.Connection | None = None,
    ) -> None:
        self._writer = writer
        self._readers = list(readers) or [writer]
        self._point_reader = point_reader
        self._reading = [0] * len(self._readers)
        self._queue: list[_Op] = []
        self._busy = False
        self._commits = 0
        self._writes = 0
        self._commit_hooks: list[Callable[[], None]] = []

    def add_commit_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` on the event loop after every write batch (committed or not).

        Hooks run after the batch's writers have their results; they must be quick and must
        not raise (the change log uses one to wake stream readers).
        """
        self._commit_hooks.append(hook)

    def statistics(self) -> StoreStatistics:
        """Return how many transactions and write operations the store has run."""
        return StoreStatistics(self._commits, self._writes)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read connection, outside any write transaction, in one hop."""
        slot = min(range(len(self._readers)), key=self._reading.__getitem__)
        conn = self._readers[slot]
        self._reading[slot] += 1
        try:
            return await _call(conn, fn, _raw(conn))
        finally:
            self._reading[slot] -= 1

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a small read (one key's row) on the event loop's own read connection.

        A point read takes a few microseconds, less than a hop to a reader thread and back, so
        on a database file it runs inline (WAL: it never waits for the writer). In memory there
        is no second connection, and this is :meth:`read`.
        """
        if self._point_reader is None:
            return await self.read(fn)
        await anyio.lowlevel.checkpoint()
        return fn(self._point_reader)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` atomically in a write transaction shared with concurrent writers.

        ``fn`` must raise to abort; whatever it wrote is rolled back and the exception is
        re-raised here. A write cancelled before its batch starts never runs; one cancelled while
        its batch runs is committed or rolled back as a whole, never in part.
        """
        await anyio.lowlevel.checkpoint_if_cancelled()
        loop = asyncio.get_running_loop()
        op = _Op(fn, loop.create_future())
        self._queue.append(op)
        if not self._busy:
            await self._lead()
        while True:
            try:
                result = await op.future
            except asyncio.CancelledError:
                self._abandon(op)
                raise
            if result is _LEAD:
                op.future = loop.create_future()
                await self._lead()
                continue
            return result  # type: ignore[no-any-return]

    def _abandon(self, op: _Op) -> None:
        if op in self._queue:
            self._queue.remove(op)
        fut = op.future
        if fut.done() and not fut.cancelled() and fut.exception() is None and fut.result() is _LEAD:
            self._hand_off()

    def _hand_off(self) -> None:
        """Pass leadership to the oldest waiting writer, or mark the store idle.

        While leadership is in transit the store stays busy, so a writer arriving meanwhile
        queues behind the new leader instead of leading a batch that would skip it.
        """
        while self._queue:
            head = self._queue[0]
            if not head.future.done():
                head.future.set_result(_LEAD)
                return
            self._queue.pop(0)
        self._busy = False

    async def _lead(self) -> None:
        self._busy = True
        try:
            batch = [op for op in self._queue if not op.future.done()]
            self._queue = []
            if not batch:
                return
            with anyio.CancelScope(shield=True):
                await _call(self._writer, _run_batch, _raw(self._writer), batch)
            self._commits += 1
            self._writes += len(batch)
            for op in batch:
                if op.future.done():
                    continue
                ok, value = op.outcome
                if ok:
                    op.future.set_result(value)
                else:
                    op.future.set_exception(value)
            for hook in self._commit_hooks:
                hook()
        finally:
            self._hand_off()

    async def checkpoint(self) -> None:
        """Fold the WAL back into the database file (a no-op in memory)."""
        await _call(self._writer, _raw(self._writer).execute, "PRAGMA wal_checkpoint(TRUNCATE)")


def _connect_args(path: str | None) -> tuple[str, bool]:
    if path is None or path == ":memory:":
        return ":memory:", False
    return path, True


@asynccontextmanager
async def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    durability: Durability = "normal",
    setup: Callable[[sqlite3.Connection], None] | None = None,
    readers_count: int = 2,
) -> AsyncIterator[Store]:
    """Open the SQLite store at ``path`` (``None`` or ``":memory:"``: in memory).

    Args:
        path: the database file; its folder is created if missing.
        durability: ``"normal"`` (WAL, synchronous=NORMAL: a power cut may lose the last
            commits, never corrupt) or ``"full"`` (synchronous=FULL: every commit is durable).
        setup: run once on the writer connection before use (schema migrations).
        readers_count: read connections (on disk); each read goes to the least busy one.
    """
    target, on_disk = _connect_args(None if path is None else os.fspath(path))
    if on_disk:
        await anyio.Path(target).parent.mkdir(parents=True, exist_ok=True)
    sync = "FULL" if durability == "full" else "NORMAL"
    async with aiosqlite.connect(target, isolation_level=None, check_same_thread=False) as writer:
        await writer.execute("PRAGMA journal_mode=WAL" if on_disk else "PRAGMA journal_mode=MEMORY")
        await writer.execute(f"PRAGMA synchronous={sync}")
        await writer.execute("PRAGMA busy_timeout=5000")
        if setup is not None:
            await _call(writer, setup, _raw(writer))
        if not on_disk:
            yield Store(writer)
            return
        async with contextlib.AsyncExitStack() as stack:
            readers = []
            for _ in range(readers_count):
                reader = await stack.enter_async_context(
                    aiosqlite.connect(target, isolation_level=None, check_same_thread=False)
                )
                await reader.execute("PRAGMA busy_timeout=5000")
                await reader.execute("PRAGMA query_only=1")
                readers.append(reader)
            point = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
            stack.callback(point.close)
            point.execute("PRAGMA busy_timeout=5000")
            point.execute("PRAGMA query_only=1")
            yield Store(writer, readers, point)
