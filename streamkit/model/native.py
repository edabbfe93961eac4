"""Plain Python values <-> AttributeValues, like boto3's TypeSerializer/TypeDeserializer.

=====================================  ==========================================
Python                                 AttributeValue
=====================================  ==========================================
``None``                               ``{"NULL": True}``
``bool``                               ``{"BOOL": ...}``
``int``, ``Decimal``                   ``{"N": canonical str}``  (read back: Decimal)
``str``                                ``{"S": ...}``
``bytes``, ``bytearray``, memoryview   ``{"B": bytes}``
set of str / numbers / bytes           ``{"SS"|"NS"|"BS": [...]}`` (sorted)
``list``, ``tuple``                    ``{"L": [...]}``              (read back: list)
``Mapping`` with str keys              ``{"M": {...}}``              (read back: dict)
=====================================  ==========================================

``float`` is refused with boto3's ``TypeError``, since a binary float would silently lose the
decimal value the user meant; numbers that break DynamoDB's rules (more than 38 significant
digits, NaN, out of range) raise the same ValidationException the service would send.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

from streamkit.errors import ValidationException
from streamkit.model.attributes import (
    MAX_NESTING_DEPTH,
    MSG_EMPTY_NS,
    MSG_NESTING,
    MSG_OVERFLOW,
    AttributeValue,
    Item,
    normalize_number,
)
from streamkit.model.json import decode_b64

__all__ = ["from_attribute_value", "from_item", "to_attribute_value", "to_item"]

_BYTES_TYPES = (bytes, bytearray, memoryview)
_TOO_BIG_INT = 10**126


def to_attribute_value(value: object) -> AttributeValue:
    """Convert a plain Python value to an AttributeValue.

    Args:
        value: ``None``, ``bool``, ``int``, ``Decimal``, ``str``, bytes-like, a set of str,
            numbers or bytes, a list/tuple or a ``Mapping`` with ``str`` keys, nested freely
            up to DynamoDB's 32 levels.

    Returns:
        The AttributeValue, numbers in canonical form and sets sorted.

    Raises:
        TypeError: ``value`` contains a ``float``, a mixed or unsupported set, a non-str map
            key or an unsupported type (boto3 raises ``TypeError`` for these too).
        ValidationException: A number breaks DynamoDB's rules, a set is empty, or the
            value is nested too deeply.
    """
    return _convert(value, 1)


def _convert(value: object, depth: int) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, _BYTES_TYPES):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _convert_set(value)
    if isinstance(value, Mapping | list | tuple):
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(MSG_NESTING)
        if isinstance(value, Mapping):
            return {"M": {_name(k): _convert(v, depth + 1) for k, v in value.items()}}
        return {"L": [_convert(v, depth + 1) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value!r}"')


def _number(value: int | Decimal) -> str:
    if isinstance(value, int) and not -_TOO_BIG_INT < value < _TOO_BIG_INT:
        raise ValidationException(MSG_OVERFLOW)  # and str() of a huge int is slow or refused
    return normalize_number(str(value))


def _convert_set(value: Set[object]) -> AttributeValue:
    members = list(value)
    if not members:
        # boto3 sends an empty set as {"NS": []}; this is what DynamoDB answers.
        raise ValidationException(MSG_EMPTY_NS)
    if all(isinstance(m, str) for m in members):
        return {"SS": sorted(str(m) for m in members)}
    if all(isinstance(m, int | Decimal) and not isinstance(m, bool) for m in members):
        numbers = {_number(m) for m in members if isinstance(m, int | Decimal)}
        return {"NS": sorted(numbers, key=Decimal)}
    if all(isinstance(m, _BYTES_TYPES) for m in members):
        return {"BS": sorted({bytes(m) for m in members if isinstance(m, _BYTES_TYPES)})}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value!r}"')


def _name(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"Map keys must be str, not {type(key).__name__}: {key!r}")
    return str(key)


def from_attribute_value(value: AttributeValue) -> Any:
    """Convert an AttributeValue to a plain Python value.

    Numbers become ``Decimal`` (exact, as in boto3), sets become ``set``, ``L`` a ``list``,
    ``M`` a ``dict``, ``B`` ``bytes`` and ``NULL`` ``None``. Binaries may be ``bytes`` (as in
    memory) or base64 text (DynamoDB JSON, as a Lambda event carries them).

    Raises:
        TypeError: ``value`` is not a one-key mapping, or its type key is unknown.
        SerializationException: A binary given as text is not valid base64.
    """
    try:
        ((tag, payload),) = value.items()
    except (AttributeError, ValueError):
        raise TypeError(f"not an AttributeValue: {value!r}") from None
    if tag == "S" or tag == "BOOL":
        return payload
    if tag == "N":
        return Decimal(payload)
    if tag == "B":
        return _binary(payload)
    if tag == "M":
        return {k: from_attribute_value(v) for k, v in payload.items()}
    if tag == "L":
        return [from_attribute_value(v) for v in payload]
    if tag == "NULL":
        return None
    if tag == "SS":
        return set(payload)
    if tag == "NS":
        return {Decimal(n) for n in payload}
    if tag == "BS":
        return {_binary(p) for p in payload}
    raise TypeError(f"Dynamodb type {tag} is not supported")


def _binary(payload: bytes | str) -> bytes:
    if type(payload) is bytes:
        return payload
    if isinstance(payload, str):
        return decode_b64(payload)
    return bytes(payload)


def to_item(mapping: Mapping[str, object]) -> Item:
    """Convert a mapping of attribute names to plain values into an item.

    Raises:
        TypeError: See :func:`to_attribute_value`.
        ValidationException: See :func:`to_attribute_value`.
    """
    return {_name(k): _convert(v, 1) for k, v in mapping.items()}


def from_item(item: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """Convert an item into a dict of plain Python values (see :func:`from_attribute_value`)."""
    return {name: from_attribute_value(value) for name, value in item.items()}
