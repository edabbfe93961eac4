"""Stream records as DynamoDB Streams returns them, and as Lambda receives them."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import orjson

from streamkit.errors import InternalServerError, ValidationException
from streamkit.model.attributes import Item, item_size
from streamkit.model.json import binaries_to_text
from streamkit.storage.changes import (
    EVENT_KIND,
    INSERT,
    MODIFY,
    SEQUENCE_BASE,
    SERVICE,
    load_record_data,
)

__all__ = [
    "SERVICE_IDENTITY",
    "LambdaPieces",
    "PackedRecord",
    "base64_binaries",
    "format_record",
    "lambda_json",
    "lambda_packed",
    "lambda_pieces",
    "lambda_record",
    "pack_record",
    "parse_sequence_number",
    "sequence_number",
    "stream_event_id",
    "stream_record",
    "unpack_record",
]

SERVICE_IDENTITY: Final = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
_EVENT_NAMES: Final = {INSERT: "INSERT", MODIFY: "MODIFY"}
_DIGITS: Final = re.compile(r"[0-9]{21,40}", re.ASCII)


def sequence_number(n: int) -> str:
    """Return the wire SequenceNumber of internal counter value ``n`` (21 decimal digits)."""
    return str(SEQUENCE_BASE + n)


def parse_sequence_number(value: object) -> int:
    """Return the internal counter value of a wire SequenceNumber.

    Raises:
        ValidationException: not a string of 21 to 40 decimal digits.
    """
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'sequenceNumber' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [0-9]{21,40}"
        )
    return int(value) - SEQUENCE_BASE


def format_record(
    *,
    arn: str,
    region: str,
    view: str,
    seq: int,
    created: float,
    kind: int,
    data: bytes,
    lambda_arn: str | None = None,
) -> dict[str, Any]:
    """Return one GetRecords record (Streams API casing) from a stored row.

    With ``lambda_arn`` the record comes as a Lambda function receives it, as
    ``base64_binaries(lambda_record(record, lambda_arn))`` would make it, in one pass: a
    record stored as JSON holds no binary values, so its images are not walked.
    """
    keys, old, new, size = load_record_data(data)
    record = stream_record(
        arn=arn,
        region=region,
        event_name=_EVENT_NAMES.get(kind & EVENT_KIND, "REMOVE"),
        view=view,
        sequence=sequence_number(seq),
        created=created,
        keys=keys,
        new=new,
        old=old,
        size=size,  # None for a record written before SizeBytes was stored with it
        service=bool(kind & SERVICE),
    )
    if lambda_arn is None:
        return record
    if kind & SERVICE:  # in place: the keys keep lambda_record's order
        record["userIdentity"] = {"type": "Service", "principalId": SERVICE_IDENTITY["PrincipalId"]}
    record["eventSourceARN"] = lambda_arn
    return record if data[:1] == b"[" else base64_binaries(record)


_EVENT_JSON: Final = {
    INSERT: b'","eventName":"INSERT",',
    MODIFY: b'","eventName":"MODIFY",',
}
_REMOVE_JSON: Final = b'","eventName":"REMOVE",'
_SERVICE_JSON: Final = b'"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"},'
_DIGIT_0: Final = ord("0")
_DIGIT_9: Final = ord("9")
_COMMA: Final = ord(",")
#: ``ApproximateCreationDateTime``'s JSON by whole second: the records of a page share a few
#: seconds, so each is written once (bounded: cleared past ``_STAMPS_KEPT``)
_STAMPS: Final[dict[int, bytes]] = {}
_STAMPS_KEPT: Final = 64


def _stamp(second: int) -> bytes:
    if len(_STAMPS) >= _STAMPS_KEPT:
        _STAMPS.clear()
    stamp = _STAMPS[second] = orjson.dumps(float(second))
    return stamp


#: eventIDs end in the internal sequence number (below 2**64; every counter is, by far: beyond
#: it :func:`stream_event_id` falls back to an MD5) times an odd constant modulo 2**64: a
#: bijection, so unique as the numbers are, and random-looking hex as AWS's are
_EVENT_SEQ_LIMIT: Final = 1 << 64
_EVENT_MASK: Final = _EVENT_SEQ_LIMIT - 1
_EVENT_MIX: Final = 0x9E3779B97F4A7C15


@functools.lru_cache(maxsize=256)
def _event_prefix(arn: str) -> str:
    """The first 16 hex digits of the MD5 of the stream ARN: its records' eventID prefix."""
    return hashlib.md5(arn.encode(), usedforsecurity=False).hexdigest()[:16]


def stream_event_id(arn: str, sequence: str) -> str:
    """Return the ``eventID`` of stream ``arn``'s record with wire ``sequence``: 32 hex digits,
    the first 16 from the ARN's MD5, the last 16 the internal sequence number, mixed (times an
    odd constant modulo 2**64), in hex. Stable (a function of the two) and unique per record
    (one sequence counter per stream, a bijection of it); a ``sequence`` that is no streamkit
    sequence number (a hand-made record's) gets the MD5 hex of ``arn|sequence`` instead."""
    if sequence.isascii() and sequence.isdigit():
        n = int(sequence) - SEQUENCE_BASE
        if 0 <= n < _EVENT_SEQ_LIMIT:
            return f"{_event_prefix(arn)}{n * _EVENT_MIX & _EVENT_MASK:016x}"
    return hashlib.md5(f"{arn}|{sequence}".encode(), usedforsecurity=False).hexdigest()


class LambdaPieces(NamedTuple):
    """The parts of a stream's Lambda records' JSON that do not change from record to record
    (:func:`lambda_pieces`), as ``orjson.dumps`` writes them."""

    event_id: bytes  # the record's opening up to the eventID's last 16 digits (its sequence)
    head: bytes
    view: bytes
    tail: bytes


def lambda_pieces(*, arn: str, region: str, view: str, lambda_arn: str) -> LambdaPieces:
    """Return the fixed parts of a stream's Lambda records for :func:`lambda_json`."""
    return LambdaPieces(
        b'{"eventID":"%b' % _event_prefix(arn).encode(),
        b'"eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":%b,'
        b'"dynamodb":{"ApproximateCreationDateTime":' % orjson.dumps(region),
        b',"StreamViewType":%b},' % orjson.dumps(view),
        b'"eventSourceARN":%b}' % orjson.dumps(lambda_arn),
    )


def lambda_json(
    pieces: LambdaPieces, seq: int, created: float, kind: int, data: bytes
) -> tuple[bytes, str, int] | None:
    """Return a stored record's Lambda shape as JSON, its SequenceNumber and SizeBytes, or
    ``None`` for a record this cannot splice (:func:`lambda_packed`'s JSON, SequenceNumber and
    SizeBytes)."""
    packed = lambda_packed(pieces, seq, created, kind, data)
    return None if packed is None else (packed[0], packed[2], packed[4])


def lambda_packed(
    pieces: LambdaPieces, seq: int, created: float, kind: int, data: bytes
) -> PackedRecord | None:
    """Return a stored record's Lambda shape packed (:data:`PackedRecord`), or ``None`` for a
    record this cannot splice (marshal-stored: binary values or older rows; JSON written
    before schema version 6, without its pieces' lengths; a sequence number past 2**64).

    The JSON is ``orjson.dumps(format_record(..., lambda_arn=lambda_arn))``, byte for byte
    (``pieces`` from :func:`lambda_pieces` of the same arguments), made without building the
    record: the stored images are JSON as orjson wrote them (the item rows' own text), so they
    go in as they are, between the fixed fields' text (~3.7 us of thread CPU a small record on
    a loaded machine, where formatting and serialising took 5.6-6.7). The eventID is the
    pieces' ARN prefix and the sequence number mixed, in hex (:func:`stream_event_id`; an MD5
    a record was about a sixth of the splicing).
    """
    # data is [keys,old,new,size,len(keys),len(old)]: the last three are digits, so the
    # commas before them are the last three; version 5's [keys,old,new,size] has the new
    # image (null or a map) before its last comma, not a digit
    last = data.rfind(b",")
    if (
        last < 0
        or not _DIGIT_0 <= data[last - 1] <= _DIGIT_9
        or data[:1] != b"["
        or not 0 <= seq < _EVENT_SEQ_LIMIT
    ):
        return None
    middle = data.rfind(b",", 0, last)
    first = data.rfind(b",", 0, middle)
    try:
        keys_len = int(data[middle + 1 : last])
        old_len = int(data[last + 1 : -1])
    except ValueError:
        raise InternalServerError("Corrupt stream record") from None
    new_at = keys_len + old_len + 3
    if (
        not 0 < keys_len < new_at <= first
        or data[keys_len + 1] != _COMMA
        or data[new_at - 1] != _COMMA
    ):
        raise InternalServerError("Corrupt stream record")
    old = data[keys_len + 2 : new_at - 1]
    new = data[new_at:first]
    size = data[first + 1 : middle]
    sequence = str(SEQUENCE_BASE + seq)
    second = int(created)
    parts = [
        pieces.event_id,
        b"%016x" % (seq * _EVENT_MIX & _EVENT_MASK),
        _EVENT_JSON.get(kind & EVENT_KIND, _REMOVE_JSON),
        pieces.head,
        _STAMPS.get(second) or _stamp(second),
        b',"Keys":',
        data[1 : keys_len + 1],
    ]
    if new != b"null":
        parts += (b',"NewImage":', new)
    if old != b"null":
        parts += (b',"OldImage":', old)
    parts += (b',"SequenceNumber":"', sequence.encode(), b'","SizeBytes":', size, pieces.view)
    if kind & SERVICE:
        parts.append(_SERVICE_JSON)
    parts.append(pieces.tail)
    return (b"".join(parts), seq, sequence, float(second), int(size))


#: A Lambda-shaped record packed: its JSON bytes (``orjson.dumps`` of the Lambda shape), its
#: internal sequence number, wire ``SequenceNumber``, ``ApproximateCreationDateTime`` and
#: ``SizeBytes``. What the mappings on a shard share (:meth:`~streamkit.streams.client.
#: StreamsClient.read_lambda_records`): a plain tuple of bytes, numbers and a string, which the
#: garbage collector stops tracking at its first pass, so no object tree lives on while the
#: mappings work through a page. A handler's records are built from the bytes, fresh each
#: time (:func:`unpack_record`, or one ``orjson.loads`` of a batch's bytes joined).
PackedRecord = tuple[bytes, int, str, float, int]


def pack_record(record: Mapping[str, Any]) -> PackedRecord:
    """Pack a Lambda-shaped record."""
    body = record["dynamodb"]
    sequence = body["SequenceNumber"]
    return (
        orjson.dumps(record),
        parse_sequence_number(sequence),
        sequence,
        float(body["ApproximateCreationDateTime"]),
        body["SizeBytes"],
    )


def unpack_record(packed: PackedRecord) -> dict[str, Any]:
    """Return a packed record as a new object tree (the caller's own)."""
    record: dict[str, Any] = orjson.loads(packed[0])
    return record


def stream_record(
    *,
    arn: str,
    region: str,
    event_name: str,
    view: str,
    sequence: str,
    created: float,
    keys: Item,
    new: Item | None,
    old: Item | None,
    size: int | None = None,
    service: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Return one stream record as GetRecords returns it: the one builder of the record body.

    :func:`format_record` builds GetRecords' records with it, and
    :func:`streamkit.testing.make_stream_record` the records of hand-made Lambda events (through
    :func:`lambda_record` and :func:`base64_binaries`, as the mapping poller delivers them).

    Args:
        arn: The stream ARN (the default ``eventID`` is derived from it and ``sequence``).
        region: ``awsRegion``.
        event_name: ``INSERT``, ``MODIFY`` or ``REMOVE``.
        view: ``StreamViewType``; the images given must already follow it.
        sequence: The wire ``SequenceNumber``.
        created: Epoch seconds, rounded down to the second as DynamoDB does.
        keys, new, old: The key attributes and images (``bytes`` binaries); kept, not copied.
        size: ``SizeBytes``; computed from the images by DynamoDB's item-size rules if None.
        service: A deletion by the service (TTL): adds ``userIdentity``.
        event_id: ``eventID``; by default :func:`stream_event_id` of ``arn`` and ``sequence``.
    """
    if size is None:
        size = item_size(keys) + sum(item_size(i) for i in (old, new) if i is not None)
    body: dict[str, Any] = {"ApproximateCreationDateTime": float(int(created)), "Keys": keys}
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    body["SequenceNumber"] = sequence
    body["SizeBytes"] = size
    body["StreamViewType"] = view
    record: dict[str, Any] = {
        "eventID": event_id or stream_event_id(arn, sequence),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
    }
    if service:
        record["userIdentity"] = dict(SERVICE_IDENTITY)
    return record


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """Return a GetRecords record as a Lambda function receives it in ``{"Records": [...]}``.

    Lambda adds ``eventSourceARN`` and spells ``userIdentity``'s members ``type`` and
    ``principalId`` (the Streams API says ``Type`` and ``PrincipalId``).
    """
    out = {k: v for k, v in record.items() if k != "userIdentity"}
    identity = record.get("userIdentity")
    if identity is not None:
        out["userIdentity"] = {
            "type": identity["Type"],
            "principalId": identity["PrincipalId"],
        }
    out["eventSourceARN"] = stream_arn
    return out


def base64_binaries(record: dict[str, Any]) -> dict[str, Any]:
    """Turn a fresh record's B/BS values into base64 text, in place, as Lambda's JSON carries them.

    Only the images (Keys, NewImage, OldImage) are visited, by
    :func:`streamkit.model.json.binaries_to_text`: the record must be one the caller owns (as
    GetRecords returns them, freshly built).
    """
    body = record.get("dynamodb")
    if isinstance(body, dict):
        for name in ("Keys", "NewImage", "OldImage"):
            image = body.get(name)
            if image:
                binaries_to_text(image)
    return record
