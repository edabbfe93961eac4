"""Reading a database another process owns: SQLite's read-only mode, no lock, no migration.

The owner (:mod:`streamkit.storage.owner`) is the only writer. Anyone may read beside it:
WAL lets a reader see every committed transaction while the owner keeps writing. A read-only
connection (``file:...?mode=ro``) never writes the database; like any WAL reader it needs
the ``-shm`` and ``-wal`` files and creates them (empty) if the owner has not, so the
database's folder must be writable or those files must exist. A WAL left by an owner that
was killed is read as it stands.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from streamkit.storage.sqlite import Store
from streamkit.storage.tables import SCHEMA_VERSION

__all__ = ["ReadOnlyStore", "open_read_only_store"]

T = TypeVar("T")


class ReadOnlyStore(Store):
    """A store on one read-only connection: every read runs inline, every write is refused."""

    read_only = True

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
        RuntimeError: its schema is not this streamkit's (only a writer upgrades it).
    """
    conn = _connect(os.fspath(path))
    store = ReadOnlyStore(conn)
    try:
        yield store
    finally:
        store.close()  # later calls raise ClosedError
        conn.close()


def _connect(path: str) -> sqlite3.Connection:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no database at {path}")
    uri = file.absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=1")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    if version != SCHEMA_VERSION:
        conn.close()
        raise RuntimeError(
            f"database {path} has schema version {version}, this streamkit reads "
            f"{SCHEMA_VERSION}; open it once for writing to upgrade it"
            if version < SCHEMA_VERSION
            else f"database {path} was written by a newer streamkit (schema version "
            f"{version}, this one reads up to {SCHEMA_VERSION})"
        )
    return conn
