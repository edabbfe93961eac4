"""Stream records as DynamoDB Streams returns them, and as Lambda receives them."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from streamkit.errors import ValidationException
from streamkit.model.attributes import item_size
from streamkit.storage.changes import INSERT, MODIFY, SEQUENCE_BASE, SERVICE, load_record_data

__all__ = [
    "SERVICE_IDENTITY",
    "base64_binaries",
    "format_record",
    "lambda_record",
    "parse_sequence_number",
    "sequence_number",
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
) -> dict[str, Any]:
    """Return one GetRecords record (Streams API casing) from a stored row."""
    keys, old, new, size = load_record_data(data)
    body: dict[str, Any] = {"ApproximateCreationDateTime": float(int(created)), "Keys": keys}
    if new is not None:
        body["NewImage"] = new
    if old is not None:
        body["OldImage"] = old
    if size is None:  # a record written before SizeBytes was stored with it
        size = item_size(keys) + sum(item_size(i) for i in (old, new) if i is not None)
    wire_seq = sequence_number(seq)
    body["SequenceNumber"] = wire_seq
    body["SizeBytes"] = size
    body["StreamViewType"] = view
    record: dict[str, Any] = {
        "eventID": hashlib.md5(f"{arn}|{wire_seq}".encode(), usedforsecurity=False).hexdigest(),
        "eventName": _EVENT_NAMES.get(kind & ~SERVICE, "REMOVE"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
    }
    if kind & SERVICE:
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

    Only the images (Keys, NewImage, OldImage) are visited, and only M/L values are descended
    into: the record must be one the caller owns (as GetRecords returns them, freshly built).
    """
    body = record.get("dynamodb")
    if isinstance(body, dict):
        for name in ("Keys", "NewImage", "OldImage"):
            image = body.get(name)
            if image:
                for value in image.values():
                    _base64_value(value)
    return record


def _base64_value(value: dict[str, Any]) -> None:
    ((tag, payload),) = value.items()
    if tag == "B":
        if isinstance(payload, bytes):
            value["B"] = base64.b64encode(payload).decode()
    elif tag == "M":
        for member in payload.values():
            _base64_value(member)
    elif tag == "L":
        for member in payload:
            _base64_value(member)
    elif tag == "BS":
        value["BS"] = [base64.b64encode(b).decode() if isinstance(b, bytes) else b for b in payload]
