"""Reading a database another process owns: SQLite's read-only mode, no lock, no migration.

The owner (:mod:`streamkit.storage.owner`) is the only writer. Anyone may read beside it:
WAL lets a reader see every committed transaction while the owner keeps writing. A read-only
connection (``file:...?mode=ro``) never writes the database; like any WAL reader it needs
the ``-shm`` and ``-wal`` files and creates them (empty) if the owner has not, so the
database's folder must be writable or those files must exist. A WAL left by an owner that
was killed is read as it stands.

Reads run inline on the event loop, so they never wait long for SQLite's lock there (a WAL
reader meets it while another connection recovers the WAL, or holds the file exclusively):
the connection waits at most ``_INLINE_BUSY_MS``, and a read that still finds the lock is
tried again from a timer with back-off until ``LOCK_TIMEOUT``, as the inline writer does.
Opening, which may wait longer, runs on a worker thread.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio

from streamkit.errors import DatabaseFileError
from streamkit.storage.sqlite import (
    _BUSY,
    _LOCKED,
    _RETRY_FIRST,
    _RETRY_MAX,
    LOCK_TIMEOUT,
    Store,
    _file_error,
    _header_problem,
    _primary_code,
    _read_only,
)
from streamkit.storage.tables import SCHEMA_VERSION

__all__ = ["ReadOnlyStore", "open_read_only_store"]

T = TypeVar("T")

#: the longest an inline read blocks the event loop waiting for SQLite's lock (then: back-off)
_INLINE_BUSY_MS = 20


class ReadOnlyStore(Store):
    """A store on one read-only connection: every read runs inline, every write is refused."""

    read_only: bool = True

    async def read_point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read inline (see :meth:`Store.read_point`); while another connection holds
        SQLite's lock, try again with back-off, off the loop, until ``LOCK_TIMEOUT``.

        Raises:
            sqlite3.OperationalError: the lock was still held after ``LOCK_TIMEOUT``.
        """
        delay, deadline = _RETRY_FIRST, None
        while True:
            try:
                return await super().read_point(fn)
            except sqlite3.OperationalError as exc:
                if _primary_code(exc) not in (_BUSY, _LOCKED):
                    raise
                now = time.monotonic()
                deadline = deadline or now + LOCK_TIMEOUT
                if now >= deadline:
                    raise
            await anyio.sleep(delay)
            delay = min(2 * delay, _RETRY_MAX)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Refuse: a read-only store never writes.

        Raises:
            PermissionError: always.
        """
        self.check_open()
        raise PermissionError("this engine was opened read-only; it cannot write")


@asynccontextmanager
async def open_read_only_store(path: str | os.PathLike[str]) -> AsyncIterator[ReadOnlyStore]:
    """Open the existing database at ``path`` for reading only.

    Raises:
        FileNotFoundError: there is no database at ``path``.
        DatabaseFileError: it is not a whole SQLite database, or its schema is not this
            streamkit's (only a writer upgrades it).
    """
    conn = await anyio.to_thread.run_sync(_connect, os.fspath(path))  # may wait for the lock
    conn.execute(f"PRAGMA busy_timeout={_INLINE_BUSY_MS}")  # from now on reads run inline
    store = ReadOnlyStore(conn, name=os.fspath(path))
    try:
        yield store
    finally:
        store.close()  # later calls raise ClosedError
        conn.close()


def _connect(path: str) -> sqlite3.Connection:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no database at {path}")
    with file.open("rb") as opened:
        problem = _header_problem(opened.read(100), os.fstat(opened.fileno()).st_size)
    if problem is not None:
        raise DatabaseFileError(
            f"{path} is not a usable streamkit database: {problem}; "
            "streamkit will not change it (restore it from a backup, or move it away)"
        )
    uri = file.absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        _read_only(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        conn.close()
        raise _file_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    if version != SCHEMA_VERSION:
        conn.close()
        raise DatabaseFileError(
            f"database {path} has schema version {version}, this streamkit reads "
            f"{SCHEMA_VERSION}; open it once for writing to upgrade it"
            if version < SCHEMA_VERSION
            else f"database {path} was written by a newer streamkit (schema version "
            f"{version}, this one reads up to {SCHEMA_VERSION})"
        )
    return conn
