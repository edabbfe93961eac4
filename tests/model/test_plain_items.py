"""plain_item_size: the import's one-pass check agrees with validate_sized_item.

Whenever it answers a size, validate_sized_item takes the item as it is (no change) and
gives that size; it answers None for whatever needs normalising or is invalid.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import DynamoDBError
from streamkit.model.attributes import (
    MAX_ATTRIBUTE_NAME_BYTES,
    plain_item_size,
    validate_sized_item,
)
from tests.strategies import items

# raw, unvalidated values as a JSON line might hold them: some valid, some not canonical,
# some invalid
_raw_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=5)),
    st.builds(
        lambda n: {"N": n},
        st.sampled_from(["0", "-0", "1", "01", "1.0", "1.5", "-2.25", "1e3", ".5", "x", "", "-"]),
    ),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.sampled_from([{"NULL": True}, {"NULL": False}, {}, {"S": None}, {"S": "a", "N": "1"}]),
    st.builds(lambda n: {"N": n}, st.integers(-(10**40), 10**40).map(str)),
)
_raw_values = st.recursive(
    _raw_scalars,
    lambda inner: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        st.builds(lambda elements: {"L": elements}, st.lists(inner, max_size=3)),
    ),
    max_leaves=8,
)
_raw_items = st.dictionaries(st.text(max_size=4), _raw_values, max_size=5)


def _agrees_with_validation(item: dict[str, Any]) -> int | None:
    """Return plain_item_size(item), checked against validate_sized_item: None for an item
    it refuses, else the item as it is and the same size (when not None)."""
    size = plain_item_size(item)
    try:
        validated, expected = validate_sized_item(item)
    except DynamoDBError:
        assert size is None
        return None
    assert size is None or (validated == item and size == expected)
    return size


@given(st.one_of(items(), _raw_items))
def test_a_plain_item_is_valid_as_it_is(item: dict[str, Any]) -> None:
    _agrees_with_validation(item)


def test_what_is_not_plain() -> None:
    assert plain_item_size({"a": {"N": "1.0"}}) is None  # not canonical
    assert plain_item_size({"a": {"N": "-0"}}) is None  # canonical zero is "0"
    assert plain_item_size({"a": {"L": [{"N": "-0"}]}}) is None
    assert plain_item_size({"a": {"S": "é"}}) is None  # not ASCII: the long way
    assert plain_item_size({"a": {"SS": ["x"]}}) is None
    assert plain_item_size({"a": {"S": "x" * (400 * 1024)}}) is None  # too large
    assert plain_item_size({"a": {"S": "x"}, "b": {"N": "-1.5"}}) == (1 + 1) + (1 + 2)


@pytest.mark.parametrize(
    "number", ["0", "00", "01", "7", "10", "1" * 37, "1" * 38, "٣", "²", "1²", "-0", "-10", "+1"]
)
def test_a_natural_number_is_plain_only_in_canonical_ascii_digits(number: str) -> None:
    """The digits check (str.isdigit, ASCII only) agrees with validate_sized_item."""
    size = _agrees_with_validation({"a": {"N": number}})
    assert (size is not None) == (number in ("0", "7", "10", "1" * 37, "1" * 38, "-10"))


def test_names_are_checked_together() -> None:
    assert plain_item_size({"a": {"S": "x"}, "bc": {"N": "10"}}) == 3 + 1 + 2
    assert plain_item_size({"a": {"S": "x"}, "": {"N": "1"}}) is None  # an empty name
    assert plain_item_size({"a": {"S": "x"}, "é": {"N": "1"}}) is None  # not ASCII
    assert plain_item_size({"a": {"M": {1: {"N": "1"}}}}) is None  # not a string
    long = "n" * MAX_ATTRIBUTE_NAME_BYTES
    assert plain_item_size({long: {"N": "1"}, "b": {"N": "1"}}) == len(long) + 2 + 1 + 2
    assert plain_item_size({long + "n": {"N": "1"}}) is None  # too long
    half = MAX_ATTRIBUTE_NAME_BYTES // 2 + 1  # together longer than one name may be
    assert plain_item_size({"a" * half: {"N": "1"}, "b" * half: {"N": "1"}}) == 2 * half + 4
