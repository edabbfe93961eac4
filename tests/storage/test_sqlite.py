"""The store: group commit, per-operation atomicity, cancellation, readers.

Every test runs against the three ways a store writes: inline on the event loop (a file, and
memory) and on a writer thread (a file with ``durability="full"``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from streamkit.errors import ConditionalCheckFailedException
from streamkit.storage import wal
from streamkit.storage.sqlite import NESTED_SAVEPOINTS, Durability, Store, open_store, statements
from tests.storage.kv import all_kv, put_kv, setup_kv


@dataclass
class Location:
    path: Path | None
    durability: Durability

    @property
    def threaded(self) -> bool:
        return self.durability == "full" and self.path is not None

    def open(self) -> AbstractAsyncContextManager[Store]:
        return open_store(self.path, durability=self.durability, setup=setup_kv)


@pytest.fixture(params=["file", "memory", "file-full"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    path = None if request.param == "memory" else tmp_path / "s.sqlite3"
    return Location(path, "full" if request.param == "file-full" else "normal")


class TestGroupCommit:
    async def test_concurrent_writes_share_commits(self, location: Location) -> None:
        async with location.open() as store:
            results: dict[int, int] = {}

            async def one(i: int) -> None:
                results[i] = await store.write(put_kv(f"k{i}", i))

            async with anyio.create_task_group() as tg:
                for i in range(64):
                    tg.start_soon(one, i)
            assert results == {i: i for i in range(64)}
            assert await store.read(all_kv) == {f"k{i}": i for i in range(64)}
            stats = store.statistics()
            assert stats.writes == 64
            assert stats.commits < 64

    async def test_failed_operation_rolls_back_alone(self, location: Location) -> None:
        async with location.open() as store:

            def half_then_fail(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO kv VALUES ('bad', 1)")
                raise ConditionalCheckFailedException()

            outcomes: dict[str, object] = {}

            async def good(name: str) -> None:
                outcomes[name] = await store.write(put_kv(name, 7))

            async def bad() -> None:
                with pytest.raises(ConditionalCheckFailedException):
                    await store.write(half_then_fail)
                outcomes["bad"] = "raised"

            async with anyio.create_task_group() as tg:
                tg.start_soon(good, "a")
                tg.start_soon(bad)
                tg.start_soon(good, "b")
            assert outcomes == {"a": 7, "bad": "raised", "b": 7}
            assert await store.read(all_kv) == {"a": 7, "b": 7}

    async def test_failures_across_savepoint_groups_roll_back_alone(
        self, location: Location
    ) -> None:
        # A batch's savepoints stay open, nested, and are released NESTED_SAVEPOINTS at a time:
        # failures at a group's first op, its second, its last and the next group's first
        # each undo that op alone, whatever ran before and after it in the batch.
        count = 2 * NESTED_SAVEPOINTS + 16
        failing = {0, 1, NESTED_SAVEPOINTS - 1, NESTED_SAVEPOINTS, NESTED_SAVEPOINTS + 1}
        failing |= {2 * NESTED_SAVEPOINTS - 1, 2 * NESTED_SAVEPOINTS, count - 1}
        async with location.open() as store:

            def half_then_fail(i: int) -> Callable[[sqlite3.Connection], None]:
                def fn(conn: sqlite3.Connection) -> None:
                    conn.execute("INSERT INTO kv VALUES (?, ?)", (f"k{i}", i))
                    conn.execute("INSERT INTO kv VALUES (?, ?)", (f"bad{i}", i))
                    raise ConditionalCheckFailedException()

                return fn

            async def one(i: int) -> None:
                if i in failing:
                    with pytest.raises(ConditionalCheckFailedException):
                        await store.write(half_then_fail(i))
                else:
                    await store.write(put_kv(f"k{i}", i))

            commits = store.statistics().commits
            async with anyio.create_task_group() as tg:
                for i in range(count):
                    tg.start_soon(one, i)
            if not location.threaded:  # inline: every write queued in one turn, one batch
                assert store.statistics().commits == commits + 1
            expected = {f"k{i}": i for i in range(count) if i not in failing}
            assert await store.read(all_kv) == expected
            assert await store.write(put_kv("after", 1)) == 1  # no savepoint left open

    async def test_lone_failure_rolls_back(self, location: Location) -> None:
        async with location.open() as store:

            def fail(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO kv VALUES ('x', 1)")
                raise ValueError("boom")

            with pytest.raises(ValueError, match="boom"):
                await store.write(fail)
            assert await store.read(all_kv) == {}
            assert await store.write(put_kv("y", 2)) == 2

    async def test_cancelled_before_start_never_runs(self, location: Location) -> None:
        if not location.threaded:
            pytest.skip("inline writes run whole in one callback; see the test below")
        async with location.open() as store:
            gate = threading.Event()

            def blocked(conn: sqlite3.Connection) -> None:
                gate.wait(10)
                conn.execute("INSERT INTO kv VALUES ('first', 1)")

            scopes: list[anyio.CancelScope] = []

            async def victim() -> None:
                with anyio.CancelScope() as scope:
                    scopes.append(scope)
                    await store.write(put_kv("cancelled", 2))

            async with anyio.create_task_group() as tg:
                tg.start_soon(store.write, blocked)
                await anyio.wait_all_tasks_blocked()  # the leader's batch is on the thread
                tg.start_soon(victim)
                await anyio.wait_all_tasks_blocked()  # the victim is queued behind it
                scopes[0].cancel()
                await anyio.wait_all_tasks_blocked()
                gate.set()
            assert scopes[0].cancelled_caught
            assert await store.read(all_kv) == {"first": 1}
            assert await store.write(put_kv("after", 3)) == 3

    async def test_cancelled_before_flush_never_runs(self, location: Location) -> None:
        if location.threaded:
            pytest.skip("the writer thread's case is the test above")
        async with location.open() as store:
            scope = anyio.CancelScope()

            async def victim() -> None:
                with scope:
                    await store.write(put_kv("cancelled", 2))

            async with anyio.create_task_group() as tg:
                tg.start_soon(victim)
                await anyio.lowlevel.checkpoint()  # the victim queues its write and the flush
                scope.cancel()  # before the flush runs
            assert scope.cancelled_caught
            assert await store.read(all_kv) == {}
            assert store.statistics().writes == 0
            assert await store.write(put_kv("after", 3)) == 3

    async def test_already_cancelled_write_does_not_run(self, location: Location) -> None:
        async with location.open() as store:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await store.write(put_kv("cancelled", 2))
            assert await store.read(all_kv) == {}

    async def test_sustained_load_never_stalls(self, location: Location) -> None:
        """Writers that write again as soon as they are answered: every write completes."""
        async with location.open() as store:

            async def writer(w: int) -> None:
                for i in range(20):
                    assert await store.write(put_kv(f"w{w}-{i % 3}", i)) == i

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for w in range(64):
                        tg.start_soon(writer, w)
            assert store.statistics().writes == 64 * 20

    async def test_leadership_passes_on(self, location: Location) -> None:
        """Writers queued behind a batch are run by one of them, with no helper task."""
        async with location.open() as store:
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(store.write, put_kv(f"a{i}", i))
                await anyio.wait_all_tasks_blocked()
                for i in range(10):
                    tg.start_soon(store.write, put_kv(f"b{i}", i))
            assert len(await store.read(all_kv)) == 20


async def test_durability_full(tmp_path: Path) -> None:
    async with open_store(tmp_path / "f.sqlite3", durability="full", setup=setup_kv) as store:
        await store.write(put_kv("k", 1))
        mode = await store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    async with open_store(tmp_path / "f.sqlite3", setup=setup_kv) as store:
        assert await store.read(all_kv) == {"k": 1}


async def test_a_new_file_gets_its_schema_in_wal_then_the_durability_asked(
    location: Location,
) -> None:
    """A new database is set up unsynced (storage.sqlite._create); the writer then runs at the
    synchronous level asked (FULL 2, NORMAL 1), and the file reopens with its schema."""
    seen: list[tuple[str, int]] = []

    def setup(conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        seen.append((mode, conn.execute("PRAGMA synchronous").fetchone()[0]))
        setup_kv(conn)

    async with open_store(location.path, durability=location.durability, setup=setup) as store:
        await store.write(put_kv("k", 1))
        sync = await store.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert sync == (2 if location.durability == "full" else 1)
    if location.path is None:
        assert seen == [("memory", 2)]  # in memory: as before, nothing to sync
        return
    assert seen == [("wal", 0)]
    async with open_store(location.path, durability=location.durability, setup=setup) as store:
        assert await store.read(all_kv) == {"k": 1}
    assert seen == [("wal", 0), ("wal", 2)]  # an existing file: migrated as before, synced


async def test_point_reads_see_committed_writes(location: Location) -> None:
    """read_point runs inline: on the writer's connection, or its own beside a writer thread."""
    async with location.open() as store:
        assert await store.read_point(all_kv) == {}
        await store.write(put_kv("k", 1))
        assert await store.read_point(all_kv) == {"k": 1}
        if not location.threaded:
            return
        gate = threading.Event()

        def slow(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO kv VALUES ('k', 2)")
            gate.wait(10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.write, slow)
            await anyio.wait_all_tasks_blocked()
            # WAL: the open write transaction is invisible, and the read does not wait for it
            assert await store.read_point(all_kv) == {"k": 1}
            gate.set()
        assert await store.read_point(all_kv) == {"k": 2}


async def test_checkpointer_keeps_the_wal_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline writes leave checkpoints to a thread, and rewind a WAL past its limit."""
    monkeypatch.setattr(wal, "CHECKPOINT_COMMITS", 1)
    monkeypatch.setattr(wal, "WAL_LIMIT", 0)
    path = tmp_path / "w.sqlite3"
    async with open_store(path, setup=setup_kv) as store:
        for i in range(2000):
            await store.write(put_kv(f"k{i}", i))
        assert len(await store.read(all_kv)) == 2000
        # 2,000 commits unfolded: 16 MB. Rewound, the WAL holds what landed during the thread's
        # last checkpoint: its fsyncs take 1-100 ms on this shared disk (1-6 MB seen under load)
        assert os.stat(f"{path}-wal").st_size < 8 * 1024 * 1024
    assert not any(t.name == "streamkit-checkpoint" for t in threading.enumerate())
    with sqlite3.connect(path) as conn:  # everything is in the database file
        assert conn.execute("SELECT count(*) FROM kv").fetchone() == (2000,)


class TestWaitLull:
    async def test_an_idle_store_returns_at_once(self, location: Location) -> None:
        async with location.open() as store:
            with anyio.fail_after(5):
                await store.wait_lull(1000)
            assert store.statistics().commits == 0

    async def test_busy_writers_hold_it_for_that_many_batches(self, location: Location) -> None:
        """Writers that write again as soon as answered keep the store busy until the target."""
        async with location.open() as store:
            ended_at: list[int] = []

            async def writer(w: int) -> None:
                for i in range(30):
                    await store.write(put_kv(f"w{w}", i))

            async def gatherer() -> None:  # starts after the writers have queued their first writes
                before = store.statistics().commits
                await store.wait_lull(5)
                ended_at.append(store.statistics().commits - before)

            async with anyio.create_task_group() as tg:
                for w in range(3):
                    tg.start_soon(writer, w)
                tg.start_soon(gatherer)
            assert ended_at == [5]

    async def test_a_batch_whose_writes_were_all_cancelled_ends_it(
        self, location: Location
    ) -> None:
        """A lull asked for while a write is queued ends once the store is idle, also when
        that write is cancelled before its batch runs (then no commit comes to look)."""
        async with location.open() as store:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as outer, anyio.create_task_group() as writes:
                    writes.start_soon(store.write, put_kv("a", 1))
                    outer.start_soon(store.wait_lull, 1000)  # queued behind the write
                    await anyio.lowlevel.checkpoint()  # both have started, the batch has not run
                    writes.cancel_scope.cancel()


async def test_savepoint_journal_stays_in_memory(location: Location) -> None:
    """Each operation of a batch runs in a savepoint, whose journal of page copies SQLite
    would otherwise spill to a temporary file (thousands of writes a second under load)."""
    async with location.open() as store:
        assert await store.write(lambda c: c.execute("PRAGMA temp_store").fetchone()[0]) == 2


async def test_kept_cursor_leaves_no_read_open(location: Location) -> None:
    """The write path's statements share one cursor (storage.sqlite.statements); a one-row
    read on it must not leave its statement pending, or the writer would keep a snapshot
    open after COMMIT and no checkpoint could copy the whole log."""
    if location.path is None:
        pytest.skip("a checkpoint needs a file")
    async with location.open() as store:
        await store.write(put_kv("a", 1))

        def read_then_write(conn: sqlite3.Connection) -> int:
            cursor = statements(conn)
            assert cursor is not conn  # the store's connections keep their cursor
            row = cursor.execute("SELECT v FROM kv WHERE k = ?", ("a",)).fetchone()
            cursor.execute("INSERT OR REPLACE INTO kv VALUES ('b', ?)", (row[0] + 1,))
            return int(row[0])

        assert await store.write(read_then_write) == 1
        assert (
            await store.read_point(
                lambda c: statements(c).execute("SELECT v FROM kv WHERE k = 'b'").fetchone()[0]
            )
            == 2
        )
        other = sqlite3.connect(location.path, isolation_level=None)
        try:
            busy, frames, copied = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other.close()
        assert (busy, frames, copied) == (0, 0, 0)  # truncated: nobody held the log
