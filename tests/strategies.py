"""Hypothesis strategies for VALID internal values: numbers, key values, AttributeValues, items.

Everything generated here is already canonical, so ``validate_value(v) == v`` holds for every
value, and every item passes ``validate_item`` (items stay far below 400 KB).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from streamkit.model.attributes import AttributeValue, Item, normalize_number

__all__ = [
    "attribute_names",
    "attribute_values",
    "items",
    "key_values",
    "numbers",
    "reordered",
    "scalar_values",
    "texts",
]

# Surrogates cannot be encoded as UTF-8, so DynamoDB (and validate_value) refuse them.
_CHARACTERS = st.characters(codec="utf-8")


def texts(*, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    """Return strings DynamoDB accepts (any code point except lone surrogates)."""
    return st.text(_CHARACTERS, min_size=min_size, max_size=max_size)


def attribute_names() -> st.SearchStrategy[str]:
    """Return non-empty attribute names, mostly short ASCII ones (so they collide)."""
    return st.one_of(st.sampled_from(["a", "b", "pk", "sk", "n", "data"]), texts(min_size=1))


@st.composite
def _extreme_numbers(draw: st.DrawFn) -> str:
    """Draw a number anywhere in DynamoDB's range: 1..38 significant digits, 1E-130..~1E126."""
    count = draw(st.integers(1, 38))
    digits = draw(st.text("0123456789", min_size=count, max_size=count))
    first = draw(st.sampled_from("123456789"))
    exponent = draw(st.integers(-130, 125))
    sign = draw(st.sampled_from(["", "-"]))
    return normalize_number(f"{sign}{first}.{digits[1:]}e{exponent}")


def numbers() -> st.SearchStrategy[str]:
    """Return canonical number strings: small integers and decimals often, extremes too."""
    return st.one_of(
        st.integers(-1000, 1000).map(str),
        st.decimals(-(10**6), 10**6, places=3, allow_nan=False, allow_infinity=False).map(
            lambda d: normalize_number(str(d))
        ),
        _extreme_numbers(),
        st.sampled_from(["0", "1", "-1", "1" + "0" * 125, "-" + "9" * 38, "0." + "0" * 129 + "1"]),
    )


def key_values(type_: str) -> st.SearchStrategy[AttributeValue]:
    """Return valid key values of type ``"S"``, ``"N"`` or ``"B"`` (non-empty, within limits)."""
    if type_ == "S":
        return texts(min_size=1, max_size=30).map(lambda s: {"S": s})
    if type_ == "N":
        return numbers().map(lambda n: {"N": n})
    if type_ == "B":
        return st.binary(min_size=1, max_size=40).map(lambda b: {"B": b})
    raise ValueError(f"key type must be S, N or B, not {type_}")


def scalar_values() -> st.SearchStrategy[AttributeValue]:
    """Return scalar and set AttributeValues (no M or L)."""
    return st.one_of(
        texts().map(lambda s: {"S": s}),
        numbers().map(lambda n: {"N": n}),
        st.binary(max_size=20).map(lambda b: {"B": b}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(texts(max_size=8), min_size=1, max_size=5, unique=True).map(lambda s: {"SS": s}),
        st.lists(numbers(), min_size=1, max_size=5, unique=True).map(lambda n: {"NS": n}),
        st.lists(st.binary(max_size=8), min_size=1, max_size=5, unique=True).map(
            lambda b: {"BS": b}
        ),
    )


def attribute_values(max_depth: int = 3) -> st.SearchStrategy[AttributeValue]:
    """Return AttributeValues of every type, with lists and maps nested up to ``max_depth``."""
    if max_depth <= 0:
        return scalar_values()
    children = attribute_values(max_depth - 1)
    lists: st.SearchStrategy[dict[str, Any]] = st.lists(children, max_size=4).map(
        lambda v: {"L": v}
    )
    maps: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
        attribute_names(), children, max_size=4
    ).map(lambda v: {"M": v})
    return st.one_of(scalar_values(), lists, maps)


def items(max_depth: int = 2) -> st.SearchStrategy[Item]:
    """Return valid items: up to 8 attributes, values nested up to ``max_depth``."""
    return st.dictionaries(attribute_names(), attribute_values(max_depth), max_size=8)


def reordered(item: Item) -> Item:
    """Return an item equal to ``item`` as DynamoDB compares them, written in another order:
    its attributes, every map's members and every set's elements reversed."""
    return {name: _reordered(value) for name, value in reversed(item.items())}


def _reordered(value: Any) -> Any:
    ((tag, payload),) = value.items()
    if tag == "M":
        return {"M": {k: _reordered(v) for k, v in reversed(payload.items())}}
    if tag == "L":
        return {"L": [_reordered(v) for v in payload]}
    if tag in ("SS", "NS", "BS"):
        return {tag: list(reversed(payload))}
    return value
