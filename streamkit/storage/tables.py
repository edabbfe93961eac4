"""SQL for the table catalog and the items of each table; synchronous, run inside a store hop.

Each DynamoDB table is one SQLite table ``t_<table id>``, ``WITHOUT ROWID``, keyed by the
order-preserving encodings of its partition and sort key (``hk``, ``rk``; ``rk`` is empty for a
hash-only table), so point reads and sort-key ranges are answered by SQLite's B-tree.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

import orjson

from streamkit.errors import DatabaseFileError
from streamkit.model.attributes import Item
from streamkit.model.schema import TableSpec
from streamkit.storage import changes
from streamkit.storage.codec import dump_item, load_item
from streamkit.storage.lookups import lookup_rows
from streamkit.storage.sqlite import statements
from streamkit.storage.versions import drop_versions

__all__ = [
    "SCHEMA_VERSION",
    "create_items_table",
    "create_table",
    "delete_row",
    "drop_table",
    "get_row",
    "get_sized_row",
    "get_sized_rows",
    "get_stored_row",
    "items_table",
    "load_spec",
    "load_specs",
    "migrate",
    "put_row",
    "save_spec",
    "ttl_value",
]

SCHEMA_VERSION = 8


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade streamkit's own tables."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise DatabaseFileError(
            f"the database was written by a newer streamkit (schema version {version}, this "
            f"streamkit reads up to {SCHEMA_VERSION}); upgrade streamkit to open it"
        )
    if version < 1:
        conn.executescript(
            """
            BEGIN;
            CREATE TABLE IF NOT EXISTS sk_tables (
                name TEXT PRIMARY KEY,
                spec BLOB NOT NULL
            );
            PRAGMA user_version = 1;
            COMMIT;
            """
        )
    if version < 2:
        # 2: stream change log, TTL settings, and a ``ttl`` column (with a partial index) on
        # every items table so the TTL sweeper finds expired items without scanning.
        conn.execute("BEGIN")
        changes.create_schema(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS sk_ttl (name TEXT PRIMARY KEY, attribute TEXT, "
            "enabled INTEGER NOT NULL, changed_at REAL NOT NULL)"
        )
        conn.execute(
            "INSERT OR IGNORE INTO sk_meta(name, value) VALUES ('iterator_secret', ?)",
            (os.urandom(32),),
        )
        for spec in load_specs(conn):
            conn.execute(f"ALTER TABLE {items_table(spec)} ADD COLUMN ttl REAL")
            conn.execute(_ttl_index(spec))
        conn.execute("PRAGMA user_version = 3")  # the change log above is version 3's already
        conn.execute("COMMIT")
    elif version < 3:
        # 3: stream records in a rowid table with a (sid, seq) index (see storage.changes)
        conn.execute("BEGIN")
        changes.rebuild_records(conn)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("COMMIT")
    if version < 4:
        # 4: item rows may be JSON (codec tag 0x02). Nothing to convert: marshal rows still
        # load. The number only makes an older streamkit refuse the file instead of failing
        # on every read of a new row.
        conn.execute("PRAGMA user_version = 4")
    if version < 5:
        # 5: stream records may be JSON (storage.changes.dump_record_data). Nothing to
        # convert, as for 4: marshal records still load; an older streamkit refuses the file
        # instead of failing on every GetRecords of a new record.
        conn.execute("PRAGMA user_version = 5")
    if version < 6:
        # 6: a JSON stream record ends with its keys' and old image's lengths
        # (storage.changes.dump_record_data). Nothing to convert: version 5's records still
        # load; an older streamkit refuses the file instead of failing on every new record.
        conn.execute("PRAGMA user_version = 6")
    if version < 7:
        # 7: a write batch's stream records of one shard are one block row (storage.changes:
        # seq = the block's last, kind = minus its record count). Nothing to convert: every
        # older row is a one-record row, which version 7 still writes and reads as it was;
        # an older streamkit refuses the file instead of misreading blocks.
        conn.execute("PRAGMA user_version = 7")
    if version < 8:
        # 8: stream records keyed by row id ``sid * SHARD_SPAN + seq - start_seq`` (each
        # shard its own range, in sequence order) without the ``(sid, seq)`` index: a commit
        # writes one B-tree fewer (storage.changes, docs/performance.md)
        conn.execute("BEGIN")
        changes.convert_records(conn)
        conn.execute("PRAGMA user_version = 8")
        conn.execute("COMMIT")


_TABLE_NAMES: dict[str, str] = {}  # table id -> quoted items-table name (ids are never reused)


def items_table(spec: TableSpec) -> str:
    """Return the quoted SQLite name of a table's items table (computed once per table)."""
    name = _TABLE_NAMES.get(spec.table_id)
    if name is None:
        name = _TABLE_NAMES[spec.table_id] = f'"t_{spec.table_id.replace("-", "")}"'
    return name


def _ttl_index(spec: TableSpec) -> str:
    # "ttl_" + id: index tables are "x_<id>_<index name>", and a GSI may be named "ttl"
    name = f'"ttl_{spec.table_id.replace("-", "")}"'
    return f"CREATE INDEX IF NOT EXISTS {name} ON {items_table(spec)}(ttl) WHERE ttl IS NOT NULL"


def ttl_value(item: Item, attribute: str | None) -> float | None:
    """Return the value of an item's TTL attribute when it is a Number, else None."""
    if attribute is None:
        return None
    value = item.get(attribute)
    if value is None:
        return None
    number = value.get("N")
    return None if number is None else float(number)


def load_specs(conn: sqlite3.Connection) -> list[TableSpec]:
    """Return every table's spec from the catalog."""
    return [
        TableSpec.from_json(orjson.loads(blob))
        for (blob,) in conn.execute("SELECT spec FROM sk_tables ORDER BY name")
    ]


def load_spec(conn: sqlite3.Connection, name: str) -> TableSpec | None:
    """Return one table's spec from the catalog, or None."""
    row = conn.execute("SELECT spec FROM sk_tables WHERE name = ?", (name,)).fetchone()
    return None if row is None else TableSpec.from_json(orjson.loads(row[0]))


def save_spec(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Insert or replace the catalog row of a table."""
    conn.execute(
        "INSERT OR REPLACE INTO sk_tables(name, spec) VALUES (?, ?)",
        (spec.name, orjson.dumps(spec.to_json())),
    )


def create_table(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Create a table's catalog row and its items table."""
    save_spec(conn, spec)
    create_items_table(conn, spec)


def create_items_table(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Create a table's items table (with its TTL index), not its catalog row."""
    conn.execute(
        f"CREATE TABLE {items_table(spec)} ("
        "hk BLOB NOT NULL, rk BLOB NOT NULL, item BLOB NOT NULL, size INTEGER NOT NULL, "
        "ttl REAL, PRIMARY KEY (hk, rk)) WITHOUT ROWID"
    )
    conn.execute(_ttl_index(spec))


def drop_table(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Remove a table's catalog row and all its items."""
    conn.execute("DELETE FROM sk_tables WHERE name = ?", (spec.name,))
    conn.execute(f"DROP TABLE IF EXISTS {items_table(spec)}")
    drop_versions(conn, spec)  # a global table's hidden versions (storage.versions)


def get_row(conn: sqlite3.Connection, spec: TableSpec, hk: bytes, rk: bytes) -> Item | None:
    """Return the item stored under the encoded key, or None."""
    row = conn.execute(
        f"SELECT item FROM {items_table(spec)} WHERE hk = ? AND rk = ?", (hk, rk)
    ).fetchone()
    return None if row is None else load_item(row[0])


def get_sized_row(
    conn: sqlite3.Connection, spec: TableSpec, hk: bytes, rk: bytes
) -> tuple[Item | None, int]:
    """Return the item stored under the encoded key and its stored size, or (None, 0).

    The ``size`` column is the item's DynamoDB size as computed when it was written, so
    callers need not walk the item again to compute capacity.
    """
    item, size, _ = get_stored_row(conn, spec, hk, rk)
    return item, size


def get_stored_row(
    conn: sqlite3.Connection, spec: TableSpec, hk: bytes, rk: bytes
) -> tuple[Item | None, int, bytes | None]:
    """:func:`get_sized_row` with the stored blob as well, or (None, 0, None).

    A write hands the blob to the change log, whose stream record reuses it as the old image.
    """
    row = statements(conn).execute(_sql(spec)[0], (hk, rk)).fetchone()
    return (None, 0, None) if row is None else (load_item(row[0]), row[1], row[0])


def get_sized_rows(
    conn: sqlite3.Connection, spec: TableSpec, keys: Sequence[tuple[bytes, bytes]]
) -> dict[tuple[bytes, bytes], tuple[Item, int]]:
    """Return the items stored under many encoded keys, with their stored sizes, keyed by
    encoded key; keys with no item are left out (read as :func:`storage.lookups.lookup_rows`
    reads: point lookups joined by UNION ALL, a few statements for many keys)."""
    return {
        (hk, rk): (load_item(item), size)
        for hk, rk, item, size in lookup_rows(conn, items_table(spec), "item, size", keys)
    }


def put_row(
    conn: sqlite3.Connection,
    spec: TableSpec,
    hk: bytes,
    rk: bytes,
    item: Item,
    size: int,
    *,
    ttl_attribute: str | None = None,
) -> bytes:
    """Insert or replace the item stored under the encoded key; return the stored blob.

    ``ttl_attribute`` is the table's TTL attribute when TTL is enabled: its Number value goes
    to the indexed ``ttl`` column the sweeper reads.
    """
    blob = dump_item(item)
    ttl = None if ttl_attribute is None else ttl_value(item, ttl_attribute)
    statements(conn).execute(_sql(spec)[1], (hk, rk, blob, size, ttl))
    return blob


def delete_row(conn: sqlite3.Connection, spec: TableSpec, hk: bytes, rk: bytes) -> None:
    """Delete the item stored under the encoded key (no-op when absent)."""
    statements(conn).execute(_sql(spec)[2], (hk, rk))


_SQL: dict[str, tuple[str, str, str]] = {}  # table id -> the statements of one-item writes


def _sql(spec: TableSpec) -> tuple[str, str, str]:
    """Return a table's one-row read, upsert and delete, made once per table (ids are never
    reused): the same string objects each time, whose hashes Python keeps, so the
    connection's statement cache finds them without building and hashing them again."""
    found = _SQL.get(spec.table_id)
    if found is None:
        table = items_table(spec)
        found = _SQL[spec.table_id] = (
            f"SELECT item, size FROM {table} WHERE hk = ? AND rk = ?",
            f"INSERT OR REPLACE INTO {table}(hk, rk, item, size, ttl) VALUES (?, ?, ?, ?, ?)",
            f"DELETE FROM {table} WHERE hk = ? AND rk = ?",
        )
    return found
