"""Scratch files of rows (storage.scratch) copied in through the store's writer, attached
between write batches (Store.run_between_writes) on every kind of store."""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

import anyio
import pytest

from streamkit.model.schema import KeySpec, TableSpec
from streamkit.storage import scratch, tables
from streamkit.storage.sqlite import Durability, open_store

SPEC = TableSpec(
    name="t",
    table_id="5c",
    key=KeySpec.of("pk", "S"),
    attribute_types={"pk": "S"},
    created=0.0,
)


def _setup(conn: sqlite3.Connection) -> None:
    tables.migrate(conn)
    if tables.load_spec(conn, SPEC.name) is None:
        tables.create_table(conn, SPEC)


def _user_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def _copy(conn: sqlite3.Connection, *, alias: str, first: int, last: int) -> int:
    return scratch.copy_rows(conn, SPEC, alias, first, last)


def _all(conn: sqlite3.Connection) -> dict[bytes, tuple[bytes, int]]:
    rows = conn.execute(f"SELECT hk, item, size FROM {tables.items_table(SPEC)}").fetchall()
    return {hk: (item, size) for hk, item, size in rows}


@pytest.mark.parametrize("where", ["memory", "file", "file-full"])
async def test_chunks_copied_in_order_replace_earlier_rows(tmp_path: Path, where: str) -> None:
    path = None if where == "memory" else tmp_path / "db.sqlite3"
    durability: Durability = "full" if where == "file-full" else "normal"
    scratch_path = str(tmp_path / "rows.sqlite3")
    writer = scratch.ScratchWriter(scratch_path)
    chunks = [
        writer.add([(b"a", b"", b"a1", 1), (b"b", b"", b"b1", 2)]),
        writer.add([]),
        writer.add([(b"a", b"", b"a2", 3), (b"c", b"", b"c1", 4), (b"c", b"", b"c2", 5)]),
    ]
    assert chunks == [(0, 2), (2, 2), (2, 5)]
    async with open_store(path, durability=durability, setup=_setup) as store:
        alias = scratch.new_alias()

        async def other_writes() -> None:  # the writer goes on meanwhile
            for _ in range(20):
                await store.write(_user_version)

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_writes)
            await store.run_between_writes(lambda c: scratch.attach(c, scratch_path, alias))
        # more rows after the file was attached are seen by the next copy
        chunks.append(writer.add([(b"d", b"", b"d1", 6)]))
        for first, last in chunks:
            await store.write(functools.partial(_copy, alias=alias, first=first, last=last))
        got = await store.write(_all)
        assert got == {b"a": (b"a2", 3), b"b": (b"b1", 2), b"c": (b"c2", 5), b"d": (b"d1", 6)}
        assert await store.write(lambda c: scratch.read_rows(c, alias, 1, 3)) == [
            (b"b", b"", b"b1", 2),
            (b"a", b"", b"a2", 3),
        ]
        with pytest.raises(sqlite3.OperationalError, match=r"locked|within a transaction"):
            await store.write(lambda c: scratch.detach(c, alias))  # why: not in a batch
        await store.run_between_writes(lambda c: scratch.detach(c, alias))
        databases = await store.run_between_writes(
            lambda c: [row[1] for row in c.execute("PRAGMA database_list")]
        )
        assert alias not in databases
    writer.close()
    scratch.remove_files(scratch_path)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("rows.sqlite3")]


async def test_a_chunk_of_many_rows_goes_in_groups_in_order(tmp_path: Path) -> None:
    """More rows than one statement takes (scratch._GROUP): grouped statements, then the
    rest one a step; rowids and order as given, hk/rk/blob/size cut back exactly."""
    count = 2 * scratch._GROUP + 7
    rows = [
        (f"h{i % 50}".encode() * (1 + i % 3), b"" if i % 2 else f"r{i}".encode(), b"J%d" % i, i)
        for i in range(count)
    ]
    path = str(tmp_path / "rows.sqlite3")
    writer = scratch.ScratchWriter(path)
    assert writer.add(rows[:5]) == (0, 5)
    assert writer.add(rows[5:]) == (5, count)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    scratch.attach(conn, path, "w")
    assert scratch.read_rows(conn, "w", 0, count) == rows
    tables.migrate(conn)
    tables.create_table(conn, SPEC)
    scratch.copy_rows(conn, SPEC, "w", 0, count)
    expected = {(hk, rk): (item, size) for hk, rk, item, size in rows}  # the later wins
    got = conn.execute(f"SELECT hk, rk, item, size FROM {tables.items_table(SPEC)}").fetchall()
    assert {(hk, rk): (item, size) for hk, rk, item, size in got} == expected
    conn.close()
    writer.close()


@pytest.mark.skipif(sys.platform == "win32", reason="no flock: nothing to sweep")
def test_a_dead_import_s_folder_is_swept_by_the_next_and_a_live_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-import leaves its scratch folder (about the size of its data);
    the next import, in any process, removes it: its holder's lock is free. A folder whose
    import still runs (its lock held) is left alone, and each import removes its own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with scratch.held_folder() as live:
        (Path(live) / "rows.sqlite3").write_bytes(b"x" * 1000)
        # a dead process's folder: the same layout, its lock file held by nobody
        dead = tmp_path / "streamkit-import-dead1234"
        dead.mkdir()
        (dead / "holder.lock").touch()
        (dead / "rows.sqlite3").write_bytes(b"x" * 1000)
        unrelated = tmp_path / "streamkit-import-notours"  # no lock file: not touched
        unrelated.mkdir()
        with scratch.held_folder() as second:
            assert not dead.exists()
            assert Path(live).is_dir()
            assert Path(second).is_dir()
            assert unrelated.is_dir()
        assert not Path(second).exists()
    assert not Path(live).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamkit-import-notours"]
