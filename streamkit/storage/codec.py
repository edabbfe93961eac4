"""Item rows and key columns: the item blob format and an order-preserving key encoding.

Key encoding
    :func:`encode_key` turns an S, N or B key value into bytes whose ``memcmp`` order (how
    SQLite compares BLOBs) equals DynamoDB's order for two values of the same type, so a
    sort-key range in a Query is a plain BLOB range in SQLite:

    * ``S``: the UTF-8 bytes (byte order is code point order).
    * ``B``: the bytes themselves (unsigned byte order).
    * ``N``: a sign byte (``0x00`` negative, ``0x01`` zero, ``0x02`` positive); for non-zero
      numbers then one byte for the decimal exponent of the leading digit (-130..125 maps
      onto 0..255 exactly) and the significant digits packed two per byte as nibbles
      ``digit + 1`` (so a missing last nibble, 0, sorts below any digit). A negative number
      stores the complement of the exponent byte and of every digit byte, followed by a
      ``0xFF`` terminator, so that larger magnitudes sort lower and a shorter digit string
      (smaller magnitude) sorts higher. At most 22 bytes.

Item blob
    :func:`dump_item` stores an item as its DynamoDB JSON (orjson) behind a one-byte format tag
    (``0x02``). The JSON is exactly what the wire carries, so a Query or Scan can answer with
    the stored bytes (:func:`item_fragment`) without decoding and re-encoding each item. JSON
    has no bytes, so an item holding a ``B`` or ``BS`` value (or text orjson refuses, such as a
    lone surrogate) is stored with :mod:`marshal` behind tag ``0x01`` instead; marshal
    round-trips ``bytes`` exactly and, unlike pickle, cannot run code when loading. Rows
    written before JSON became the default carry tag ``0x01`` and load as before.

    Measured on CPython 3.11.7 with orjson 3.13 (best of 7 runs on a shared 2-core box; items:
    238 bytes / 8 flat attributes, and ~4 KB / 42 attributes of nested maps and lists):

    ==========================  ============================  =========================
    format                      small item: dump / load       nested item: dump / load
    ==========================  ============================  =========================
    JSON (orjson), tag 0x02     0.4 us / 1.5 us, 255 bytes    7.0 us / 27.7 us, 5.8 KB
    marshal v4, tag 0x01        1.4 us / 2.5 us, 238 bytes    10.5 us / 26.4 us, 4.0 KB
    ==========================  ============================  =========================

    A page of 100 small items costs ~10 us to hand over as ``orjson.Fragment`` objects, against
    ~80 us to load with marshal and encode again.

    marshal's format is only promised within one CPython version line; it has been version
    4 since 3.4 and older versions stay loadable. If that ever changes, a new tag byte goes
    here.
"""

from __future__ import annotations

import marshal
from collections.abc import Iterable
from typing import Final

import orjson

from streamkit.errors import InternalServerError, ValidationException
from streamkit.model.attributes import AttributeValue, Item, normalize_number

__all__ = [
    "JSON_OPTIONS",
    "decode_key",
    "dump_item",
    "dump_item_json",
    "encode_key",
    "encode_key_parts",
    "item_fragment",
    "item_json",
    "items_differ",
    "json_item_blob",
    "key_part_prefix",
    "load_item",
]

_MARSHAL_TAG: Final = 1
_MARSHAL_PREFIX: Final = bytes([_MARSHAL_TAG])
_JSON_TAG: Final = 2
_JSON_PREFIX: Final = bytes([_JSON_TAG])
# Types JSON would change (a str subclass, a datetime, a dataclass) go to marshal, which
# refuses them: validated items never hold them, and a bug must not store them silently.
_JSON_STRICT: Final = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
#: ``orjson.dumps``'s options for an item's JSON as :func:`dump_item` stores it (for a caller
#: that serialises inline: the change log's record keys)
JSON_OPTIONS: Final = _JSON_STRICT
_NEGATIVE: Final = 0x00
_ZERO: Final = 0x01
_POSITIVE: Final = 0x02
_TERMINATOR: Final = 0xFF
_EXPONENT_BIAS: Final = 130
_INVERT: Final = bytes(range(255, -1, -1))  # bytes.translate table: b -> 255 - b
_TO_NIBBLES: Final = str.maketrans("0123456789", "123456789a")
_FROM_NIBBLES: Final = str.maketrans("123456789a", "0123456789", "0")  # drops the pad nibble


def encode_key(value: AttributeValue) -> bytes:
    """Encode a canonical S, N or B key value so that byte order is DynamoDB's order.

    Raises:
        ValueError: The value is not of type S, N or B.
    """
    ((tag, payload),) = value.items()
    if tag == "S":
        return str(payload).encode()
    if tag == "B":
        return bytes(payload)
    if tag == "N":
        return _encode_number(payload)
    raise ValueError(f"key values must be S, N or B, not {tag}")


def encode_key_parts(values: Iterable[AttributeValue]) -> bytes:
    """Encode the values of a multi-attribute key so that byte order is their tuple order.

    Each value is :func:`encode_key`'s bytes with every 0x00 written as 0x00 0xFF, then the
    terminator 0x00 0x00: a value that is a prefix of another sorts first, and the next value
    never changes how two values compare. So equal leading values and a range on the next one
    are a byte range too (:func:`key_part_prefix`).
    """
    return b"".join(encode_key(v).replace(b"\0", b"\0\xff") + b"\0\0" for v in values)


def key_part_prefix(value: AttributeValue) -> bytes:
    """Return the bytes every part encoding a value that starts with ``value`` begins with."""
    return encode_key(value).replace(b"\0", b"\0\xff")


def _encode_number(canonical: str) -> bytes:
    negative = canonical.startswith("-")
    unsigned = canonical[1:] if negative else canonical
    whole, _, fraction = unsigned.partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return bytes([_ZERO])
    # Exponent of the leading digit: len(whole) - 1 for |n| >= 1, else from the leading zeros.
    exponent = len(whole) - 1 if whole != "0" else -(len(fraction) - len(fraction.lstrip("0")) + 1)
    nibbles = digits.rstrip("0").translate(_TO_NIBBLES)
    packed = bytes.fromhex(nibbles + "0" if len(nibbles) % 2 else nibbles)
    head = bytes([_POSITIVE, exponent + _EXPONENT_BIAS])
    if not negative:
        return head + packed
    return bytes([_NEGATIVE, 255 - head[1]]) + packed.translate(_INVERT) + bytes([_TERMINATOR])


def decode_key(data: bytes, type_: str) -> AttributeValue:
    """Decode bytes made by :func:`encode_key` back into a canonical AttributeValue.

    Args:
        data: The encoded key.
        type_: ``"S"``, ``"N"`` or ``"B"``.

    Raises:
        ValueError: ``type_`` is not S, N or B, or ``data`` is not a valid encoding.
    """
    if type_ == "S":
        return {"S": bytes(data).decode()}
    if type_ == "B":
        return {"B": bytes(data)}
    if type_ == "N":
        return {"N": _decode_number(bytes(data))}
    raise ValueError(f"key values must be S, N or B, not {type_}")


def _decode_number(data: bytes) -> str:
    if data == bytes([_ZERO]):
        return "0"
    if len(data) >= 4 and data[0] == _NEGATIVE and data[-1] == _TERMINATOR:
        exponent = 255 - data[1] - _EXPONENT_BIAS
        digits = data[2:-1].translate(_INVERT).hex().translate(_FROM_NIBBLES)
        sign = "-"
    elif len(data) >= 3 and data[0] == _POSITIVE:
        exponent = data[1] - _EXPONENT_BIAS
        digits = data[2:].hex().translate(_FROM_NIBBLES)
        sign = ""
    else:
        raise ValueError("not an encoded number")
    if not digits.isdigit():
        raise ValueError("not an encoded number")
    try:
        return normalize_number(f"{sign}{digits[0]}.{digits[1:]}e{exponent}")
    except ValidationException as exc:
        raise ValueError("not an encoded number") from exc


def dump_item(item: Item) -> bytes:
    """Serialise an internal item for the item BLOB column (JSON, or marshal when binary)."""
    try:
        return _JSON_PREFIX + orjson.dumps(item, option=_JSON_STRICT)
    except TypeError:  # bytes (B / BS values), or a value orjson will not encode as it is
        return _MARSHAL_PREFIX + marshal.dumps(item, 4)


def dump_item_json(item: Item) -> bytes | None:
    """Return an item's JSON text as :func:`dump_item` would store it (without the tag), or
    ``None`` when it would be stored with marshal (binary values)."""
    try:
        return orjson.dumps(item, option=_JSON_STRICT)
    except TypeError:
        return None


def load_item(data: bytes) -> Item:
    """Load an item written by :func:`dump_item`.

    Raises:
        InternalServerError: The blob is corrupt or has an unknown format tag.
    """
    tag = data[0] if data else None
    try:
        if tag == _JSON_TAG:
            item = orjson.loads(data[1:])
        elif tag == _MARSHAL_TAG:
            item = marshal.loads(data[1:])  # slicing copies, but beats a memoryview here
        else:
            raise InternalServerError("Corrupt item record: unknown format")
    except (EOFError, ValueError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise InternalServerError("Corrupt item record") from exc
    if not isinstance(item, dict):
        raise InternalServerError("Corrupt item record: not a map")
    return item


def item_fragment(data: bytes) -> orjson.Fragment | None:
    """Return a stored item's JSON as an ``orjson.Fragment``, or ``None`` if it is not JSON.

    The fragment is the item exactly as DynamoDB's wire carries it: ``orjson.dumps`` copies
    it into a response unparsed. Items stored with marshal (binary values) give ``None``.
    Unparsed means unchecked: a row corrupted on disk goes out as it is, where
    :func:`load_item` would raise InternalServerError.
    """
    return orjson.Fragment(data[1:]) if data and data[0] == _JSON_TAG else None


def json_item_blob(text: bytes) -> bytes:
    """Return what :func:`dump_item` stores for an item whose JSON, as
    :func:`dump_item_json` gives it, is ``text`` (an import that has that text already)."""
    return _JSON_PREFIX + text


def item_json(data: bytes) -> bytes | None:
    """Return the JSON text of a stored item, or ``None`` if it is not JSON (items with
    binary values are stored with marshal).

    The change log joins these into a stream record, so an image the item row has already
    serialised is not serialised again (a slice copies ~250 bytes faster than a
    ``memoryview`` is made and sliced).
    """
    return data[1:] if data and data[0] == _JSON_TAG else None


def items_differ(old: bytes | None, new: bytes | None) -> bool:
    """Return True when two stored items certainly differ: both JSON, of different lengths.

    Equal validated items serialise to JSON of the same length: their numbers are canonical,
    and only the order of map members and set elements can differ. False means "maybe
    equal" (compare the items); a length is cheaper to compare than an item (~0.05 against
    ~0.8 us for a small one that changed).
    """
    return (
        old is not None
        and new is not None
        and old[:1] == new[:1] == _JSON_PREFIX
        and len(old) != len(new)
    )
