"""The store's batch hooks (Store.set_batch_hooks): what a component that buffers rows until
COMMIT (the change log's record blocks) hears of each batch, in every way a store writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from streamkit.errors import ConditionalCheckFailedException, InternalServerError
from streamkit.storage.sqlite import Durability, open_store
from tests.storage.kv import all_kv, put_kv, setup_kv


class Buffer:
    """Buffers each op's kv rows and writes them before COMMIT, as the change log does."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, int]] | None = None
        self.mark_at = 0
        self.steps: list[str] = []

    def begin(self) -> None:
        self.steps.append("begin")
        self.pending = []

    def mark(self) -> None:
        self.steps.append("mark")
        assert self.pending is not None
        self.mark_at = len(self.pending)

    def rewind(self) -> None:
        self.steps.append("rewind")
        assert self.pending is not None
        del self.pending[self.mark_at :]

    def before_commit(self, conn: sqlite3.Connection) -> None:
        self.steps.append("before_commit")
        assert self.pending is not None
        conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", self.pending)
        self.pending = None

    def abort(self) -> None:
        self.steps.append("abort")
        self.pending = None


@pytest.fixture(params=["file", "memory", "file-full"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path | None, Durability]:
    path = None if request.param == "memory" else tmp_path / "s.sqlite3"
    return path, "full" if request.param == "file-full" else "normal"


async def test_a_rolled_back_op_drops_exactly_its_buffered_rows(
    where: tuple[Path | None, Durability],
) -> None:
    path, durability = where
    async with open_store(path, durability=durability, setup=setup_kv) as store:
        hooks = Buffer()
        store.set_batch_hooks(hooks)

        def buffered(k: str, v: int, fail: bool = False) -> object:
            def run(conn: sqlite3.Connection) -> int:
                assert hooks.pending is not None
                hooks.pending.append((k, v))
                hooks.pending.append((k + "-also", v))
                if fail:
                    raise ConditionalCheckFailedException("no")
                return v

            return run

        outcomes: dict[str, object] = {}

        async def one(name: str, fn: object) -> None:
            try:
                outcomes[name] = await store.write(fn)  # type: ignore[arg-type]
            except ConditionalCheckFailedException as exc:
                outcomes[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "a", buffered("a", 1))
            tg.start_soon(one, "b", buffered("b", 2, fail=True))
            tg.start_soon(one, "c", buffered("c", 3))
            tg.start_soon(one, "d", put_kv("d", 4))
        assert (outcomes["a"], outcomes["c"], outcomes["d"]) == (1, 3, 4)
        assert isinstance(outcomes["b"], ConditionalCheckFailedException)
        assert await store.read(all_kv) == {"a": 1, "a-also": 1, "c": 3, "c-also": 3, "d": 4}
        assert hooks.steps[0] == "begin"
        assert hooks.steps.count("mark") == 4
        # b's failure: a rewind in a shared batch, an abort in a batch of its own
        assert hooks.steps.count("rewind") + hooks.steps.count("abort") == 1
        assert hooks.steps.count("before_commit") == hooks.steps.count("begin") - hooks.steps.count(
            "abort"
        )


async def test_a_failed_batch_aborts_and_writes_nothing(
    where: tuple[Path | None, Durability],
) -> None:
    path, durability = where
    async with open_store(path, durability=durability, setup=setup_kv) as store:
        hooks = Buffer()
        store.set_batch_hooks(hooks)

        def lone_failure(conn: sqlite3.Connection) -> None:
            assert hooks.pending is not None
            hooks.pending.append(("lone", 1))
            raise ConditionalCheckFailedException("no")

        with pytest.raises(ConditionalCheckFailedException):
            await store.write(lone_failure)  # a batch of one: ROLLBACK, abort
        assert hooks.steps == ["begin", "mark", "abort"]

        def breaks(conn: sqlite3.Connection) -> None:
            assert hooks.pending is not None
            hooks.pending.append(("broken", 1))
            conn.execute("ROLLBACK")
            raise ConditionalCheckFailedException("no")

        def buffered(conn: sqlite3.Connection) -> None:
            assert hooks.pending is not None
            hooks.pending.append(("kept?", 1))

        failures: dict[str, BaseException] = {}

        async def one(name: str, fn: object) -> None:
            try:
                await store.write(fn)  # type: ignore[arg-type]
            except Exception as exc:
                failures[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "buffered", buffered)
            tg.start_soon(one, "breaks", breaks)
        # inline, both share the batch and both fail; on the writer thread the first writer
        # leads a batch of its own
        assert (
            set(failures) == {"breaks"} if durability == "full" and path else {"breaks", "buffered"}
        )
        assert all(isinstance(exc, InternalServerError) for exc in failures.values())
        assert hooks.steps[-1] == "abort"
        assert hooks.pending is None
        assert await store.read(all_kv) == ({} if "buffered" in failures else {"kept?": 1})
        await store.write(put_kv("after", 1))
        assert "broken" not in await store.read(all_kv)
        assert (await store.read(all_kv))["after"] == 1
