"""DynamoDB attribute values: shapes, number rules, validation, sizes and comparison.

An AttributeValue is a ``dict`` with exactly one type key, in memory exactly as on the wire
except that binary values are ``bytes`` (the server decodes base64 at the boundary)::

    {"S": str}  {"N": canonical str}  {"B": bytes}  {"BOOL": bool}  {"NULL": True}
    {"M": {name: AV}}  {"L": [AV]}  {"SS": [str]}  {"NS": [canonical str]}  {"BS": [bytes]}

Numbers are kept as canonical decimal strings (no exponent, no redundant zeros, ``"-0"`` is
``"0"``), so two equal numbers are equal strings. Use :func:`number_value` for arithmetic.

Error messages are DynamoDB's own wording, as pinned by dynalite's and Scylla Alternator's
tests against the real service; a few quirks (the doubled space in ``"An string set  may not
be empty"``, ``"of2048"``) are deliberate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any, Final, TypeAlias, TypeVar

from streamkit.errors import SerializationException, ValidationException
from streamkit.model.json import encode_b64

__all__ = [
    "MAX_ATTRIBUTE_NAME_BYTES",
    "MAX_ITEM_SIZE",
    "MAX_NESTING_DEPTH",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SIGNIFICANT_DIGITS",
    "MAX_SORT_KEY_BYTES",
    "SCALAR_TYPES",
    "SET_TYPES",
    "TYPE_NAMES",
    "TYPE_WORDS",
    "AttributeValue",
    "Item",
    "canonical_number",
    "check_nesting",
    "compare_scalar",
    "item_size",
    "normalize_number",
    "number_value",
    "plain_item_size",
    "type_of",
    "validate_item",
    "validate_key_value",
    "validate_sized_item",
    "validate_value",
    "value_size",
    "values_equal",
]

AttributeValue: TypeAlias = dict[str, Any]
Item: TypeAlias = dict[str, AttributeValue]

TYPE_NAMES: Final = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
SCALAR_TYPES: Final = frozenset({"S", "N", "B"})
SET_TYPES: Final = frozenset({"SS", "NS", "BS"})
#: Each type's upper-case name, as DynamoDB's messages spell it (``ADD`` operand errors).
TYPE_WORDS: Final = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "L": "LIST",
    "M": "MAP",
    "SS": "STRING_SET",
    "NS": "NUMBER_SET",
    "BS": "BINARY_SET",
}

MAX_ITEM_SIZE: Final = 400 * 1024
MAX_NESTING_DEPTH: Final = 32
"""Levels of a document, the attribute itself being level 1 and a scalar leaf counting."""
MAX_SIGNIFICANT_DIGITS: Final = 38
MAX_PARTITION_KEY_BYTES: Final = 2048
MAX_SORT_KEY_BYTES: Final = 1024
MAX_ATTRIBUTE_NAME_BYTES: Final = 65535
_MAX_EXPONENT: Final = 125  # adjusted exponent (of the leading digit) of the largest magnitude
_MIN_EXPONENT: Final = -130
_MAX_EXPONENT_TEXT: Final = 2**31 - 1  # like java.math.BigDecimal, which cannot parse beyond

_INVALID: Final = "One or more parameter values were invalid: "
MSG_EMPTY_VALUE: Final = (
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
)
MSG_MULTIPLE_TYPES: Final = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
MSG_NOT_NUMERIC: Final = "The parameter cannot be converted to a numeric value"
MSG_OVERFLOW: Final = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
MSG_UNDERFLOW: Final = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
MSG_TOO_PRECISE: Final = "Attempting to store more than 38 significant digits in a Number"
MSG_NULL_NOT_TRUE: Final = _INVALID + "Null attribute value types must have the value of true"
MSG_EMPTY_SS: Final = _INVALID + "An string set  may not be empty"
MSG_EMPTY_NS: Final = _INVALID + "An number set  may not be empty"
MSG_EMPTY_BS: Final = _INVALID + "Binary sets should not be empty"
MSG_NS_DUPLICATES: Final = "Input collection contains duplicates"
MSG_NESTING: Final = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
MSG_ITEM_TOO_LARGE: Final = "Item size has exceeded the maximum allowed size"
MSG_EMPTY_NAME: Final = _INVALID + "Empty attribute name"
MSG_NAME_TOO_LONG: Final = _INVALID + "Attribute name exceeds the maximum length of 65535 bytes"
# SerializationException texts: what Coral's JSON reader says for a JSON value of the wrong kind.
_MSG_STRUCTURE: Final = "Start of structure or map found where not expected"
_MSG_FIELD_TYPE: Final = "Unexpected field type"
_MSG_VALUE_TYPE: Final = "Unexpected value type in payload"
_MSG_MAP_COLLECTION: Final = (
    "Unrecognized collection type java.util.Map<java.lang.String, "
    "com.amazonaws.dynamodb.v20120810.AttributeValue>"
)
_MSG_AV_COLLECTION: Final = (
    "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"
)
_MSG_BLOB: Final = "only base-64-encoded strings are convertible to bytes"

_NUMBER_RE: Final = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?", re.ASCII)
_CANONICAL_INT_RE: Final = re.compile(r"-?[1-9][0-9]{0,37}|0", re.ASCII)


# ---------------------------------------------------------------------------------- numbers


def normalize_number(text: object) -> str:
    """Validate a DynamoDB number string and return its canonical form.

    The canonical form is plain decimal notation without exponent, leading zeros, trailing
    fractional zeros or a ``+`` sign, and zero is ``"0"``: ``"1.0"``, ``"01"`` and ``"1e0"``
    all give ``"1"``, ``"1E+3"`` gives ``"1000"`` and ``"-0"`` gives ``"0"``.

    Args:
        text: The number as sent, normally the string under an ``N`` key.

    Returns:
        The canonical decimal string.

    Raises:
        SerializationException: ``text`` is not a string.
        ValidationException: ``text`` is not a number, has more than 38 significant digits,
            or its magnitude is outside 1E-130 .. 9.99...E+125.
    """
    if type(text) is not str:
        text = _expect_str(text)
    if _CANONICAL_INT_RE.fullmatch(text):
        return text
    match = _NUMBER_RE.fullmatch(text)
    if match is None or not (match[2] or match[3]):
        if not text:
            raise ValidationException(MSG_NOT_NUMERIC)
        raise ValidationException(f"{MSG_NOT_NUMERIC}: {text}")
    sign, whole, fraction, exp_sign, exp_digits = match.groups("")
    exponent = 0
    if exp_digits:
        exp_digits = exp_digits.lstrip("0")
        if len(exp_digits) > 10 or int(exp_digits or "0") > _MAX_EXPONENT_TEXT:
            raise ValidationException(f"{MSG_NOT_NUMERIC}: {text}")
        exponent = -int(exp_digits or "0") if exp_sign == "-" else int(exp_digits or "0")
    return _canonical(sign == "-", whole + fraction, exponent - len(fraction), MSG_TOO_PRECISE)


def canonical_number(value: Decimal) -> str:
    """Return the canonical text of an exact ``Decimal``, such as an ``ADD``'s result.

    Raises:
        ValidationException: The magnitude is outside DynamoDB's range, or the value has more
            than 38 significant digits, which DynamoDB reports for arithmetic as an overflow.
    """
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or Infinity: no arithmetic on numbers gives them
        raise ValidationException(MSG_OVERFLOW)
    return _canonical(bool(sign), "".join(map(str, digits)), exponent, MSG_OVERFLOW)


def _canonical(negative: bool, digits: str, scale: int, too_precise: str) -> str:
    """Check ``int(digits) * 10**scale`` against DynamoDB's range and precision and render it."""
    digits = digits.lstrip("0")
    if not digits:
        return "0"
    significant = digits.rstrip("0")
    # The value is int(significant) * 10**scale.
    scale += len(digits) - len(significant)
    adjusted = scale + len(significant) - 1
    if adjusted > _MAX_EXPONENT:
        raise ValidationException(MSG_OVERFLOW)
    if adjusted < _MIN_EXPONENT:
        raise ValidationException(MSG_UNDERFLOW)
    if len(significant) > MAX_SIGNIFICANT_DIGITS:
        raise ValidationException(too_precise)
    return _render(negative, significant, scale)


def _render(negative: bool, significant: str, scale: int) -> str:
    """Render ``significant * 10**scale`` in plain decimal notation."""
    if scale >= 0:
        body = significant + "0" * scale
    elif len(significant) > -scale:
        body = f"{significant[:scale]}.{significant[scale:]}"
    else:
        body = "0." + "0" * (-scale - len(significant)) + significant
    return "-" + body if negative else body


def number_value(canonical: str) -> Decimal:
    """Return the exact :class:`~decimal.Decimal` value of a canonical number string."""
    return Decimal(canonical)


def _number_size(canonical: str) -> int:
    """Return a number's size: 1 byte per two significant digits, plus 1 (AWS docs)."""
    digits = canonical.lstrip("-").replace(".", "").strip("0")
    return (max(len(digits), 1) + 1) // 2 + 1


# ------------------------------------------------------------------------- type coercion


def _kind(value: object) -> str:
    """Return Coral's token name for a JSON scalar that has the wrong type."""
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "DECIMAL_VALUE"


def _wrong_scalar(value: object, java_type: str) -> SerializationException:
    if isinstance(value, Mapping):
        return SerializationException(_MSG_STRUCTURE)
    if isinstance(value, list | tuple):
        return SerializationException(f"Unrecognized collection type class java.lang.{java_type}")
    if isinstance(value, bool | int | float | Decimal | str):
        return SerializationException(f"{_kind(value)} cannot be converted to {java_type}")
    return SerializationException(f"{type(value).__name__} cannot be converted to {java_type}")


def _check_utf8(text: str) -> str:
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise SerializationException("Invalid UTF-8 in a string value") from exc
    return text


def _expect_str(value: object) -> str:
    if type(value) is str:
        return _check_utf8(value)
    if isinstance(value, str):  # a str subclass: keep the plain value
        return _check_utf8(str(value))
    if value is None:
        raise SerializationException("null cannot be converted to String")
    raise _wrong_scalar(value, "String")


def _expect_bool(value: object) -> bool:
    if type(value) is bool:
        return value
    if isinstance(value, str):
        raise SerializationException("Unexpected token received from parser")
    raise _wrong_scalar(value, "Boolean")


def _expect_bytes(value: object) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Mapping):
        raise SerializationException(_MSG_STRUCTURE)
    if isinstance(value, list | tuple):
        raise SerializationException("Unrecognized collection type class java.nio.ByteBuffer")
    if isinstance(value, str):
        raise SerializationException("Binary values must be bytes: decode base64 first")
    raise SerializationException(_MSG_BLOB)


def _expect_list(value: object) -> list[Any] | tuple[Any, ...]:
    if type(value) is list or isinstance(value, list | tuple):
        return value
    if isinstance(value, Mapping):
        raise SerializationException(_MSG_STRUCTURE)
    raise SerializationException(_MSG_FIELD_TYPE)


def _expect_map(value: object) -> Mapping[Any, Any]:
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if isinstance(value, list | tuple):
        raise SerializationException(_MSG_MAP_COLLECTION)
    raise SerializationException(_MSG_FIELD_TYPE)


def _expect_name(name: object) -> str:
    if type(name) is str and name and name.isascii() and len(name) <= MAX_ATTRIBUTE_NAME_BYTES:
        return name
    if type(name) is not str:
        raise SerializationException("Attribute names must be strings")
    if not name:
        raise ValidationException(MSG_EMPTY_NAME)
    _check_utf8(name)
    if len(name) > MAX_ATTRIBUTE_NAME_BYTES // 4 and len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
        raise ValidationException(MSG_NAME_TOO_LONG)
    return name


# ------------------------------------------------------------------------------ validation


def validate_value(value: object, *, path: str = "") -> AttributeValue:
    """Validate an untrusted AttributeValue and return a new, normalised copy.

    Normalisation canonicalises numbers (recursively, sets included), turns ``bytearray`` and
    ``memoryview`` into ``bytes``, and drops members DynamoDB ignores: unknown keys and keys
    whose value is ``None`` (JSON ``null`` means "absent" to DynamoDB's JSON reader).
    The input is never modified.

    Args:
        value: The candidate AttributeValue.
        path: Where the value sits (``"attr"``, ``"a.b[2]"``, ``":v"``); added to the
            exception as a note, never to the DynamoDB message.

    Returns:
        The normalised AttributeValue.

    Raises:
        SerializationException: A member has the wrong Python/JSON type.
        ValidationException: The value breaks a DynamoDB rule.
    """
    try:
        return _validate(value, 1)
    except (ValidationException, SerializationException) as exc:
        if path:
            exc.add_note(f"in the attribute value at {path}")
        raise


def _validate(value: object, depth: int) -> AttributeValue:
    if type(value) is dict and len(value) == 1:
        for tag, payload in value.items():
            check = _PAYLOAD_CHECKS.get(tag)
            if check is not None and payload is not None:
                return {tag: check(payload, depth)}
    if not isinstance(value, Mapping):
        if value is None:
            raise ValidationException(MSG_EMPTY_VALUE)
        if isinstance(value, list | tuple):
            raise SerializationException(_MSG_AV_COLLECTION)
        raise SerializationException(_MSG_VALUE_TYPE)
    present = [(t, p) for t, p in value.items() if p is not None and t in _PAYLOAD_CHECKS]
    if not present:
        raise ValidationException(MSG_EMPTY_VALUE)
    result = {tag: _PAYLOAD_CHECKS[tag](payload, depth) for tag, payload in present}
    if len(result) > 1:
        raise ValidationException(MSG_MULTIPLE_TYPES)
    return result


def _check_null(payload: object, depth: int) -> bool:
    if not _expect_bool(payload):
        raise ValidationException(MSG_NULL_NOT_TRUE)
    return True


def _check_map(payload: object, depth: int) -> dict[str, AttributeValue]:
    members = _expect_map(payload)
    if depth >= MAX_NESTING_DEPTH:
        raise ValidationException(MSG_NESTING)
    return {_expect_name(k): _validate(v, depth + 1) for k, v in members.items()}


def _check_list(payload: object, depth: int) -> list[AttributeValue]:
    elements = _expect_list(payload)
    if depth >= MAX_NESTING_DEPTH:
        raise ValidationException(MSG_NESTING)
    return [_validate(v, depth + 1) for v in elements]


def check_nesting(value: AttributeValue, depth: int = 1) -> None:
    """Apply :func:`validate_value`'s nesting limit to a validated value (an attribute's is
    level 1), for values an update built from valid parts, such as ``SET a.b = :deep``.

    Raises:
        ValidationException: A map or list sits at level 32 or deeper.
    """
    for tag, payload in value.items():
        if tag == "M" or tag == "L":
            if depth >= MAX_NESTING_DEPTH:
                raise ValidationException(MSG_NESTING)
            for member in payload.values() if tag == "M" else payload:
                check_nesting(member, depth + 1)


T = TypeVar("T", str, bytes)


def _check_set(
    payload: object,
    empty: str,
    element: Callable[[Any], T],
    duplicates: Callable[[list[T]], str],
) -> list[T]:
    """Check a set's members: a non-empty list of distinct valid elements (in canonical form)."""
    elements = _expect_list(payload)
    if not elements:
        raise ValidationException(empty)
    members = [element(e) for e in elements]
    if len(set(members)) != len(members):  # canonical forms: equal values are equal members
        raise ValidationException(duplicates(members))
    return members


def _check_ss(payload: object, depth: int) -> list[str]:
    return _check_set(
        payload,
        MSG_EMPTY_SS,
        _expect_str,
        lambda ss: f"{_INVALID}Input collection [{', '.join(ss)}] contains duplicates.",
    )


def _check_ns(payload: object, depth: int) -> list[str]:
    return _check_set(payload, MSG_EMPTY_NS, normalize_number, lambda _: MSG_NS_DUPLICATES)


def _check_bs(payload: object, depth: int) -> list[bytes]:
    return _check_set(
        payload,
        MSG_EMPTY_BS,
        _expect_bytes,
        lambda bs: (
            f"{_INVALID}Input collection [{', '.join(map(encode_b64, bs))}]of type BS "
            "contains duplicates."
        ),
    )


_PAYLOAD_CHECKS: Final[dict[str, Callable[[Any, int], Any]]] = {
    "S": lambda payload, depth: _expect_str(payload),
    "N": lambda payload, depth: normalize_number(payload),
    "B": lambda payload, depth: _expect_bytes(payload),
    "BOOL": lambda payload, depth: _expect_bool(payload),
    "NULL": _check_null,
    "M": _check_map,
    "L": _check_list,
    "SS": _check_ss,
    "NS": _check_ns,
    "BS": _check_bs,
}


def validate_item(item: object, *, key_names: Collection[str] = ()) -> Item:
    """Validate a whole item (a map of attribute name to AttributeValue).

    Args:
        item: The candidate item.
        key_names: The table's key attribute names; each must be present. Their types and
            sizes are checked separately by :func:`validate_key_value`.

    Returns:
        A new item with every value normalised by :func:`validate_value`.

    Raises:
        SerializationException: The item or a value has the wrong Python/JSON type.
        ValidationException: A value breaks a DynamoDB rule, a key attribute is missing, or
            the item is larger than 400 KB.
    """
    return validate_sized_item(item, key_names=key_names)[0]


def validate_sized_item(item: object, *, key_names: Collection[str] = ()) -> tuple[Item, int]:
    """Like :func:`validate_item`, and also return the item's size (computed once)."""
    members = _expect_map(item)
    result: Item = {}
    size = 0  # item_size(result), summed on the way
    for name, value in members.items():
        # ASCII names with an ASCII string, a canonical integer or a set of distinct ASCII
        # strings, most of any item: checked inline, with no call per value
        if (
            type(value) is dict
            and len(value) == 1
            and type(name) is str
            and name
            and name.isascii()
            and len(name) <= MAX_ATTRIBUTE_NAME_BYTES
        ):
            payload = value.get("S")
            if payload is not None:
                if type(payload) is str and payload.isascii():
                    result[name] = {"S": payload}
                    size += len(name) + len(payload)
                    continue
            else:
                payload = value.get("N")
                if payload is not None:
                    if type(payload) is str and _CANONICAL_INT_RE.fullmatch(payload):
                        result[name] = {"N": payload}
                        digits = len(payload.lstrip("-").rstrip("0"))  # _number_size's
                        size += len(name) + (max(digits, 1) + 1) // 2 + 1
                        continue
                else:
                    payload = value.get("SS")
                    if type(payload) is list and payload:
                        total = len(name)
                        for text in payload:
                            if type(text) is not str or not text.isascii():
                                break
                            total += len(text)
                        else:
                            if len(set(payload)) == len(payload):
                                result[name] = {"SS": list(payload)}
                                size += total
                                continue
        checked = result[_expect_name(name)] = validate_value(value, path=name)
        size += _text_size(name) + value_size(checked)
    for key in key_names:
        if key not in result:
            raise ValidationException(f"{_INVALID}Missing the key {key} in the item")
    if size > MAX_ITEM_SIZE:
        raise ValidationException(MSG_ITEM_TOO_LARGE)
    return result, size


#: a canonical number the plain-item check takes as it is: an integer, or a decimal whose
#: fraction ends in a non-zero digit (zero is "0", never "-0"); at most 40 characters, so
#: always inside DynamoDB's range
_CANONICAL_PLAIN_RE: Final = re.compile(
    r"0|-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9]|-?[1-9][0-9]*", re.ASCII
)


def plain_item_size(item: object) -> int | None:
    """Return the size of an item that :func:`validate_sized_item` would return unchanged,
    or None to say "validate it the long way".

    Checks, without copying, the shapes bulk loads are made of: ASCII names and strings,
    canonical numbers, BOOL, NULL, maps and lists within the nesting limit, the whole within
    400 KB. Anything else (binaries, sets, a non-ASCII string, a number not in canonical
    form, anything invalid) answers None: the caller then runs :func:`validate_sized_item`,
    which normalises it or raises DynamoDB's error.
    """
    if type(item) is not dict:
        return None
    size = _plain_members(item, 1)
    if size is None or size > MAX_ITEM_SIZE:
        return None
    return size


def _plain_members(members: dict[Any, Any], depth: int) -> int | None:
    """The sizes of a map's (or an item's) members, names included; None: not plain.

    The names are checked together (joined: ASCII, none empty, none too long), strings and
    natural numbers, most of any item, inline (no call per value).
    """
    try:
        names = "".join(members)
    except TypeError:  # a name that is not a string
        return None
    if not names.isascii() or "" in members:
        return None
    if len(names) > MAX_ATTRIBUTE_NAME_BYTES and max(map(len, members)) > MAX_ATTRIBUTE_NAME_BYTES:
        return None
    total = len(names)
    for value in members.values():
        if type(value) is not dict or len(value) != 1:
            return None
        payload = value.get("S")
        if payload is not None:
            if type(payload) is not str or not payload.isascii():
                return None
            total += len(payload)
            continue
        payload = value.get("N")
        if type(payload) is str and len(payload) < 38:
            # a natural number: ASCII digits with no leading 0 (two C calls, not the regex)
            if payload.isdigit() and payload.isascii() and (payload[0] != "0" or payload == "0"):
                total += (max(len(payload.rstrip("0")), 1) + 1) // 2 + 1
                continue
            if _CANONICAL_INT_RE.fullmatch(payload):
                digits = payload.lstrip("-").rstrip("0")
                total += (max(len(digits), 1) + 1) // 2 + 1
                continue
        size = _plain_value(value, depth)
        if size is None:
            return None
        total += size
    return total


def _plain_value(value: object, depth: int) -> int | None:
    if type(value) is not dict or len(value) != 1:
        return None
    for tag, payload in value.items():
        if tag == "S":
            return len(payload) if type(payload) is str and payload.isascii() else None
        if tag == "N":
            if type(payload) is not str or len(payload) > 40:
                return None
            if not _CANONICAL_PLAIN_RE.fullmatch(payload):
                return None
            digits = payload.lstrip("-").replace(".", "").strip("0")
            if len(digits) > MAX_SIGNIFICANT_DIGITS:
                return None
            return (max(len(digits), 1) + 1) // 2 + 1
        if tag == "BOOL":
            return 1 if type(payload) is bool else None
        if tag == "NULL":
            return 1 if payload is True else None
        if depth >= MAX_NESTING_DEPTH:
            return None
        if tag == "M":
            if type(payload) is not dict:
                return None
            inner = _plain_members(payload, depth + 1)
            return None if inner is None else 3 + len(payload) + inner
        if tag == "L":
            if type(payload) is not list:
                return None
            total = 3
            for element in payload:
                size = _plain_value(element, depth + 1)
                if size is None:
                    return None
                total += 1 + size
            return total
    return None


def validate_key_value(
    name: str, value: AttributeValue, expected_type: str, *, key_type: str = "HASH"
) -> None:
    """Check one key attribute of an already validated value against the table's schema.

    Args:
        name: The key attribute's name.
        value: Its (validated) AttributeValue.
        expected_type: ``"S"``, ``"N"`` or ``"B"`` from the AttributeDefinitions.
        key_type: ``"HASH"`` (limit 2048 bytes) or ``"RANGE"`` (limit 1024 bytes).

    Raises:
        ValidationException: Wrong type, empty string/binary, or value too large.
    """
    actual = type_of(value)
    if actual != expected_type:
        raise ValidationException(
            f"{_INVALID}Type mismatch for key {name} expected: {expected_type} actual: {actual}"
        )
    if actual == "N":
        return  # 38 digits: always far below both limits
    payload = value[actual]
    if not payload:
        kind = "string" if actual == "S" else "binary"
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty {kind} value. Key: {name}"
        )
    size = len(payload.encode()) if actual == "S" else len(payload)
    if key_type == "HASH" and size > MAX_PARTITION_KEY_BYTES:
        raise ValidationException(
            f"{_INVALID}Size of hashkey has exceeded the maximum size limit of"
            f"{MAX_PARTITION_KEY_BYTES} bytes"
        )
    if key_type != "HASH" and size > MAX_SORT_KEY_BYTES:
        raise ValidationException(
            f"{_INVALID}Aggregated size of all range keys has exceeded the size limit of "
            f"{MAX_SORT_KEY_BYTES} bytes"
        )


def type_of(value: AttributeValue) -> str:
    """Return the type key (``"S"``, ``"M"``, ...) of a validated AttributeValue."""
    for tag in value:
        return tag
    raise ValidationException(MSG_EMPTY_VALUE)


# ------------------------------------------------------------------------------------ sizes


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def value_size(value: AttributeValue) -> int:
    """Return the size of a validated AttributeValue by DynamoDB's accounting rules.

    Strings count UTF-8 bytes, binaries raw bytes, numbers 1 byte per two significant digits
    plus 1, BOOL and NULL 1; a List or Map costs 3 bytes plus 1 per element plus its
    elements (map member names included); a set is the sum of its members.
    """
    for tag, payload in value.items():
        return _SIZES[tag](payload)
    raise ValidationException(MSG_EMPTY_VALUE)


def _map_size(members: dict[str, AttributeValue]) -> int:
    return 3 + sum(1 + _text_size(k) + value_size(v) for k, v in members.items())


_SIZES: Final[dict[str, Callable[[Any], int]]] = {
    "S": _text_size,
    "N": _number_size,
    "B": len,
    "BOOL": lambda payload: 1,
    "NULL": lambda payload: 1,
    "M": _map_size,
    "L": lambda elements: 3 + sum(1 + value_size(v) for v in elements),
    "SS": lambda strings: sum(map(_text_size, strings)),
    "NS": lambda numbers: sum(map(_number_size, numbers)),
    "BS": lambda blobs: sum(map(len, blobs)),
}


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """Return an item's size: the sum of each attribute's UTF-8 name length and value size."""
    total = 0
    for name, value in item.items():  # S and N without the table: most attributes, every key
        total += _text_size(name)
        if len(value) != 1:
            total += value_size(value)  # raises for an empty value
            continue
        for tag, payload in value.items():
            if tag == "S":
                total += _text_size(payload)
            elif tag == "N":
                total += _number_size(payload)
            else:
                total += _SIZES[tag](payload)
    return total


# ------------------------------------------------------------------------------ comparison


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    """Return whether two AttributeValues are equal as DynamoDB compares them.

    Types must match; numbers compare by value, sets ignore order, lists and maps compare
    element-wise.
    """
    ((tag, left),) = a.items()
    ((other_tag, right),) = b.items()
    if tag != other_tag:
        return False
    if tag == "N":
        return bool(left == right or Decimal(left) == Decimal(right))
    if tag in ("SS", "BS"):
        return len(left) == len(right) and set(left) == set(right)
    if tag == "NS":
        return len(left) == len(right) and {Decimal(n) for n in left} == {Decimal(n) for n in right}
    if tag == "L":
        return len(left) == len(right) and all(map(values_equal, left, right))
    if tag == "M":
        return left.keys() == right.keys() and all(
            values_equal(v, right[k]) for k, v in left.items()
        )
    return bool(left == right)


def compare_scalar(a: AttributeValue, b: AttributeValue) -> int | None:
    """Order two S, N or B values the way DynamoDB sorts and compares them.

    Numbers compare numerically, strings by UTF-8 bytes (which is code point order) and
    binaries as unsigned bytes.

    Returns:
        -1, 0 or 1; ``None`` when the types differ or are not S, N or B.
    """
    ((tag, left),) = a.items()
    ((other_tag, right),) = b.items()
    if tag != other_tag or tag not in ("S", "N", "B"):
        return None
    if tag == "N":
        if left == right:
            return 0
        left, right = Decimal(left), Decimal(right)
    return (left > right) - (left < right)  # type: ignore[no-any-return]
