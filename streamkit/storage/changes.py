"""The WRITE side of the change log: streams, shards and records, appended inside the caller's
transaction so a change and its stream record always commit (or roll back) together.

Everything here runs on the writer thread inside a store hop, except :meth:`ChangeLog.flush`
and :meth:`ChangeLog.waiter`, which run on the event loop (the store calls ``flush`` after each
commit). The read side (iterators, GetRecords, retention) lives in :mod:`streamkit.streams`.

Layout
    ``sk_streams``: one row per stream (enabled or disabled but still retained).
    ``sk_shards``: one row per shard; a stream has ``shards`` slots, each with exactly one open
    shard (``end_seq IS NULL``); a key always maps to the same slot (hash of its partition key).
    ``sk_records``: the records in BLOCKS (schema version 7), a table keyed by its row id
    ``rid = sid * SHARD_SPAN + seq - start_seq`` (schema version 8): each shard has its own
    range of row ids, in sequence order, so "shard ``sid``'s rows after ``after``" is one
    range of the table's own B-tree and no ``(sid, seq)`` index is kept (versions 3 to 7
    had one, beside row ids in commit order: a commit wrote its leaf too, ~1 more WAL frame
    of ~5). A shard whose range is full (``SHARD_SPAN`` sequence numbers after its start)
    is rolled over, as an old one is. A write batch (the store's group commit,
    storage.sqlite) buffers its records here (:meth:`ChangeLog.append`) and, right before its
    COMMIT, writes the rows of each shard it touched (:meth:`ChangeLog.before_commit`): a
    shard's only record of the batch as a plain row ``(rid, sid, seq, created, kind, data)``
    (as every row was up to version 6, so older rows need no conversion), or its records as
    block rows of up to :data:`BLOCK_RECORDS` records and about :data:`BLOCK_BYTES` of data,
    ``(rid, sid, seq of the last, newest created, -n, marshal of the n (seq, created, kind,
    data) tuples)``. Keyed by the block's LAST sequence number, the row interface
    stays: the last row of a shard's range holds its newest record, "a row after ``after``"
    means a record after ``after``, and :func:`records_after` unpacks blocks into the same
    ``(seq, created, kind, data)`` tuples, skipping a block's records up to ``after``. A
    record's ``data`` is ``[keys, old, new, size, len(keys), len(old)]`` as JSON (the
    lengths of the first two's JSON text; ``[keys, old, new, size]`` before schema version
    6), with only the images the view type keeps, joined from the JSON the item rows
    already hold (:func:`dump_record_data`), or the same tuple in marshal when a value is
    binary (and in records written before schema version 5); :func:`load_record_data` reads
    all three. A batch of 16 puts writes one row instead of 16 (docs/performance.md,
    "stream records in blocks"). The appends to the newest shard land at the right edge of
    the table's B-tree (one stream of one shard, the default, appends nowhere else), those
    of older open shards at their own range's end, inside the tree.

Sequence numbers are one counter per stream (so unique per stream and increasing per shard);
on the wire they are ``SEQUENCE_BASE + n`` in decimal: 21 digits. The counter lives in memory,
initialised from the database on first use, and only ever moves up, so a rolled-back append
leaves a gap (gaps are normal in DynamoDB too) and never a reused number.
"""

from __future__ import annotations

import marshal
import operator
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import anyio
import orjson

from streamkit.errors import DatabaseFileError, InternalServerError
from streamkit.model.attributes import Item, item_size, values_equal
from streamkit.model.schema import TableSpec
from streamkit.storage.codec import JSON_OPTIONS, dump_item, dump_item_json, item_json
from streamkit.storage.sqlite import statements

__all__ = [
    "EVENT_KIND",
    "INSERT",
    "MODIFY",
    "REMOVE",
    "REPLICATED",
    "SEQUENCE_BASE",
    "SERVICE",
    "SHARD_SPAN",
    "ChangeLog",
    "Record",
    "StreamSettings",
    "convert_records",
    "count_after",
    "create_schema",
    "drop_expired",
    "dump_record_data",
    "has_records_after",
    "items_equal",
    "last_seq",
    "load_record_data",
    "load_secret",
    "rebuild_records",
    "records_after",
    "shard_id_for",
    "stored_items_equal",
    "trim_records",
]

SEQUENCE_BASE: Final = 10**20  # wire sequence number = SEQUENCE_BASE + n: 21 decimal digits
INSERT: Final = 1
MODIFY: Final = 2
REMOVE: Final = 3
SERVICE: Final = 4  # flag on ``kind``: a TTL deletion made by the service
#: flag on ``kind``: a change applied by global tables' replication (never shown in a record;
#: a replication link skips these without reading them: they are shipped by their own region)
REPLICATED: Final = 8
EVENT_KIND: Final = 3  # the bits of ``kind`` that are the event (INSERT, MODIFY, REMOVE)
#: a block holds at most this many records, and about this much of their data (a record
#: larger than that is a row of its own)
BLOCK_RECORDS: Final = 128
BLOCK_BYTES: Final = 256 * 1024

_JSON_TAG: Final = dump_item({})[0]  # the first byte of an item stored as JSON
_OPEN_BRACKET: Final = ord("[")  # an int: ``in`` finds one byte with memchr
_CREATED: Final = operator.itemgetter(1)  # a Record's created
_DATA: Final = operator.itemgetter(3)  # a Record's data
_SCALARS: Final = frozenset({"S", "N", "B", "BOOL", "NULL"})
_KEEP_NEW: Final = frozenset({"NEW_IMAGE", "NEW_AND_OLD_IMAGES"})
_KEEP_OLD: Final = frozenset({"OLD_IMAGE", "NEW_AND_OLD_IMAGES"})

_STREAM: Final = "SELECT stid, shards FROM sk_streams WHERE arn = ?"
_OPEN_SHARD: Final = (
    "SELECT sid, created, start_seq FROM sk_shards WHERE stid = ? AND slot = ? AND end_seq IS NULL"
)
#: a shard's records have the row ids ``sid * SHARD_SPAN + (seq - start_seq)``: its own range,
#: in sequence order (schema version 8); a shard whose range is full is rolled over
SHARD_SPAN: Final = 2**32
_CREATE_RECORDS: Final = (
    "CREATE TABLE IF NOT EXISTS sk_records (rid INTEGER PRIMARY KEY, sid INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, created REAL NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL)"
)
# schema versions 3 to 7: a rowid table in commit order with a unique (sid, seq) index
_CREATE_RECORDS_V3: Final = (
    "CREATE TABLE IF NOT EXISTS sk_records (sid INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "created REAL NOT NULL, kind INTEGER NOT NULL, data BLOB NOT NULL)"
)
_INDEX_RECORDS_V3: Final = (
    "CREATE UNIQUE INDEX IF NOT EXISTS sk_records_key ON sk_records(sid, seq)"
)
_INSERT_RECORD: Final = (
    "INSERT INTO sk_records(rid, sid, seq, created, kind, data) VALUES (?, ?, ?, ?, ?, ?)"
)
# the rows of shard ?1 (whose range starts at ?4, ?5 long) after sequence ?2: row ids from
# the offset of ?2 in the shard (at least its first, -1 + 1)
_AFTER: Final = (
    "rid > ?4 + max(?2 - (SELECT start_seq FROM sk_shards WHERE sid = ?1), -1) AND rid < ?4 + ?5"
)
_ROWS_AFTER: Final = (
    f"SELECT seq, created, kind, data FROM sk_records WHERE {_AFTER} ORDER BY rid LIMIT ?3"
)
_LAST_ROW: Final = (
    "SELECT seq FROM sk_records WHERE rid >= ?1 AND rid < ?1 + ?2 ORDER BY rid DESC LIMIT 1"
)

#: A stored record as readers get it: (seq, created, kind, data)
Record = tuple[int, float, int, bytes]
#: An open shard as appends use it: (sid, its row ids' base: a record's row id is base +
#: seq, the first seq past its range)
Shard = tuple[int, int, int]


def _shard(sid: int, start_seq: int) -> Shard:
    base = sid * SHARD_SPAN - start_seq
    return (sid, base, start_seq + SHARD_SPAN)


def _span(sid: int) -> tuple[int, int]:
    """Return (the first row id of shard ``sid``'s range, the range's length)."""
    return (sid * SHARD_SPAN, SHARD_SPAN)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How streams are laid out; fixed per engine (``open_engine`` keyword arguments).

    Attributes:
        shards: open shards per stream (a new stream's slot count; existing streams keep theirs).
        rollover_seconds: an open shard older than this is closed and continued by a child.
        retention_seconds: how long records (and disabled streams) stay readable.
    """

    shards: int = 1
    rollover_seconds: float = 4 * 3600.0
    retention_seconds: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= 1000:
            raise ValueError("stream_shards must be between 1 and 1000")
        if self.rollover_seconds <= 0:
            raise ValueError("shard_rollover_seconds must be positive")
        if self.retention_seconds <= 0:
            raise ValueError("stream_retention_seconds must be positive")


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the change-log tables (called by the schema migration, inside its transaction)."""
    for statement in (
        "CREATE TABLE IF NOT EXISTS sk_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
        """CREATE TABLE IF NOT EXISTS sk_streams (
            stid INTEGER PRIMARY KEY,
            arn TEXT NOT NULL UNIQUE,
            table_name TEXT NOT NULL,
            label TEXT NOT NULL,
            view TEXT NOT NULL,
            key_schema BLOB NOT NULL,
            created REAL NOT NULL,
            shards INTEGER NOT NULL,
            disabled_at REAL,
            seq_floor INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE IF NOT EXISTS sk_shards (
            sid INTEGER PRIMARY KEY,
            stid INTEGER NOT NULL,
            shard_id TEXT NOT NULL,
            slot INTEGER NOT NULL,
            parent TEXT,
            created REAL NOT NULL,
            start_seq INTEGER NOT NULL,
            end_seq INTEGER,
            closed_at REAL,
            trimmed_to INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS sk_shards_id ON sk_shards(stid, shard_id)",
        "CREATE UNIQUE INDEX IF NOT EXISTS sk_shards_open ON sk_shards(stid, slot) "
        "WHERE end_seq IS NULL",
        _CREATE_RECORDS,
    ):
        conn.execute(statement)


def rebuild_records(conn: sqlite3.Connection) -> None:
    """Move schema version 2's records (a WITHOUT ROWID table keyed by ``(sid, seq)``) into
    the rowid table :func:`create_schema` makes now (inside the migration's transaction)."""
    conn.execute("ALTER TABLE sk_records RENAME TO sk_records_v2")
    conn.execute(_CREATE_RECORDS_V3)
    conn.execute(_INDEX_RECORDS_V3)
    conn.execute(
        "INSERT INTO sk_records(sid, seq, created, kind, data) "
        "SELECT sid, seq, created, kind, data FROM sk_records_v2 ORDER BY seq"
    )
    conn.execute("DROP TABLE sk_records_v2")


def convert_records(conn: sqlite3.Connection) -> None:
    """Give schema version 3-7's records (a rowid table in commit order with a ``(sid, seq)``
    index) the row ids of version 8, ``sid * SHARD_SPAN + seq - start_seq``, and drop the
    index (inside the migration's transaction). Records of no shard, which no reader
    reaches, are left out. A table that has the ``rid`` column already is left as it is.

    Raises:
        DatabaseFileError: a record lies outside its shard's range (never written so).
    """
    columns = [row[1] for row in conn.execute("PRAGMA table_info(sk_records)")]
    if "rid" in columns:
        return
    (bad,) = conn.execute(
        "SELECT count(*) FROM sk_records r JOIN sk_shards sh ON sh.sid = r.sid "
        "WHERE r.seq - sh.start_seq NOT BETWEEN 0 AND ? - 1",
        (SHARD_SPAN,),
    ).fetchone()
    if bad:
        raise DatabaseFileError(
            f"{bad} stream records lie outside their shard's sequence range; the file "
            "cannot be upgraded"
        )
    conn.execute("ALTER TABLE sk_records RENAME TO sk_records_v7")
    conn.execute(_CREATE_RECORDS)
    conn.execute(
        "INSERT INTO sk_records(rid, sid, seq, created, kind, data) "
        "SELECT r.sid * ?1 + r.seq - sh.start_seq, r.sid, r.seq, r.created, r.kind, r.data "
        "FROM sk_records_v7 r JOIN sk_shards sh ON sh.sid = r.sid ORDER BY 1",
        (SHARD_SPAN,),
    )
    conn.execute("DROP TABLE sk_records_v7")  # and its index


def load_secret(conn: sqlite3.Connection) -> bytes:
    """Return the per-database secret that signs shard iterators, creating it on first use."""
    row = conn.execute("SELECT value FROM sk_meta WHERE name = 'iterator_secret'").fetchone()
    if row is None:  # pragma: no cover - the migration creates it
        raise RuntimeError("the iterator secret is missing; the schema was not migrated")
    return bytes(row[0])


def items_equal(old: Item, new: Item) -> bool:
    """Return whether two items are equal as DynamoDB compares them (numbers by value, sets
    ignoring order), i.e. whether a write from ``old`` to ``new`` changed nothing.

    Both are validated items, whose numbers are canonical: one value, one string."""
    if old == new:
        return True
    if old.keys() != new.keys():
        return False
    for name, value in old.items():
        other = new[name]
        # Numbers are canonical here, so scalars that differ as data differ; sets, lists and
        # maps may still be equal (set order)
        if value != other and (next(iter(value)) in _SCALARS or not values_equal(value, other)):
            return False
    return True


def stored_items_equal(
    old: Item, new: Item, old_blob: bytes | None, new_blob: bytes | None
) -> bool:
    """:func:`items_equal`, deciding from the items' stored blobs (``dump_item``'s) when it can.

    Two JSON blobs: of different lengths, the items differ (equal validated items serialise
    to JSON of one length: numbers are canonical, only the order of map members and set
    elements can differ); byte-equal, they are equal; otherwise, when the old one holds no
    list and no set (no ``[`` byte in its text: a binary set is stored with marshal), the
    items are equal exactly when they are equal as Python data (maps compare without
    order, numbers as their canonical text), which C compares without a Python loop over
    the attributes (~0.2 us against ~1 us). Anything else goes to :func:`items_equal`.

    The reference for :meth:`ChangeLog.append`, which inlines it (no product code calls it;
    tests/storage/test_changes.py holds the two together).
    """
    if old_blob is not None and new_blob is not None and old_blob[0] == new_blob[0] == _JSON_TAG:
        if len(old_blob) != len(new_blob):
            return False
        if old_blob == new_blob:
            return True
        if _OPEN_BRACKET not in old_blob:  # memchr: no list, no set
            return old == new
    return items_equal(old, new)


def dump_record_data(
    keys: Item,
    old: Item | None,
    new: Item | None,
    size: int,
    blobs: tuple[bytes | None, bytes | None] = (None, None),
) -> bytes:
    """Serialise a record's data: the JSON array ``[keys, old, new, size, len(keys),
    len(old)]``, the lengths those of the keys' and old image's JSON text (schema version 6;
    version 5 wrote ``[keys, old, new, size]``, which still loads).

    ``blobs`` are the old and new items as :func:`~streamkit.storage.codec.dump_item` stored
    them, when the caller has them: their JSON goes into the record as it is, not serialised
    again (~0.55 us for two small images, where marshal took ~1.35 us; and orjson reads
    the record back in 1.8 us, where marshal took 2.1). An image or key
    holding a binary value (stored with marshal) makes the whole record marshal, as before.

    The reference for :meth:`ChangeLog.append`, which inlines it (tests/storage/test_changes.py
    holds the two together); tests use it to build stored records.
    """
    keys_json = dump_item_json(keys)
    old_json = b"null" if old is None else item_json(blobs[0] or dump_item(old))
    new_json = b"null" if new is None else item_json(blobs[1] or dump_item(new))
    if keys_json is None or old_json is None or new_json is None:
        return marshal.dumps((keys, old, new, size))
    # the keys' and old image's lengths go last: a reader splices the pieces into a Lambda
    # record's JSON without parsing them (streams.records.lambda_json)
    return b"[%b,%b,%b,%d,%d,%d]" % (
        keys_json,
        old_json,
        new_json,
        size,
        len(keys_json),
        len(old_json),
    )


def load_record_data(data: bytes) -> tuple[Item, Item | None, Item | None, int | None]:
    """Return a stored record's (keys, old image, new image, SizeBytes).

    Reads both formats :func:`dump_record_data` writes (JSON, and marshal for binary values
    and older records). SizeBytes is ``None`` for a record written before it was stored.

    Raises:
        InternalServerError: the data is corrupt.
    """
    try:
        if data[:1] == b"[":
            keys, old, new, *rest = orjson.loads(data)
        else:
            keys, old, new, *rest = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise InternalServerError("Corrupt stream record") from exc
    size = rest[0] if rest else None
    if (
        not isinstance(keys, dict)
        or not isinstance(old, dict | None)
        or not isinstance(new, dict | None)
        or not isinstance(size, int | None)
        or len(rest) not in (0, 1, 3)  # 3: SizeBytes and two lengths (schema version 6)
    ):
        raise InternalServerError("Corrupt stream record")
    return keys, old, new, size


def shard_id_for(now: float, start_seq: int) -> str:
    """Return a ShardId: ``shardId-<creation epoch ms, 20 digits>-<8 hex>``.

    Sorting ids as strings sorts shards by creation (ties broken by their first sequence
    number), so parents come before their children, as DynamoDB lists them.
    """
    return f"shardId-{int(now * 1000):020d}-{start_seq % 2**32:08x}"


class ChangeLog:
    """Appends stream records on the writer thread and wakes readers after each commit."""

    def __init__(self, settings: StreamSettings | None = None) -> None:
        self.settings = settings or StreamSettings()
        self._counters: dict[int, int] = {}
        self._dirty: set[int] = set()
        self._events: dict[int, anyio.Event] = {}
        # Where appends go, as read from the database: ARN -> (stid, shards) and
        # (stid, slot) -> (open sid, created). Every change to streams or shards empties it and
        # stops it filling until the batch ends (flush), so a rolled-back change never
        # leaves an entry behind; entries read earlier hold what committed batches left.
        self._streams: dict[str, tuple[int, int]] = {}
        self._open: dict[tuple[int, int], tuple[Shard, float]] = {}
        # and a one-shard stream's (the default) by ARN: (stid, shard, created)
        self._single: dict[str, tuple[int, Shard, float]] = {}
        self._caching = True
        # The current write batch's records, (seq, created, kind, data) in append order, and
        # beside them their shards, written as blocks right before its COMMIT; None outside a
        # batch (appends then go straight to the table). ``_mark``: how many there were when
        # the running operation began.
        self._pending: list[Record] | None = None
        self._sids: list[Shard] = []
        self._mark = 0

    # -- the store's batch hooks (storage.sqlite.BatchHooks), on the writer thread -----------

    def begin(self) -> None:
        """A write batch began: buffer its records from now on."""
        self._pending = []
        self._sids = []
        self._mark = 0

    def mark(self) -> None:
        """An operation of the batch begins."""
        if self._pending is not None:
            self._mark = len(self._pending)

    def rewind(self) -> None:
        """The running operation was rolled back: drop the records it appended."""
        if self._pending is not None:
            del self._pending[self._mark :]
            del self._sids[self._mark :]

    def abort(self) -> None:
        """The whole batch was rolled back: drop every buffered record.

        The sequence counters stay where they are (a rolled-back append leaves a gap)."""
        self._pending = None
        self._sids = []

    def before_commit(self, conn: sqlite3.Connection) -> None:
        """Write the batch's records right before its COMMIT: a shard's records as blocks of
        at most :data:`BLOCK_RECORDS` records and about :data:`BLOCK_BYTES` of data (a
        reader unpacks a whole block to take any of it, and a row has a size limit)."""
        pending, sids = self._pending, self._sids
        self._pending, self._sids = None, []
        if not pending:
            return
        first = sids[0]
        if sids.count(first) == len(sids):  # one shard (the usual case)
            rows = _shard_rows(first, pending)
            self._dirty.add(first[0])
        else:
            shards: dict[Shard, list[Record]] = {}
            for sid, record in zip(sids, pending, strict=True):
                records = shards.get(sid)
                if records is None:
                    shards[sid] = [record]
                else:
                    records.append(record)
            rows = [row for sid, records in shards.items() for row in _shard_rows(sid, records)]
            self._dirty.update(shard[0] for shard in shards)
        if len(rows) == 1:
            statements(conn).execute(_INSERT_RECORD, rows[0])
        else:
            statements(conn).executemany(_INSERT_RECORD, rows)

    def _pending_last(self, sid: int) -> int | None:
        """Return the newest buffered record's seq of shard ``sid``, or None."""
        if self._pending:
            for index in range(len(self._sids) - 1, -1, -1):
                if self._sids[index][0] == sid:
                    return self._pending[index][0]
        return None

    # -- on the writer thread --------------------------------------------------------------

    def append(
        self,
        conn: sqlite3.Connection,
        arn: str,
        view: str,
        key_names: Sequence[str],
        partition: bytes,
        old: Item | None,
        new: Item | None,
        now: float,
        service: bool = False,
        replicated: bool = False,
        sizes: tuple[int | None, int | None] = (None, None),
        blobs: tuple[bytes | None, bytes | None] = (None, None),
    ) -> bool:
        """Append the record of one item change; return False when it is no change at all.

        ``sizes`` are the old and new items' sizes when the caller knows them; the record's
        SizeBytes (keys plus the images its view keeps) is computed here, once, and stored.
        ``blobs`` are the old and new items as their rows store them, when the caller has
        them: the record reuses their JSON (:func:`dump_record_data`).

        ``partition`` is the stored partition key; its 4-byte hash prefix picks the slot, so
        every change of one item lands in the same shard (or its children), in order.
        ``replicated``: the change came from another region (the hidden :data:`REPLICATED`
        flag, for replication links only).
        """
        old_blob, new_blob = blobs
        if new is None:
            if old is None:
                return False
            kind = REMOVE
        elif old is None:
            kind = INSERT
        else:  # stored_items_equal, inline (a call and its tuple cost ~0.15 us here)
            if (
                old_blob is not None
                and new_blob is not None
                and old_blob[0] == new_blob[0] == _JSON_TAG
            ):
                if len(old_blob) == len(new_blob) and (
                    old_blob == new_blob
                    or (old == new if _OPEN_BRACKET not in old_blob else items_equal(old, new))
                ):
                    return False
            elif items_equal(old, new):
                return False
            kind = MODIFY
        single = self._single.get(arn)  # a one-shard stream's open shard: one lookup
        if single is not None:
            stid, ident, created = single
            slot = 0
        else:
            stream = self._streams.get(arn)  # the cached open shard, without a call
            shard = None
            if stream is not None:
                stid, shards = stream
                slot = int.from_bytes(partition[:4], "big") % shards
                shard = self._open.get((stid, slot))
            if shard is not None:
                ident, created = shard
            else:
                found = self._open_shard_for(conn, arn, int.from_bytes(partition[:4], "big"))
                if found is None:  # no enabled stream under this ARN (it is being disabled)
                    return False
                stid, slot, ident, created = found
        if now - created >= self.settings.rollover_seconds:
            ident = self._roll(conn, stid, ident[0], slot, now)
        source = new if new is not None else old
        assert source is not None
        if len(key_names) == 1:  # a dict display: a comprehension is a call of its own
            name = key_names[0]
            value = source[name]
            keys = {name: value}
            text = value.get("S")  # an ASCII string key (the usual one) measured inline
            if text is not None and name.isascii() and text.isascii():
                size_bytes = len(name) + len(text)
            else:
                size_bytes = item_size(keys)
        else:
            keys = {name: source[name] for name in key_names}
            size_bytes = item_size(keys)
        # dump_record_data, inline: the images' JSON taken from the stored blobs as they are
        try:
            # the option positional: its keyword costs ~25-80 ns more
            keys_json: bytes | None = orjson.dumps(keys, None, JSON_OPTIONS)
        except TypeError:  # a binary key: the record is marshal
            keys_json = None
        if view in _KEEP_OLD and old is not None:
            kept_old = old
            size_bytes += item_size(old) if sizes[0] is None else sizes[0]
            if old_blob is None:
                old_blob = dump_item(old)
            old_json = old_blob[1:] if old_blob[0] == _JSON_TAG else None
        else:
            kept_old = None
            old_json = b"null"
        if view in _KEEP_NEW and new is not None:
            kept_new = new
            size_bytes += item_size(new) if sizes[1] is None else sizes[1]
            if new_blob is None:
                new_blob = dump_item(new)
            new_json = new_blob[1:] if new_blob[0] == _JSON_TAG else None
        else:
            kept_new = None
            new_json = b"null"
        if keys_json is None or old_json is None or new_json is None:
            data = marshal.dumps((keys, kept_old, kept_new, size_bytes))
        else:
            data = b"[%b,%b,%b,%d,%d,%d]" % (
                keys_json,
                old_json,
                new_json,
                size_bytes,
                len(keys_json),
                len(old_json),
            )
        seq = self._counters.get(stid)  # _next, inline
        seq = (_highest(conn, stid) if seq is None else seq) + 1
        if seq >= ident[2]:  # past the shard's row-id range: continue in a child (_roll's _next
            # takes the counter from there; the seq taken here is a gap)
            ident = self._roll(conn, stid, ident[0], slot, now)
            seq = self._counters[stid] + 1
        self._counters[stid] = seq
        if service:
            kind |= SERVICE
        if replicated:
            kind |= REPLICATED
        if self._pending is not None:  # in a write batch: written as a block before COMMIT
            self._pending.append((seq, now, kind, data))
            self._sids.append(ident)  # (before_commit marks its shard changed, once)
        else:
            statements(conn).execute(
                _INSERT_RECORD, (ident[1] + seq, ident[0], seq, now, kind, data)
            )
            self._dirty.add(ident[0])
        return True

    def _open_shard_for(
        self, conn: sqlite3.Connection, arn: str, hashed: int
    ) -> tuple[int, int, Shard, float] | None:
        """Return (stid, slot, shard, created) of the open shard a partition hash maps to."""
        stream = self._streams.get(arn)
        if stream is None:
            stream = conn.execute(_STREAM, (arn,)).fetchone()
            if stream is None:
                return None
            if self._caching:
                self._streams[arn] = stream
        stid, shards = stream
        slot = hashed % shards
        shard = self._open.get((stid, slot))
        if shard is None:
            row = conn.execute(_OPEN_SHARD, (stid, slot)).fetchone()
            if row is None:
                return None
            shard = (_shard(row[0], row[2]), row[1])
            if self._caching:
                self._open[stid, slot] = shard
                if shards == 1:
                    self._single[arn] = (stid, *shard)
        return stid, slot, shard[0], shard[1]

    def _shards_changed(self) -> None:
        self._streams.clear()
        self._open.clear()
        self._single.clear()
        self._caching = False

    def create_stream(
        self, conn: sqlite3.Connection, spec: TableSpec, *, region: str, account: str, now: float
    ) -> TableSpec:
        """Create the stream a spec enables, with its open shards; return the spec.

        A stream's label is a millisecond timestamp; when a stream with the same ARN still
        exists (re-enabled within the same millisecond), the label moves on by a millisecond so
        every stream keeps its own ARN.
        """
        assert spec.stream_label is not None
        assert spec.stream_view_type is not None
        self._shards_changed()
        while True:
            arn = spec.stream_arn(region, account)
            if conn.execute("SELECT 1 FROM sk_streams WHERE arn = ?", (arn,)).fetchone() is None:
                break
            spec = spec.with_changes(stream_label=_next_label(spec.stream_label))
        assert spec.stream_label is not None
        key_schema = orjson.dumps(spec.key.to_wire())
        stid = conn.execute(
            "INSERT INTO sk_streams(arn, table_name, label, view, key_schema, created, shards) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                arn,
                spec.name,
                spec.stream_label,
                spec.stream_view_type,
                key_schema,
                now,
                self.settings.shards,
            ),
        ).lastrowid
        assert stid is not None
        for slot in range(self.settings.shards):
            self._open_shard(conn, stid, slot, None, now)
        return spec

    def disable_stream(self, conn: sqlite3.Connection, arn: str, now: float) -> None:
        """Mark a stream DISABLED and close its open shards (it stays readable until trimmed)."""
        self._shards_changed()
        row = conn.execute(
            "SELECT stid FROM sk_streams WHERE arn = ? AND disabled_at IS NULL", (arn,)
        ).fetchone()
        if row is None:
            return
        conn.execute("UPDATE sk_streams SET disabled_at = ? WHERE stid = ?", (now, row[0]))
        for (sid,) in conn.execute(
            "SELECT sid FROM sk_shards WHERE stid = ? AND end_seq IS NULL", (row[0],)
        ).fetchall():
            self._close(conn, sid, now)

    def roll_over_due(self, conn: sqlite3.Connection, now: float) -> int:
        """Close every open shard older than the rollover interval and open its child."""
        cutoff = now - self.settings.rollover_seconds
        due = conn.execute(
            "SELECT sh.stid, sh.sid, sh.slot FROM sk_shards sh JOIN sk_streams st "
            "ON st.stid = sh.stid WHERE sh.end_seq IS NULL AND st.disabled_at IS NULL "
            "AND sh.created <= ?",
            (cutoff,),
        ).fetchall()
        for stid, sid, slot in due:
            self._roll(conn, stid, sid, slot, now)
        return len(due)

    def forget_stream(self, stid: int) -> None:
        """Drop the in-memory counter and shard entries of a deleted stream (on the writer,
        in the batch that deletes it: no other batch runs beside it)."""
        self._counters.pop(stid, None)
        self._shards_changed()

    def _roll(self, conn: sqlite3.Connection, stid: int, sid: int, slot: int, now: float) -> Shard:
        parent = self._close(conn, sid, now)
        return self._open_shard(conn, stid, slot, parent, now)

    def _close(self, conn: sqlite3.Connection, sid: int, now: float) -> str:
        self._shards_changed()
        shard_id, start = conn.execute(
            "SELECT shard_id, start_seq FROM sk_shards WHERE sid = ?", (sid,)
        ).fetchone()
        last = last_seq(conn, sid)
        pending = self._pending_last(sid)  # newer than any row: the shard's own batch's
        end = pending if pending is not None else start if last is None else last
        conn.execute(
            "UPDATE sk_shards SET end_seq = ?, closed_at = ? WHERE sid = ?", (end, now, sid)
        )
        self._dirty.add(sid)
        return str(shard_id)

    def _open_shard(
        self, conn: sqlite3.Connection, stid: int, slot: int, parent: str | None, now: float
    ) -> Shard:
        self._shards_changed()
        start = self._next(conn, stid)
        sid = conn.execute(
            "INSERT INTO sk_shards(stid, shard_id, slot, parent, created, start_seq) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (stid, shard_id_for(now, start), slot, parent, now, start),
        ).lastrowid
        assert sid is not None
        return _shard(sid, start)

    def _next(self, conn: sqlite3.Connection, stid: int) -> int:
        current = self._counters.get(stid)
        if current is None:
            # no record of this stream is buffered: buffering one set its counter, and only
            # forget_stream (in the batch deleting the stream, which has no shard left to
            # buffer records for) drops a counter, so the rows hold the highest
            current = _highest(conn, stid)
        current += 1
        self._counters[stid] = current
        return current

    # -- on the event loop -----------------------------------------------------------------

    def flush(self) -> None:
        """Wake every reader waiting on a shard that changed in the last commit (runs after
        every batch, committed or not)."""
        self._caching = True
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        for sid in dirty:
            event = self._events.pop(sid, None)
            if event is not None:
                event.set()

    def waiter(self, sid: int) -> anyio.Event:
        """Return an event set after the next commit that touches shard ``sid``.

        Take the event *before* checking for records, then wait on it if there were none: a
        commit in between sets it, so no wake-up is lost.
        """
        event = self._events.get(sid)
        if event is None:
            event = self._events[sid] = anyio.Event()
        return event


def records_after(conn: sqlite3.Connection, sid: int, after: int, limit: int) -> list[Record]:
    """Return up to ``limit`` records of shard ``sid`` after sequence ``after``, in order, as
    ``(seq, created, kind, data)`` tuples: blocks unpacked, a block's records up to ``after``
    skipped (the readers' one way to the records; see the module docstring).

    Raises:
        InternalServerError: a block is corrupt.
    """
    out: list[Record] = []
    # rows one at a time: a block holds up to a whole batch's records, so ``limit`` rows can
    # hold many times ``limit`` records, and only the rows needed are read and unpacked
    cursor = conn.execute(_ROWS_AFTER, (sid, after, limit, *_span(sid)))
    try:
        for row in cursor:
            if row[2] >= 0:
                out.append(row)
                if len(out) == limit:
                    return out
                continue
            records = _unpack(row[3])
            if records[0][0] > after:  # a whole block after the position (all but the first)
                out.extend(records)
            else:
                out.extend(record for record in records if record[0] > after)
            if len(out) >= limit:
                return out[:limit]
        return out
    finally:
        cursor.close()  # ends the statement now, even when its rows were not all read


def _shard_rows(shard: Shard, records: list[Record]) -> list[tuple[Any, ...]]:
    """Return :func:`_rows`'s rows, the usual cases without its Python loop over the
    records: a lone record's plain row, or one block when every record fits one."""
    if len(records) == 1:
        record = records[0]
        return [(shard[1] + record[0], shard[0], *record)]
    if len(records) <= BLOCK_RECORDS and sum(map(len, map(_DATA, records))) <= BLOCK_BYTES:
        return [_block(shard, records)]
    return list(_rows(shard, records))


def _rows(shard: Shard, records: list[Record]) -> Iterator[tuple[Any, ...]]:
    """Yield the rows holding ``shard``'s ``records`` in order, each ``(row id, sid, seq,
    created, kind, data)``: blocks of at most :data:`BLOCK_RECORDS` records whose data
    stays within :data:`BLOCK_BYTES` (a record larger than that on its own), a lone record
    as a plain row."""
    sid, base, _ = shard
    chunk: list[Record] = []
    size = 0
    for record in records:
        length = len(record[3])
        if chunk and (len(chunk) == BLOCK_RECORDS or size + length > BLOCK_BYTES):
            yield (base + chunk[0][0], sid, *chunk[0]) if len(chunk) == 1 else _block(shard, chunk)
            chunk, size = [], 0
        chunk.append(record)
        size += length
    yield (base + chunk[0][0], sid, *chunk[0]) if len(chunk) == 1 else _block(shard, chunk)


def _block(shard: Shard, records: list[Record]) -> tuple[int, int, int, float, int, bytes]:
    """Return the row of a block: (row id, sid, last seq, newest created, -count, the
    records)."""
    last = records[-1][0]
    return (
        shard[1] + last,
        shard[0],
        last,
        max(map(_CREATED, records)),
        -len(records),
        marshal.dumps(records),
    )


def _unpack(data: bytes) -> list[Record]:
    """Return the records of a block row's ``data``."""
    try:
        records = marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise InternalServerError("Corrupt stream record block") from exc
    if not isinstance(records, list) or not records:
        raise InternalServerError("Corrupt stream record block")
    return records


def last_seq(conn: sqlite3.Connection, sid: int) -> int | None:
    """Return the sequence number of shard ``sid``'s newest record, or None without one."""
    row = conn.execute(_LAST_ROW, _span(sid)).fetchone()
    return None if row is None else int(row[0])


def has_records_after(conn: sqlite3.Connection, sid: int, after: int) -> bool:
    """Return whether shard ``sid`` holds a record after sequence ``after``."""
    row = conn.execute(
        f"SELECT 1 FROM sk_records WHERE {_AFTER} LIMIT ?3", (sid, after, 1, *_span(sid))
    ).fetchone()
    return row is not None


def count_after(conn: sqlite3.Connection, sid: int, after: int) -> int:
    """Return how many records shard ``sid`` holds after sequence ``after``."""
    args = (sid, after, 1, *_span(sid))
    rows = conn.execute(
        f"SELECT rid, kind FROM sk_records WHERE {_AFTER} ORDER BY rid LIMIT ?3", args
    ).fetchone()
    if rows is None:
        return 0
    (total,) = conn.execute(
        f"SELECT sum(CASE WHEN kind < 0 THEN -kind ELSE 1 END) FROM sk_records WHERE {_AFTER}",
        args,
    ).fetchone()
    if rows[1] < 0:  # the first block may hold records up to ``after``
        (data,) = conn.execute("SELECT data FROM sk_records WHERE rid = ?", (rows[0],)).fetchone()
        total -= sum(1 for record in _unpack(data) if record[0] <= after)
    return int(total)


def trim_records(conn: sqlite3.Connection, cutoff: float, budget: int) -> int:
    """Delete up to about ``budget`` records created before ``cutoff``, oldest first per shard.

    A block goes when its newest record is older than ``cutoff``; the older records at the
    start of the first block kept are trimmed too, by moving the shard's ``trimmed_to`` past
    them (readers skip records up to it). Return the records deleted.
    """
    deleted = 0
    for sid, trimmed_to in conn.execute("SELECT sid, trimmed_to FROM sk_shards").fetchall():
        if deleted >= budget:
            break
        first, span = _span(sid)
        rows = conn.execute(
            "SELECT rid, seq, created, kind FROM sk_records WHERE rid >= ?1 AND rid < ?1 + ?2 "
            "ORDER BY rid LIMIT ?3",
            (first, span, budget - deleted + 1),
        ).fetchall()
        last = None
        last_rid = None
        count = 0
        kept = None
        for rid, seq, created, kind in rows:
            if count >= budget - deleted:
                break
            if created >= cutoff:
                kept = (rid, kind)
                break
            last, last_rid = seq, rid
            count += -kind if kind < 0 else 1
        horizon = last
        if kept is not None and kept[1] < 0:  # a block kept: its records older than cutoff
            (data,) = conn.execute(
                "SELECT data FROM sk_records WHERE rid = ?", (kept[0],)
            ).fetchone()
            for seq, created, _, _ in _unpack(data):
                if created >= cutoff:
                    break
                horizon = seq
        if last_rid is not None:
            conn.execute("DELETE FROM sk_records WHERE rid >= ? AND rid <= ?", (first, last_rid))
            deleted += count
        if horizon is not None and horizon > trimmed_to:
            conn.execute("UPDATE sk_shards SET trimmed_to = ? WHERE sid = ?", (horizon, sid))
    return deleted


def drop_expired(conn: sqlite3.Connection, cutoff: float) -> tuple[int, int, list[int]]:
    """Remove closed shards closed before ``cutoff`` and disabled streams disabled before it."""
    dead = conn.execute(
        "SELECT sid, stid, end_seq FROM sk_shards WHERE end_seq IS NOT NULL AND closed_at < ?",
        (cutoff,),
    ).fetchall()
    for sid, stid, end in dead:
        conn.execute("DELETE FROM sk_records WHERE rid >= ?1 AND rid < ?1 + ?2", _span(sid))
        conn.execute("DELETE FROM sk_shards WHERE sid = ?", (sid,))
        conn.execute(
            "UPDATE sk_streams SET seq_floor = max(seq_floor, ?) WHERE stid = ?", (end, stid)
        )
    gone = [
        stid
        for (stid,) in conn.execute(
            "SELECT stid FROM sk_streams WHERE disabled_at IS NOT NULL AND disabled_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM sk_shards WHERE sk_shards.stid = sk_streams.stid)",
            (cutoff,),
        ).fetchall()
    ]
    for stid in gone:
        conn.execute("DELETE FROM sk_streams WHERE stid = ?", (stid,))
    return len(dead), len(gone), gone


def _highest(conn: sqlite3.Connection, stid: int) -> int:
    """Return the highest sequence number a stream has ever used (records, shards, floor)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT r.seq FROM sk_records r WHERE r.rid >= sh.sid * ?2 "
        "AND r.rid < (sh.sid + 1) * ?2 ORDER BY r.rid DESC LIMIT 1), 0), "
        "sh.start_seq, coalesce(sh.end_seq, 0)) FROM sk_shards sh WHERE sh.stid = ?1",
        (stid, SHARD_SPAN),
    ).fetchall()
    floor = conn.execute("SELECT seq_floor FROM sk_streams WHERE stid = ?", (stid,)).fetchone()
    values = [int(r[0]) for r in row if r[0] is not None]
    values.append(int(floor[0]) if floor else 0)
    return max(values)


def _next_label(label: str) -> str:
    moment = datetime.strptime(label, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return (moment + timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
