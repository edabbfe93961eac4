"""One owner per database file: the lock, its record, and what a second opener is told."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import orjson
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.errors import DatabaseFileError, DatabaseInUseError
from streamkit.storage.owner import acquire_owner, lock_path
from streamkit.storage.readonly import open_read_only_store
from streamkit.testing import ManualClock

ROOT = Path(__file__).resolve().parents[2]

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

# Owns the database through open_engine, then writes one item per line read on stdin.
OWNER = textwrap.dedent(
    """
    import sys, anyio, streamkit

    async def main(path, role, url):
        async with streamkit.open_engine(path, owner_role=role, owner_url=url or None) as db:
            await db.create_table(TableName="orders", **TABLE)
            print("ready", flush=True)
            for n, line in enumerate(sys.stdin):
                await db.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
                print("put", flush=True)

    TABLE = %r
    anyio.run(main, *sys.argv[1:])
    """
)


def _start_owner(path: Path, role: str = "script", url: str = "") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", OWNER % TABLE, str(path), role, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        _expect(process, "ready")
    except BaseException:
        _close(process)
        raise
    return process


def _expect(process: subprocess.Popen[str], word: str) -> None:
    """Read the owner's stdout up to the line ``word`` (log lines may come before it)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line == word + "\n":
            return
    raise AssertionError(f"the owner process exited ({process.wait(10)}) before {word!r}")


def _close(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(10)
    for pipe in (process.stdin, process.stdout):
        assert pipe is not None
        pipe.close()


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = _start_owner(tmp_path / "db.sqlite3", "serve", "http://127.0.0.1:8123")
    yield process
    _close(process)


def _record(db: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads(Path(lock_path(db)).read_text())
    return found


def _put(process: subprocess.Popen[str]) -> None:
    """Have the owner process commit one more item and wait until it has."""
    assert process.stdin is not None
    process.stdin.write("\n")
    process.stdin.flush()
    _expect(process, "put")


class TestInOneProcess:
    def test_record_names_this_process_and_is_emptied_on_release(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        with acquire_owner(db, "serve", "http://127.0.0.1:1") as held:
            record = json.loads(Path(lock_path(db)).read_text())
            assert record == held.record
            assert record["pid"] == os.getpid()
            assert (record["role"], record["url"]) == ("serve", "http://127.0.0.1:1")
        assert Path(lock_path(db)).read_text() == ""  # kept, emptied
        with acquire_owner(db):  # free again
            pass

    def test_second_acquire_is_refused_naming_this_process(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        with acquire_owner(db, "run"):
            with pytest.raises(DatabaseInUseError, match="already open in this process") as exc:
                acquire_owner(db)
            assert exc.value.owner["role"] == "run"
            assert exc.value.path == str(db)

    async def test_second_open_engine_on_one_file_is_refused(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(db) as first:
            with pytest.raises(DatabaseInUseError, match=r"already open in this process"):
                async with streamkit.open_engine(str(db)):  # another spelling, same file
                    pass
            await first.create_table(TableName="orders", **TABLE)  # the first is unharmed
        async with streamkit.open_engine(db) as again:  # closed: free
            assert (await again.list_tables())["TableNames"] == ["orders"]

    async def test_memory_takes_no_lock(self) -> None:
        async with streamkit.open_engine(None), streamkit.open_engine(":memory:"):
            pass


class TestAnotherProcess:
    def test_serving_owner_is_named_with_its_url(
        self, tmp_path: Path, owner: subprocess.Popen[str]
    ) -> None:
        db = tmp_path / "db.sqlite3"
        with pytest.raises(DatabaseInUseError) as exc:
            acquire_owner(db)
        assert str(exc.value) == (
            f"database {db} is owned by streamkit serve (pid {owner.pid}, "
            "http://127.0.0.1:8123); stop it or use --endpoint-url http://127.0.0.1:8123"
        )
        assert exc.value.owner["pid"] == owner.pid

    async def test_open_engine_is_refused_beside_a_script_owner(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        process = _start_owner(db)
        try:
            with pytest.raises(DatabaseInUseError, match=rf"open_engine \(pid {process.pid}\)"):
                async with streamkit.open_engine(db):
                    pass
        finally:
            _close(process)

    async def test_owner_killed_with_sigkill_blocks_nobody(
        self, tmp_path: Path, owner: subprocess.Popen[str]
    ) -> None:
        db = tmp_path / "db.sqlite3"
        _put(owner)
        with pytest.raises(DatabaseInUseError):
            acquire_owner(db)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert _record(db)["pid"] == owner.pid  # the dead owner's record is still there
        async with streamkit.open_engine(db) as engine:  # the OS dropped the lock
            assert (await engine.scan(TableName="orders"))["Count"] == 1


class TestReadOnly:
    async def test_reads_committed_data_beside_a_writing_owner(
        self, tmp_path: Path, owner: subprocess.Popen[str]
    ) -> None:
        db = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(db, read_only=True) as reader:
            assert (await reader.list_tables())["TableNames"] == ["orders"]
            counts = []
            for _ in range(3):
                _put(owner)
                counts.append((await reader.scan(TableName="orders"))["Count"])
            assert counts == [1, 2, 3]
            item = await reader.get_item(TableName="orders", Key={"pk": {"S": "k2"}})
            assert item["Item"] == {"pk": {"S": "k2"}}
            with pytest.raises(PermissionError, match="read-only"):
                await reader.put_item(TableName="orders", Item={"pk": {"S": "x"}})
        _put(owner)  # the owner never noticed
        assert owner.poll() is None

    async def test_stream_wait_polls_for_another_writer(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        clock = ManualClock(1_000_000.0)
        async with streamkit.open_engine(db) as writer:
            await writer.create_table(TableName="orders", **TABLE)
            async with streamkit.open_engine(db, read_only=True, clock=clock) as reader:
                arn = (await reader.streams.list_streams())["Streams"][0]["StreamArn"]
                shard = (await reader.streams.describe_stream(StreamArn=arn))["StreamDescription"][
                    "Shards"
                ][0]["ShardId"]
                iterator = (
                    await reader.streams.get_shard_iterator(
                        StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST"
                    )
                )["ShardIterator"]
                woke = anyio.Event()

                async def wait() -> None:
                    await reader.streams.wait_for_records(ShardIterator=iterator)
                    woke.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(wait)
                    await anyio.wait_all_tasks_blocked()
                    await writer.put_item(TableName="orders", Item={"pk": {"S": "a"}})
                    await anyio.wait_all_tasks_blocked()
                    assert not woke.is_set()  # the reader's store sees no commit hook
                    clock.advance(0.25)
                    with anyio.fail_after(5):
                        await woke.wait()
                page = await reader.streams.get_records(ShardIterator=iterator)
                assert [r["dynamodb"]["Keys"] for r in page["Records"]] == [{"pk": {"S": "a"}}]

    async def test_takes_no_lock_and_no_migration(self, tmp_path: Path) -> None:
        db = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(db):
            pass
        before = db.read_bytes()
        async with streamkit.open_engine(db, read_only=True):
            with acquire_owner(db):  # an owner can start while it reads
                pass
        assert db.read_bytes() == before

    async def test_a_held_lock_never_blocks_the_event_loop(self, tmp_path: Path) -> None:
        """Reads run inline, so SQLite waits there briefly; a read that still finds the lock
        taken (another connection recovering the WAL) is tried again off the loop."""
        db = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(db):
            pass
        tries = 0

        def read(conn: sqlite3.Connection) -> int:
            nonlocal tries
            tries += 1
            if tries <= 5:
                busy = sqlite3.OperationalError("database is locked")
                busy.sqlite_errorcode = 5  # SQLITE_BUSY
                raise busy
            return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])

        async with open_read_only_store(db) as store:
            assert await store.read_point(read) <= 50  # ms SQLite may wait on the loop
        assert tries == 6

    async def test_missing_file_and_old_schema_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="no database at"):
            async with streamkit.open_engine(tmp_path / "none.sqlite3", read_only=True):
                pass
        old = tmp_path / "old.sqlite3"
        sqlite3.connect(old).execute("PRAGMA user_version = 2").connection.close()
        with pytest.raises(DatabaseFileError, match="schema version 2"):
            async with streamkit.open_engine(old, read_only=True):
                pass
        with pytest.raises(ValueError, match="read_only needs a database file"):
            async with streamkit.open_engine(None, read_only=True):
                pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda v: orjson.dumps(v), st.dictionaries(
    st.sampled_from(["pid", "role", "started", "url", "x"]),
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.lists(st.text()),
)))  # fmt: skip
def test_any_lock_file_content_gives_one_line(tmp_path_factory: pytest.TempPathFactory,
                                              content: bytes) -> None:  # fmt: skip
    """Whatever the lock file holds (anyone can write it), a refusal is one printable line."""
    db = tmp_path_factory.mktemp("garbage") / "db.sqlite3"
    with acquire_owner(db):
        Path(lock_path(db)).write_bytes(content)
        with pytest.raises(DatabaseInUseError) as exc:
            acquire_owner(db)
    message = str(exc.value)
    assert message.startswith(f"database {db} is ")
    assert message.isprintable()
