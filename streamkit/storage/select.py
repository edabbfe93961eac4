"""SQL for secondary-index tables and for ordered key-range reads (Query and Scan).

An index is one SQLite table ``x_<table id>_<index name>``, ``WITHOUT ROWID``, keyed by
``(ihk, irk, hk, rk)``: the index's encoded partition and sort key, then the table's, so
entries that share index keys stay distinct and in DynamoDB's order. ``item`` holds the
projected item (KEYS_ONLY, INCLUDE or ALL), ``size`` its DynamoDB size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from streamkit.model.attributes import Item
from streamkit.model.schema import IndexSpec, TableSpec
from streamkit.storage.codec import dump_item
from streamkit.storage.tables import items_table

__all__ = [
    "INDEX_COLUMNS",
    "TABLE_COLUMNS",
    "Bound",
    "count_entries",
    "create_index",
    "delete_entry",
    "drop_index",
    "index_table",
    "items_table",
    "put_entry",
    "select_rows",
]

TABLE_COLUMNS: tuple[str, ...] = ("hk", "rk")
INDEX_COLUMNS: tuple[str, ...] = ("ihk", "irk", "hk", "rk")


def index_table(spec: TableSpec, idx: IndexSpec) -> str:
    """Return the quoted SQLite name of an index's table."""
    return f'"x_{spec.table_id.replace("-", "")}_{idx.name}"'


def create_index(conn: sqlite3.Connection, spec: TableSpec, idx: IndexSpec) -> None:
    """Create the table of one secondary index."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {index_table(spec, idx)} ("
        "ihk BLOB NOT NULL, irk BLOB NOT NULL, hk BLOB NOT NULL, rk BLOB NOT NULL, "
        "item BLOB NOT NULL, size INTEGER NOT NULL, "
        "PRIMARY KEY (ihk, irk, hk, rk)) WITHOUT ROWID"
    )


def drop_index(conn: sqlite3.Connection, spec: TableSpec, idx: IndexSpec) -> None:
    """Drop the table of one secondary index."""
    conn.execute(f"DROP TABLE IF EXISTS {index_table(spec, idx)}")


def put_entry(
    conn: sqlite3.Connection,
    spec: TableSpec,
    idx: IndexSpec,
    keys: tuple[bytes, bytes, bytes, bytes],
    item: Item,
    size: int,
) -> None:
    """Insert or replace one index entry."""
    conn.execute(
        f"INSERT OR REPLACE INTO {index_table(spec, idx)} VALUES (?, ?, ?, ?, ?, ?)",
        (*keys, dump_item(item), size),
    )


def delete_entry(
    conn: sqlite3.Connection, spec: TableSpec, idx: IndexSpec, keys: tuple[bytes, ...]
) -> None:
    """Delete one index entry."""
    conn.execute(
        f"DELETE FROM {index_table(spec, idx)} WHERE ihk = ? AND irk = ? AND hk = ? AND rk = ?",
        keys,
    )


def count_entries(conn: sqlite3.Connection, source: str) -> tuple[int, int]:
    """Return (rows, total item bytes) of an items or index table."""
    count, size = conn.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM {source}").fetchone()
    return int(count), int(size)


@dataclass(frozen=True, slots=True)
class Bound:
    """One comparison on a key column: ``column op value`` (op in = < <= > >=)."""

    column: str
    op: str
    value: bytes


def select_rows(
    conn: sqlite3.Connection,
    source: str,
    columns: Sequence[str],
    bounds: Sequence[Bound],
    *,
    after: Sequence[bytes] | None = None,
    forward: bool = True,
    with_keys: bool = True,
) -> sqlite3.Cursor:
    """Return a cursor over the rows ``(item blob, size, *key columns)`` of ``source`` in key
    order, or ``(item blob, size)`` without ``with_keys``; :func:`load_item` decodes the blob.

    The caller's loop reads the cursor itself (a generator decoding rows in between cost a
    seventh of a 100-item Query), and asks for the keys only if it uses them: making a bytes
    object of each key column doubles the cost of reading a row.

    Args:
        source: the quoted table name (:func:`items_table` or :func:`index_table`).
        columns: its key columns in order (:data:`TABLE_COLUMNS` or :data:`INDEX_COLUMNS`).
        bounds: comparisons on key columns, all of which must hold.
        after: a full key; only rows strictly after it (before it when ``forward`` is False)
            are returned. This is ExclusiveStartKey.
        forward: ascending key order, else descending.
        with_keys: return the key columns too.
    """
    where = [f"{b.column} {b.op} ?" for b in bounds]
    args: list[bytes] = [b.value for b in bounds]
    if after is not None:
        where.append(
            f"({', '.join(columns)}) {'>' if forward else '<'} ({', '.join('?' * len(columns))})"
        )
        args.extend(after)
    direction = "ASC" if forward else "DESC"
    selected = ["item", "size", *columns] if with_keys else ["item", "size"]
    sql = (
        f"SELECT {', '.join(selected)} FROM {source}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {', '.join(f'{c} {direction}' for c in columns)}"
    )
    return conn.execute(sql, args)
