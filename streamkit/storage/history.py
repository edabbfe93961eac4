"""SQL for point-in-time recovery: each PITR-enabled table's retained history of changes.

While PITR is on, every item write appends one row to the table's history (``h_<table id>``)
in the same transaction as the write (:func:`record`, called from the engine's one write
path), whether or not a stream is enabled: ``(at, hk, rk, item, size)`` with the new item's
stored blob, or NULL for a deletion (a tombstone). When PITR is enabled on a table that has
items, :func:`fill_step` records them, a bounded step at a time, as base rows at the enable
time; a write to a key the fill has not reached yet first records the key's old item as its
base row (:func:`record`), so the fill never records a later state at the earlier time.

The table at time T is, for each key, its row with the highest rowid among those with
``at <= T``, unless that row is a tombstone (:func:`restore_step`, in key order through the
``(hk, rk)`` index). :func:`trim` drops what no time inside the window needs: rows superseded
by a later row of the same key at or before the window's start, then tombstones at or before
it.

``sk_pitr`` holds the settings, one row per table with PITR on. It is created on first use,
so a database without PITR is unchanged (no schema version).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from streamkit.model.schema import TableSpec

__all__ = [
    "BASE_OFFSET",
    "Change",
    "HistoryState",
    "changes_step",
    "copy_step",
    "create_history",
    "drop_history",
    "fill_step",
    "history_table",
    "insert_items",
    "items_at",
    "load_settings",
    "record",
    "restore_step",
    "rowid_bounds",
    "save_setting",
    "trim",
]

#: base rows (the items present when PITR was enabled) are recorded this long before the
#: enable time, so that a write at the enable time itself is a change of its own (an
#: incremental export from the enable time lists it, and not the items merely present)
BASE_OFFSET = 0.001

_SETTINGS = (
    "CREATE TABLE IF NOT EXISTS sk_pitr (name TEXT PRIMARY KEY, table_id TEXT NOT NULL, "
    "enabled_at REAL NOT NULL, days INTEGER NOT NULL, filled INTEGER NOT NULL)"
)


@dataclass(slots=True)
class HistoryState:
    """One PITR-enabled table, as the write path needs it.

    Attributes:
        table: the quoted name of the history table.
        enabled_at: when PITR was enabled (the base rows' time).
        days: RecoveryPeriodInDays.
        filling: True while the items present at enable time are still being recorded.
        cursor: the last key the fill has recorded (None: none yet).
    """

    table: str
    enabled_at: float
    days: int
    filling: bool = False
    cursor: tuple[bytes, bytes] | None = None


def history_table(spec: TableSpec) -> str:
    """Return the quoted SQLite name of a table's history."""
    return f'"h_{spec.table_id.replace("-", "")}"'


def create_history(conn: sqlite3.Connection, spec: TableSpec, state: HistoryState) -> None:
    """Create a table's (empty) history and save its settings row."""
    table = history_table(spec)
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (at REAL NOT NULL, hk BLOB NOT NULL, "
        "rk BLOB NOT NULL, item BLOB, size INTEGER NOT NULL)"
    )
    index = f'"hk_{spec.table_id.replace("-", "")}"'
    conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {table}(hk, rk)")
    save_setting(conn, spec, state)


def save_setting(conn: sqlite3.Connection, spec: TableSpec, state: HistoryState) -> None:
    """Insert or replace a table's settings row."""
    conn.execute(_SETTINGS)
    conn.execute(
        "INSERT OR REPLACE INTO sk_pitr(name, table_id, enabled_at, days, filled) "
        "VALUES (?, ?, ?, ?, ?)",
        (spec.name, spec.table_id, state.enabled_at, state.days, int(not state.filling)),
    )


def drop_history(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Drop a table's history and settings (PITR disabled, or the table deleted)."""
    conn.execute(_SETTINGS)
    conn.execute("DELETE FROM sk_pitr WHERE name = ?", (spec.name,))
    conn.execute(f"DROP TABLE IF EXISTS {history_table(spec)}")


def load_settings(conn: sqlite3.Connection) -> dict[str, tuple[str, float, int, bool]]:
    """Return ``name -> (table id, enabled_at, days, filled)`` of every PITR-enabled table."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sk_pitr'"
    ).fetchone()
    if exists is None:
        return {}
    return {
        name: (table_id, at, days, bool(filled))
        for name, table_id, at, days, filled in conn.execute(
            "SELECT name, table_id, enabled_at, days, filled FROM sk_pitr"
        )
    }


def _has_history(conn: sqlite3.Connection, state: HistoryState, hk: bytes, rk: bytes) -> bool:
    """Whether the key has any row in the table's history."""
    sql = f"SELECT 1 FROM {state.table} WHERE hk = ? AND rk = ? LIMIT 1"
    return conn.execute(sql, (hk, rk)).fetchone() is not None


def _append(
    conn: sqlite3.Connection,
    state: HistoryState,
    at: float,
    hk: bytes,
    rk: bytes,
    item: bytes | None,
    size: int,
) -> None:
    """Add one row to the table's history: the key's item (None: deleted) as of ``at``."""
    conn.execute(
        f"INSERT INTO {state.table}(at, hk, rk, item, size) VALUES (?, ?, ?, ?, ?)",
        (at, hk, rk, item, size),
    )


def record(
    conn: sqlite3.Connection,
    state: HistoryState,
    hk: bytes,
    rk: bytes,
    old: bytes | None,
    new: bytes | None,
    size: int,
    old_size: int,
    now: float,
) -> None:
    """Append one item change (``new`` None: a deletion) to a table's history.

    ``old`` is the old item's blob, needed only while the fill runs (see the module doc).
    """
    if (
        state.filling
        and (state.cursor is None or (hk, rk) > state.cursor)
        and old is not None
        and not _has_history(conn, state, hk, rk)
    ):
        _append(conn, state, state.enabled_at - BASE_OFFSET, hk, rk, old, old_size)
    _append(conn, state, now, hk, rk, new, size if new is not None else 0)


def fill_step(
    conn: sqlite3.Connection, spec: TableSpec, items: str, state: HistoryState, limit: int
) -> bool:
    """Record up to ``limit`` more of the items present at enable time; return True when done.

    A key that already has history (written since PITR was enabled, its base row recorded
    by :func:`record`) is skipped.
    """
    after = state.cursor
    where, args = ("", ()) if after is None else ("WHERE (hk, rk) > (?, ?)", after)
    rows = conn.execute(
        f"SELECT hk, rk, item, size FROM {items} {where} ORDER BY hk, rk LIMIT ?",
        (*args, limit),
    ).fetchall()
    for hk, rk, item, size in rows:
        if not _has_history(conn, state, hk, rk):
            _append(conn, state, state.enabled_at - BASE_OFFSET, hk, rk, item, size)
    if rows:
        state.cursor = (rows[-1][0], rows[-1][1])
    if len(rows) < limit:
        state.filling = False
        state.cursor = None
        save_setting(conn, spec, state)
        return True
    return False


def restore_step(
    conn: sqlite3.Connection,
    table: str,
    at: float,
    after: tuple[bytes, bytes] | None,
    limit: int,
) -> list[tuple[bytes, bytes, bytes, int]]:
    """Return up to ``limit`` items (hk, rk, blob, size) of the table as it was at ``at``,
    in key order after ``after``; fewer than ``limit`` means the end.

    Each key's row is the one with the highest rowid at or before ``at`` (SQLite takes the
    bare columns of an aggregate's ``max`` row); keys whose row is a tombstone are skipped
    but still count towards ``limit``, so a step stays bounded. The last returned key is
    not the resume point then: the caller resumes after the last key examined, which is
    returned as an item with an empty blob when it was a tombstone.
    """
    where = "" if after is None else "AND (hk, rk) > (?, ?)"
    args = () if after is None else after
    return [
        (hk, rk, item if item is not None else b"", size)
        for hk, rk, item, size, _ in conn.execute(
            f"SELECT hk, rk, item, size, max(rowid) FROM {table} WHERE at <= ? {where} "
            "GROUP BY hk, rk ORDER BY hk, rk LIMIT ?",
            (at, *args, limit),
        )
    ]


def copy_step(
    conn: sqlite3.Connection,
    table: str,
    items: str,
    at: float,
    after: tuple[bytes, bytes] | None,
    limit: int,
) -> tuple[bytes, bytes] | None:
    """Insert into the items table ``items`` the table as it was at ``at`` for the next
    ``limit`` keys of the history after ``after`` (None: from the start), with one ``INSERT
    ... SELECT`` (no row goes through Python); return the last of those keys, or None when
    the history ends among them.

    The keys of a step are bounded first, from the ``(hk, rk)`` index alone; each key's row
    is then chosen as :func:`restore_step` chooses it, and tombstones are left out.
    """
    start = "" if after is None else "(hk, rk) > (?, ?)"
    args: tuple[object, ...] = () if after is None else after
    end = conn.execute(
        f"SELECT DISTINCT hk, rk FROM {table} {'WHERE ' + start if start else ''} "
        "ORDER BY hk, rk LIMIT 1 OFFSET ?",
        (*args, limit - 1),
    ).fetchone()
    where = " AND ".join(
        w for w in ("at <= ?", start, "" if end is None else "(hk, rk) <= (?, ?)") if w
    )
    conn.execute(
        f"INSERT INTO {items}(hk, rk, item, size) SELECT hk, rk, item, size FROM "
        f"(SELECT hk, rk, item, size, max(rowid) FROM {table} WHERE {where} "
        "GROUP BY hk, rk ORDER BY hk, rk) WHERE item IS NOT NULL",
        (at, *args, *(() if end is None else end)),
    )
    return None if end is None else (end[0], end[1])


def insert_items(
    conn: sqlite3.Connection, items: str, rows: list[tuple[bytes, bytes, bytes, int]]
) -> None:
    """Insert restored items (blobs as stored) into an items table; no TTL column."""
    conn.executemany(f"INSERT INTO {items}(hk, rk, item, size) VALUES (?, ?, ?, ?)", rows)


def rowid_bounds(conn: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Return the lowest and highest rowid of a history ((1, 0) when empty)."""
    low, high = conn.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    return (1, 0) if low is None else (low, high)


def trim(conn: sqlite3.Connection, table: str, cutoff: float, low: int, high: int) -> int:
    """Drop the rows with rowid in [low, high] that no restore at or after ``cutoff`` needs
    (superseded at or before it, then tombstones at or before it); return how many."""
    superseded = conn.execute(
        f"DELETE FROM {table} AS h WHERE rowid BETWEEN ?2 AND ?3 AND at <= ?1 AND rowid < "
        f"(SELECT max(rowid) FROM {table} AS l WHERE l.hk = h.hk AND l.rk = h.rk "
        "AND l.at <= ?1)",
        (cutoff, low, high),
    ).rowcount
    tombstones = conn.execute(
        f"DELETE FROM {table} WHERE rowid BETWEEN ? AND ? AND at <= ? AND item IS NULL",
        (low, high, cutoff),
    ).rowcount
    return superseded + tombstones


def items_at(conn: sqlite3.Connection, table: str, at: float) -> Iterator[bytes]:
    """Yield the item blobs of the table as it was at ``at``, in key order, in one query
    (one snapshot when the connection reads in one transaction): a full export at a past
    time."""
    for item, _ in conn.execute(
        f"SELECT item, max(rowid) FROM {table} WHERE at <= ? GROUP BY hk, rk ORDER BY hk, rk",
        (at,),
    ):
        if item is not None:
            yield item


#: one key's change over an incremental export's period: (hk, rk, the item before the
#: period or None, the item at its end or None, the time of the key's last write in it)
Change = tuple[bytes, bytes, bytes | None, bytes | None, float]


def changes_step(
    conn: sqlite3.Connection,
    table: str,
    start: float,
    end: float,
    after: tuple[bytes, bytes] | None,
    limit: int | None,
) -> list[Change]:
    """Return the keys written in ``[start, end)``, in key order after ``after`` (up to
    ``limit`` of them; fewer means the end), each with its item just before ``start`` (the
    last row at ``at < start``) and at the end (the last row at ``at < end``).

    A key created and deleted inside the period comes back with both items None; the
    caller leaves it out, as DynamoDB's incremental export does.
    """
    where = "" if after is None else "AND (hk, rk) > (?4, ?5)"
    args: tuple[object, ...] = (start, end, -1 if limit is None else limit)
    if after is not None:
        args += after
    return conn.execute(
        f"SELECT c.hk, c.rk, (SELECT o.item FROM {table} AS o WHERE o.hk = c.hk AND "
        "o.rk = c.rk AND o.at < ?1 ORDER BY o.rowid DESC LIMIT 1), n.item, n.at "
        f"FROM (SELECT hk, rk, max(rowid) AS last FROM {table} WHERE at >= ?1 AND at < ?2 "
        f"{where} GROUP BY hk, rk ORDER BY hk, rk LIMIT ?3) AS c "
        f"JOIN {table} AS n ON n.rowid = c.last ORDER BY c.hk, c.rk",
        args,
    ).fetchall()
