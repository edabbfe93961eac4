"""Private AttributeValue helpers for expressions: types, numbers, equality, ordering, size."""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from typing import Any

from streamkit.model.attributes import (
    SCALAR_TYPES as SCALAR_TYPES,
    SET_TYPES as SET_TYPES,
    TYPE_NAMES as TYPE_NAMES,
    TYPE_WORDS as WORD_NAMES,
    AttributeValue as AttributeValue,
    Item as Item,
    canonical_number as canonical_number,
    compare_scalar as compare_scalar,
    number_value as number_value,
    type_of as av_type,
    values_equal as values_equal,
)
from streamkit.model.json import encode_b64

__all__ = [
    "SCALAR_TYPES",
    "SET_TYPES",
    "TYPE_NAMES",
    "WORD_NAMES",
    "AttributeValue",
    "Item",
    "add_numbers",
    "av_type",
    "canonical_number",
    "compare_scalar",
    "contains",
    "describe",
    "number_value",
    "set_difference",
    "set_union",
    "size_of",
    "values_equal",
]

# Exact for any sum or difference of two DynamoDB numbers (their digits span < 300 places).
_CONTEXT = decimal.Context(prec=400, Emax=999_999, Emin=-999_999, traps=[decimal.InvalidOperation])


def add_numbers(left: str, right: str, *, subtract: bool = False) -> str:
    """Return ``left + right`` (or ``left - right``) as a canonical DynamoDB number."""
    if _small_int(left) and _small_int(right):  # counters: exact in int, far inside the range
        return str(int(left) - int(right) if subtract else int(left) + int(right))
    a, b = number_value(left), number_value(right)
    result = _CONTEXT.subtract(a, b) if subtract else _CONTEXT.add(a, b)
    return canonical_number(result)


def _small_int(text: str) -> bool:
    digits = text[1:] if text[:1] == "-" else text
    return len(digits) <= 18 and digits.isascii() and digits.isdigit()


def _set_key(kind: str, element: Any) -> Any:
    return number_value(element) if kind == "NS" else element


def size_of(value: AttributeValue) -> int | None:
    """Return what ``size()`` yields for a value, or None for types without a size."""
    kind = av_type(value)
    inner = value[kind]
    if kind == "S":
        return len(inner.encode("utf-16-le", "surrogatepass")) // 2
    if kind in ("B", "SS", "NS", "BS", "L", "M"):
        return len(inner)
    return None


def contains(container: AttributeValue, element: AttributeValue) -> bool:
    """Return what ``contains(container, element)`` yields for two present values."""
    kind, ekind = av_type(container), av_type(element)
    inner = container[kind]
    if kind == "S":
        return ekind == "S" and element["S"] in inner
    if kind == "B":
        return ekind == "B" and bytes(element["B"]) in bytes(inner)
    if kind in SET_TYPES:
        if ekind != kind[0]:
            return False
        wanted = _set_key(kind, element[ekind])
        return any(_set_key(kind, e) == wanted for e in inner)
    if kind == "L":
        return any(values_equal(e, element) for e in inner)
    return False


def set_union(kind: str, existing: Iterable[Any], added: Iterable[Any]) -> list[Any]:
    """Return ``existing`` followed by the elements of ``added`` it lacks."""
    out = list(existing)
    seen = {_set_key(kind, e) for e in out}
    for element in added:
        key = _set_key(kind, element)
        if key not in seen:
            seen.add(key)
            out.append(element)
    return out


def set_difference(kind: str, existing: Iterable[Any], removed: Iterable[Any]) -> list[Any]:
    """Return the elements of ``existing`` not in ``removed``."""
    gone = {_set_key(kind, e) for e in removed}
    return [e for e in existing if _set_key(kind, e) not in gone]


def describe(value: AttributeValue) -> str:
    """Render a scalar value as DynamoDB's messages do: ``AttributeValue: {N:5}``."""
    kind = av_type(value)
    inner = value[kind]
    if kind == "B":
        inner = encode_b64(inner)
    return f"AttributeValue: {{{kind}:{inner}}}"
