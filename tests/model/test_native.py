"""Tests for streamkit.model.native: plain Python values <-> AttributeValues."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from streamkit.errors import ValidationException
from streamkit.model.attributes import Item, validate_item, validate_value, values_equal
from streamkit.model.native import from_attribute_value, from_item, to_attribute_value, to_item
from tests.strategies import attribute_values, items


class TestToAttributeValue:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, {"NULL": True}),
            (True, {"BOOL": True}),
            (False, {"BOOL": False}),
            (0, {"N": "0"}),
            (-12, {"N": "-12"}),
            (Decimal("1.50"), {"N": "1.5"}),
            (Decimal("1E+3"), {"N": "1000"}),
            (Decimal("-0"), {"N": "0"}),
            ("", {"S": ""}),
            ("text", {"S": "text"}),
            (b"\x00", {"B": b"\x00"}),
            (bytearray(b"ab"), {"B": b"ab"}),
            (memoryview(b"ab"), {"B": b"ab"}),
            ({"b", "a"}, {"SS": ["a", "b"]}),
            (frozenset({10, Decimal("2.5"), -1}), {"NS": ["-1", "2.5", "10"]}),
            ({b"b", b"a"}, {"BS": [b"a", b"b"]}),
            ([1, "a", None], {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]}),
            ((1,), {"L": [{"N": "1"}]}),
            ({"m": {"n": [True]}}, {"M": {"m": {"M": {"n": {"L": [{"BOOL": True}]}}}}}),
        ],
    )
    def test_examples(self, value: object, expected: dict[str, Any]) -> None:
        assert to_attribute_value(value) == expected

    def test_float_is_refused_like_boto3(self) -> None:
        with pytest.raises(
            TypeError, match=r"Float types are not supported\. Use Decimal types instead\."
        ):
            to_attribute_value({"a": [1.5]})

    @pytest.mark.parametrize(
        "value", [{1, "a"}, {1.5}, object(), {1: "a"}, {(1, 2)}, complex(1, 2)]
    )
    def test_unsupported(self, value: object) -> None:
        with pytest.raises(TypeError):
            to_attribute_value(value)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (set(), "One or more parameter values were invalid: An number set  may not be empty"),
            (10**126, "Number overflow"),
            (-(10**5000), "Number overflow"),
            (Decimal("1e-131"), "Number underflow"),
            (Decimal("NaN"), "The parameter cannot be converted to a numeric value: NaN"),
            (Decimal("Infinity"), "The parameter cannot be converted to a numeric value"),
            (10**38 + 1, "more than 38 significant digits"),
        ],
        ids=["empty-set", "1e126", "-1e5000", "1e-131", "nan", "inf", "39-digits"],
    )
    def test_dynamodb_rules(self, value: object, message: str) -> None:
        with pytest.raises(ValidationException, match=message):
            to_attribute_value(value)

    def test_nesting_limit(self) -> None:
        value: list[Any] = ["leaf"]
        for _ in range(30):
            value = [value]
        validate_value(to_attribute_value(value))  # 31 lists, leaf at level 32
        with pytest.raises(ValidationException, match="Nesting Levels"):
            to_attribute_value([value])
        deep: list[Any] = []
        for _ in range(5000):
            deep = [deep]
        with pytest.raises(ValidationException, match="Nesting Levels"):
            to_attribute_value(deep)


class TestFromAttributeValue:
    def test_examples(self) -> None:
        item: Item = {
            "s": {"S": "x"},
            "n": {"N": "1.5"},
            "b": {"B": b"\x01"},
            "t": {"BOOL": True},
            "z": {"NULL": True},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
            "bs": {"BS": [b"a"]},
            "l": {"L": [{"N": "1"}]},
            "m": {"M": {"k": {"S": "v"}}},
        }
        assert from_item(item) == {
            "s": "x",
            "n": Decimal("1.5"),
            "b": b"\x01",
            "t": True,
            "z": None,
            "ss": {"a", "b"},
            "ns": {Decimal(1), Decimal(2)},
            "bs": {b"a"},
            "l": [Decimal(1)],
            "m": {"k": "v"},
        }

    def test_unknown_type(self) -> None:
        with pytest.raises(TypeError):
            from_attribute_value({"X": 1})


@given(attribute_values())
def test_attribute_value_round_trip(value: dict[str, Any]) -> None:
    native = from_attribute_value(value)
    again = to_attribute_value(native)
    assert values_equal(again, value)
    assert validate_value(again) == again
    assert from_attribute_value(again) == native


@given(items())
def test_item_round_trip(item: dict[str, Any]) -> None:
    native = from_item(item)
    again = to_item(native)
    assert again.keys() == item.keys()
    assert all(values_equal(again[k], item[k]) for k in item)
    assert validate_item(again) == again
