"""Scratch files of prepared rows: written by import workers, copied in by the store's writer.

An import worker (:mod:`streamkit.engine.importworker`) writes the rows it prepares into a
SQLite file of its own (WAL, so the engine reads committed chunks while the worker writes
the next; synchronous off: a scratch file is thrown away after the import, and never read
after a crash). The rows are the items table's own, in the order their lines came: ``rows``
is a rowid table, so a chunk is a range of rowids. A row is two columns, ``data`` (hk, rk and
the stored blob end to end) and ``meta`` (the item's size and the lengths of hk and rk, in
bit fields): binding a parameter costs the worker some 0.5 us, so four columns cost 2.8 us a
row and two 1.9; the engine's ``substr`` calls cutting ``data`` up cost next to nothing.

The engine attaches the file to its writer's connection (between two write batches: SQLite
refuses ATTACH and DETACH inside a transaction) and copies a chunk with one ``INSERT ...
SELECT``, which SQLite runs without handing a row to Python: some 1.5-1.9 us a row against
4.9 for binding rows sent over a pipe (1,000,000 bench rows, scratch measurements).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence

from streamkit.model.schema import TableSpec
from streamkit.storage.tables import items_table

__all__ = [
    "ScratchWriter",
    "attach",
    "copy_rows",
    "detach",
    "held_folder",
    "read_rows",
    "remove_files",
]

ScratchRow = tuple[bytes, bytes, bytes, int]  # hk, rk, stored blob, size

_PREFIX = "streamkit-import-"  # a held folder's name (what the sweep looks at)
_MAKING = "streamkit-importing-"  # a folder's name until its holder has locked it
_HOLDER = "holder.lock"

_ALIASES = itertools.count(1)  # attached names, unique in the process
_INSERT = "INSERT INTO rows(data, meta) VALUES (?, ?)"
_GROUP = 400  # rows a statement: 800 parameters, under the 999 of SQLite before 3.32
_INSERT_GROUP = "INSERT INTO rows(data, meta) VALUES " + ", ".join(["(?, ?)"] * _GROUP)
_HK = "substr(data, 1, meta & 1048575)"
_RK = "substr(data, (meta & 1048575) + 1, (meta >> 20) & 1048575)"
_ITEM = "substr(data, (meta & 1048575) + ((meta >> 20) & 1048575) + 1)"
_COLUMNS = f"{_HK}, {_RK}, {_ITEM}, meta >> 40"  # hk, rk, item, size


class ScratchWriter:
    """A worker's scratch file: :meth:`add` appends a chunk of rows, in one transaction."""

    def __init__(self, path: str, page_size: int = 4096) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA page_size={int(page_size)}")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS rows (data BLOB NOT NULL, meta INTEGER NOT NULL)"
        )
        self._count = 0  # rowids are 1..count: one writer, appends only

    def add(self, rows: Sequence[ScratchRow]) -> tuple[int, int]:
        """Append rows; return the rowid range they took, ``(first, last]``.

        Rows go in :data:`_GROUP` a statement (one step of SQLite's for hundreds of rows:
        1.7-1.9 us a row against 2.6-2.7 one row a step, bench rows), the rest one a step.
        """
        first = self._count
        params: list[bytes | int] = []
        append = params.append
        for hk, rk, item, size in rows:
            append(hk + rk + item)
            append((size << 40) | (len(rk) << 20) | len(hk))
        grouped = 2 * (len(rows) - len(rows) % _GROUP)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, grouped, 2 * _GROUP):
                conn.execute(_INSERT_GROUP, params[start : start + 2 * _GROUP])
            rest = params[grouped:]
            if rest:
                conn.executemany(_INSERT, zip(rest[::2], rest[1::2], strict=True))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._count = first + len(rows)
        return first, self._count

    def close(self) -> None:
        self._conn.close()


def new_alias() -> str:
    """A fresh name to attach a database file under (a scratch file, a backup)."""
    return f"sk_scratch_{next(_ALIASES)}"


def attach(conn: sqlite3.Connection, path: str, alias: str) -> None:
    """Attach a database file to a connection (outside any transaction)."""
    conn.execute(f"ATTACH DATABASE ? AS {alias}", (path,))


def detach(conn: sqlite3.Connection, alias: str) -> None:
    """Detach an attached database file (outside any transaction)."""
    conn.execute(f"DETACH DATABASE {alias}")


def copy_rows(conn: sqlite3.Connection, spec: TableSpec, alias: str, first: int, last: int) -> int:
    """Insert or replace the rows ``(first, last]`` of an attached scratch file into a table
    with no index, stream or TTL to maintain, in their order (a later row with the same key
    replaces an earlier one); return how many."""
    cursor = conn.execute(
        f"INSERT OR REPLACE INTO main.{items_table(spec)}(hk, rk, item, size) "
        f"SELECT {_COLUMNS} FROM {alias}.rows WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
        (first, last),
    )
    return cursor.rowcount


def read_rows(conn: sqlite3.Connection, alias: str, first: int, last: int) -> list[ScratchRow]:
    """The rows ``(first, last]`` of an attached scratch file, in order."""
    rows: list[ScratchRow] = conn.execute(
        f"SELECT {_COLUMNS} FROM {alias}.rows WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
        (first, last),
    ).fetchall()
    return rows


def remove_files(path: str) -> None:
    """Remove a scratch file and its WAL files, if there."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)


@contextlib.contextmanager
def held_folder() -> Iterator[str]:
    """A scratch folder in the temporary directory for one import, removed at the end.

    This process holds an ``flock`` on a file in it while the import runs, so the folders of
    a process killed mid-import (about the size of its data) are found and removed by the
    next import in any process: a folder whose lock is free has no holder left. (Without
    ``flock``, on Windows, the folder is only removed by its own import.)
    """
    _remove_orphans()
    making = tempfile.mkdtemp(prefix=_MAKING)
    fd = _hold(making)
    folder = making.replace(_MAKING, _PREFIX, 1)
    try:
        os.rename(making, folder)  # seen by sweeps only once locked
    except BaseException:
        shutil.rmtree(making, ignore_errors=True)
        _release(fd)
        raise
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _release(fd)


def _hold(folder: str) -> int | None:
    if sys.platform == "win32":  # pragma: no cover - no flock
        return None
    import fcntl

    fd = os.open(os.path.join(folder, _HOLDER), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _remove_orphans() -> None:
    """Remove the held folders whose holder has died (their lock is free)."""
    if sys.platform == "win32":  # pragma: no cover - no flock
        return
    import fcntl

    root = tempfile.gettempdir()
    try:
        names = [name for name in os.listdir(root) if name.startswith(_PREFIX)]
    except OSError:
        return
    for name in names:
        folder = os.path.join(root, name)
        try:
            fd = os.open(os.path.join(folder, _HOLDER), os.O_RDWR | os.O_CLOEXEC)
        except OSError:  # not ours, or gone meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its import runs
            os.close(fd)
            continue
        shutil.rmtree(folder, ignore_errors=True)  # still locked by us while it goes
        os.close(fd)
