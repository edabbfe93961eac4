"""Online GSI changes: index tables for UpdateTable, and the bounded backfill of a new index.

A GSI created on an existing table starts CREATING (``Backfilling: true``). From then on every
item write maintains it, and :func:`backfill_step` indexes the items that were already there,
a bounded chunk at a time in key order, remembering its position in the index's spec. When it
reaches the end the index becomes ACTIVE.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from streamkit.engine.indexes import index_entry
from streamkit.model.attributes import item_size
from streamkit.model.schema import TableSpec
from streamkit.storage import select, tables as storage_tables
from streamkit.storage.codec import load_item

__all__ = ["BACKFILL_CHUNK", "apply_index_changes", "backfill_step"]

BACKFILL_CHUNK = 2_000


def apply_index_changes(conn: sqlite3.Connection, old: TableSpec, new: TableSpec) -> None:
    """Create the tables of indexes ``new`` adds and drop those it removes."""
    before = {i.name for i in old.indexes}
    after = {i.name for i in new.indexes}
    for idx in old.indexes:
        if idx.name not in after:
            select.drop_index(conn, old, idx)
    for idx in new.indexes:
        if idx.name not in before:
            select.create_index(conn, new, idx)


def backfill_step(conn: sqlite3.Connection, spec: TableSpec, chunk: int | None = None) -> TableSpec:
    """Index up to ``chunk`` existing items for each CREATING index; return the updated spec.

    The spec is read again inside the transaction, so a concurrent UpdateTable is never lost.
    """
    chunk = chunk or BACKFILL_CHUNK
    spec = next((s for s in storage_tables.load_specs(conn) if s.table_id == spec.table_id), spec)
    globals_ = list(spec.global_indexes)
    for position, idx in enumerate(globals_):
        if idx.status != "CREATING":
            continue
        after = None if idx.cursor is None else tuple(bytes.fromhex(h) for h in idx.cursor)
        rows = select.select_rows(
            conn, select.items_table(spec), select.TABLE_COLUMNS, (), after=after
        )
        last: tuple[bytes, ...] | None = None
        done = 0
        for row in rows:
            item, keys = load_item(row[0]), row[2:]
            entry = index_entry(spec, idx, (keys[0], keys[1]), item)
            if entry is not None:
                select.put_entry(conn, spec, idx, entry[0], entry[1], item_size(entry[1]))
            last = keys
            done += 1
            if done == chunk:
                break
        if done < chunk or last is None:
            globals_[position] = replace(idx, status="ACTIVE", cursor=None)
        else:
            globals_[position] = replace(idx, cursor=(last[0].hex(), last[1].hex()))
    new = replace(spec, global_indexes=tuple(globals_))
    storage_tables.save_spec(conn, new)
    return new
