"""Printing responses: aws-cli-shaped JSON (DynamoDB JSON or plain values) or a text table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TextIO

from streamkit.model.json import encode_b64, encode_binary
from streamkit.model.native import from_item

__all__ = ["OutputFormat", "iso_utc", "render"]

OutputFormat = Literal["json", "native", "table"]

_ITEM_MEMBERS = ("Item", "Attributes", "LastEvaluatedKey")
#: members holding times; shown as ISO-8601 UTC in table output (the JSON keeps the wire form)
_TIME_SUFFIXES = ("DateTime", "Timestamp")
#: the list a response is about, when it has several (StreamDescription: Shards, not KeySchema)
_LISTS = (
    "Items",
    "TableNames",
    "Streams",
    "Shards",
    "Records",
    "Responses",
    "Mappings",
    "Leases",
    "Links",
)


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
        return encode_b64(value)
    if isinstance(value, datetime):  # boto3 parses timestamps; the aws CLI prints ISO 8601
        return value.isoformat()
    raise TypeError(f"cannot print {type(value).__name__}")


def _sort_key(value: Any) -> Any:
    return value if not isinstance(value, bytes) else value.hex()


def _cell(value: Any, name: str = "") -> str:
    if name.endswith(_TIME_SUFFIXES) and isinstance(value, int | float | Decimal | datetime):
        return iso_utc(value)
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, default=_json_default)


def iso_utc(value: float | Decimal | datetime) -> str:
    """Return a time (epoch seconds or datetime) as ISO-8601 UTC text, for people to read."""
    moment = (
        value.astimezone(UTC)
        if isinstance(value, datetime)
        else datetime.fromtimestamp(float(value), UTC)
    )
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _table(response: Mapping[str, Any], out: TextIO) -> None:
    """A grid for the response's one list (items, tables, streams, shards, records), with the
    other members on a summary line; Name/Value rows for a structure."""
    body: Mapping[str, Any] = response
    for member in _ITEM_MEMBERS:
        if isinstance(response.get(member), dict):  # an item: one row per attribute
            item = response[member]
            _grid(["Name", "Value"], [[k, _cell(v)] for k, v in item.items()], out)
            return
    if len(body) == 1 and isinstance(next(iter(body.values())), dict):
        body = next(iter(body.values()))  # {"Table": {...}} -> the table's members
    lists = [k for k, v in body.items() if isinstance(v, list)]
    known = [k for k in _LISTS if k in lists]
    listed = known[0] if known else lists[0] if len(lists) == 1 else None
    if listed is None:
        _grid(["Name", "Value"], [[k, _cell(v, k)] for k, v in body.items()], out)
        return
    rows_in = body[listed]
    if all(isinstance(row, dict) for row in rows_in):
        columns: list[str] = []
        for row in rows_in:
            columns.extend(name for name in row if name not in columns)
        rows = [[_cell(row[c], c) if c in row else "" for c in columns] for row in rows_in]
    else:
        columns = [listed]
        rows = [[_cell(value)] for value in rows_in]
    if rows or listed != "Items":
        _grid(columns, rows, out)
    else:
        out.write("(no items)\n")
    summary = [f"{k}: {_cell(v, k)}" for k, v in body.items() if k != listed]
    if summary:
        out.write("  ".join(summary) + "\n")


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
