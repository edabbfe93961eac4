"""The harness's drain() never hangs: when nothing moves for its stall timeout it raises
DrainStalledError naming what is not caught up; a drain that keeps moving takes its time."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.clock import Signal
from streamkit.errors import DrainStalledError
from streamkit.testing import DRAIN_STALL_TIMEOUT, Harness, open_harness, open_sync_harness

BOUND = 30  # real seconds: far more than any of these takes; the old drain hung for ever
STALL = 0.5  # the stall timeout these tests give drain (real seconds)

ORDERS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


def _hung_app(release: anyio.Event) -> streamkit.App:
    """An app whose handler waits for ``release`` (Lambda's timeout at its 900 s maximum)."""
    app = streamkit.App()

    @app.on_stream("orders", name="stuck", starting_position="TRIM_HORIZON", timeout=900)
    async def stuck(event: dict[str, Any], context: Any) -> None:
        await release.wait()

    return app


@asynccontextmanager
async def _one_hung_order(
    release: anyio.Event, drain_stall_timeout: float | None
) -> AsyncIterator[Harness]:
    """A harness whose handler hangs on the one order written, until ``release`` is set."""
    async with open_harness(_hung_app(release), drain_stall_timeout=drain_stall_timeout) as h:
        await h.engine.create_table(TableName="orders", **ORDERS)
        await h.engine.table("orders").put_item(Item={"pk": "o1"})
        yield h


async def _stalled(h: Harness) -> str:
    """Drain, expecting it to stall within the bound; return the error's message."""
    start = anyio.current_time()
    with pytest.raises(DrainStalledError) as caught:
        await h.drain()
    assert anyio.current_time() - start < BOUND / 2
    return str(caught.value)


def test_the_default_is_generous() -> None:
    assert DRAIN_STALL_TIMEOUT >= 60


async def test_a_handler_that_never_returns_fails_the_drain_naming_its_shard() -> None:
    release = anyio.Event()
    with anyio.fail_after(BOUND):
        async with _one_hung_order(release, STALL) as h:
            message = await _stalled(h)
            assert message.startswith("drain() saw nothing move for 0.5 s")
            assert "mapping 'stuck' (us-east-1), shard shardId-" in message
            assert ": invoking, checkpoint none yet, shard's last sequence number " in message
            assert "(1 record(s) behind)" in message
            release.set()
            await h.drain()  # the handler returned: caught up
            assert await h.runtime.mappings["stuck"].caught_up()


async def test_a_write_waiting_for_another_process_is_named(tmp_path: Path) -> None:
    """The handler's own write waits for a write lock another connection holds."""
    app = streamkit.App()

    @app.on_stream("orders", name="copy", starting_position="TRIM_HORIZON", timeout=900)
    async def copy(event: dict[str, Any], context: Any) -> None:
        engine = streamkit.current_engine()
        for record in event["Records"]:
            await engine.put_item(TableName="copies", Item=record["dynamodb"]["Keys"])

    db = tmp_path / "db.sqlite3"
    with anyio.fail_after(BOUND):
        async with open_harness(app, path=db, drain_stall_timeout=STALL) as h:
            await h.engine.create_table(TableName="orders", **ORDERS)
            copies = {**ORDERS, "StreamSpecification": {"StreamEnabled": False}}
            await h.engine.create_table(TableName="copies", **copies)
            runner = h.runtime.mappings["copy"]
            runner.disable()  # the record waits until the lock is taken
            await h.engine.table("orders").put_item(Item={"pk": "o1"})
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # holds the write lock until it rolls back
                runner.enable()
                message = await _stalled(h)
            finally:
                other.execute("ROLLBACK")
                other.close()
            assert "mapping 'copy' (us-east-1), shard " in message
            assert ": invoking, " in message
            assert "- us-east-1: " in message  # the store's backlog
            assert "write lock" in message or "a batch running" in message
            await h.drain()
            assert (await h.engine.table("copies").get_item(Key={"pk": "o1"}))["Item"]


class _Never:
    """A link that is never caught up (``runtime.add_link`` takes any such "drainable")."""

    def __init__(self) -> None:
        self.changed = Signal()

    async def caught_up(self) -> bool:
        await anyio.lowlevel.checkpoint()
        return False

    def __repr__(self) -> str:
        return "Never()"


@pytest.mark.parametrize("fires", [False, True], ids=["silent", "firing"])
async def test_a_link_that_never_catches_up_fails_the_drain(fires: bool) -> None:
    """Silent: nothing ever wakes drain. Firing: it is woken again and again, and nothing
    moves (rounds without progress count as a stall too)."""
    link = _Never()
    with anyio.fail_after(BOUND):
        async with open_harness(streamkit.App(), drain_stall_timeout=STALL) as h:
            h.runtime.add_link(link)
            async with anyio.create_task_group() as tg:
                if fires:

                    async def fire() -> None:
                        while True:
                            await anyio.sleep(0.01)  # real time: the stall timeout is real
                            link.changed.fire()

                    tg.start_soon(fire)
                message = await _stalled(h)
                tg.cancel_scope.cancel()
            assert "  - link Never(): not caught up" in message
            h.runtime.remove_link(link)
            await h.drain()


async def test_a_slow_drain_that_keeps_moving_is_not_a_stall() -> None:
    """Each batch takes a good part of the stall timeout, all of them far more than it."""
    seen: list[str] = []
    app = streamkit.App()

    @app.on_stream("orders", name="slow", starting_position="TRIM_HORIZON", batch_size=1)
    async def slow(event: dict[str, Any], context: Any) -> None:
        await anyio.sleep(0.25)  # real time
        seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    with anyio.fail_after(BOUND):
        async with open_harness(app, drain_stall_timeout=1.5) as h:
            await h.engine.create_table(TableName="orders", **ORDERS)
            for n in range(8):
                await h.engine.table("orders").put_item(Item={"pk": f"o{n}"})
            start = anyio.current_time()
            await h.drain()
            assert anyio.current_time() - start > 1.5
    assert seen == [f"o{n}" for n in range(8)]


async def test_a_drain_without_a_stall_timeout_waits() -> None:
    """``drain_stall_timeout=None`` waits for ever, as drain did: here until released."""
    release = anyio.Event()
    with anyio.fail_after(BOUND):
        async with _one_hung_order(release, None) as h:
            drained: list[bool] = []

            async def drain() -> None:
                await h.drain()
                drained.append(True)

            async with anyio.create_task_group() as tg:
                tg.start_soon(drain)
                await anyio.sleep(2 * STALL)  # real time: longer than the stall timeout above
                assert not drained
                release.set()
            assert drained


def test_the_sync_harness_raises_too() -> None:
    release = anyio.Event()
    with open_sync_harness(_hung_app(release), drain_stall_timeout=STALL) as h:
        h.engine.create_table(TableName="orders", **ORDERS)
        h.engine.table("orders").put_item(Item={"pk": "o1"})
        with pytest.raises(DrainStalledError, match="mapping 'stuck'"):
            h.drain()
        h.call(release.set)
        h.drain()
