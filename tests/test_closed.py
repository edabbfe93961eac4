"""Use after close: every call on a closed engine, store, runtime or harness fails at once.

Before, ``list_tables`` answered from memory and ``create_table`` hung forever (the store's
batch raised inside an event-loop callback and no future was resolved).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.engine import Engine, Table
from streamkit.errors import ClosedError
from streamkit.mappings.app import App
from streamkit.runtime import open_runtime
from streamkit.storage.sqlite import open_store
from streamkit.streams import StreamsClient
from streamkit.testing import ManualClock, open_harness
from tests.conftest import key_schema

_PLACEHOLDERS: dict[str, Any] = {"table": "ttt", "now": 0.0, "limit": 1, "ShardIterator": "x"}


def _public_coroutines(cls: type) -> list[str]:
    names = [n for n, m in inspect.getmembers(cls, inspect.iscoroutinefunction)]
    return [n for n in names if not n.startswith("_")]


def _required_args(method: Callable[..., Any]) -> dict[str, Any]:
    """Placeholders for the named parameters a method requires (only ``**params`` otherwise)."""
    params = inspect.signature(method).parameters.values()
    return {
        p.name: _PLACEHOLDERS.get(p.name)
        for p in params
        if p.name != "self" and p.default is p.empty and p.kind is not p.VAR_KEYWORD
    }


async def _refuses(call: Callable[[], Awaitable[Any]], what: str) -> None:
    with anyio.fail_after(2):  # "at once": never a hang
        with pytest.raises(ClosedError, match=f"{what} is closed"):
            await call()


@pytest.fixture(params=["memory", "normal", "full", "read_only"])
async def closed_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    path = None if request.param == "memory" else tmp_path / "db.sqlite3"
    durability: Any = "full" if request.param == "full" else "normal"
    async with streamkit.open_engine(path, durability=durability, clock=ManualClock()) as engine:
        await engine.create_table(TableName="ttt", **key_schema())
        await engine.put_item(TableName="ttt", Item={"pk": {"S": "a"}})
    if request.param == "read_only":
        async with streamkit.open_engine(path, read_only=True) as engine:
            assert (await engine.list_tables())["TableNames"] == ["ttt"]
    return engine


def test_every_public_coroutine_is_covered() -> None:
    """The generic loops below see the methods (a rename would silently shrink them)."""
    assert {"list_tables", "create_table", "put_item", "expire_items"} <= set(
        _public_coroutines(Engine)
    )
    assert {"get_records", "read_shard"} <= set(_public_coroutines(StreamsClient))


@pytest.mark.parametrize("name", _public_coroutines(Engine))
async def test_every_engine_method_refuses(closed_engine: Engine, name: str) -> None:
    method = getattr(closed_engine, name)
    await _refuses(lambda: method(**_required_args(getattr(Engine, name))), "engine")


@pytest.mark.parametrize("name", _public_coroutines(StreamsClient))
async def test_every_streams_method_refuses(closed_engine: Engine, name: str) -> None:
    method = getattr(closed_engine.streams, name)
    await _refuses(lambda: method(**_required_args(getattr(StreamsClient, name))), "store")


@pytest.mark.parametrize("name", _public_coroutines(Table))
async def test_every_table_resource_method_refuses(closed_engine: Engine, name: str) -> None:
    method = getattr(closed_engine.table("ttt"), name)
    await _refuses(lambda: method(**_required_args(getattr(Table, name))), "engine")


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])


@pytest.mark.parametrize("on_disk", [False, True])
async def test_every_store_call_refuses(tmp_path: Path, on_disk: bool) -> None:
    async with open_store(tmp_path / "s.sqlite3" if on_disk else None) as store:
        assert await store.read(_count) == 0
    assert store.closed
    await _refuses(lambda: store.write(_count), "store")
    await _refuses(lambda: store.read(_count), "store")
    await _refuses(lambda: store.read_point(_count), "store")
    await _refuses(lambda: store.wait_lull(1), "store")
    with pytest.raises(ClosedError):
        store.read_now(_count)


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_write_queued_when_the_store_closes_fails(tmp_path: Path, durability: Any) -> None:
    """A write still waiting for its batch when the block exits gets ClosedError, no hang.

    (With ``"full"`` the first write leads its batch at once and completes; the second waits
    behind it.)
    """
    async with open_store(tmp_path / "s.sqlite3", durability=durability) as store:
        tasks = [asyncio.ensure_future(store.write(_count)) for _ in range(2)]
        await asyncio.sleep(0)  # the writes are queued; the inline batch has not run
    with anyio.fail_after(2):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], ClosedError)
    assert results[0] == 0 if durability == "full" else isinstance(results[0], ClosedError)


async def test_the_runtime_refuses(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock) as engine:
        async with open_runtime(engine) as runtime:
            waiting = runtime.next_pass("ttl_sweeper")
        assert waiting.is_set()  # a waiter taken before the close is woken, not left hanging
        with pytest.raises(ClosedError, match="runtime is closed"):
            runtime.next_pass("ttl_sweeper")

        async def worker(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            task_status.started()

        await _refuses(lambda: runtime.start("late", worker), "runtime")


async def test_the_harness_refuses() -> None:
    async with open_harness(App()) as harness:
        await harness.drain()
    await _refuses(harness.drain, "harness")
    await _refuses(harness.engine.list_tables, "engine")
