"""Helpers shared by the ready-made handlers: native values as JSON, record positions."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = [
    "Handler",
    "env",
    "position_mark",
    "sequence_number",
    "table_of",
    "to_json",
    "to_jsonable",
]

#: What the factories return: an async Lambda handler ``handler(event, context)``.
Handler: TypeAlias = Callable[[dict[str, Any], Any], Awaitable[dict[str, Any] | None]]


def to_jsonable(value: Any) -> Any:
    """Return ``value`` (a native DynamoDB value) as plain JSON types.

    Numbers (``Decimal``) become ``int`` when integral, ``float`` when a float holds them exactly,
    and their decimal text otherwise (so nothing is rounded); ``bytes`` become base64 text;
    sets become sorted lists; maps and lists are converted element by element.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in sorted(value)]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def _number(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def to_json(value: Any) -> str:
    """Return ``value`` as compact JSON text, with keys sorted (see :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def table_of(record: Mapping[str, Any]) -> str:
    """Return the table name in a record's ``eventSourceARN`` (``...:table/<name>/stream/...``)."""
    arn = str(record.get("eventSourceARN", ""))
    _, found, rest = arn.partition(":table/")
    return rest.split("/", 1)[0] if found else ""


def sequence_number(record: Mapping[str, Any]) -> str:
    """Return a record's ``SequenceNumber``."""
    return str(record["dynamodb"]["SequenceNumber"])


def position_mark(record: Mapping[str, Any]) -> str:
    """Return a string that orders the changes of one item: ``<stream label>#<sequence number>``.

    Sequence numbers grow within a stream, and a stream enabled later has a later label (an ISO
    time of fixed width), so comparing marks as strings orders an item's changes also across a
    stream that was disabled and enabled again. Sequence numbers are padded to 40 digits so
    numbers of different lengths still compare correctly.
    """
    arn = str(record.get("eventSourceARN", ""))
    label = arn.rsplit("/stream/", 1)[-1] if "/stream/" in arn else ""
    return f"{label}#{sequence_number(record).zfill(40)}"


def env(name: str, default: str) -> str:
    """Return environment variable ``name``, or ``default`` when it is unset or empty."""
    return os.environ.get(name) or default
