"""Global tables' data path on one engine: the replication links' read and write sides.

Not DynamoDB operations (no OPERATIONS entry): the links (streamkit/mappings/replication.py)
call them, wrapped with ``open_only`` in ``Engine``'s class body so they refuse once closed.

- :meth:`ReplicationMixin.replication_changes` reads the current items and hidden
  last-writer-wins versions (storage/versions.py) of those keys whose version is this
  region's: what a link ships. :meth:`ReplicationMixin.replication_state` reads any key's.
- :meth:`ReplicationMixin.apply_replicated` applies changes shipped from another region, in
  one transaction on the writer: a change is applied only if its version is newer than the
  stored one (else dropped silently), through the one write path (indexes, stream record,
  point-in-time history, as any write) and stores the version it came with, so applying the
  same changes twice, or late, changes nothing.
- :meth:`ReplicationMixin.replicated_items` pages through a table in key order with the items'
  versions: the back-fill of a new replica.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from streamkit.engine.core import EngineCore, on_table
from streamkit.engine.keys import EncodedKey, encode_key_of, key_from_item
from streamkit.model.attributes import Item, item_size
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as storage_tables, versions
from streamkit.storage.codec import load_item
from streamkit.storage.versions import Version

__all__ = ["ReplicatedChange", "ReplicationMixin", "ReplicationState"]


class ReplicatedChange(NamedTuple):
    """One item change shipped between regions: the item's key attributes, the new item (None
    for a deletion), the writer's version ``(at_us, region)`` and the item's size when the
    sender read it with the item (else it is measured again). A back-filled tombstone has no
    key attributes left, only its ``encoded`` key (every replica encodes keys alike)."""

    key: Item
    item: Item | None
    version: Version
    size: int | None = None
    encoded: EncodedKey | None = None


class ReplicationState(NamedTuple):
    """A key's current item in this region (None: absent) and its version (tombstones too)."""

    item: Item | None
    version: Version


class ReplicationMixin(EngineCore):
    """The replication links' engine side (see the module)."""

    def global_tables(self) -> dict[str, TableSpec]:
        """Return the specs of this region's tables that have replicas, by name."""
        return {name: spec for name, spec in self._tables.items() if spec.is_global}

    async def replication_state(self, table: str, keys: Sequence[Item]) -> list[ReplicationState]:
        """Return each key's current item and version (``(0, "")`` for an item written
        before the table had replicas).

        Raises:
            ResourceNotFoundException: no such table.
        """
        spec = self._spec(table)
        encoded = [key_from_item(spec.key, dict(k)) for k in keys]

        def run(conn: sqlite3.Connection) -> list[ReplicationState]:
            return [
                ReplicationState(
                    storage_tables.get_row(conn, spec, *key),
                    versions.get_version(conn, spec, *key),
                )
                for key in encoded
            ]

        return await self._store.read(on_table(spec, run))

    async def replication_changes(self, table: str, keys: Sequence[Item]) -> list[ReplicatedChange]:
        """Return the current states (item or None, version) of those of ``keys`` whose version
        is this region's: the writes a link from this region ships (state-based: the keys'
        changes that reached this region from elsewhere are shipped by their own regions).

        Raises:
            ResourceNotFoundException: no such table.
        """
        spec = self._spec(table)
        region = self.region
        wanted: dict[EncodedKey, Item] = {}
        for k in keys:  # from this region's own stream records: valid keys
            wanted.setdefault(encode_key_of(spec.key, k), k)

        def run(conn: sqlite3.Connection) -> list[ReplicatedChange]:
            found = versions.get_versions(conn, spec, list(wanted))
            ours = [key for key, version in found.items() if version[1] == region]
            rows = storage_tables.get_sized_rows(conn, spec, ours)
            return [
                ReplicatedChange(wanted[key], rows[key][0] if key in rows else None, found[key])
                for key in ours
            ]

        return await self._store.read_point(on_table(spec, run))

    async def replicated_tombstones(
        self, table: str, after: EncodedKey | None, limit: int
    ) -> tuple[list[ReplicatedChange], EncodedKey | None]:
        """Return up to ``limit`` deleted items' versions after ``after`` in key order, as
        deletions, and where the next page starts (None after the last page). A new replica's
        back-fill ships these after the items, so a delete older than the replica's links
        still wins over an older write there.

        Raises:
            ResourceNotFoundException: no such table.
        """
        spec = self._spec(table)

        def run(conn: sqlite3.Connection) -> tuple[list[ReplicatedChange], EncodedKey | None]:
            rows = versions.scan_tombstones(conn, spec, after, limit)
            page = [
                ReplicatedChange({}, None, (at_us, origin), 0, (hk, rk))
                for hk, rk, at_us, origin in rows
            ]
            last = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
            return page, last

        return await self._store.read_point(on_table(spec, run))

    async def apply_replicated(self, table: str, changes: Sequence[ReplicatedChange]) -> int:
        """Apply changes shipped from another region (last writer wins); return how many won.

        One transaction. A change whose version is not newer than the key's stored version is
        dropped (of several changes to one key, only the newest counts); one that is newer is
        written as any write is (indexes, stream record, PITR history) and keeps its version.
        A deletion of an absent item leaves only its tombstone (no stream record, as a
        DeleteItem of an absent item has none). A table that is no longer global takes no
        change (a link's batch in flight when its replica was deleted): its writes since keep
        no version, so an older change would win over them.

        Raises:
            ResourceNotFoundException: no such table (a replica not created yet: retry).
        """
        spec = self._spec(table)
        newest: dict[EncodedKey, tuple[Version, Item | None, int | None]] = {}
        for c in changes:  # keys and items as another replica of this table stored them
            key = c.encoded if c.encoded is not None else encode_key_of(spec.key, c.key)
            version = (int(c.version[0]), str(c.version[1]))
            held = newest.get(key)
            if held is None or version > held[0]:
                newest[key] = (version, c.item, c.size)
        if not newest:
            return 0
        sizes = {
            key: 0 if item is None else item_size(item) if size is None else size
            for key, (_, item, size) in newest.items()
        }

        def run(conn: sqlite3.Connection) -> int:
            current = self._tables.get(table)
            if current is None or not current.is_global:  # went regional since the batch left
                return 0
            keys = list(newest)
            stored = versions.get_versions(conn, spec, keys)
            winners = [k for k in keys if newest[k][0] > stored.get(k, versions.NO_VERSION)]
            olds = storage_tables.get_sized_rows(conn, spec, winners)
            for key in winners:
                version, new, _ = newest[key]
                old, old_size = olds.get(key, (None, 0))
                if new is None and old is None:
                    versions.put_version(conn, spec, *key, version, deleted=True)
                else:
                    self._write(
                        conn, spec, key, old, new, sizes[key], old_size=old_size, version=version
                    )
            return len(winners)

        return await self._store.write(on_table(spec, run))

    async def replicated_items(
        self, table: str, after: EncodedKey | None, limit: int
    ) -> tuple[list[ReplicatedChange], EncodedKey | None]:
        """Return up to ``limit`` items after ``after`` in key order, each with its version
        (an item without one gets ``(0, this region)``), and where the next page starts (None
        after the last page). A new replica's back-fill ships these.

        Raises:
            ResourceNotFoundException: no such table.
        """
        spec = self._spec(table)
        names = spec.key.names
        region = self.region

        def run(conn: sqlite3.Connection) -> tuple[list[ReplicatedChange], EncodedKey | None]:
            rows = versions.scan_with_versions(
                conn, spec, storage_tables.items_table(spec), after, limit
            )
            page = []
            for _hk, _rk, blob, size, at_us, origin in rows:
                item = load_item(blob)
                key = {n: item[n] for n in names}
                version = (0, region) if at_us is None or origin is None else (at_us, origin)
                page.append(ReplicatedChange(key, item, version, size))
            last = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
            return page, last

        return await self._store.read_point(on_table(spec, run))
