"""Whole-table reads for exports: every item of a table, as wire JSON or as an item.

A read on one connection is one snapshot (WAL), so an export that iterates a table in one
call sees exactly the table as it was when the iteration began. Items stored as JSON go out
as their stored bytes, unparsed (the stored JSON is the wire form); items with binaries
(stored with marshal) are loaded and their binaries written as base64 text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

import orjson

from streamkit.model.attributes import Item
from streamkit.model.json import json_default
from streamkit.model.schema import TableSpec
from streamkit.storage.codec import dump_item, item_fragment, load_item
from streamkit.storage.tables import items_table

__all__ = ["item_json", "item_of", "item_rows", "iter_item_blobs", "put_items"]

Row = tuple[bytes, bytes, bytes]  # hk, rk, the stored item blob


def iter_item_blobs(conn: sqlite3.Connection, spec: TableSpec) -> Iterator[bytes]:
    """Yield every stored item blob of a table, in key order, from one snapshot."""
    for (data,) in conn.execute(f"SELECT item FROM {items_table(spec)}"):
        yield data


def item_rows(
    conn: sqlite3.Connection, spec: TableSpec, after: tuple[bytes, bytes] | None, limit: int
) -> list[Row]:
    """Return up to ``limit`` rows (hk, rk, blob) after the key ``after``, in key order."""
    table = items_table(spec)
    if after is None:
        cursor = conn.execute(f"SELECT hk, rk, item FROM {table} LIMIT ?", (limit,))
    else:
        cursor = conn.execute(
            f"SELECT hk, rk, item FROM {table} WHERE (hk, rk) > (?, ?) LIMIT ?", (*after, limit)
        )
    return cursor.fetchall()


def item_json(data: bytes) -> bytes:
    """Return the wire JSON of a stored item blob (binaries as base64 text)."""
    if item_fragment(data) is not None:
        return data[1:]
    return orjson.dumps(load_item(data), default=json_default)


def item_of(data: bytes) -> Item:
    """Return the item of a stored blob (binaries as ``bytes``)."""
    return load_item(data)


def put_items(
    conn: sqlite3.Connection,
    spec: TableSpec,
    items: Iterable[tuple[tuple[bytes, bytes], Item, int]],
) -> None:
    """Insert or replace many items ((hk, rk), item, size) of a table with no index, stream
    or TTL to maintain, in one statement."""
    conn.executemany(
        f"INSERT OR REPLACE INTO {items_table(spec)}(hk, rk, item, size) VALUES (?, ?, ?, ?)",
        [(hk, rk, dump_item(item), size) for (hk, rk), item, size in items],
    )
