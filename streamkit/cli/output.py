"""Printing responses: aws-cli-shaped JSON (DynamoDB JSON or plain values) or a text table."""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TextIO

from streamkit.model.native import from_item
from streamkit.server.wire import encode_binary

__all__ = ["OutputFormat", "render"]

OutputFormat = Literal["json", "native", "table"]

_ITEM_MEMBERS = ("Item", "Attributes", "LastEvaluatedKey")


def render(response: Mapping[str, Any], fmt: OutputFormat, out: TextIO) -> None:
    """Write ``response`` to ``out`` in the chosen format."""
    if fmt == "json":
        out.write(json.dumps(encode_binary(dict(response)), indent=4, default=_json_default))
        out.write("\n")
        return
    native = _native(response)
    if fmt == "native":
        out.write(json.dumps(native, indent=4, default=_json_default))
        out.write("\n")
        return
    _table(native, out)


def _native(response: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(response)
    if isinstance(result.get("Items"), list):
        result["Items"] = [from_item(item) for item in result["Items"]]
    for member in _ITEM_MEMBERS:
        if isinstance(result.get(member), dict):
            result[member] = from_item(result[member])
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=_sort_key)
    if isinstance(value, bytes):
        return b64encode(value).decode("ascii")
    if isinstance(value, datetime):  # boto3 parses timestamps; the aws CLI prints ISO 8601
        return value.isoformat()
    raise TypeError(f"cannot print {type(value).__name__}")


def _sort_key(value: Any) -> Any:
    return value if not isinstance(value, bytes) else value.hex()


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, default=_json_default)


def _table(response: Mapping[str, Any], out: TextIO) -> None:
    items = response.get("Items")
    if isinstance(items, list):
        columns: list[str] = []
        for item in items:
            columns.extend(name for name in item if name not in columns)
        rows = [[_cell(item.get(c, "")) if c in item else "" for c in columns] for item in items]
        _grid(columns, rows, out)
        summary = [f"{k}: {_cell(v)}" for k, v in response.items() if k != "Items"]
        if summary:
            out.write("  ".join(summary) + "\n")
        return
    for member in ("Item", "Attributes", "Table", "TableDescription"):
        value = response.get(member)
        if isinstance(value, dict):
            _grid(["Name", "Value"], [[k, _cell(v)] for k, v in value.items()], out)
            return
    _grid(["Name", "Value"], [[k, _cell(v)] for k, v in response.items()], out)


def _grid(columns: list[str], rows: list[list[str]], out: TextIO) -> None:
    if not columns:
        out.write("(empty)\n")
        return
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def line(cells: list[str]) -> str:
        padded = (f" {cell.ljust(w)} " for cell, w in zip(cells, widths, strict=True))
        return "|" + "|".join(padded) + "|\n"

    out.write(rule + line(columns) + rule)
    for row in rows:
        out.write(line(row))
    out.write(rule)
