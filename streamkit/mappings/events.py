"""Build Lambda-shaped DynamoDB stream events for unit-testing a handler on its own.

Also the reverse direction: :func:`deserialize_record` turns a record's images into plain
Python values (what a ``deserialize=True`` mapping hands its handler).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from streamkit.errors import SerializationException
from streamkit.model.attributes import TYPE_NAMES, Item, validate_item
from streamkit.model.json import decode_binary
from streamkit.model.native import from_item, to_item
from streamkit.streams.records import (
    base64_binaries,
    lambda_record,
    sequence_number as _wire_sequence_number,
    stream_record,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_CREATION_TIME",
    "DEFAULT_STREAM_LABEL",
    "TTL_IDENTITY",
    "deserialize_event",
    "deserialize_record",
    "make_event",
    "make_stream_record",
    "stream_arn",
]

DEFAULT_ACCOUNT: Final = "123456789012"
DEFAULT_STREAM_LABEL: Final = "2024-01-01T00:00:00.000"
DEFAULT_CREATION_TIME: Final = 1_700_000_000.0  # ManualClock's default start
DEFAULT_SHARD_ID: Final = "shardId-00000001700000000000-00000001"
#: ``userIdentity`` of a TTL deletion as Lambda delivers it (camelCase, unlike the Streams API).
TTL_IDENTITY: Final = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

_EVENT_NAMES: Final = ("INSERT", "MODIFY", "REMOVE")
_VIEW_TYPES: Final = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
_SEQUENCE: Final = itertools.count(1)


def stream_arn(
    table: str,
    *,
    region: str = "us-east-1",
    account: str = DEFAULT_ACCOUNT,
    label: str = DEFAULT_STREAM_LABEL,
) -> str:
    """Return a stream ARN in DynamoDB's format (``.../table/<name>/stream/<label>``)."""
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{label}"


def make_stream_record(
    *,
    event_name: str = "INSERT",
    keys: Mapping[str, Any],
    new_image: Mapping[str, Any] | None = None,
    old_image: Mapping[str, Any] | None = None,
    sequence_number: str | int | None = None,
    stream_view_type: str = "NEW_AND_OLD_IMAGES",
    table: str = "table",
    region: str = "us-east-1",
    account: str = DEFAULT_ACCOUNT,
    event_source_arn: str | None = None,
    approximate_creation_date_time: float | datetime = DEFAULT_CREATION_TIME,
    ttl: bool = False,
    user_identity: Mapping[str, str] | None = None,
    size_bytes: int | None = None,
    event_id: str | None = None,
    typed: bool | None = None,
) -> dict[str, Any]:
    """Return one record exactly as a Lambda function receives it in ``event["Records"]``.

    Keys and images may be given as plain Python values (``{"pk": "o1", "total": 3}``) or in
    DynamoDB JSON (``{"pk": {"S": "o1"}}``); ``typed=None`` detects which: a mapping counts as
    DynamoDB JSON when every value is a one-key dict whose key is a type name (``S``, ``N``,
    ``M``...). Pass ``typed=True``/``False`` when a plain value could look typed (a plain map
    attribute ``{"S": ...}``). Either way the record holds DynamoDB JSON the way Lambda sends it:
    numbers as canonical strings, binaries base64 text (plain sets are sorted; typed ones keep
    their order).

    Images follow the stream view type as DynamoDB fills them: an image the view type leaves
    out is dropped, and key attributes missing from a given image are added to it.

    Args:
        event_name: ``INSERT``, ``MODIFY`` or ``REMOVE``.
        keys: The item's primary key.
        new_image: The item after the change (INSERT/MODIFY).
        old_image: The item before the change (MODIFY/REMOVE).
        sequence_number: The record's ``SequenceNumber``; by default the next value of a
            process-wide counter, in the engine's 21-digit form.
        stream_view_type: ``KEYS_ONLY``, ``NEW_IMAGE``, ``OLD_IMAGE`` or ``NEW_AND_OLD_IMAGES``.
        table: Table name, used in the default ``eventSourceARN``.
        region: ``awsRegion`` and the ARN's region.
        account: The ARN's account.
        event_source_arn: The stream ARN; defaults to :func:`stream_arn` of the table.
        approximate_creation_date_time: Epoch seconds (or an aware ``datetime``), rounded down
            to the second and sent as a JSON number, as Lambda does.
        ttl: A TTL deletion: adds ``userIdentity`` ``{"type": "Service", "principalId":
            "dynamodb.amazonaws.com"}``; ``event_name`` must then be ``REMOVE``.
        user_identity: An explicit ``userIdentity`` (overrides ``ttl``'s).
        size_bytes: ``SizeBytes``; computed by DynamoDB's item-size rules by default.
        event_id: ``eventID``; by default derived from the ARN and sequence number.
        typed: Whether keys/images are DynamoDB JSON (``None``: detect).

    Raises:
        ValueError: An unknown event name or view type, an image the event cannot have
            (``old_image`` on INSERT, ``new_image`` on REMOVE), or ``ttl`` on a non-REMOVE.
        TypeError: A value cannot be converted (a ``float``: use ``Decimal``).
        streamkit.errors.ValidationException: A value breaks DynamoDB's rules.
    """
    if event_name not in _EVENT_NAMES:
        raise ValueError(f"event_name must be one of {', '.join(_EVENT_NAMES)}: {event_name!r}")
    if stream_view_type not in _VIEW_TYPES:
        raise ValueError(
            f"stream_view_type must be one of {', '.join(_VIEW_TYPES)}: {stream_view_type!r}"
        )
    if event_name == "INSERT" and old_image is not None:
        raise ValueError("an INSERT record has no old image")
    if event_name == "REMOVE" and new_image is not None:
        raise ValueError("a REMOVE record has no new image")
    if ttl and event_name != "REMOVE":
        raise ValueError("a TTL deletion is a REMOVE record")

    key_item = _item(keys, typed)
    new = _with_keys(_item(new_image, typed), key_item) if new_image is not None else None
    old = _with_keys(_item(old_image, typed), key_item) if old_image is not None else None
    if stream_view_type in ("KEYS_ONLY", "OLD_IMAGE"):
        new = None
    if stream_view_type in ("KEYS_ONLY", "NEW_IMAGE"):
        old = None

    if sequence_number is None:
        sequence = _wire_sequence_number(next(_SEQUENCE))
    else:
        sequence = str(sequence_number)
    arn = event_source_arn or stream_arn(table, region=region, account=account)
    if isinstance(approximate_creation_date_time, datetime):
        created = approximate_creation_date_time.timestamp()
    else:
        created = float(approximate_creation_date_time)
    record = stream_record(
        arn=arn,
        region=region,
        event_name=event_name,
        view=stream_view_type,
        sequence=sequence,
        created=created,
        keys=key_item,
        new=new,
        old=old,
        size=size_bytes,
        service=ttl,
        event_id=event_id,
    )
    record = base64_binaries(lambda_record(record, arn))
    if user_identity is not None:  # before eventSourceARN, where Lambda puts it
        del record["eventSourceARN"]
        record["userIdentity"] = dict(user_identity)
        record["eventSourceARN"] = arn
    return record


def make_event(
    records: Iterable[Mapping[str, Any]],
    *,
    window: tuple[float | datetime | str, float | datetime | str] | None = None,
    state: Mapping[str, Any] | None = None,
    shard_id: str = DEFAULT_SHARD_ID,
    event_source_arn: str | None = None,
    is_final_invoke_for_window: bool = False,
    is_window_terminated_early: bool = False,
) -> dict[str, Any]:
    """Return a Lambda event: ``{"Records": [...]}``, plus the tumbling-window fields.

    The window fields (``window``, ``state``, ``shardId``, ``eventSourceARN``,
    ``isFinalInvokeForWindow``, ``isWindowTerminatedEarly``) are added when ``window`` is given,
    as Lambda adds them only for mappings with ``TumblingWindowInSeconds`` set.

    Args:
        records: Records from :func:`make_stream_record` (copied into a new list).
        window: ``(start, end)`` as epoch seconds, aware datetimes or ISO strings; rendered
            like Lambda's ``"2025-03-02T10:00:00Z"``.
        state: The state returned by the previous invocation of the window (default ``{}``).
        shard_id: ``shardId``.
        event_source_arn: Defaults to the first record's ``eventSourceARN``.
        is_final_invoke_for_window: ``isFinalInvokeForWindow``.
        is_window_terminated_early: ``isWindowTerminatedEarly``.
    """
    batch = [dict(record) for record in records]
    event: dict[str, Any] = {"Records": batch}
    if window is None:
        return event
    if event_source_arn is None:
        event_source_arn = str(batch[0].get("eventSourceARN", "")) if batch else ""
    event["window"] = {"start": _iso(window[0]), "end": _iso(window[1])}
    event["state"] = dict(state or {})
    event["shardId"] = shard_id
    event["eventSourceARN"] = event_source_arn
    event["isFinalInvokeForWindow"] = is_final_invoke_for_window
    event["isWindowTerminatedEarly"] = is_window_terminated_early
    return event


def deserialize_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a Lambda-shaped record whose ``Keys``/``NewImage``/``OldImage`` are plain.

    Numbers become ``Decimal``, binaries ``bytes`` (decoded from base64 text; ``bytes`` are
    kept), sets ``set``, ``L`` a ``list``, ``M`` a ``dict``, ``NULL`` ``None`` (boto3's
    ``TypeDeserializer`` conventions). Everything else is copied unchanged.

    Raises:
        TypeError: An image holds something that is not an AttributeValue.
    """
    out = dict(record)
    body = record.get("dynamodb")
    if isinstance(body, Mapping):
        plain = dict(body)
        for name in ("Keys", "NewImage", "OldImage"):
            image = body.get(name)
            if isinstance(image, Mapping):
                plain[name] = from_item(image)
        out["dynamodb"] = plain
    return out


def deserialize_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a Lambda event, each record passed through :func:`deserialize_record`."""
    out = dict(event)
    out["Records"] = [deserialize_record(record) for record in event.get("Records", ())]
    return out


# ------------------------------------------------------------------------------ helpers


def _looks_typed(mapping: Mapping[str, Any]) -> bool:
    return bool(mapping) and all(
        isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in TYPE_NAMES
        for v in mapping.values()
    )


def _item(mapping: Mapping[str, Any], typed: bool | None) -> Item:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"keys and images must be mappings, not {type(mapping).__name__}")
    if typed is None:
        typed = _looks_typed(mapping)
    if typed:
        try:  # B/BS members may be base64 text, as Lambda's JSON carries them
            decoded = decode_binary(dict(mapping))
        except SerializationException as exc:
            raise ValueError(f"a B value given as text must be base64: {exc.message}") from None
        return validate_item(decoded)
    return to_item(mapping)


def _with_keys(image: Item, keys: Item) -> Item:
    missing = {k: v for k, v in keys.items() if k not in image}
    return {**missing, **image} if missing else image


def _iso(moment: float | datetime | str) -> str:
    if isinstance(moment, str):
        return moment
    if isinstance(moment, datetime):
        moment = moment.timestamp()
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
