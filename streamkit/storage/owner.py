"""One owner per database file: an OS lock on ``<database>.lock`` held while it is open.

Two processes writing one SQLite file would each hand out stream sequence numbers and keep
table specs from their own memory, and diverge without a word. So the process that opens a
database for writing (``streamkit serve``, ``streamkit run``, ``open_engine`` in a script)
first takes an exclusive ``flock`` on the lock file beside it and writes who it is there
(pid, role, start time, URL if serving). A second opener, in another process or the same
one, fails at once with :class:`~streamkit.errors.DatabaseInUseError` naming the owner.

The OS drops the lock when its holder dies, however it dies, so a killed owner never blocks
the next start; the lock file itself stays (deleting it could let two processes lock two
different files of the same name) and is emptied on a clean close. The file descriptor is
not inherited by child processes. Read-only opens take no lock (see
:mod:`streamkit.storage.readonly`). On Windows there is no ``flock``: nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson

from streamkit.errors import DatabaseInUseError

__all__ = ["Ownership", "acquire_owner", "lock_path"]

#: How each role reads in messages; others appear as given.
_ROLES = {
    "serve": "streamkit serve",
    "run": "streamkit run",
    "replay": "streamkit replay",
    "cli": "a streamkit command",
    "script": "a program using open_engine",
}


def lock_path(database: str | os.PathLike[str]) -> str:
    """Return the lock file of ``database``: the same path with ``.lock`` appended."""
    return os.fspath(database) + ".lock"


class Ownership:
    """The held lock on one database file; :meth:`release` (or the ``with`` block) drops it."""

    def __init__(self, path: str, fd: int | None, record: dict[str, Any]) -> None:
        self.path = path
        self.record = record  #: what the lock file says: pid, role, started, url
        self._fd = fd

    def release(self) -> None:
        """Empty the lock file and drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> Ownership:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def acquire_owner(
    database: str | os.PathLike[str], role: str = "script", url: str | None = None
) -> Ownership:
    """Take ownership of ``database`` (a file path) or raise at once; never waits.

    Args:
        database: the SQLite file, in a folder that exists (the engine runs
            :func:`~streamkit.storage.sqlite.check_database_file` first, which makes it).
        role: who owns it, for the messages others get: ``"serve"``, ``"run"``,
            ``"replay"``, ``"cli"`` or ``"script"``.
        url: the endpoint serving this database, if any (others are told to use it).

    Raises:
        DatabaseInUseError: another process, or another open in this one, owns it.
    """
    path = os.fspath(database)
    record: dict[str, Any] = {
        "pid": os.getpid(),
        "role": role,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "url": url,
    }
    if sys.platform == "win32":  # pragma: no cover - no flock; documented in the docstring
        return Ownership(path, None, record)
    import fcntl

    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _read(fd)
        os.close(fd)
        raise DatabaseInUseError(_in_use(path, owner), path=path, owner=owner) from None
    except BaseException:
        os.close(fd)
        raise
    data = orjson.dumps(record)
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
    return Ownership(path, fd, record)


def _read(fd: int) -> dict[str, Any]:
    """Return the owner's record, keeping only well-formed fields (the file is anyone's)."""
    try:
        found = orjson.loads(os.pread(fd, 4096, 0))
    except (OSError, orjson.JSONDecodeError):
        return {}  # the owner has locked but not yet written (or someone wrote garbage)
    if not isinstance(found, dict):
        return {}
    record: dict[str, Any] = {}
    if isinstance(found.get("pid"), int) and not isinstance(found["pid"], bool):
        record["pid"] = found["pid"]
    for name in ("role", "started", "url"):
        value = found.get(name)
        if isinstance(value, str) and value.isprintable():
            record[name] = value
    return record


def _in_use(path: str, owner: dict[str, Any]) -> str:
    role, pid, url = owner.get("role"), owner.get("pid"), owner.get("url")
    who = _ROLES.get(role, role) if role else "another streamkit process"
    if pid == os.getpid():
        return (
            f"database {path} is already open in this process ({who}); "
            "close that engine first (one open engine per database file)"
        )
    details = ", ".join(part for part in (f"pid {pid}" if pid else None, url) if part)
    where = f"{who} ({details})" if details else who
    if url:
        return f"database {path} is owned by {where}; stop it or use --endpoint-url {url}"
    return f"database {path} is owned by {where}; stop it first (one process writes a database)"
