"""The inline checks on PutItem's path agree with the general ones they skip.

validate_sized_item checks ASCII strings, canonical integers and sets of distinct ASCII
strings inline; key_from_item encodes a one-attribute HASH (and RANGE) key inline. For any
input, valid or not, each gives what the general path gives: the same item and size, the
same key, or the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.engine.keys import checked_key, key_from_item
from streamkit.errors import DynamoDBError
from streamkit.model.attributes import (
    _expect_name,
    item_size,
    validate_sized_item,
    validate_value,
)
from streamkit.model.schema import KeySpec
from tests.strategies import items


def _general_sized_item(item: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """validate_sized_item without its inline checks: every value the long way."""
    result = {}
    for name, value in item.items():
        checked = validate_value(value, path=name)  # the value first, then its name
        result[_expect_name(name)] = checked
    size = item_size(result)
    if size > 400 * 1024:
        raise AssertionError("not generated")
    return result, size


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except DynamoDBError as exc:
        return ("error", type(exc), exc.message)


_names = st.one_of(
    st.sampled_from(["a", "b", "pk", "sk", "é", "", "x" * 65535, "x" * 65536]),
    st.text(max_size=4),
)
_strings = st.one_of(st.text(max_size=6), st.sampled_from(["", "é", "a\ud800"]))
_raw_values = st.one_of(
    st.builds(lambda s: {"S": s}, _strings),
    st.builds(lambda n: {"N": n}, st.sampled_from(["0", "-0", "7", "-12", "100", "1.50", "x"])),
    st.builds(lambda n: {"N": n}, st.integers(-(10**40), 10**40).map(str)),
    st.builds(lambda ss: {"SS": ss}, st.lists(_strings, max_size=4)),
    st.builds(lambda ss: {"SS": ss}, st.lists(st.one_of(st.integers(), st.none()), max_size=2)),
    st.sampled_from(
        [{"S": None}, {"N": None}, {"SS": None}, {"SS": "a"}, {"S": 1}, {"N": 5}, {}, None, [1]]
    ),
    st.sampled_from([{"S": "a", "N": "1"}, {"SS": ["a"], "NS": ["1"]}, {"BOOL": True}]),
)
_raw_items = st.dictionaries(_names, _raw_values, max_size=5)


@given(st.one_of(items(), _raw_items))
def test_validate_sized_item_agrees_with_the_general_path(item: dict[str, Any]) -> None:
    assert _outcome(validate_sized_item, item) == _outcome(_general_sized_item, item)


def test_a_string_set_checked_inline_is_a_copy() -> None:
    members = ["a", "b"]
    item, size = validate_sized_item({"tags": {"SS": members}})
    assert item == {"tags": {"SS": ["a", "b"]}}
    assert item["tags"]["SS"] is not members
    assert size == 4 + 2


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (["a", "a"], "Input collection [a, a] contains duplicates."),
        ([], "An string set  may not be empty"),
    ],
)
def test_string_set_errors_stay_dynamodbs(payload: list[str], message: str) -> None:
    with pytest.raises(DynamoDBError) as caught:
        validate_sized_item({"tags": {"SS": payload}})
    assert message in caught.value.message


_key_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=4)),
    st.sampled_from(
        [
            {"S": ""},
            {"S": "é"},
            {"S": "x" * 1024},
            {"S": "x" * 1025},
            {"S": "x" * 2048},
            {"S": "x" * 2049},
            {"S": "é" * 600},
            {"N": "0"},
            {"N": "-1.5"},
            {"N": "12345678901234567890"},
            {"B": b""},
            {"B": b"\x00\xff"},
            {"B": b"x" * 1025},
            {"BOOL": True},
            {"SS": ["a"]},
        ]
    ),
)


@given(
    st.sampled_from(["S", "N", "B"]),
    st.sampled_from([None, "S", "N", "B"]),
    st.dictionaries(st.sampled_from(["pk", "sk", "other"]), _key_values, max_size=3),
)
def test_key_from_item_agrees_with_the_general_path(
    hash_type: str, range_type: str | None, item: dict[str, Any]
) -> None:
    key = KeySpec((("pk", hash_type),), (("sk", range_type),) if range_type else ())
    assert _outcome(key_from_item, key, item) == _outcome(checked_key, key, item)
