"""Storage faults: another process holding the write lock, and a full disk.

The lock is held by a real second SQLite connection (``BEGIN IMMEDIATE``); a full disk is
SQLite's ``PRAGMA max_page_count`` on the writer's connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.errors import InternalServerError
from streamkit.storage import sqlite as store_module
from streamkit.storage.sqlite import Durability, open_store
from tests.server.conftest import call
from tests.storage.kv import all_kv, put_kv, setup_kv
from tests.streams.helpers import read_stream, stream_table

LOCK_TIMEOUT = 0.5  # the store's LOCK_TIMEOUT during these tests (5 s by default)


@asynccontextmanager
async def _ticker() -> AsyncIterator[list[float]]:
    """Measure the event loop's latency: yields a list that ends up holding the longest gap
    between two wake-ups of a task that sleeps 5 ms at a time."""
    worst = [0.0]

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst[0] = max(worst[0], now - last)
            last = now

    task = asyncio.ensure_future(tick())
    try:
        yield worst
    finally:
        task.cancel()


@pytest.fixture
def short_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT", LOCK_TIMEOUT, raising=False)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection, holding SQLite's write lock on ``path`` until it commits."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


@pytest.mark.usefixtures("short_lock_timeout")
@pytest.mark.parametrize("durability", ["normal", "full"])
class TestWriteLockHeldElsewhere:
    async def test_writes_fail_clearly_and_the_loop_keeps_ticking(
        self, tmp_path: Path, durability: Durability
    ) -> None:
        path = tmp_path / "locked.sqlite3"
        async with open_store(path, durability=durability, setup=setup_kv) as store:
            await store.write(put_kv("before", 1))
            other = _hold_write_lock(path)
            async with _ticker() as worst:
                with anyio.fail_after(LOCK_TIMEOUT * 6):  # the old store never answered
                    results = await asyncio.gather(
                        *(store.write(put_kv(f"k{i}", i)) for i in range(5)),
                        return_exceptions=True,
                    )
            # every operation of the group commit is resolved, with the cause named
            for result in results:
                assert isinstance(result, InternalServerError), result
                assert "locked by another process" in result.message
                assert str(path) in result.message
            assert worst[0] < 0.25, f"the event loop stalled for {worst[0]:.3f} s"
            other.rollback()
            other.close()
            assert await store.write(put_kv("after", 2)) == 2  # released: writes work again
            assert await store.read(all_kv) == {"before": 1, "after": 2}

    async def test_a_write_waits_for_a_short_lock(
        self, tmp_path: Path, durability: Durability
    ) -> None:
        path = tmp_path / "locked.sqlite3"
        async with open_store(path, durability=durability, setup=setup_kv) as store:
            other = _hold_write_lock(path)
            async with _ticker() as worst:
                write = asyncio.ensure_future(store.write(put_kv("k", 1)))
                await asyncio.sleep(LOCK_TIMEOUT / 5)
                assert not write.done()
                other.commit()
                with anyio.fail_after(LOCK_TIMEOUT * 4):
                    assert await write == 1
            other.close()
            assert worst[0] < 0.25
            assert await store.read(all_kv) == {"k": 1}


def _bad_sql(conn: sqlite3.Connection) -> None:
    conn.execute("SELECT no_such_column FROM kv")


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_an_operations_own_sqlite_error_fails_only_that_operation(
    tmp_path: Path, durability: Durability
) -> None:
    """A fault of one operation (bad SQL, a constraint) is its own result; the rest of the group
    commit lands. Only faults of the file (full, I/O, corrupt, read-only) fail the batch."""
    async with open_store(tmp_path / "db.sqlite3", durability=durability, setup=setup_kv) as store:
        results = await asyncio.gather(
            store.write(put_kv("a", 1)),
            store.write(_bad_sql),
            store.write(put_kv("b", 2)),
            return_exceptions=True,
        )
        assert results[0] == 1, results
        assert results[2] == 2, results
        assert isinstance(results[1], sqlite3.OperationalError), results[1]
        assert await store.read(all_kv) == {"a": 1, "b": 2}


@pytest.mark.usefixtures("short_lock_timeout")
async def test_a_locked_database_is_a_500_over_the_wire(tmp_path: Path) -> None:
    """The server's dispatcher answers a DynamoDB-shaped InternalServerError naming the lock."""
    from streamkit.server import Dispatcher
    from tests.server.conftest import TABLE, SingleEngine

    path = tmp_path / "locked.sqlite3"
    async with streamkit.open_engine(path, max_attempts=1) as engine:
        dispatcher = Dispatcher(SingleEngine(engine))
        await engine.create_table(**TABLE)
        other = _hold_write_lock(path)
        status, _, body = await call(
            dispatcher, "PutItem", {"TableName": "things", "Item": {"pk": {"S": "a"}}}
        )
        other.rollback()
        other.close()
        assert status == 500
        assert body["__type"] == "com.amazonaws.dynamodb.v20120810#InternalServerError"
        assert body["message"].startswith("the database file is locked by another process (")
        status, _, _ = await call(
            dispatcher, "PutItem", {"TableName": "things", "Item": {"pk": {"S": "a"}}}
        )
        assert status == 200


# -- disk full ------------------------------------------------------------------------------


def _limit_pages(engine: streamkit.Engine, extra: int | None) -> None:
    """Cap the database at its current size plus ``extra`` pages (None: lift the cap)."""

    def run(conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        limit = 2**30 if extra is None else pages + extra
        conn.execute(f"PRAGMA max_page_count = {limit}")

    engine.store.read_now(run)  # on the writer's connection (durability "normal")


def _item(key: str, size: int) -> dict[str, Any]:
    return {"pk": {"S": key}, "blob": {"B": b"x" * size}}


async def test_a_full_disk_fails_the_write_and_keeps_the_stream_consistent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "full.sqlite3"
    acknowledged: set[str] = set()
    async with streamkit.open_engine(path, max_attempts=1) as engine:
        arn = await stream_table(engine, "things")
        for i in range(3):
            await engine.put_item(TableName="things", Item=_item(f"small{i}", 10))
            acknowledged.add(f"small{i}")
        _limit_pages(engine, 0)
        # a group commit: big writes need new pages; the batch fails and rolls back whole
        results = await asyncio.gather(
            *(
                engine.put_item(TableName="things", Item=_item(f"big{i}", 50_000 + i))
                for i in range(4)
            ),
            return_exceptions=True,
        )
        for i, result in enumerate(results):
            if isinstance(result, BaseException):
                assert isinstance(result, InternalServerError), result
                assert "the disk is full" in result.message
                assert str(path) in result.message
            else:
                acknowledged.add(f"big{i}")
        assert len(acknowledged) < 7, "no write hit the limit: the test proves nothing"
        await _assert_consistent(engine, arn, acknowledged)

        _limit_pages(engine, None)  # space freed: writes work again, no restart
        await engine.put_item(TableName="things", Item=_item("big-later", 50_000))
        acknowledged.add("big-later")
        await _assert_consistent(engine, arn, acknowledged)
    async with streamkit.open_engine(path) as engine:  # nothing acknowledged was lost
        await _assert_consistent(engine, arn, acknowledged)


async def _assert_consistent(engine: streamkit.Engine, arn: str, keys: set[str]) -> None:
    """The table holds exactly ``keys``, and the stream has one INSERT for each of them."""
    scanned = await engine.scan(TableName="things")
    assert {item["pk"]["S"] for item in scanned["Items"]} == keys
    records = await read_stream(engine, arn)
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) == sorted(keys)
    assert {r["eventName"] for r in records} == {"INSERT"}


async def test_a_full_disk_over_http_with_boto3(tmp_path: Path) -> None:
    """A real server in this process (so the test can cap the file); boto3 in a thread."""
    import boto3
    from botocore.exceptions import ClientError

    from streamkit.server import open_server
    from tests.server.test_boto3 import session_kwargs

    async with open_server(port=0, data_dir=tmp_path) as server:
        client = boto3.client("dynamodb", **session_kwargs(server.url))
        engine = await server.regions.engine("us-east-1")

        def put(key: str) -> Any:
            return client.put_item(TableName="things", Item=_item(key, 50_000))

        await anyio.to_thread.run_sync(
            lambda: client.create_table(
                TableName="things",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        )
        await anyio.to_thread.run_sync(put, "before")
        _limit_pages(engine, 0)
        with pytest.raises(ClientError) as err:
            await anyio.to_thread.run_sync(put, "refused")
        error = err.value.response["Error"]
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert error["Code"] == "InternalServerError"
        assert error["Message"].startswith("the disk is full")
        _limit_pages(engine, None)
        await anyio.to_thread.run_sync(put, "after")
        scanned = await anyio.to_thread.run_sync(lambda: client.scan(TableName="things"))
        assert sorted(i["pk"]["S"] for i in scanned["Items"]) == ["after", "before"]
