"""Turning command-line text into request members: JSON, DynamoDB JSON, aws shorthand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from streamkit.cli.usage import UsageError as UsageError  # where it was first
from streamkit.errors import DynamoDBError
from streamkit.model.json import decode_binary
from streamkit.model.native import to_attribute_value, to_item

__all__ = [
    "InputFormat",
    "UsageError",
    "attribute_map",
    "attribute_values",
    "is_dynamodb_json",
    "item_value",
    "read_json",
    "shorthand",
    "structures",
]

InputFormat = Literal["auto", "dynamodb", "native"]

_TAGS = {
    "S": str,
    "N": str,
    "B": str,
    "BOOL": bool,
    "NULL": bool,
    "SS": list,
    "NS": list,
    "BS": list,
    "M": dict,
    "L": list,
}
_INTEGER_MEMBERS = frozenset(["ReadCapacityUnits", "WriteCapacityUnits"])


def read_json(text: str, flag: str) -> Any:
    """Parse a JSON argument (or ``file://path``), keeping numbers exact as ``Decimal``/``int``."""
    if text.startswith("file://"):
        try:
            text = Path(text[7:]).read_text()
        except OSError as exc:
            raise UsageError(f"{flag}: cannot read {text[7:]}: {exc.strerror}") from None
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag}: not valid JSON ({exc.msg} at position {exc.pos})") from None


def is_dynamodb_json(value: Mapping[str, Any]) -> bool:
    """Return whether every value of a mapping looks like a typed AttributeValue."""
    if not value:
        return False
    for attribute in value.values():
        if not isinstance(attribute, dict) or len(attribute) != 1:
            return False
        ((tag, payload),) = attribute.items()
        expected = _TAGS.get(tag)
        if expected is None or not isinstance(payload, expected):
            return False
    return True


def attribute_map(text: str, flag: str, fmt: InputFormat) -> dict[str, Any]:
    """Parse an item or key given as DynamoDB JSON or plain JSON, into engine values.

    ``auto`` treats the mapping as DynamoDB JSON when every value is a one-key object whose key
    is an AttributeValue type (``{"S": ...}``, ``{"N": ...}``, ...), and as plain JSON otherwise.
    """
    return item_value(read_json(text, flag), flag, fmt)


def item_value(value: Any, flag: str, fmt: InputFormat) -> dict[str, Any]:
    """Turn parsed JSON (an item or key, either dialect) into engine values, as
    :func:`attribute_map` does for text; ``flag`` names the source in error messages."""
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object")
    if fmt == "dynamodb" or (fmt == "auto" and is_dynamodb_json(value)):
        return _typed(value, flag)
    try:
        return to_item(value)
    except TypeError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    except DynamoDBError as exc:  # e.g. a number outside DynamoDB's range
        raise UsageError(f"{flag}: {exc.message}") from None


def attribute_values(text: str, flag: str, fmt: InputFormat) -> dict[str, Any]:
    """Parse ``--expression-attribute-values`` (``{":v": ...}``) like :func:`attribute_map`."""
    value = read_json(text, flag)
    if not isinstance(value, dict):
        raise UsageError(f"{flag}: expected a JSON object")
    if fmt == "dynamodb" or (fmt == "auto" and is_dynamodb_json(value)):
        return _typed(value, flag)
    try:
        return {name: to_attribute_value(v) for name, v in value.items()}
    except TypeError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    except DynamoDBError as exc:
        raise UsageError(f"{flag}: {exc.message}") from None


def structures(values: list[str], flag: str) -> list[dict[str, Any]]:
    """Parse a list flag given as one JSON array or as aws shorthand structures."""
    if len(values) == 1 and values[0].lstrip().startswith(("[", "file://")):
        parsed = read_json(values[0], flag)
        if not isinstance(parsed, list) or not all(isinstance(v, dict) for v in parsed):
            raise UsageError(f"{flag}: expected a JSON array of objects")
        return parsed
    return [structure(v, flag) for v in values]


def structure(text: str, flag: str) -> dict[str, Any]:
    """Parse one structure given as a JSON object or aws shorthand ``Key=Value,Key=Value``."""
    if text.lstrip().startswith(("{", "file://")):
        parsed = read_json(text, flag)
        if not isinstance(parsed, dict):
            raise UsageError(f"{flag}: expected a JSON object")
        return parsed
    return shorthand(text, flag)


def shorthand(text: str, flag: str) -> dict[str, Any]:
    """Parse aws-cli shorthand ``Name=pk,Type=S`` (flat structures only)."""
    result: dict[str, Any] = {}
    for piece in text.split(","):
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"{flag}: expected Key=Value[,Key=Value...], got {text!r}")
        value = value.strip()
        if value.lower() in ("true", "false"):
            result[name] = value.lower() == "true"
        elif name in _INTEGER_MEMBERS and value.isdigit():
            result[name] = int(value)
        else:
            result[name] = value
    return result


def _typed(value: dict[str, Any], flag: str) -> dict[str, Any]:
    try:
        decoded = decode_binary(_exact_numbers(value))
    except DynamoDBError as exc:
        raise UsageError(f"{flag}: {exc.message}") from None
    assert isinstance(decoded, dict)
    return decoded


def _exact_numbers(value: Any) -> Any:
    # DynamoDB JSON wants numbers as strings; accept bare JSON numbers as a courtesy.
    if isinstance(value, dict):
        if len(value) == 1 and type(value.get("N")) in (int, Decimal):
            return {"N": str(value["N"])}
        return {k: _exact_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact_numbers(v) for v in value]
    return value
