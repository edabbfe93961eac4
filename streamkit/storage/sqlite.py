"""The SQLite store: one writer with group commit, reads inline or on a small reader pool.

Every operation is a plain synchronous function ``fn(conn) -> T`` that runs whole on one
connection, so it costs one hand-off however many statements it runs (aiosqlite's per-statement
await costs 15-80 us each on this machine).

Writes go through :meth:`Store.write`. Concurrent writers share commits: every operation queued
in the same turn of the event loop runs in one ``BEGIN IMMEDIATE ... COMMIT``, each inside its
own SAVEPOINT, so one operation's failure (a failed condition, a bad value) rolls back only that
operation and every operation's result is what it would be alone. Where the batch runs depends
on durability:

- ``"normal"`` (the default): inline on the event loop, from a callback scheduled by the first
  writer of the turn (under load, one turn later, so requests read from sockets meanwhile
  join the batch). A WAL commit without fsync costs tens of microseconds, less than two
  thread hand-offs, and the two threads would only take turns on the GIL anyway. Checkpoints,
  which do sync, run on a thread (:mod:`streamkit.storage.wal`).
- ``"full"``: every COMMIT syncs (milliseconds), so batches run on aiosqlite's writer thread:
  the first writer to arrive leads and runs every queued operation; when the batch is done,
  leadership passes to the oldest waiting writer.

No task is ever spawned either way, so the engine stays passive.

Faults (docs/architecture.md, "Faults"): every queued write is always resolved, with its result
or an error. The inline writer never waits for SQLite's lock on the event loop: its connection
has no busy timeout, and a batch that finds the write lock taken (another process) is retried
from a timer with back-off until ``LOCK_TIMEOUT``, then fails with InternalServerError. SQLite
errors (disk full, I/O) fail the whole batch, rolled back, with an InternalServerError naming
the cause. A closed store refuses every call with ClosedError.

Small reads (:meth:`Store.read_point`: items, Query and Scan pages, stream records) run inline
on the writer's connection; whole-table reads (:meth:`Store.read`) go to a pool of aiosqlite
reader threads. aiosqlite has no public call for "run this function on your thread";
``_execute`` is that call and has been stable since 0.16. It and ``_conn`` are used in
:func:`_call` and :func:`_raw` and nowhere else, and pyproject pins the range: its public API,
one statement per await, costs 2-4x the CPU time (docs/architecture.md, ``bench/hops.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import aiosqlite
import anyio

from streamkit.errors import ClosedError, DatabaseFileError, InternalServerError
from streamkit.storage import wal

__all__ = [
    "BatchHooks",
    "Durability",
    "Store",
    "StoreBacklog",
    "StoreConnection",
    "StoreStatistics",
    "check_database_file",
    "open_store",
    "statements",
]

T = TypeVar("T")
Durability = Literal["normal", "full"]
BUSY_WINDOW = 0.001  # seconds since the last inline batch within which the store counts as busy
# Prepared statements the writer keeps (sqlite3's default is 128). Each table has its own
# statements, up to seven of them for many-key reads (storage.tables.get_sized_rows): with 30
# tables in rotation, 128 re-prepared them and a key cost 5.6 us against 2.9. 210 such
# statements take ~6.5 MB.
STATEMENT_CACHE = 512
NESTED_SAVEPOINTS = 32  # a batch's ops whose savepoints stay open at once (see _run_batch)
_LEAD: Any = object()  # resolves a waiting writer's future: "you lead the next batch"
LOCK_TIMEOUT = 5.0  # seconds a write waits for another process to release SQLite's write lock
#: databases the writer's connection may have attached at once (SQLite's own default limit):
#: a restore's backup file, an import's scratch files; reserved with Store.attachment_slots
ATTACH_LIMIT = 10
_RETRY_FIRST, _RETRY_MAX = 0.001, 0.05  # back-off between two tries of an inline batch
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_SQLITE_HEADER = b"SQLite format 3\x00"
_CLOSED = "the store is closed: its open_store (or open_engine) block has exited"


@dataclass(slots=True, eq=False)
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = field(default=(False, None))


class BatchHooks(Protocol):
    """What a write batch tells a component that buffers rows until the batch commits (the
    change log: storage.changes, which writes a batch's stream records as one block per shard).

    All run on the writer's thread, inside :func:`_run_batch`: ``begin`` after BEGIN, ``mark``
    before each operation, ``rewind`` after an operation was rolled back (drop what it
    buffered since its ``mark``), ``before_commit`` right before COMMIT (write the buffer; an
    error there fails the whole batch), ``abort`` when the whole batch is rolled back.
    """

    def begin(self) -> None: ...

    def mark(self) -> None: ...

    def rewind(self) -> None: ...

    def before_commit(self, conn: sqlite3.Connection) -> None: ...

    def abort(self) -> None: ...


class StoreStatistics(NamedTuple):
    """Counters of a store since it was opened."""

    commits: int  #: write transactions run (each may hold many operations)
    writes: int  #: write operations run


class StoreBacklog(NamedTuple):
    """What a store has not done yet (the test harness's ``drain()`` shows it when it stalls)."""

    queued: int  #: writes waiting for their batch
    running: bool  #: a batch is running on the writer's thread
    lulls: int  #: ``wait_lull`` callers still waiting
    locked_for: float | None  #: seconds the queued batch has waited for another process's lock


class StoreConnection(sqlite3.Connection):
    """A connection the store opened: it keeps one cursor for the statements of every write.

    ``Connection.execute`` makes a new cursor per call, about 0.8 us here: a third of a short
    statement's cost, and a write runs five or six (BEGIN, SAVEPOINT, the old row, the new
    one, its stream record, RELEASE, COMMIT). :func:`statements` hands that cursor out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements = self.cursor()


def statements(conn: sqlite3.Connection) -> sqlite3.Cursor | sqlite3.Connection:
    """Return what runs a statement on ``conn`` cheapest: the store's kept cursor, or ``conn``.

    Only for a statement whose rows are all read before the next one runs on the connection
    (an INSERT, UPDATE or DELETE, or a one-row read taken with ``fetchone``): the cursor is
    shared, and running a statement on it ends the one it ran before.
    """
    if type(conn) is StoreConnection:
        return conn.statements
    return conn


def _raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    return conn._conn  # the sqlite3 connection owned by aiosqlite's thread


async def _call(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    # aiosqlite's private "run fn on the connection thread"; see the module docstring.
    result: T = await conn._execute(fn, *args)  # type: ignore[no-untyped-call]
    return result


#: SQLite errors that are the file's fault, not one operation's: they fail the whole batch
_FILE_FAULTS = frozenset([_READONLY, _IOERR, _CORRUPT, _FULL, _NOTADB])


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _storage_error(exc: BaseException, name: str) -> InternalServerError:
    """Return the 500 a client gets for a SQLite failure of the database file ``name``."""
    code = _primary_code(exc)
    if code in (_BUSY, _LOCKED):
        cause = "the database file is locked by another process"
    elif code == _FULL:
        cause = "the disk is full or the database file reached its size limit; nothing was written"
    elif code == _READONLY:
        cause = "the database file is read-only"
    elif code == _IOERR:
        cause = "a disk I/O error occurred"
    elif code in (_CORRUPT, _NOTADB):
        cause = "the database file is corrupt"
    else:
        cause = "storage failure"
    return InternalServerError(f"{cause} ({name}: {exc})")


def _run_batch(
    conn: sqlite3.Connection, ops: list[_Op], name: str, hooks: BatchHooks | None = None
) -> bool:
    """Run ``ops`` in one transaction on the writer; record each op's outcome.

    Return False, running nothing, if another connection holds the write lock; any other
    failure of the batch (disk full, I/O error) rolls it back and fails every op. ``hooks``
    hear of the batch's steps (:class:`BatchHooks`).
    """
    single = len(ops) == 1
    run = statements(conn).execute
    try:
        try:
            run("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _primary_code(exc) in (_BUSY, _LOCKED):
                return False
            raise
        if hooks is not None:
            hooks.begin()
        for index, op in enumerate(ops):
            # Each op runs in a savepoint of its own, left open inside the one before: ROLLBACK
            # TO still undoes that op alone, COMMIT releases them all, and no op pays for a
            # RELEASE. Every NESTED_SAVEPOINTS ops the group's first ("ops") is released, and
            # every one after it, so SQLite never holds more than that many open.
            first = index % NESTED_SAVEPOINTS == 0
            if not single:
                if first and index:
                    run("RELEASE ops")
                run("SAVEPOINT ops" if first else "SAVEPOINT op")
            if hooks is not None:
                hooks.mark()
            try:
                op.outcome = (True, op.fn(conn))
            except Exception as exc:
                if _primary_code(exc) in _FILE_FAULTS or not conn.in_transaction:
                    raise  # a fault of the file, not of the op (SQLite may have rolled back)
                op.outcome = (False, exc)
                if single:
                    run("ROLLBACK")
                    if hooks is not None:
                        hooks.abort()
                    return True
                run("ROLLBACK TO ops" if first else "ROLLBACK TO op")
                if hooks is not None:
                    hooks.rewind()
        if hooks is not None:
            hooks.before_commit(conn)
        run("COMMIT")
    except BaseException as exc:
        if hooks is not None:
            hooks.abort()
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        error = _storage_error(exc, name)
        for op in ops:
            op.outcome = (False, error)
        if not isinstance(exc, Exception):
            raise
    return True


class Store:
    """Owns the SQLite connections; a passive object that never starts tasks."""

    #: True for a store that only reads (storage.readonly): another process owns the file
    read_only: bool = False

    def __init__(
        self,
        writer: sqlite3.Connection | aiosqlite.Connection,
        *,
        readers: Sequence[aiosqlite.Connection] = (),
        point_reader: sqlite3.Connection | None = None,
        checkpointer: wal.WalCheckpointer | None = None,
        name: str = ":memory:",
    ) -> None:
        """``writer``: a plain connection writes inline, an aiosqlite one on its thread (which
        needs ``point_reader``, a read-only connection for :meth:`read_point`). ``name``: the
        database file, for error messages."""
        if isinstance(writer, sqlite3.Connection):
            self._inline: sqlite3.Connection | None = writer
            self._thread: aiosqlite.Connection | None = None
            # the writer's connection has the warmest cache: SQLite drops a connection's whole
            # page cache when another connection has committed, never its own
            point = writer
        else:
            assert point_reader is not None, "a store writing on a thread needs a point reader"
            self._inline, self._thread, point = None, writer, point_reader
        self._readers = list(readers)
        self._point_reader = point
        self._reading = [0] * len(self._readers)
        self._queue: list[_Op] = []
        self._busy = False
        self._commits = 0
        self._writes = 0
        self._commit_hooks: list[Callable[[], None]] = []
        self._batch_hooks: BatchHooks | None = None
        self._checkpointer = checkpointer
        self._last_flush = 0.0
        self._lulls: list[tuple[int, anyio.Event]] = []  # wait_lull's (target commit, event)
        self._name = name
        self._closed = False
        self._lock_timeout = LOCK_TIMEOUT
        self._locked_since: float | None = None  # when the queued batch first found the lock
        self._retry_delay = _RETRY_FIRST
        self._retry: asyncio.TimerHandle | None = None
        self._attach_slots: anyio.Semaphore | None = None  # made on first use, in the loop
        self._attach_lock: anyio.Lock | None = None

    @property
    def path(self) -> str | None:
        """The database file, or None in memory."""
        return None if self._name == ":memory:" else self._name

    @property
    def closed(self) -> bool:
        """Whether the store is closed (its ``open_store`` block has exited)."""
        return self._closed

    def check_open(self) -> None:
        """Raise ClosedError if the store is closed."""
        if self._closed:
            raise ClosedError(_CLOSED)

    def close(self) -> None:
        """Refuse every later call with ClosedError; fail the writes still queued.

        ``open_store`` calls this on exit, before it closes the connections.
        """
        if self._closed:
            return
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        queued, self._queue = self._queue, []
        for op in queued:
            if not op.future.done():
                op.future.set_exception(ClosedError(_CLOSED))
        lulls, self._lulls = self._lulls, []
        for _, event in lulls:
            event.set()

    def add_commit_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` on the event loop after every write batch (committed or not).

        Hooks run after the batch's writers have their results; they must be quick and must
        not raise (the change log uses one to wake stream readers).
        """
        self._commit_hooks.append(hook)

    def set_batch_hooks(self, hooks: BatchHooks) -> None:
        """Tell ``hooks`` of every write batch's steps (:class:`BatchHooks`); one per store."""
        self._batch_hooks = hooks

    async def wait_lull(self, batches: int) -> None:
        """Return after ``batches`` more write batches, or once writers pause, if sooner.

        Writers "pause" when a turn of the event loop passes with no write queued or running:
        a task woken by a commit that writes again at once keeps the store busy. Stream
        readers use this to let records pile up into bigger batches under load only.
        """
        self.check_open()
        event = anyio.Event()
        self._lulls.append((self._commits + batches, event))
        if not self._queue and not self._busy:  # else the coming batch looks, after its writers
            asyncio.get_running_loop().call_soon(self._end_lulls_if_idle)
        await event.wait()

    def _end_lulls_if_idle(self) -> None:
        if self._lulls and not self._queue and not self._busy:
            lulls, self._lulls = self._lulls, []
            for _, event in lulls:
                event.set()

    def statistics(self) -> StoreStatistics:
        """Return how many transactions and write operations the store has run."""
        return StoreStatistics(self._commits, self._writes)

    def backlog(self) -> StoreBacklog:
        """Return what is queued or waiting now (no I/O)."""
        queued = sum(1 for op in self._queue if not op.future.done())
        locked = self._locked_since
        since = None if locked is None else asyncio.get_running_loop().time() - locked
        return StoreBacklog(queued, self._busy, len(self._lulls), since)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader thread, outside any write transaction (big reads)."""
        self.check_open()
        if not self._readers:  # in memory there is one connection
            return await self.read_point(fn)
        slot = min(range(len(self._readers)), key=self._reading.__getitem__)
        conn = self._readers[slot]
        self._reading[slot] += 1
        try:
            return await _call(conn, fn, _raw(conn))
        finally:
            self._reading[slot] -= 1

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the event loop, after a yield: item reads, Query and Scan pages.

        A point read takes a few microseconds, less than a hop to a reader thread and back; a
        page of items is mostly Python decoding, which would hold the GIL on a reader thread
        anyway. So these run inline: on the writer's own connection (between write batches;
        its page cache stays warm, while SQLite drops another connection's cache after every
        commit it did not make), or with ``durability="full"`` on a read-only connection of its
        own (WAL: it never waits for the writer).
        """
        self.check_open()
        await asyncio.sleep(0)  # anyio.lowlevel.checkpoint() is this plus a backend lookup
        self.check_open()
        return fn(self._point_reader)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """:meth:`read_point` without the yield, for a caller that must not be interleaved."""
        self.check_open()
        return fn(self._point_reader)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` atomically in a write transaction shared with concurrent writers.

        ``fn`` must raise to abort; whatever it wrote is rolled back and the exception is
        re-raised here. A write cancelled before its batch starts never runs; one cancelled while
        its batch runs is committed or rolled back as a whole, never in part.
        """
        if self._closed:
            raise ClosedError(_CLOSED)
        loop = asyncio.get_running_loop()
        op = _Op(fn, loop.create_future())
        if self._inline is not None:
            # No cancellation check (it costs more than the rest of this method): the batch
            # runs from a later callback, and a cancellation already pending cancels the
            # future first, so the batch skips the op. asyncio's does so at this await;
            # anyio's delivery callback, queued every loop turn while the scope holds tasks,
            # runs before the batch's (tests/storage pins this down).
            self._queue.append(op)
            if len(self._queue) == 1:
                if loop.time() - self._last_flush < BUSY_WINDOW:  # under load: one more turn,
                    loop.call_soon(loop.call_soon, self._flush, self._inline)  # for more joiners
                else:
                    loop.call_soon(self._flush, self._inline)
            return await op.future  # type: ignore[no-any-return]
        await anyio.lowlevel.checkpoint_if_cancelled()  # the leader runs the batch at once
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
        if self._lulls:  # idle: a batch whose writes were all cancelled ran no _finish
            asyncio.get_running_loop().call_soon(self._end_lulls_if_idle)

    def _flush(self, conn: sqlite3.Connection) -> None:
        self._retry = None
        if self._closed:  # close() failed the queue
            return
        loop = asyncio.get_running_loop()
        self._last_flush = loop.time()
        batch = [op for op in self._queue if not op.future.done()]
        if batch and not _run_batch(conn, batch, self._name, self._batch_hooks):
            self._wait_for_lock(conn, loop, batch)  # the queue stays: later writers join it
            return
        self._queue = []
        self._locked_since = None
        if batch:
            self._finish(batch)
            if self._checkpointer is not None and self._commits % wal.CHECKPOINT_COMMITS == 0:
                self._checkpointer.nudge(conn)
        elif self._lulls:  # every queued write was cancelled: no commit comes to end a lull
            loop.call_soon(self._end_lulls_if_idle)

    def _wait_for_lock(
        self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, batch: list[_Op]
    ) -> None:
        """Another connection holds the write lock: try the queue again later, or give up.

        The event loop never waits: the retry is a timer, with back-off, and after
        ``LOCK_TIMEOUT`` every queued write fails with a 500 naming the cause.
        """
        now = loop.time()
        if self._locked_since is None:
            self._locked_since, self._retry_delay = now, _RETRY_FIRST
        elif now - self._locked_since >= self._lock_timeout:
            self._locked_since = None
            self._queue = []
            error = self._lock_error()
            for op in batch:
                op.outcome = (False, error)
            self._finish(batch)
            return
        self._retry = loop.call_later(self._retry_delay, self._flush, conn)
        self._retry_delay = min(2 * self._retry_delay, _RETRY_MAX)

    def _lock_error(self) -> InternalServerError:
        return InternalServerError(
            "the database file is locked by another process "
            f"({self._name}: no write lock within {self._lock_timeout:g} s; "
            "is another program writing to it?)"
        )

    def _finish(self, batch: list[_Op]) -> None:
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
        if self._lulls:
            waiting = []
            for target, event in self._lulls:
                if target <= self._commits:
                    event.set()
                else:
                    waiting.append((target, event))
            self._lulls = waiting
            asyncio.get_running_loop().call_soon(self._end_lulls_if_idle)

    async def _lead(self) -> None:
        self._busy = True
        try:
            batch = [op for op in self._queue if not op.future.done()]
            self._queue = []
            if not batch:
                return
            assert self._thread is not None
            try:
                with anyio.CancelScope(shield=True):
                    # the thread's connection waits up to LOCK_TIMEOUT for the write lock
                    raw = _raw(self._thread)  # ValueError once aiosqlite has closed it
                    if not await _call(
                        self._thread, _run_batch, raw, batch, self._name, self._batch_hooks
                    ):
                        for op in batch:
                            op.outcome = (False, self._lock_error())
            except BaseException as exc:
                # the batch never ran (the connection is closed or failed): fail every op
                error = ClosedError(_CLOSED) if self._closed else _storage_error(exc, self._name)
                for op in batch:
                    if op.outcome == (False, None):
                        op.outcome = (False, error)
                if not isinstance(exc, Exception):
                    raise
            finally:
                self._finish(batch)
        finally:
            self._hand_off()

    @asynccontextmanager
    async def attachment_slots(self, count: int) -> AsyncIterator[None]:
        """Reserve ``count`` of the :data:`ATTACH_LIMIT` databases the writer's connection may
        have attached at once, for the block (attach them with :meth:`run_between_writes`).

        Waits while others hold them. A reservation is taken whole, one at a time, so two
        callers never each hold part of what they need and wait for each other; SQLite would
        refuse the eleventh ATTACH instead ("too many attached databases").
        """
        if self._attach_slots is None or self._attach_lock is None:
            self._attach_slots, self._attach_lock = anyio.Semaphore(ATTACH_LIMIT), anyio.Lock()
        slots, held = self._attach_slots, 0
        try:
            async with self._attach_lock:
                while held < min(count, ATTACH_LIMIT):
                    await slots.acquire()
                    held += 1
            yield
        finally:
            for _ in range(held):
                slots.release()

    async def run_between_writes(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the writer's connection between two write batches, outside any
        transaction: ATTACH and DETACH, which SQLite refuses inside one (storage.scratch).

        A batch begins and commits within one call (one callback of the event loop inline,
        one call of aiosqlite's thread otherwise), so no transaction is open between them.
        """
        self.check_open()
        if self._inline is not None:
            return fn(self._inline)
        assert self._thread is not None
        return await _call(self._thread, fn, _raw(self._thread))


def _connect_args(path: str | None) -> tuple[str, bool]:
    if path is None or path == ":memory:":
        return ":memory:", False
    return path, True


def _connect(target: str) -> sqlite3.Connection:
    return sqlite3.connect(
        target,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=STATEMENT_CACHE,
        factory=StoreConnection,
    )


def _configure(
    conn: sqlite3.Connection,
    on_disk: bool,
    sync: str,
    busy_ms: int,
    setup: Callable[[sqlite3.Connection], None] | None,
) -> None:
    conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0 and setup is not None:
        _create(conn, on_disk, setup)
    elif setup is not None:  # first: a file it refuses (a newer schema) is left as it was
        setup(conn)
    conn.execute("PRAGMA journal_mode=WAL" if on_disk else "PRAGMA journal_mode=MEMORY")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("PRAGMA temp_store=MEMORY")
    # Some builds (Debian's, so most Linux Pythons) turn secure_delete on, which overwrites
    # every freed page with zeros: dropping a 1,000,000-item table then wrote its whole 325 MB
    # to the WAL (2.7 s, against 0.12 s without), and freed stream blocks and large items cost
    # page writes too. A local database needs no shredding; off on every build alike.
    conn.execute("PRAGMA secure_delete=OFF")


def _create(
    conn: sqlite3.Connection, on_disk: bool, setup: Callable[[sqlite3.Connection], None]
) -> None:
    """Give a new (empty) database its journal mode, then its schema, without syncing.

    Run in the default rollback journal at the default synchronous=FULL, as an existing file's
    migration is, a new region's schema took 16 fdatasyncs: ~100 ms of ``streamkit serve``'s
    first reply on a busy disk (bench/startup.py always starts on a new folder). The file
    holds nothing yet, so a power cut during these unsynced writes can lose only them: the
    schema is in the WAL, whose frames are checksummed (a torn commit is ignored, and the next
    open migrates again), and the next commit (at FULL) or checkpoint (at NORMAL) syncs the
    WAL first. At worst page 1 is torn, and :func:`check_database_file` refuses the file
    without changing it.
    """
    if on_disk:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA journal_mode=WAL")
    setup(conn)


def _read_only(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={int(LOCK_TIMEOUT * 1000)}")
    conn.execute("PRAGMA query_only=1")


def check_database_file(path: str | os.PathLike[str]) -> None:
    """Refuse, before SQLite touches it, a database file streamkit cannot use safely.

    Creates the folder if missing. Checks that the folder and any existing file (and its
    ``-wal`` and ``-shm`` companions) can be written, and that an existing non-empty file is
    a whole SQLite database: its header, and as many bytes as the header says it has. Never
    changes an existing file.

    Raises:
        DatabaseFileError: one line naming the file and the cause.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DatabaseFileError(f"cannot create the data folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseFileError(
            f"the data folder {folder} is not writable (SQLite needs to create files there)"
        )
    for name in (target, target + "-wal", target + "-shm"):
        if os.path.exists(name) and not os.access(name, os.R_OK | os.W_OK):
            raise DatabaseFileError(f"the database file {name} is not readable and writable")
    try:
        with open(target, "rb") as file:
            header = file.read(100)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return  # a new database
    except OSError as exc:
        raise DatabaseFileError(f"cannot read the database file {target}: {exc.strerror}") from None
    problem = _header_problem(header, size)
    if problem is not None:
        raise DatabaseFileError(
            f"{target} is not a usable streamkit database: {problem}; "
            "streamkit will not change it (restore it from a backup, or move it away)"
        )


def _header_problem(header: bytes, size: int) -> str | None:
    """Return what is wrong with a database file's first 100 bytes and size, or None."""
    if size == 0:
        return None  # SQLite treats an empty file as a new database
    if not header.startswith(_SQLITE_HEADER):
        return "it is not a SQLite database file (wrong header)"
    if size < 100:
        return f"it is truncated ({size} bytes)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and pages * page_size > size:  # the page count is valid
        return f"it is truncated ({size} bytes where its header says {pages * page_size})"
    return None


def _file_error(target: str, exc: BaseException) -> DatabaseFileError:
    """Return the refusal for a SQLite error met while opening ``target``."""
    code = _primary_code(exc)
    if code in (_CORRUPT, _NOTADB):
        cause = f"it is corrupt ({exc}); streamkit will not change it"
    elif code in (_READONLY, _CANTOPEN, _IOERR):
        cause = f"it cannot be opened for writing ({exc})"
    elif code in (_BUSY, _LOCKED):
        cause = f"another process holds its lock ({exc})"
    else:
        cause = str(exc)
    return DatabaseFileError(f"cannot use the database file {target}: {cause}")


@asynccontextmanager
async def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    durability: Durability = "normal",
    setup: Callable[[sqlite3.Connection], None] | None = None,
    readers_count: int = 2,
    checked: bool = False,
) -> AsyncIterator[Store]:
    """Open the SQLite store at ``path`` (``None`` or ``":memory:"``: in memory).

    Args:
        path: the database file; its folder is created if missing.
        durability: ``"normal"`` (WAL, synchronous=NORMAL: a power cut may lose the last
            commits, never corrupt) or ``"full"`` (synchronous=FULL: every commit is durable).
        setup: run once on the writer connection before use (schema migrations).
        readers_count: read connections (on disk); each read goes to the least busy one.
        checked: the caller has just run :func:`check_database_file` on ``path`` (the engine
            does, before it takes the owner lock beside the file), so it is not run again.

    Raises:
        DatabaseFileError: the file is corrupt, truncated, from a newer streamkit, or cannot
            be written (see :func:`check_database_file`); nothing is changed.
    """
    target, on_disk = _connect_args(None if path is None else os.fspath(path))
    if on_disk and not checked:
        await anyio.to_thread.run_sync(check_database_file, target)
    async with contextlib.AsyncExitStack() as stack:
        try:
            store = await _open(stack, target, on_disk, durability, setup, readers_count)
        except sqlite3.Error as exc:
            raise _file_error(target, exc) from None
        except DatabaseFileError as exc:  # from setup: a newer schema
            raise DatabaseFileError(f"cannot use the database file {target}: {exc}") from None
        stack.callback(store.close)  # runs first: refuse calls before the connections close
        yield store


async def _open(
    stack: contextlib.AsyncExitStack,
    target: str,
    on_disk: bool,
    durability: Durability,
    setup: Callable[[sqlite3.Connection], None] | None,
    readers_count: int,
) -> Store:
    sync = "FULL" if durability == "full" else "NORMAL"
    busy_ms = int(LOCK_TIMEOUT * 1000)
    writer: aiosqlite.Connection | sqlite3.Connection
    if durability == "full" and on_disk:  # COMMIT syncs: batches go to a writer thread
        writer = await stack.enter_async_context(
            aiosqlite.connect(
                target,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=STATEMENT_CACHE,
                factory=StoreConnection,
            )
        )
        await _call(writer, _configure, _raw(writer), on_disk, sync, busy_ms, setup)
    else:
        writer = _connect(target)
        stack.callback(writer.close)
        _configure(writer, on_disk, sync, busy_ms, setup)
        if on_disk:
            writer.execute("PRAGMA wal_autocheckpoint=0")
            writer.execute(f"PRAGMA journal_size_limit={wal.WAL_LIMIT}")
        # from now on it runs on the event loop, which must never wait for a lock: a batch
        # that finds the write lock taken is retried from a timer (Store._wait_for_lock)
        writer.execute("PRAGMA busy_timeout=0")
    if not on_disk:
        return Store(writer)
    readers = []
    for _ in range(readers_count):
        reader = await stack.enter_async_context(
            aiosqlite.connect(target, isolation_level=None, check_same_thread=False)
        )
        await _call(reader, _read_only, _raw(reader))
        readers.append(reader)
    if isinstance(writer, sqlite3.Connection):
        checkpointer = wal.WalCheckpointer(target)
        stack.callback(checkpointer.close)
        return Store(writer, readers=readers, checkpointer=checkpointer, name=target)
    point = _connect(target)
    stack.callback(point.close)
    _read_only(point)
    return Store(writer, readers=readers, point_reader=point, name=target)
