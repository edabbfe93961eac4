"""SQL for global tables' hidden last-writer-wins versions; synchronous, run inside a store hop.

Every item write to a global table stores the item's version in ``sk_versions_<table id>``
(``hk``, ``rk``, ``at_us``, ``region``, ``deleted``), in the same transaction as the write: a
local write's version is ``(max(now_us, stored at_us + 1), this region)``, so it beats whatever
it overwrote; a replicated write stores the version it arrived with. A deletion keeps its row
(a tombstone, ``deleted = 1``) so an older replicated put cannot bring the item back. Versions
compare as ``(at_us, region)``: the region name breaks ties, so every region picks the same
winner. A key with no row (written before the table went global) has :data:`NO_VERSION`.

The versions live beside the items table, never in the item: no read, stream record, export
or backup can show them. The table is created on first use (a regional table never has one)
and dropped with its items table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Final, TypeAlias

from streamkit.model.schema import TableSpec
from streamkit.storage.lookups import lookup_rows

__all__ = [
    "NO_VERSION",
    "Version",
    "drop_versions",
    "get_version",
    "get_versions",
    "local_version",
    "put_version",
    "scan_with_versions",
    "versions_table",
]

#: (microseconds since the epoch, region): compared as a tuple
Version: TypeAlias = tuple[int, str]
#: the version of an item that has no row: older than any write
NO_VERSION: Final[Version] = (0, "")

_NAMES: dict[str, str] = {}  # table id -> quoted versions-table name (ids are never reused)


def versions_table(spec: TableSpec) -> str:
    """Return the quoted SQLite name of a table's versions table."""
    name = _NAMES.get(spec.table_id)
    if name is None:
        name = _NAMES[spec.table_id] = f'"sk_versions_{spec.table_id.replace("-", "")}"'
    return name


def _create(conn: sqlite3.Connection, spec: TableSpec) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {versions_table(spec)} ("
        "hk BLOB NOT NULL, rk BLOB NOT NULL, at_us INTEGER NOT NULL, region TEXT NOT NULL, "
        "deleted INTEGER NOT NULL, PRIMARY KEY (hk, rk)) WITHOUT ROWID"
    )


def _missing(exc: sqlite3.OperationalError, spec: TableSpec) -> bool:
    """Whether ``exc`` says this table's versions table does not exist (yet)."""
    return "no such table" in str(exc) and versions_table(spec).strip('"') in str(exc)


def get_version(conn: sqlite3.Connection, spec: TableSpec, hk: bytes, rk: bytes) -> Version:
    """Return the stored version of one key (tombstones included), or :data:`NO_VERSION`."""
    try:
        row = conn.execute(
            f"SELECT at_us, region FROM {versions_table(spec)} WHERE hk = ? AND rk = ?", (hk, rk)
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if _missing(exc, spec):
            return NO_VERSION
        raise
    return NO_VERSION if row is None else (row[0], row[1])


def get_versions(
    conn: sqlite3.Connection, spec: TableSpec, keys: Sequence[tuple[bytes, bytes]]
) -> dict[tuple[bytes, bytes], Version]:
    """Return the stored versions of many keys (read as :func:`storage.lookups.lookup_rows`
    reads, as ``storage.tables.get_sized_rows`` does); keys with no row are left out."""
    try:
        rows = lookup_rows(conn, versions_table(spec), "at_us, region", keys)
    except sqlite3.OperationalError as exc:
        if not _missing(exc, spec):
            raise
        return {}
    return {(hk, rk): (at_us, region) for hk, rk, at_us, region in rows}


def put_version(
    conn: sqlite3.Connection,
    spec: TableSpec,
    hk: bytes,
    rk: bytes,
    version: Version,
    *,
    deleted: bool,
) -> None:
    """Store one key's version (creating the versions table on the table's first write)."""
    sql = (
        f"INSERT OR REPLACE INTO {versions_table(spec)}(hk, rk, at_us, region, deleted) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    args = (hk, rk, version[0], version[1], int(deleted))
    try:
        conn.execute(sql, args)
    except sqlite3.OperationalError as exc:
        if not _missing(exc, spec):
            raise
        _create(conn, spec)
        conn.execute(sql, args)


def local_version(
    conn: sqlite3.Connection,
    spec: TableSpec,
    hk: bytes,
    rk: bytes,
    now_us: int,
    region: str,
    *,
    deleted: bool,
) -> Version:
    """Store and return the version of a local write: ``(max(now_us, stored + 1), region)``."""
    stored = get_version(conn, spec, hk, rk)[0]
    version = (max(now_us, stored + 1), region)
    put_version(conn, spec, hk, rk, version, deleted=deleted)
    return version


def scan_with_versions(
    conn: sqlite3.Connection,
    spec: TableSpec,
    items_table: str,
    after: tuple[bytes, bytes] | None,
    limit: int,
) -> list[tuple[bytes, bytes, bytes, int, int | None, str | None]]:
    """Return up to ``limit`` item rows after ``after`` in key order, each with its version:
    ``(hk, rk, item blob, size, at_us, region)``; ``at_us`` and ``region`` are None without a
    row.

    ``items_table`` is the table's quoted items-table name (storage.tables.items_table).
    """
    where, args = ("", ()) if after is None else (" WHERE (i.hk, i.rk) > (?, ?)", after)
    items = (
        f"SELECT i.hk, i.rk, i.item, i.size FROM {items_table} AS i{where} "
        "ORDER BY i.hk, i.rk LIMIT ?"
    )
    try:
        rows: Iterable[tuple[bytes, bytes, bytes, int, int | None, str | None]] = conn.execute(
            f"SELECT p.hk, p.rk, p.item, p.size, v.at_us, v.region FROM ({items}) AS p "
            f"LEFT JOIN {versions_table(spec)} AS v ON v.hk = p.hk AND v.rk = p.rk "
            "ORDER BY p.hk, p.rk",
            (*args, limit),
        )
        return list(rows)
    except sqlite3.OperationalError as exc:
        if not _missing(exc, spec):
            raise
    return [
        (hk, rk, item, size, None, None)
        for hk, rk, item, size in conn.execute(items, (*args, limit))
    ]


def scan_tombstones(
    conn: sqlite3.Connection, spec: TableSpec, after: tuple[bytes, bytes] | None, limit: int
) -> list[tuple[bytes, bytes, int, str]]:
    """Return up to ``limit`` tombstones (deleted items' versions) after ``after`` in key
    order: ``(hk, rk, at_us, region)``."""
    where, args = ("", ()) if after is None else (" AND (hk, rk) > (?, ?)", after)
    try:
        return list(
            conn.execute(
                f"SELECT hk, rk, at_us, region FROM {versions_table(spec)} "
                f"WHERE deleted = 1{where} ORDER BY hk, rk LIMIT ?",
                (*args, limit),
            )
        )
    except sqlite3.OperationalError as exc:
        if not _missing(exc, spec):
            raise
    return []


def drop_versions(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Remove a table's versions (with the table: a table that goes regional keeps them,
    and they count again, as they were, if it becomes global again)."""
    conn.execute(f"DROP TABLE IF EXISTS {versions_table(spec)}")
