"""SQL for on-demand backups: the backup catalog, taking a snapshot, reading it back in steps.

A backup's data is a SQLite database of its own: ``items`` (the table's rows) and one
``x_<index name>`` table per secondary index (the index's rows), copied raw, in key order, so
a restore neither decodes nor re-indexes an item. On disk it is ``<data>/backups/<id>.sqlite3``
beside the database; in memory it is an in-memory connection the engine keeps.

Taking a backup on disk (:func:`take_snapshot`) runs on a thread of its own with its own
connection: it opens the backup file, attaches the database read-only and copies every table
inside one read transaction, so the copy is the database as of that transaction's first read
(WAL: the writer never waits for it). Each copy is an ``INSERT ... SELECT`` of a bounded chunk,
which SQLite runs with the GIL released, so the event loop keeps serving writes meanwhile.

The catalog rows live in ``sk_backups`` (created on first use) and the RestoreSummary of each
restored table in ``sk_restores``; both are JSON, read once when the engine opens.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from streamkit.model.schema import IndexSpec, TableSpec
from streamkit.storage import scratch, select, tables as storage_tables

__all__ = [
    "COPY_CHUNK",
    "RESTORE_CHUNK",
    "attach_backup",
    "backup_path",
    "copy_chunk",
    "copy_memory_snapshot",
    "create_restore_tables",
    "delete_backup_row",
    "drop_restore_tables",
    "last_rowid",
    "load_backups",
    "load_restores",
    "read_chunk",
    "restore_catalog_row",
    "restore_steps",
    "save_backup_row",
    "save_restore_row",
    "take_snapshot",
    "write_chunk",
]

#: rows copied per statement while taking a backup (runs on its own thread, GIL released)
COPY_CHUNK = 50_000
#: rows a restore writes per write batch (each holds the event loop: 3-10 ms here)
RESTORE_CHUNK = 500

_CATALOG = (
    "CREATE TABLE IF NOT EXISTS sk_backups (arn TEXT PRIMARY KEY, created REAL NOT NULL, "
    "record BLOB NOT NULL)"
)
_RESTORES = "CREATE TABLE IF NOT EXISTS sk_restores (table_id TEXT PRIMARY KEY, summary BLOB)"
_META = "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)"
_ITEMS = "CREATE TABLE items (hk BLOB NOT NULL, rk BLOB NOT NULL, item BLOB NOT NULL, size INTEGER)"


def _index_source(name: str) -> str:
    return '"x_' + name.replace('"', '""') + '"'


def backup_path(database: str, backup_id: str) -> str:
    """Return the file of a backup of the database file ``database``."""
    return os.path.join(
        os.path.dirname(os.path.abspath(database)), "backups", f"{backup_id}.sqlite3"
    )


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


def load_backups(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Return every backup's catalog record, oldest first ([] before the first backup)."""
    try:
        rows = conn.execute("SELECT record FROM sk_backups ORDER BY created, arn").fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return []
        raise
    return [orjson.loads(record) for (record,) in rows]


def save_backup_row(conn: sqlite3.Connection, record: dict[str, Any]) -> None:
    """Insert or replace a backup's catalog record (``arn`` and ``created`` are its keys)."""
    conn.execute(_CATALOG)
    conn.execute(
        "INSERT OR REPLACE INTO sk_backups(arn, created, record) VALUES (?, ?, ?)",
        (record["arn"], record["created"], orjson.dumps(record)),
    )


def delete_backup_row(conn: sqlite3.Connection, arn: str) -> None:
    """Remove a backup's catalog record."""
    conn.execute(_CATALOG)
    conn.execute("DELETE FROM sk_backups WHERE arn = ?", (arn,))


def load_restores(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Return the RestoreSummary of every restored table, by table id."""
    try:
        rows = conn.execute("SELECT table_id, summary FROM sk_restores").fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return {}
        raise
    return {table_id: orjson.loads(summary) for table_id, summary in rows}


def save_restore_row(conn: sqlite3.Connection, table_id: str, summary: dict[str, Any]) -> None:
    """Remember the RestoreSummary of a restored table."""
    conn.execute(_RESTORES)
    conn.execute(
        "INSERT OR REPLACE INTO sk_restores(table_id, summary) VALUES (?, ?)",
        (table_id, orjson.dumps(summary)),
    )


# -- taking a backup ------------------------------------------------------------------


def _create_backup_schema(dst: sqlite3.Connection, spec: TableSpec) -> None:
    dst.execute(_META)
    dst.execute(_ITEMS)
    for idx in spec.indexes:
        dst.execute(
            f"CREATE TABLE {_index_source(idx.name)} (ihk BLOB NOT NULL, irk BLOB NOT NULL, "
            "hk BLOB NOT NULL, rk BLOB NOT NULL, item BLOB NOT NULL, size INTEGER)"
        )


def _sources(spec: TableSpec, schema: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(backup table, source table, key columns) for the table and each index."""
    pairs = [("items", f"{schema}.{select.items_table(spec)}", select.TABLE_COLUMNS)]
    pairs.extend(
        (_index_source(i.name), f"{schema}.{select.index_table(spec, i)}", select.INDEX_COLUMNS)
        for i in spec.indexes
    )
    return pairs


def _copy_table(
    dst: sqlite3.Connection,
    target: str,
    source: str,
    columns: tuple[str, ...],
    cancelled: Callable[[], bool],
) -> tuple[int, int]:
    """Copy ``source`` into ``target`` in key order, COPY_CHUNK rows a statement.

    Return (rows, sum of sizes)."""
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    first = (
        f"INSERT INTO {target} SELECT {names}, item, size FROM {source} "
        f"ORDER BY {names} LIMIT {COPY_CHUNK}"
    )
    after = (
        f"INSERT INTO {target} SELECT {names}, item, size FROM {source} "
        f"WHERE ({names}) > ({marks}) ORDER BY {names} LIMIT {COPY_CHUNK}"
    )
    last_row = f"SELECT {names} FROM {target} ORDER BY rowid DESC LIMIT 1"
    key: tuple[bytes, ...] | None = None
    while True:
        if cancelled():
            raise InterruptedError("the backup was cancelled")
        copied = dst.execute(first if key is None else after, key or ()).rowcount
        if copied < COPY_CHUNK:
            break
        key = tuple(dst.execute(last_row).fetchone())
    rows, size = dst.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM {target}").fetchone()
    return int(rows), int(size)


def take_snapshot(
    database: str,
    target: str,
    spec: TableSpec,
    meta: dict[str, Any],
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[TableSpec, dict[str | None, tuple[int, int]]] | None:
    """Copy one table of ``database`` (with its indexes) into the new backup file ``target``.

    Runs on a thread of its own. Every table is read in one read transaction, so the copy is
    one consistent moment: the first read, the catalog row, which must still be ``spec``'s
    table (else None: it was deleted meanwhile, and nothing is left behind). Return the spec
    as of that moment and the (rows, bytes) of the table (key None) and of each index.
    """
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(target)
    dst = sqlite3.connect(target, isolation_level=None, uri=True)
    done = False
    try:
        dst.execute("PRAGMA journal_mode=OFF")
        dst.execute("PRAGMA synchronous=OFF")
        dst.execute(
            "ATTACH DATABASE ? AS src", (f"file:{quote(os.path.abspath(database))}?mode=ro",)
        )
        dst.execute("PRAGMA busy_timeout=5000")
        dst.execute("BEGIN")
        row = dst.execute("SELECT spec FROM src.sk_tables WHERE name = ?", (spec.name,)).fetchone()
        if row is None:
            return None
        current = TableSpec.from_json(orjson.loads(row[0]))
        if current.table_id != spec.table_id:
            return None
        _create_backup_schema(dst, current)
        counts: dict[str | None, tuple[int, int]] = {}
        for (target_table, source, columns), key in zip(
            _sources(current, "src"), [None, *(i.name for i in current.indexes)], strict=True
        ):
            counts[key] = _copy_table(dst, target_table, source, columns, cancelled)
        dst.execute(
            "INSERT INTO meta(name, value) VALUES ('spec', ?), ('record', ?)",
            (orjson.dumps(current.to_json()), orjson.dumps(meta)),
        )
        dst.execute("COMMIT")
        dst.execute("DETACH DATABASE src")
        done = True
        return current, counts
    finally:
        dst.close()
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.remove(target)


def copy_memory_snapshot(
    conn: sqlite3.Connection, spec: TableSpec, meta: dict[str, Any]
) -> tuple[sqlite3.Connection, dict[str | None, tuple[int, int]]]:
    """Copy one table of an in-memory database into a new in-memory backup connection.

    Runs on the store's only connection in one call (so it is one moment): the event loop
    waits for the whole copy (a few microseconds a row).
    """
    dst = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    _create_backup_schema(dst, spec)
    counts: dict[str | None, tuple[int, int]] = {}
    dst.execute("BEGIN")
    for (target, source, columns), key in zip(
        _sources(spec, "main"), [None, *(i.name for i in spec.indexes)], strict=True
    ):
        names = ", ".join(columns)
        marks = ", ".join("?" * (len(columns) + 2))
        dst.executemany(
            f"INSERT INTO {target} VALUES ({marks})",
            conn.execute(f"SELECT {names}, item, size FROM {source} ORDER BY {names}"),
        )
        rows, size = dst.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM {target}"
        ).fetchone()
        counts[key] = (int(rows), int(size))
    dst.execute(
        "INSERT INTO meta(name, value) VALUES ('spec', ?), ('record', ?)",
        (orjson.dumps(spec.to_json()), orjson.dumps(meta)),
    )
    dst.execute("COMMIT")
    return dst, counts


# -- restoring ------------------------------------------------------------------------


def create_restore_tables(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Create the items and index tables of a table being restored (no catalog row yet)."""
    storage_tables.create_items_table(conn, spec)
    for idx in spec.indexes:
        select.create_index(conn, spec, idx)


def drop_restore_tables(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Drop the tables of a restore that did not finish."""
    conn.execute(f"DROP TABLE IF EXISTS {select.items_table(spec)}")
    for idx in spec.indexes:
        select.drop_index(conn, spec, idx)


def restore_steps(spec: TableSpec, indexes: Sequence[IndexSpec]) -> Iterator[tuple[str, str, int]]:
    """(backup table, destination table, columns) of each table a restore fills."""
    yield "items", select.items_table(spec), 5
    for idx in indexes:
        yield _index_source(idx.name), select.index_table(spec, idx), 6


def attach_backup(conn: sqlite3.Connection, path: str, alias: str) -> None:
    """Attach a backup file to the writer's connection (outside any transaction), to copy it
    in with :func:`copy_chunk`; detach it with :func:`streamkit.storage.scratch.detach`
    (FileNotFoundError if it is gone, where ATTACH would create it; sqlite3.Error if it is
    no backup)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    scratch.attach(conn, path, alias)
    try:
        conn.execute(f"SELECT 1 FROM {alias}.items LIMIT 1").fetchall()
    except sqlite3.Error:
        scratch.detach(conn, alias)
        raise


def last_rowid(conn: sqlite3.Connection, alias: str, source: str) -> int:
    """The highest rowid of a table of an attached backup (0 when empty)."""
    return int(conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {alias}.{source}").fetchone()[0])


def copy_chunk(
    conn: sqlite3.Connection, alias: str, source: str, target: str, columns: int, after: int
) -> None:
    """Copy the rows of rowids ``(after, after + RESTORE_CHUNK]`` of ``source`` in an attached
    backup into ``target``, the restored table or one of its indexes, with one ``INSERT ...
    SELECT`` (no row goes through Python). Backup rows are in key order, so the inserts
    append to the target's B-tree; a restored table has no TTL (``ttl`` stays NULL)."""
    into = f"{target}(hk, rk, item, size)" if columns == 5 else target
    conn.execute(
        f"INSERT INTO main.{into} SELECT * FROM {alias}.{source} "
        "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
        (after, after + RESTORE_CHUNK),
    )


def read_chunk(backup: sqlite3.Connection, source: str, after: int) -> list[tuple[Any, ...]]:
    """Return up to RESTORE_CHUNK rows ``(rowid, *columns)`` of ``source`` in an in-memory
    backup after rowid ``after``, in key order (a backup file is copied by :func:`copy_chunk`)."""
    return backup.execute(
        f"SELECT rowid, * FROM {source} WHERE rowid > ? ORDER BY rowid LIMIT {RESTORE_CHUNK}",
        (after,),
    ).fetchall()


def write_chunk(
    conn: sqlite3.Connection, target: str, columns: int, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows from :func:`read_chunk` into ``target``, the restored table (5 columns:
    its items, with no TTL value, as a restored table has no TTL) or one of its indexes."""
    if columns == 5:
        conn.executemany(
            f"INSERT INTO {target}(hk, rk, item, size, ttl) VALUES (?, ?, ?, ?, NULL)",
            [r[1:] for r in rows],
        )
    else:
        conn.executemany(f"INSERT INTO {target} VALUES (?, ?, ?, ?, ?, ?)", [r[1:] for r in rows])


def restore_catalog_row(conn: sqlite3.Connection, spec: TableSpec) -> bool:
    """Publish a restored table: its catalog row, unless the name was taken meanwhile."""
    taken = conn.execute("SELECT 1 FROM sk_tables WHERE name = ?", (spec.name,)).fetchone()
    if taken:
        return False
    storage_tables.save_spec(conn, spec)
    return True
