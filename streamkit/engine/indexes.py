"""Secondary indexes: which items an index holds, what it projects, and keeping it in step."""

from __future__ import annotations

import sqlite3

from streamkit.engine.capacity import write_units
from streamkit.engine.keys import EncodedKey, encode_key_of
from streamkit.errors import ValidationException
from streamkit.model.attributes import Item, item_size, type_of
from streamkit.model.schema import IndexSpec, TableSpec, invalid
from streamkit.storage import select

__all__ = ["IndexEntry", "index_entry", "maintain_indexes", "projected", "validate_index_keys"]

IndexEntry = tuple[tuple[bytes, bytes, bytes, bytes], Item]


def projected_names(spec: TableSpec, idx: IndexSpec) -> frozenset[str] | None:
    """Return the attribute names an index stores, or None when it projects ALL."""
    if idx.projection_type == "ALL":
        return None
    names = set(spec.key.names) | set(idx.key.names)
    if idx.projection_type == "INCLUDE":
        names.update(idx.non_key_attributes)
    return frozenset(names)


def projected(spec: TableSpec, idx: IndexSpec, item: Item) -> Item:
    """Return the part of ``item`` that ``idx`` stores."""
    names = projected_names(spec, idx)
    if names is None:
        return item
    return {k: v for k, v in item.items() if k in names}


def index_entry(spec: TableSpec, idx: IndexSpec, key: EncodedKey, item: Item) -> IndexEntry | None:
    """Return the index row for ``item``, or None when it lacks any index key value (sparse)."""
    for name, kind in idx.key.hash_keys:
        value = item.get(name)
        if value is None or kind not in value:
            return None
    for name, kind in idx.key.range_keys:
        value = item.get(name)
        if value is None or kind not in value:
            return None
    return (*encode_key_of(idx.key, item), *key), projected(spec, idx, item)


def validate_index_keys(spec: TableSpec, item: Item) -> None:
    """Reject an item whose secondary-index key attributes have the wrong type or are empty."""
    for idx in spec.indexes:
        for name, expected in idx.key.types().items():
            value = item.get(name)
            if value is None or name in spec.key.names:
                continue
            actual = type_of(value)
            if actual != expected:
                raise invalid(
                    f"Type mismatch for Index Key {name} Expected: {expected} "
                    f"Actual: {actual} IndexName: {idx.name}"
                )
            if value[actual] in ("", b""):
                raise ValidationException(
                    "One or more parameter values are not valid. A value specified for a "
                    "secondary index key is not supported. The AttributeValue for a key "
                    f"attribute cannot contain an empty {'string' if actual == 'S' else 'binary'} "
                    f"value. IndexName: {idx.name}, IndexKey: {name}"
                )


def maintain_indexes(
    conn: sqlite3.Connection,
    spec: TableSpec,
    key: EncodedKey,
    old: Item | None,
    new: Item | None,
) -> dict[str, float]:
    """Bring every index of ``spec`` in step with one item change; return write units per index.

    An index whose entry is unchanged costs nothing; a new, changed or removed entry costs
    the projected item's write units, and a change of index key (delete plus put) twice that.
    """
    if new is not None:
        validate_index_keys(spec, new)
    units: dict[str, float] = {}
    for idx in spec.indexes:
        before = index_entry(spec, idx, key, old) if old is not None else None
        after = index_entry(spec, idx, key, new) if new is not None else None
        if before == after:
            continue
        cost = 0.0
        if before is not None and (after is None or before[0] != after[0]):
            select.delete_entry(conn, spec, idx, before[0])
            cost += write_units(item_size(before[1]))
        if after is not None:
            select.put_entry(conn, spec, idx, after[0], after[1], item_size(after[1]))
            cost += write_units(item_size(after[1]))
        units[idx.name] = cost
    return units
