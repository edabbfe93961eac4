"""Folding the write-ahead log back into the database file, on a thread of its own.

SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages: it copies
them into the database file and syncs both files, about 10 ms on this machine. The store's
writer commits on the event loop, so the store turns the automatic checkpoint off and nudges a
:class:`WalCheckpointer` instead, whose PASSIVE checkpoints run beside the writer (WAL allows
it) and never wait for anyone.

A PASSIVE checkpoint cannot rewind the WAL while commits keep landing behind it, so when the
file passes ``WAL_LIMIT`` the writer runs one itself between two commits: by then nearly every
page is already copied, and its next transaction starts the WAL from the beginning
(``journal_size_limit`` then trims the file). The writer looks at the file's size at every
nudge (one ``stat`` per 32 commits): looking every 16th nudge let a bulk load's WAL reach
400 MB before the first rewind (25 items a commit), and the commit that then trimmed it held
the event loop 120-270 ms; the rewinds now come sooner and cost at most ~110 ms (load 5-7).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading

__all__ = ["CHECKPOINT_COMMITS", "WAL_LIMIT", "WalCheckpointer"]

CHECKPOINT_COMMITS = 32  # commits between two nudges of the checkpointer thread
WAL_LIMIT = 32 * 1024 * 1024  # bytes of WAL past which the writer rewinds it itself


class WalCheckpointer:
    """A thread with its own connection that runs PASSIVE checkpoints when nudged."""

    def __init__(self, path: str) -> None:
        self._wal = path + "-wal"
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._wake = threading.Event()
        self._closed = False
        self._rewind = False
        self._thread = threading.Thread(target=self._run, name="streamkit-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self, writer: sqlite3.Connection) -> None:
        """Ask for a checkpoint; the writer calls this between two transactions.

        While a rewind is pending the thread is not woken: its checkpoint in progress is what
        made the writer's busy, and once it ends the writer's next try finds the log free
        (woken on every commit, a thread starved of CPU could keep it busy indefinitely).
        """
        if self._rewind or _size(self._wal) > WAL_LIMIT:
            busy, frames, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            # the thread was checkpointing, or frames are left: try again after the next commit
            self._rewind = bool(busy) or copied < frames
        if not self._rewind:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            with contextlib.suppress(sqlite3.Error):  # busy: the next nudge tries again
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        """Stop the thread (after its current checkpoint) and close its connection."""
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._conn.close()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
