"""The DynamoDB Streams API over the change log: ListStreams, DescribeStream, GetShardIterator,
GetRecords, plus an in-process wait for new records. Reads only; never imports ttl/runtime."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import operator
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

import anyio
import orjson

from streamkit.engine import Engine, open_only
from streamkit.engine.params import Params
from streamkit.errors import (
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
)
from streamkit.storage.changes import (
    REPLICATED,
    has_records_after,
    last_seq,
    load_record_data,
    load_secret,
    records_after,
)
from streamkit.streams.iterators import Position, decode_iterator, encode_iterator
from streamkit.streams.records import (
    LambdaPieces,
    PackedRecord,
    format_record,
    lambda_packed,
    lambda_pieces,
    parse_sequence_number,
    sequence_number,
)

__all__ = ["ShardPage", "SharedRecords", "StreamsClient", "describe_shards"]

MAX_PAGE_BYTES: Final = 1024 * 1024
# Lambda-shaped records kept per shard for readers that follow: enough for mappings on one
# shard that drift a few batches apart (three no-op mappings under load: up to ~1,000 records)
TAIL_RECORDS: Final = 2048
TAIL_BYTES: Final = 4 * 1024 * 1024  # ... and at most this much of them (SizeBytes)
READ_ONLY_POLL_SECONDS: Final = 0.25  # wait_for_records on a read-only engine
ITERATOR_TYPES: Final = ("AFTER_SEQUENCE_NUMBER", "AT_SEQUENCE_NUMBER", "LATEST", "TRIM_HORIZON")
_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}/stream/"
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class _Stream:
    stid: int
    arn: str
    table: str
    label: str
    view: str
    key_schema: list[dict[str, str]]
    created: float
    disabled: bool


@dataclass(frozen=True, slots=True)
class _Shard:
    sid: int
    shard_id: str
    parent: str | None
    start: int
    end: int | None
    trimmed_to: int


_R = TypeVar("_R", dict[str, Any], PackedRecord)

_STREAM_COLUMNS: Final = "stid, arn, table_name, label, view, key_schema, created, disabled_at"
_SHARD_COLUMNS: Final = "sid, shard_id, parent, start_seq, end_seq, trimmed_to"
_SHARD_COLUMNS_SH: Final = ", ".join("sh." + c for c in _SHARD_COLUMNS.split(", "))


class SharedRecords(list[PackedRecord]):
    """A page of Lambda-shaped records that every in-process reader at the same position gets
    (:meth:`StreamsClient.read_lambda_records`): :data:`~streamkit.streams.records.
    PackedRecord` tuples (each record's JSON bytes and the fields a mapping reads), so the
    page and the shard's tail hold nothing the garbage collector keeps walking.
    """

    __slots__ = ()


PAGE_MEMO: Final = 32  # pages kept per shard for the next reader at the same position
# (and at most TAIL_RECORDS records in them)


@dataclass(frozen=True, slots=True)
class ShardPage:
    """What :meth:`StreamsClient.read_shard` read."""

    #: GetRecords records (dicts), in sequence order; from ``read_lambda_records``
    #: :data:`~streamkit.streams.records.PackedRecord` tuples in a :class:`SharedRecords`
    records: list[Any]
    exhausted: bool  #: the shard is closed and every record of it has been read
    sid: int  #: the shard's internal id, for :meth:`StreamsClient.shard_event`


@dataclass(slots=True)
class _Tail:
    """The newest records read from one shard, as Lambda delivers them.

    Every record with ``floor < seq <= seqs[-1]`` is in ``records``, so a reader whose position
    lies in that range is served from here without SQL or formatting.
    """

    sid: int
    floor: int
    seqs: list[int]
    records: list[PackedRecord]
    size: int = 0  #: the records' SizeBytes, summed

    def serve(self, after: int, limit: int) -> tuple[list[PackedRecord], bool]:
        """Return the records after ``after`` that the tail holds (at most ``limit``), and
        whether that is a whole page (``limit`` records, or 1 MB as GetRecords)."""
        if not self.seqs or not self.floor <= after < self.seqs[-1]:
            return [], False
        start = bisect.bisect_right(self.seqs, after)
        records = self.records[start : start + limit]
        page = _packed_megabyte(records)
        return page, len(page) == limit or len(page) < len(records)

    def add(self, after: int, seqs: list[int], records: list[PackedRecord]) -> None:
        """Keep the records read after ``after`` (every record up to ``seqs[-1]``).

        A continuation of the newest record goes on the end. A reader behind the tail (one
        mapping lagging the others on the shard) never replaces it: what it read just below
        ``floor`` goes on the front, and a page wholly below that is not kept, so the readers
        ahead keep finding their records here. Anything else (a reader past the newest record)
        starts the tail again from there.
        """
        head = self.seqs[-1] if self.seqs else self.floor
        if after < self.floor and self.seqs:
            if seqs[-1] < self.floor:
                return  # wholly below the tail: not kept
            below = bisect.bisect_right(seqs, self.floor)
            self.floor = after
            self.seqs[:0] = seqs[:below]
            self.records[:0] = records[:below]
            self.size += _size(records[:below])
            if seqs[-1] <= head:
                self._bound()
                return
            start = bisect.bisect_right(seqs, head)  # and past the newest: the rest goes on
            seqs, records, after = seqs[start:], records[start:], head
        elif after != head:  # not a continuation: restart
            self.floor, self.seqs, self.records, self.size = after, [], [], 0
        self.seqs += seqs
        self.records += records
        self.size += _size(records)
        self._bound()

    def _bound(self) -> None:
        """Past ``TAIL_RECORDS`` or ``TAIL_BYTES``, drop the oldest records down to half."""
        if len(self.seqs) <= TAIL_RECORDS and self.size <= TAIL_BYTES:
            return
        cut, dropped = 0, 0
        while cut < len(self.seqs) - 1 and (
            len(self.seqs) - cut > TAIL_RECORDS // 2 or self.size - dropped > TAIL_BYTES // 2
        ):
            dropped += self.records[cut][4]
            cut += 1
        if not cut:
            return
        self.floor = self.seqs[cut - 1]
        self.size -= dropped
        del self.seqs[:cut], self.records[:cut]


_size_at: Final = operator.itemgetter(4)  # a packed record's SizeBytes
_seq_at: Final = operator.itemgetter(1)  # a packed record's internal sequence number


def _size(records: list[PackedRecord]) -> int:
    return sum(map(_size_at, records))


def _packed_megabyte(records: list[PackedRecord]) -> list[PackedRecord]:
    """:func:`_first_megabyte` of packed records already in a list, in C: no Python step per
    record (the tail serves every mapping's page through it)."""
    if len(records) < 2:
        return records
    fits = bisect.bisect_right(list(itertools.accumulate(map(_size_at, records))), MAX_PAGE_BYTES)
    return records if fits == len(records) else records[: max(fits, 1)]


@dataclass(frozen=True, slots=True)
class _Memo:
    """A page kept for the next reader at its position (see ``read_lambda_records``)."""

    commit: anyio.Event  #: set by the next commit to the shard: a short page is short by then
    full: bool  #: ``limit`` records or 1 MB: the same page whatever is committed later
    page: ShardPage
    start: int | None  #: the position it was read at (stored form; None: the shard's start)
    end: int  #: its last record's sequence number (stored form)


def _align(
    kept: Mapping[tuple[str | None, int], _Memo],
    after: int,
    limit: int,
    page: list[PackedRecord],
) -> int:
    """Return how many of ``page`` (the records after ``after``) to take so that the page ends
    where another reader's kept page starts or ends: from there this reader reads the pages
    the others read (the mappings on a shard fall into step). ``len(page)``: no such place."""
    last = page[-1][1]
    ends = [
        end
        for (_, n), memo in kept.items()
        if n == limit
        for end in (memo.start, memo.end)
        if end is not None and after < end < last
    ]
    if not ends:
        return len(page)
    return bisect.bisect_right(list(map(_seq_at, page)), min(ends))  # in C: every mapping's page


def _first_megabyte(records: Iterable[_R]) -> list[_R]:
    """Take records up to where they pass 1 MB (SizeBytes), as GetRecords does; at least one.

    Records are taken one by one, so a generator is only run as far as the page goes.
    """
    page: list[_R] = []
    total = 0
    for record in records:
        total += _size_of(record)
        if page and total > MAX_PAGE_BYTES:
            break
        page.append(record)
    return page


def _pack_row(
    pieces: LambdaPieces,
    arn: str,
    region: str,
    view: str,
    seq: int,
    created: float,
    kind: int,
    data: bytes,
) -> PackedRecord:
    """Pack a stored row as a Lambda-shaped record: spliced from the stored JSON
    (:func:`~streamkit.streams.records.lambda_packed`), or formatted and serialised for a
    marshal-stored or older row."""
    spliced = lambda_packed(pieces, seq, created, kind, data)
    if spliced is not None:
        return spliced
    record = format_record(
        arn=arn,
        region=region,
        view=view,
        seq=seq,
        created=created,
        kind=kind,
        data=data,
        lambda_arn=arn,
    )
    return _pack(seq, created, record)


def _pack(seq: int, created: float, record: dict[str, Any]) -> PackedRecord:
    """Pack a freshly formatted Lambda-shaped record (its tree is dropped here, young)."""
    body = record["dynamodb"]
    return (
        orjson.dumps(record),
        seq,
        body["SequenceNumber"],
        float(int(created)),
        body["SizeBytes"],
    )


def _size_of(record: Mapping[str, Any] | PackedRecord) -> int:
    size: int = record[4] if isinstance(record, tuple) else record["dynamodb"]["SizeBytes"]
    return size


def _key_record(seq: int, created: float, kind: int, data: bytes) -> dict[str, Any]:
    """A stored record as :meth:`StreamsClient.read_change_keys` returns it."""
    body: dict[str, Any] = {
        "SequenceNumber": sequence_number(seq),
        "ApproximateCreationDateTime": created,
    }
    if not kind & REPLICATED:
        body["Keys"] = load_record_data(data)[0]
    return {"dynamodb": body}


def _rows_after(
    conn: sqlite3.Connection, sid: int, after: int, limit: int
) -> list[tuple[int, float, int, bytes]]:
    """Return up to ``limit`` stored records of shard ``sid`` after sequence ``after``."""
    return records_after(conn, sid, after, limit)  # blocks unpacked (storage.changes)


def _stream(row: Any) -> _Stream:
    stid, arn, table, label, view, key_schema, created, disabled_at = row
    return _Stream(
        stid, arn, table, label, view, orjson.loads(key_schema), created, disabled_at is not None
    )


def _length(member: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        rule = (
            f"greater than or equal to {low}"
            if len(value) < low
            else f"less than or equal to {high}"
        )
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have length {rule}"
        )


def _check_arn(value: object, member: str = "streamArn") -> str:
    if value is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not isinstance(value, str):
        raise ValidationException(f"Invalid type for parameter {member}, expected a string")
    _length(member, value, 37, 1024)
    if not _ARN.fullmatch(value):
        raise ValidationException(f"Invalid StreamArn: {value}")
    return value


def _limit(value: int | None, high: int, default: int) -> int:
    if value is None:
        return default
    if not 1 <= value <= high:
        rule = "greater than or equal to 1" if value < 1 else f"less than or equal to {high}"
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
            f"constraint: Member must have value {rule}"
        )
    return value


def _not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")


def _find_stream(conn: sqlite3.Connection, arn: str) -> _Stream:
    row = conn.execute(f"SELECT {_STREAM_COLUMNS} FROM sk_streams WHERE arn = ?", (arn,)).fetchone()
    if row is None:
        raise _not_found(arn)
    return _stream(row)


def _find_shard(conn: sqlite3.Connection, stream: _Stream, shard_id: str) -> _Shard:
    row = conn.execute(
        f"SELECT {_SHARD_COLUMNS} FROM sk_shards WHERE stid = ? AND shard_id = ?",
        (stream.stid, shard_id),
    ).fetchone()
    if row is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Shard: {shard_id} in Stream: {stream.arn} not found"
        )
    return _Shard(*row)


def _shard_wire(shard: _Shard) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": sequence_number(shard.start)}
    if shard.end is not None:
        numbers["EndingSequenceNumber"] = sequence_number(shard.end)
    out: dict[str, Any] = {"ShardId": shard.shard_id, "SequenceNumberRange": numbers}
    if shard.parent is not None:
        out["ParentShardId"] = shard.parent
    return out


class StreamsClient:
    """DynamoDB Streams with ``boto3.client("dynamodbstreams")``'s method names and shapes.

    Reached as ``engine.streams``. Methods take the request members as keyword arguments and
    return the response dict without ``ResponseMetadata``; timestamps are epoch seconds.
    """

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "ListStreams": "list_streams",
        "DescribeStream": "describe_stream",
        "GetShardIterator": "get_shard_iterator",
        "GetRecords": "get_records",
    }

    def check_open(self) -> None:
        """Raise ClosedError once the engine is closed (every public method calls this first,
        through :func:`~streamkit.engine.open_only`, before validating anything)."""
        self._backend.check_open()

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._backend = engine.backend
        self._secret: bytes | None = None
        self._tails: dict[tuple[str, str], _Tail] = {}
        #: per shard: the last pages read, by (after, limit)
        self._pages: dict[tuple[str, str], dict[tuple[str | None, int], _Memo]] = {}

    async def _key(self) -> bytes:
        if self._secret is None:
            self._secret = await self._backend.read(load_secret)
        return self._secret

    # -- ListStreams / DescribeStream ------------------------------------------------------

    @open_only
    async def list_streams(self, **params: Any) -> dict[str, Any]:
        """List streams, enabled or disabled-but-retained, optionally of one table."""
        p = Params("ListStreams", params, {"TableName", "Limit", "ExclusiveStartStreamArn"})
        table = p.table_name() if p.has("TableName") else None
        limit = _limit(p.integer("Limit"), 100, 100)
        start = p.raw("ExclusiveStartStreamArn")
        if start is not None:
            start = _check_arn(start, "exclusiveStartStreamArn")

        def run(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
            sql = "SELECT arn, table_name, label FROM sk_streams WHERE arn > ?"
            args: list[Any] = [start or ""]
            if table is not None:
                sql += " AND table_name = ?"
                args.append(table)
            return conn.execute(sql + " ORDER BY arn LIMIT ?", (*args, limit + 1)).fetchall()

        rows = await self._backend.read(run)
        if table is not None and not rows and not self._backend.has_table(table) and start is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {table} not found"
            )
        page = rows[:limit]
        out: dict[str, Any] = {
            "Streams": [{"StreamArn": a, "TableName": t, "StreamLabel": lb} for a, t, lb in page]
        }
        if len(rows) > limit:
            out["LastEvaluatedStreamArn"] = page[-1][0]
        return out

    @open_only
    async def describe_stream(self, **params: Any) -> dict[str, Any]:
        """Describe a stream and list its shards with their lineage, ascending by ShardId."""
        p = Params(
            "DescribeStream", params, {"StreamArn", "Limit", "ExclusiveStartShardId", "ShardFilter"}
        )
        arn = _check_arn(p.raw("StreamArn"))
        limit = _limit(p.integer("Limit"), 100, 100)
        start = p.string("ExclusiveStartShardId")
        if start is not None:
            _length("exclusiveStartShardId", start, 28, 65)
        parent = _shard_filter(p.raw("ShardFilter"))

        def run(conn: sqlite3.Connection) -> tuple[_Stream, list[_Shard]]:
            stream = _find_stream(conn, arn)
            sql = f"SELECT {_SHARD_COLUMNS} FROM sk_shards WHERE stid = ? AND shard_id > ?"
            args: list[Any] = [stream.stid, start or ""]
            if parent is not None:
                sql += " AND parent = ?"
                args.append(parent)
            rows = conn.execute(sql + " ORDER BY shard_id LIMIT ?", (*args, limit + 1))
            return stream, [_Shard(*r) for r in rows]

        stream, shards = await self._backend.read(run)
        page = shards[:limit]
        description: dict[str, Any] = {
            "StreamArn": stream.arn,
            "StreamLabel": stream.label,
            "StreamStatus": "DISABLED" if stream.disabled else "ENABLED",
            "StreamViewType": stream.view,
            "CreationRequestDateTime": stream.created,
            "TableName": stream.table,
            "KeySchema": stream.key_schema,
            "Shards": [_shard_wire(s) for s in page],
        }
        if len(shards) > limit:
            description["LastEvaluatedShardId"] = page[-1].shard_id
        return {"StreamDescription": description}

    # -- GetShardIterator / GetRecords -----------------------------------------------------

    @open_only
    async def get_shard_iterator(self, **params: Any) -> dict[str, Any]:
        """Return an iterator at a position of a shard (valid for 15 minutes)."""
        p = Params(
            "GetShardIterator",
            params,
            {"StreamArn", "ShardId", "ShardIteratorType", "SequenceNumber"},
        )
        arn = _check_arn(p.raw("StreamArn"))
        shard_id = p.string("ShardId")
        if shard_id is None:
            raise ValidationException(
                "1 validation error detected: Value null at 'shardId' failed to satisfy "
                "constraint: Member must not be null"
            )
        _length("shardId", shard_id, 28, 65)
        kind = p.string("ShardIteratorType")
        if kind is None:
            raise ValidationException(
                "1 validation error detected: Value null at 'shardIteratorType' failed to "
                "satisfy constraint: Member must not be null"
            )
        kind = p.enum("ShardIteratorType", ITERATOR_TYPES, kind)
        raw_seq = p.raw("SequenceNumber")
        seq: int | None = None
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if raw_seq is None:
                raise ValidationException(
                    f"Must specify a sequence number for iterator type {kind}"
                )
            seq = parse_sequence_number(raw_seq)
        elif raw_seq is not None:
            raise ValidationException(
                f"Sequence number must not be specified for iterator type {kind}"
            )

        def run(conn: sqlite3.Connection) -> Position:
            stream = _find_stream(conn, arn)
            shard = _find_shard(conn, stream, shard_id)
            now = self._engine.clock.now()
            if kind == "TRIM_HORIZON":
                return Position(arn, shard.sid, shard.start, True, now)
            if kind == "LATEST":
                last = last_seq(conn, shard.sid)
                return Position(arn, shard.sid, shard.start if last is None else last, False, now)
            assert seq is not None
            if seq <= shard.trimmed_to:
                raise TrimmedDataAccessException(
                    f"Sequence number {raw_seq} is beyond the trim horizon of shard {shard_id}"
                )
            if seq < shard.start:
                raise ValidationException(
                    f"Invalid SequenceNumber {raw_seq} for shard {shard_id}: it is before the "
                    "shard's StartingSequenceNumber"
                )
            after = seq - 1 if kind == "AT_SEQUENCE_NUMBER" else seq
            return Position(arn, shard.sid, after, False, now)

        position = await self._backend.read_point(run)
        return {"ShardIterator": encode_iterator(await self._key(), position)}

    @open_only
    async def get_records(self, **params: Any) -> dict[str, Any]:
        """Return up to ``Limit`` (1-1000, default 1000) records or 1 MB from an iterator.

        ``NextShardIterator`` is present unless the shard is closed and fully read; an open
        shard always gives one, even on an empty page.
        """
        p = Params("GetRecords", params, {"ShardIterator", "Limit"})
        token = p.raw("ShardIterator")
        if token is None:
            raise ValidationException(
                "1 validation error detected: Value null at 'shardIterator' failed to satisfy "
                "constraint: Member must not be null"
            )
        limit = _limit(p.integer("Limit"), 1000, 1000)
        now = self._engine.clock.now()
        pos = decode_iterator(await self._key(), token, now=now)

        def run(
            conn: sqlite3.Connection,
        ) -> tuple[str, _Shard, int, list[tuple[int, float, int, bytes]]]:
            row = conn.execute(
                f"SELECT st.arn, st.view, {_SHARD_COLUMNS_SH} FROM sk_shards sh "
                " JOIN sk_streams st ON st.stid = sh.stid WHERE sh.sid = ?",
                (pos.sid,),
            ).fetchone()
            if row is None or row[0] != pos.arn:
                raise TrimmedDataAccessException(
                    "The shard of this iterator has been trimmed: all its records expired"
                )
            shard = _Shard(*row[2:])
            if not pos.horizon and pos.after < shard.trimmed_to:
                raise TrimmedDataAccessException(
                    "The iterator points at records that were trimmed (older than the "
                    "stream's retention period)"
                )
            after = max(pos.after, shard.start, shard.trimmed_to)
            return row[1], shard, after, _rows_after(conn, pos.sid, after, limit)

        view, shard, after, rows = await self._backend.read_point(run)
        records, after = self._format_rows(pos.arn, view, rows, after)
        out: dict[str, Any] = {"Records": records}
        if shard.end is None or after < shard.end:
            horizon = pos.horizon and not records
            nxt = Position(pos.arn, pos.sid, pos.after if horizon else after, horizon, now)
            out["NextShardIterator"] = encode_iterator(await self._key(), nxt)
        return out

    def _format_rows(
        self,
        arn: str,
        view: str,
        rows: list[tuple[int, float, int, bytes]],
        after: int,
        *,
        lambda_shape: bool = False,
    ) -> tuple[list[Any], int]:
        """Format stored rows as GetRecords records (``lambda_shape``: as Lambda receives
        them, packed: :class:`~streamkit.streams.records.PackedRecord`), at most 1 MB; return
        them and the last seq."""
        region = self._engine.region
        records: list[Any]
        if lambda_shape:
            pieces = lambda_pieces(arn=arn, region=region, view=view, lambda_arn=arn)
            packed: list[PackedRecord] = []
            total = 0
            for seq, created, kind, data in rows:  # _first_megabyte's rule, inline: packed only
                record = lambda_packed(pieces, seq, created, kind, data) or _pack_row(
                    pieces, arn, region, view, seq, created, kind, data
                )
                total += record[4]
                if packed and total > MAX_PAGE_BYTES:
                    break
                packed.append(record)
            return packed, rows[len(packed) - 1][0] if packed else after
        records = _first_megabyte(
            format_record(
                arn=arn,
                region=region,
                view=view,
                seq=seq,
                created=created,
                kind=kind,
                data=data,
            )
            for seq, created, kind, data in rows
        )
        return records, rows[len(records) - 1][0] if records else after

    @open_only
    async def read_shard(
        self, *, stream_arn: str, shard_id: str, after_sequence: str | None, limit: int
    ) -> ShardPage:
        """Read a shard's records after a sequence number (None: from its start), inline.

        The in-process consumer's GetRecords (the mapping pollers use it): the same records,
        trimming and closed-shard rules, without iterator tokens to sign and check.

        A shard that retention has dropped whole reads as exhausted.

        Raises:
            TrimmedDataAccessException: records after ``after_sequence`` were trimmed.
        """
        await anyio.lowlevel.checkpoint()
        return self._read_shard_now(stream_arn, shard_id, after_sequence, limit)

    @open_only
    async def read_change_keys(
        self, *, stream_arn: str, shard_id: str, after_sequence: str | None, limit: int
    ) -> ShardPage:
        """:meth:`read_shard` for global tables' replication links: the same positions, each
        record only as ``{"dynamodb": {"SequenceNumber", "ApproximateCreationDateTime",
        "Keys"}}`` (binaries as bytes), and a change applied by replication (the hidden
        ``REPLICATED`` flag of storage.changes) without ``Keys``, its data not even read: a link
        ships only its own region's writes. Up to ``limit`` records (no 1 MB page)."""
        await anyio.lowlevel.checkpoint()
        return self._read_shard_now(stream_arn, shard_id, after_sequence, limit, keys_only=True)

    def _read_shard_now(
        self,
        stream_arn: str,
        shard_id: str,
        after_sequence: str | None,
        limit: int,
        *,
        keys_only: bool = False,
        lambda_shape: bool = False,
    ) -> ShardPage:
        after_seq = None if after_sequence is None else parse_sequence_number(after_sequence)

        def run(
            conn: sqlite3.Connection,
        ) -> tuple[str, _Shard, int, list[tuple[int, float, int, bytes]]] | None:
            row = conn.execute(
                f"SELECT st.view, {_SHARD_COLUMNS_SH} FROM sk_shards sh "
                " JOIN sk_streams st ON st.stid = sh.stid WHERE st.arn = ? AND sh.shard_id = ?",
                (stream_arn, shard_id),
            ).fetchone()
            if row is None:
                return None  # retention dropped the whole shard: nothing more to read
            shard = _Shard(*row[1:])
            if after_seq is not None and after_seq < shard.trimmed_to:
                raise TrimmedDataAccessException(
                    "The records after this sequence number were trimmed"
                )
            after = max(after_seq or 0, shard.start, shard.trimmed_to)
            return row[0], shard, after, _rows_after(conn, shard.sid, after, limit)

        found = self._backend.read_now(run)
        if found is None:
            return ShardPage([], exhausted=True, sid=-1)
        view, shard, after, rows = found
        if keys_only:
            records = [_key_record(*row) for row in rows]
            after = rows[-1][0] if rows else after
        else:
            records, after = self._format_rows(
                stream_arn, view, rows, after, lambda_shape=lambda_shape
            )
        exhausted = shard.end is not None and after >= shard.end
        return ShardPage(records, exhausted, shard.sid)

    @open_only
    async def read_lambda_records(
        self,
        *,
        stream_arn: str,
        shard_id: str,
        after_sequence: str | None,
        limit: int,
        reuse: bool = False,
    ) -> ShardPage:
        """:meth:`read_shard`, with the records shaped as a Lambda function receives them
        (``eventSourceARN``, binaries in base64) and shared between the in-process readers.

        Several mappings on one stream read the same records at nearly the same time; the
        newest records of each shard are kept, so each record is read and formatted once: a
        page starts from that tail when it holds the position and continues from the store.

        The pages with records are kept too (the last ``PAGE_MEMO`` per shard), by position
        and limit: the next reader there gets the very same page (a :class:`SharedRecords`
        object) without reading, as long as no commit has touched the shard since (a full page
        of ``limit`` records, or of 1 MB, stays whole: it is kept whatever comes after).
        With ``reuse`` a reader also takes a page that a later commit has made short: a true
        page all the same (the records right after the position, in order), only not all of
        them; the mapping runner asks this way, so the mappings on a shard keep reading the
        same pages, and reads fresh when it asks at one position twice (a batching window).
        An empty page is never kept. The records are shared: callers must not change them
        (the mapping processor hands its handler a copy).
        """
        key = (stream_arn, shard_id)
        await asyncio.sleep(0)  # anyio.lowlevel.checkpoint() is this plus a backend lookup
        # looked at and filled with no await between: one read each
        kept = self._pages.get(key)
        if kept is not None:
            memo = kept.get((after_sequence, limit))
            if memo is not None and (reuse or memo.full or not memo.commit.is_set()):
                return memo.page
        tail = self._tails.get(key)
        # a commit to the shard after this point sets ``commit``: a short page kept with it is
        # whole until then (a read-only engine's commits are another process's: none kept)
        commit = (
            None
            if tail is None or self._backend.read_only
            else self._backend.shard_waiter(tail.sid)
        )
        records: list[PackedRecord] = []
        position = after_sequence
        full = False
        if tail is not None and after_sequence is not None:
            records, full = tail.serve(parse_sequence_number(after_sequence), limit)
            if records:
                position = records[-1][2]
        if full:
            assert tail is not None
            out, exhausted, sid = records, False, tail.sid
        else:
            read = self._read_shard_now(
                stream_arn, shard_id, position, limit - len(records), lambda_shape=True
            )
            fresh: list[PackedRecord] = read.records
            if fresh:
                seqs = list(map(_seq_at, fresh))
                # read from the shard's start: the page is complete from its first record on
                after = seqs[0] - 1 if position is None else parse_sequence_number(position)
                if tail is None or tail.sid != read.sid:
                    tail = self._tails[key] = _Tail(read.sid, after, [], [])
                    self._pages.pop(key, None)
                    kept, commit = None, None  # taken on another shard's id (or none)
                tail.add(after, seqs, fresh)
            elif read.exhausted:
                self._tails.pop(key, None)
                self._pages.pop(key, None)
            both = records + fresh
            out = _packed_megabyte(both)
            full = len(out) == limit or len(out) < len(both)
            exhausted, sid = read.exhausted and len(out) == len(both), read.sid
        if reuse and kept and after_sequence is not None and len(out) > 1:
            cut = _align(kept, parse_sequence_number(after_sequence), limit, out)
            if cut < len(out):
                out, full, exhausted = out[:cut], False, False
        page = ShardPage(SharedRecords(out), exhausted, sid)
        return self._keep(key, after_sequence, limit, commit, page, full=full)

    def _keep(
        self,
        key: tuple[str, str],
        after: str | None,
        limit: int,
        commit: anyio.Event | None,
        page: ShardPage,
        *,
        full: bool,
    ) -> ShardPage:
        """Return the page, kept for the next reader at ``after`` with ``limit``."""
        if commit is not None and page.records:
            kept = self._pages.setdefault(key, {})
            if len(kept) >= PAGE_MEMO:
                del kept[next(iter(kept))]  # the oldest
            # and no more records than a tail holds (big batch sizes): the oldest pages go
            held = sum(len(m.page.records) for m in kept.values()) + len(page.records)
            while kept and held > TAIL_RECORDS:
                held -= len(kept.pop(next(iter(kept))).page.records)
            start = None if after is None else parse_sequence_number(after)
            end = page.records[-1][1]  # packed (read_lambda_records' pages only)
            kept[after, limit] = _Memo(commit, full, page, start, end)
        return page

    def shard_event(self, sid: int) -> anyio.Event:
        """Return an event set after the next commit that appends to shard ``sid``
        (:attr:`ShardPage.sid`); take it before :meth:`read_shard`, wait on it after."""
        return self._backend.shard_waiter(sid)

    @open_only
    async def wait_for_records(self, ShardIterator: str) -> None:  # noqa: N803 - boto3 casing
        """Return once the iterator's shard has records past its position, or is closed.

        The in-process way to consume without polling: readers are woken right after the
        commit that appended to their shard. The iterator is not checked for expiry here (a
        wait can be long); the following ``get_records`` call checks it. Wrap the call in
        ``anyio.move_on_after`` to bound the wait. On a read-only engine another process
        commits, so the wait polls every ``READ_ONLY_POLL_SECONDS`` of the engine's clock.
        """
        pos = decode_iterator(await self._key(), ShardIterator)
        event = self._backend.shard_waiter(pos.sid)

        def ready(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT start_seq, end_seq, trimmed_to FROM sk_shards WHERE sid = ?", (pos.sid,)
            ).fetchone()
            if row is None or row[1] is not None:
                return True
            after = max(pos.after, row[0], row[2])
            return has_records_after(conn, pos.sid, after)

        if await self._backend.read_point(ready):
            return
        if self._backend.read_only:  # another process commits: nothing wakes us
            while not await self._backend.read_point(ready):
                await self._engine.clock.sleep(READ_ONLY_POLL_SECONDS)
            return
        await event.wait()


def _shard_filter(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationException("Invalid type for parameter ShardFilter, expected a structure")
    if value.get("Type") != "CHILD_SHARDS":
        raise ValidationException(
            f"1 validation error detected: Value '{value.get('Type')}' at 'shardFilter.type' "
            "failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]"
        )
    shard_id = value.get("ShardId")
    if not isinstance(shard_id, str):
        raise ValidationException(
            "1 validation error detected: Value null at 'shardFilter.shardId' failed to "
            "satisfy constraint: Member must not be null"
        )
    _length("shardFilter.shardId", shard_id, 28, 65)
    return shard_id


async def describe_shards(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Return every shard of a stream, DescribeStream's pages (``ExclusiveStartShardId``)
    joined; ``streams`` is anything with boto3's ``describe_stream`` as a coroutine."""
    shards: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        page = (await streams.describe_stream(**params))["StreamDescription"]
        shards.extend(page["Shards"])
        if "LastEvaluatedShardId" not in page:
            return shards
        params["ExclusiveStartShardId"] = page["LastEvaluatedShardId"]
