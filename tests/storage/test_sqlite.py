"""The store: group commit, per-operation atomicity, cancellation, readers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from streamkit.errors import ConditionalCheckFailedException
from streamkit.storage.sqlite import open_store


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")


def _put(k: str, v: int) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, v))
        return v

    return run


def _all(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT k, v FROM kv").fetchall())


@pytest.fixture(params=["file", "memory"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "s.sqlite3" if request.param == "file" else None


class TestGroupCommit:
    async def test_concurrent_writes_share_commits(self, location: Path | None) -> None:
        async with open_store(location, setup=_setup) as store:
            results: dict[int, int] = {}

            async def one(i: int) -> None:
                results[i] = await store.write(_put(f"k{i}", i))

            async with anyio.create_task_group() as tg:
                for i in range(64):
                    tg.start_soon(one, i)
            assert results == {i: i for i in range(64)}
            assert await store.read(_all) == {f"k{i}": i for i in range(64)}
            stats = store.statistics()
            assert stats.writes == 64
            assert stats.commits < 64

    async def test_failed_operation_rolls_back_alone(self, location: Path | None) -> None:
        async with open_store(location, setup=_setup) as store:

            def half_then_fail(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO kv VALUES ('bad', 1)")
                raise ConditionalCheckFailedException()

            outcomes: dict[str, object] = {}

            async def good(name: str) -> None:
                outcomes[name] = await store.write(_put(name, 7))

            async def bad() -> None:
                with pytest.raises(ConditionalCheckFailedException):
                    await store.write(half_then_fail)
                outcomes["bad"] = "raised"

            async with anyio.create_task_group() as tg:
                tg.start_soon(good, "a")
                tg.start_soon(bad)
                tg.start_soon(good, "b")
            assert outcomes == {"a": 7, "bad": "raised", "b": 7}
            assert await store.read(_all) == {"a": 7, "b": 7}

    async def test_lone_failure_rolls_back(self, location: Path | None) -> None:
        async with open_store(location, setup=_setup) as store:

            def fail(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO kv VALUES ('x', 1)")
                raise ValueError("boom")

            with pytest.raises(ValueError, match="boom"):
                await store.write(fail)
            assert await store.read(_all) == {}
            assert await store.write(_put("y", 2)) == 2

    async def test_cancelled_before_start_never_runs(self, location: Path | None) -> None:
        async with open_store(location, setup=_setup) as store:
            gate = threading.Event()

            def blocked(conn: sqlite3.Connection) -> None:
                gate.wait(10)
                conn.execute("INSERT INTO kv VALUES ('first', 1)")

            scopes: list[anyio.CancelScope] = []

            async def victim() -> None:
                with anyio.CancelScope() as scope:
                    scopes.append(scope)
                    await store.write(_put("cancelled", 2))

            async with anyio.create_task_group() as tg:
                tg.start_soon(store.write, blocked)
                await anyio.wait_all_tasks_blocked()  # the leader's batch is on the thread
                tg.start_soon(victim)
                await anyio.wait_all_tasks_blocked()  # the victim is queued behind it
                scopes[0].cancel()
                await anyio.wait_all_tasks_blocked()
                gate.set()
            assert scopes[0].cancelled_caught
            assert await store.read(_all) == {"first": 1}
            assert await store.write(_put("after", 3)) == 3

    async def test_already_cancelled_write_does_not_run(self, location: Path | None) -> None:
        async with open_store(location, setup=_setup) as store:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await store.write(_put("cancelled", 2))
            assert await store.read(_all) == {}

    async def test_sustained_load_never_stalls(self, location: Path | None) -> None:
        """Writers that write again as soon as they are answered: every write completes."""
        async with open_store(location, setup=_setup) as store:

            async def writer(w: int) -> None:
                for i in range(20):
                    assert await store.write(_put(f"w{w}-{i % 3}", i)) == i

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for w in range(64):
                        tg.start_soon(writer, w)
            assert store.statistics().writes == 64 * 20

    async def test_leadership_passes_on(self, location: Path | None) -> None:
        """Writers queued behind a batch are run by one of them, with no helper task."""
        async with open_store(location, setup=_setup) as store:
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(store.write, _put(f"a{i}", i))
                await anyio.wait_all_tasks_blocked()
                for i in range(10):
                    tg.start_soon(store.write, _put(f"b{i}", i))
            assert len(await store.read(_all)) == 20


async def test_durability_full(tmp_path: Path) -> None:
    async with open_store(tmp_path / "f.sqlite3", durability="full", setup=_setup) as store:
        await store.write(_put("k", 1))
        mode = await store.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    async with open_store(tmp_path / "f.sqlite3", setup=_setup) as store:
        assert await store.read(_all) == {"k": 1}


async def test_point_reads_see_committed_writes(location: Path | None) -> None:
    """read_point runs inline on a file (its own connection) and falls back to read in memory."""
    async with open_store(location, setup=_setup) as store:
        assert await store.read_point(_all) == {}
        await store.write(_put("k", 1))
        assert await store.read_point(_all) == {"k": 1}
        gate = threading.Event()

        def slow(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO kv VALUES ('k', 2)")
            gate.wait(10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(store.write, slow)
            await anyio.wait_all_tasks_blocked()
            if location is not None:  # WAL: the open write transaction is invisible, no wait
                assert await store.read_point(_all) == {"k": 1}
            gate.set()
        assert await store.read_point(_all) == {"k": 2}
