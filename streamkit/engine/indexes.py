"""Secondary indexes: which items an index holds, what it projects, and keeping it in step."""

from __future__ import annotations

import sqlite3

from streamkit.engine.capacity import write_units
from streamkit.engine.keys import EncodedKey, encode_key_of
from streamkit.errors import ValidationException
from streamkit.model.attributes import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    Item,
    item_size,
    type_of,
)
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
    """Return the index row for ``item``, or None when it has no valid index key (sparse).

    Not indexed: an item missing any key attribute of the index, or holding one of the wrong
    type, an empty string or binary, or a key over DynamoDB's size limits. Writes refuse the
    last three (:func:`validate_index_keys`); a backfill meets them in old items and skips
    them, as DynamoDB does.
    """
    for keys, limit in (
        (idx.key.hash_keys, MAX_PARTITION_KEY_BYTES),
        (idx.key.range_keys, MAX_SORT_KEY_BYTES),
    ):
        total = 0
        for name, kind in keys:
            value = item.get(name)
            payload = None if value is None else value.get(kind)
            if payload is None or payload in ("", b""):
                return None
            total += _key_bytes(kind, payload)
        if total > limit:
            return None
    return (*encode_key_of(idx.key, item), *key), projected(spec, idx, item)


def _key_bytes(kind: str, payload: object) -> int:
    if kind == "S":
        return len(str(payload).encode())
    return len(payload) if isinstance(payload, bytes | bytearray) else 0  # N: far below


def validate_index_keys(spec: TableSpec, item: Item) -> None:
    """Refuse an item whose index key attributes have the wrong type, are empty or too large.

    A multi-attribute key's limits apply to the sum of its values' sizes, as a single key's
    do to its value (DynamoDB: "Aggregated size of all range keys"); the messages are the ones
    DynamoDB gives for the table's own keys.
    """
    for idx in spec.indexes:
        for role, keys, limit in (
            ("HASH", idx.key.hash_keys, MAX_PARTITION_KEY_BYTES),
            ("RANGE", idx.key.range_keys, MAX_SORT_KEY_BYTES),
        ):
            total = 0
            for name, expected in keys:
                value = item.get(name)
                if value is None:
                    continue
                actual = type_of(value)
                if name in spec.key.names:  # checked as the table's key; counts in the size
                    total += _key_bytes(actual, value[actual])
                    continue
                if actual != expected:
                    raise invalid(
                        f"Type mismatch for Index Key {name} Expected: {expected} "
                        f"Actual: {actual} IndexName: {idx.name}"
                    )
                if value[actual] in ("", b""):
                    raise ValidationException(
                        "One or more parameter values are not valid. A value specified for a "
                        "secondary index key is not supported. The AttributeValue for a key "
                        "attribute cannot contain an empty "
                        f"{'string' if actual == 'S' else 'binary'} value. IndexName: "
                        f"{idx.name}, IndexKey: {name}"
                    )
                total += _key_bytes(actual, value[actual])
            if total > limit and role == "HASH":
                raise invalid(
                    "Size of hashkey has exceeded the maximum size limit of"
                    f"{MAX_PARTITION_KEY_BYTES} bytes"
                )
            if total > limit:
                raise invalid(
                    "Aggregated size of all range keys has exceeded the size limit of "
                    f"{MAX_SORT_KEY_BYTES} bytes"
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
