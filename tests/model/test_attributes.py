"""Tests for streamkit.model.attributes: numbers, validation, sizes and comparison."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import SerializationException, ValidationException
from streamkit.model.attributes import (
    MAX_ITEM_SIZE,
    MSG_OVERFLOW,
    MSG_UNDERFLOW,
    TYPE_NAMES,
    Item,
    canonical_number,
    check_nesting,
    compare_scalar,
    item_size,
    normalize_number,
    number_value,
    type_of,
    validate_item,
    validate_key_value,
    validate_sized_item,
    validate_value,
    value_size,
    values_equal,
)
from tests.strategies import attribute_values, items, numbers

OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
NESTING = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
EMPTY = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
INVALID = "One or more parameter values were invalid: "


def test_type_names() -> None:
    assert TYPE_NAMES == ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")


class TestNormalizeNumber:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("1", "1"),
            ("1.0", "1"),
            ("01", "1"),
            ("1e0", "1"),
            ("+1", "1"),
            ("1.", "1"),
            ("0001.000", "1"),
            ("-0", "0"),
            ("-0.000e5", "0"),
            ("0e1000", "0"),
            ("0", "0"),
            ("1.50", "1.5"),
            ("1E+3", "1000"),
            ("1e3", "1000"),
            (".5", "0.5"),
            ("-.5E-2", "-0.005"),
            ("0001.23", "1.23"),
            ("-7.1234", "-7.1234"),
            ("-17e5", "-1700000"),
            ("12.5e-1", "1.25"),
            ("123.456e2", "12345.6"),
            ("-17.4E37", "-174" + "0" * 36),
            ("1e125", "1" + "0" * 125),
            ("1e-130", "0." + "0" * 129 + "1"),
            ("-1e-130", "-0." + "0" * 129 + "1"),
            ("9." + "9" * 37 + "e125", "9" * 38 + "0" * 88),
            ("1" + "0" * 50, "1" + "0" * 50),
            ("0." + "0" * 200 + "1e100", "0." + "0" * 100 + "1"),
            ("3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"),
            (
                "31415926535897932384626433832795028841e30",
                "31415926535897932384626433832795028841" + "0" * 30,
            ),
        ],
    )
    def test_canonical(self, text: str, canonical: str) -> None:
        assert normalize_number(text) == canonical

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("1e126", OVERFLOW),
            ("-1e126", OVERFLOW),
            ("11e125", OVERFLOW),
            ("10e125", OVERFLOW),
            ("1e2147483647", OVERFLOW),
            ("1.23456789012345678901234567890123456789e200", OVERFLOW),  # range checked first
            ("1e-131", UNDERFLOW),
            ("-1e-131", UNDERFLOW),
            ("0.9e-130", UNDERFLOW),
            ("123456789012345678901234567890123456789", TOO_PRECISE),
            ("-1.23456789012345678901234567890123456789", TOO_PRECISE),
            ("3.14159265358979323846264338327950288419", TOO_PRECISE),
            ("314159265358979323846264338327950288419e30", TOO_PRECISE),
            ("1" + "0" * 40 + "1", TOO_PRECISE),
            ("", NOT_NUMERIC),
        ],
    )
    def test_limits(self, text: str, message: str) -> None:
        with pytest.raises(ValidationException) as exc:
            normalize_number(text)
        assert exc.value.message == message

    @pytest.mark.parametrize(
        "text",
        ["NaN", "Infinity", "-Infinity", "-NaN", "inf", "sNaN", "dog", "-dog", " 1", "1 ", "1_000",
         "\u0661", "0x10", "1e", "e5", ".", "+", "-", "--1", "1e5.5", "1,5", "1e+", "١٢", "1\n",
         "1e99999999999"],
    )  # fmt: skip
    def test_garbage(self, text: str) -> None:
        with pytest.raises(ValidationException) as exc:
            normalize_number(text)
        assert exc.value.message == f"{NOT_NUMERIC}: {text}"

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (5, "NUMBER_VALUE cannot be converted to String"),
            (True, "TRUE_VALUE cannot be converted to String"),
            (False, "FALSE_VALUE cannot be converted to String"),
            (1.5, "DECIMAL_VALUE cannot be converted to String"),
            ([], "Unrecognized collection type class java.lang.String"),
            ({}, "Start of structure or map found where not expected"),
        ],
    )
    def test_not_a_string(self, value: object, message: str) -> None:
        with pytest.raises(SerializationException, match=message):
            normalize_number(value)

    @given(st.text() | st.text(alphabet="0123456789+-.eE", max_size=12))
    def test_any_text_validates_or_is_refused(self, text: str) -> None:
        try:
            canonical = normalize_number(text)
        except ValidationException:
            return
        assert Decimal(canonical) == Decimal(text)
        assert normalize_number(canonical) == canonical

    @given(st.decimals(allow_nan=False, allow_infinity=False))
    def test_decimals_keep_their_value_or_break_a_limit(self, value: Decimal) -> None:
        significant = "".join(map(str, value.as_tuple().digits)).strip("0")
        expected = None
        if significant and value.adjusted() > 125:
            expected = OVERFLOW
        elif significant and value.adjusted() < -130:
            expected = UNDERFLOW
        elif len(significant) > 38:
            expected = TOO_PRECISE
        if expected is not None:
            with pytest.raises(ValidationException) as exc:
                normalize_number(str(value))
            assert exc.value.message == expected
        else:
            canonical = normalize_number(str(value))
            assert number_value(canonical) == value
            assert "e" not in canonical.lower()

    @given(numbers())
    def test_strategy_numbers_are_canonical(self, canonical: str) -> None:
        assert normalize_number(canonical) == canonical
        assert normalize_number(str(number_value(canonical))) == canonical


def deep(levels: int, container: str = "M") -> dict[str, Any]:
    """Wrap a scalar leaf in ``levels`` maps or lists: the leaf is at level ``levels + 1``."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"n": value}} if container == "M" else {"L": [value]}
    return value


class TestValidateValue:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"S": ""}, {"S": ""}),
            ({"N": "1.50"}, {"N": "1.5"}),
            ({"B": bytearray(b"ab")}, {"B": b"ab"}),
            ({"B": memoryview(b"ab")}, {"B": b"ab"}),
            ({"BOOL": False}, {"BOOL": False}),
            ({"NULL": True}, {"NULL": True}),
            ({"SS": ["", "a"]}, {"SS": ["", "a"]}),
            ({"NS": ["1e2", "-0.50"]}, {"NS": ["100", "-0.5"]}),
            ({"BS": [b"", bytearray(b"x")]}, {"BS": [b"", b"x"]}),
            ({"L": [{"N": "01"}, {"M": {"x": {"NS": ["2.0"]}}}]},
             {"L": [{"N": "1"}, {"M": {"x": {"NS": ["2"]}}}]}),
            ({"M": {}}, {"M": {}}),
            ({"L": ()}, {"L": []}),
            ({"S": "x", "unknown": 1}, {"S": "x"}),  # unknown members are ignored
            ({"S": None, "N": "2"}, {"N": "2"}),  # null members are absent
        ],
    )  # fmt: skip
    def test_normalises(self, value: dict[str, Any], expected: dict[str, Any]) -> None:
        before = repr(value)
        result = validate_value(value)
        assert result == expected
        assert repr(value) == before
        assert result is not value

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ({}, EMPTY),
            ({"a": ""}, EMPTY),
            ({"S": None}, EMPTY),
            ({"M": {"a": {}}}, EMPTY),
            ({"L": [{}]}, EMPTY),
            ({"L": [None]}, EMPTY),
            ({"S": "a", "N": "1"}, "Supplied AttributeValue has more than one datatypes set, "
             "must contain exactly one of the supported datatypes"),
            ({"S": "a", "N": "x"}, f"{NOT_NUMERIC}: x"),
            ({"NULL": False}, INVALID + "Null attribute value types must have the value of true"),
            ({"SS": []}, INVALID + "An string set  may not be empty"),
            ({"NS": []}, INVALID + "An number set  may not be empty"),
            ({"BS": []}, INVALID + "Binary sets should not be empty"),
            ({"SS": ["a", "a"]}, INVALID + "Input collection [a, a] contains duplicates."),
            ({"NS": ["1", "1"]}, "Input collection contains duplicates"),
            ({"NS": ["1", "1.0"]}, "Input collection contains duplicates"),
            ({"NS": ["1", "2", "2E0"]}, "Input collection contains duplicates"),
            ({"BS": [b"b", b"b"]},
             INVALID + "Input collection [Yg==, Yg==]of type BS contains duplicates."),
            ({"NS": ["1", ""]}, NOT_NUMERIC),
            ({"NS": ["1", "b"]}, f"{NOT_NUMERIC}: b"),
            ({"N": "1e126"}, OVERFLOW),
            ({"M": {"": {"S": "x"}}}, INVALID + "Empty attribute name"),
        ],
    )  # fmt: skip
    def test_validation_errors(self, value: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_value(value)
        assert exc.value.message == message

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("x", "Unexpected value type in payload"),
            (5, "Unexpected value type in payload"),
            ([], "Unrecognized collection type class "
             "com.amazonaws.dynamodb.v20120810.AttributeValue"),
            ({"S": 5}, "NUMBER_VALUE cannot be converted to String"),
            ({"S": 5.5}, "DECIMAL_VALUE cannot be converted to String"),
            ({"S": True}, "TRUE_VALUE cannot be converted to String"),
            ({"S": {"S": "a"}}, "Start of structure or map found where not expected"),
            ({"S": ["a"]}, "Unrecognized collection type class java.lang.String"),
            ({"S": "\ud800"}, "Invalid UTF-8 in a string value"),
            ({"N": 123}, "NUMBER_VALUE cannot be converted to String"),
            ({"BOOL": "true"}, "Unexpected token received from parser"),
            ({"BOOL": 1}, "NUMBER_VALUE cannot be converted to Boolean"),
            ({"NULL": []}, "Unrecognized collection type class java.lang.Boolean"),
            ({"B": 5}, "only base-64-encoded strings are convertible to bytes"),
            ({"B": []}, "Unrecognized collection type class java.nio.ByteBuffer"),
            ({"B": "YQ=="}, "Binary values must be bytes: decode base64 first"),
            ({"L": "abc"}, "Unexpected field type"),
            ({"L": {}}, "Start of structure or map found where not expected"),
            ({"SS": "abc"}, "Unexpected field type"),
            ({"SS": ["a", 1]}, "NUMBER_VALUE cannot be converted to String"),
            ({"M": "abc"}, "Unexpected field type"),
            ({"M": []}, "Unrecognized collection type java.util.Map<java.lang.String, "
             "com.amazonaws.dynamodb.v20120810.AttributeValue>"),
            ({"M": {1: {"S": "a"}}}, "Attribute names must be strings"),
        ],
    )  # fmt: skip
    def test_serialization_errors(self, value: object, message: str) -> None:
        with pytest.raises(SerializationException) as exc:
            validate_value(value)
        assert exc.value.message == message

    @pytest.mark.parametrize("container", ["M", "L"])
    def test_nesting_limit(self, container: str) -> None:
        """32 levels counting the attribute as level 1 and the leaf: 31 wraps pass, 32 fail."""
        assert validate_value(deep(31, container)) == deep(31, container)
        with pytest.raises(ValidationException) as exc:
            validate_value(deep(32, container))
        assert exc.value.message == NESTING
        with pytest.raises(ValidationException, match="Nesting Levels"):
            validate_value(deep(500, container))

    @given(
        st.lists(st.sampled_from(["M", "L"]), min_size=25, max_size=40),
        st.booleans(),
    )
    def test_check_nesting_draws_the_same_line(self, containers: list[str], empty: bool) -> None:
        value: dict[str, Any] = {"M": {}} if empty else {"S": "leaf"}
        for container in containers:
            value = {"M": {"n": value}} if container == "M" else {"L": [value]}
        try:
            validate_value(value)
        except ValidationException:
            with pytest.raises(ValidationException, match="Nesting Levels"):
                check_nesting(value)
        else:
            check_nesting(value)

    def test_an_empty_container_at_level_32_is_too_deep(self) -> None:
        value: dict[str, Any] = {"M": {}}
        for _ in range(31):
            value = {"L": [value]}
        with pytest.raises(ValidationException, match="Nesting Levels"):
            validate_value(value)

    def test_path_becomes_a_note(self) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_value({"N": "x"}, path="a.b[1]")
        assert exc.value.message == f"{NOT_NUMERIC}: x"
        assert exc.value.__notes__ == ["in the attribute value at a.b[1]"]

    @given(attribute_values())
    def test_valid_values_are_fixed_points(self, value: dict[str, Any]) -> None:
        assert validate_value(value) == value

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
            | st.sampled_from(TYPE_NAMES),
            lambda children: st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(TYPE_NAMES) | st.text(max_size=3), children, max_size=3
            ),
            max_leaves=12,
        )
    )  # fmt: skip
    def test_garbage_raises_only_dynamodb_errors(self, value: object) -> None:
        try:
            result = validate_value(value)
        except (ValidationException, SerializationException):
            return
        assert validate_value(result) == result


class TestValidateItem:
    def test_valid(self) -> None:
        item = {"pk": {"S": "a"}, "n": {"N": "1.0"}}
        assert validate_item(item, key_names=["pk"]) == {"pk": {"S": "a"}, "n": {"N": "1"}}

    def test_size_limit_is_400_kb(self) -> None:
        exactly = {"a": {"S": "x" * (MAX_ITEM_SIZE - 1)}}
        assert item_size(exactly) == MAX_ITEM_SIZE
        validate_item(exactly)
        with pytest.raises(ValidationException) as exc:
            validate_item({"a": {"S": "x" * MAX_ITEM_SIZE}})
        assert exc.value.message == "Item size has exceeded the maximum allowed size"

    def test_missing_key(self) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_item({"a": {"S": "x"}}, key_names=("pk",))
        assert exc.value.message == INVALID + "Missing the key pk in the item"

    def test_empty_name(self) -> None:
        with pytest.raises(ValidationException, match="Empty attribute name"):
            validate_item({"": {"S": "x"}})

    def test_name_too_long(self) -> None:
        with pytest.raises(ValidationException, match="Attribute name exceeds"):
            validate_item({"\u00e9" * 40000: {"S": "x"}})

    @pytest.mark.parametrize(
        ("item", "message"),
        [
            ([], "Unrecognized collection type java.util.Map<java.lang.String, "
             "com.amazonaws.dynamodb.v20120810.AttributeValue>"),
            ("x", "Unexpected field type"),
            ({"a": "x"}, "Unexpected value type in payload"),
            ({5: {"S": "x"}}, "Attribute names must be strings"),
        ],
    )  # fmt: skip
    def test_wrong_shapes(self, item: object, message: str) -> None:
        with pytest.raises(SerializationException) as exc:
            validate_item(item)
        assert exc.value.message == message

    def test_the_failing_attribute_is_noted(self) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_item({"good": {"S": "x"}, "bad": {"NULL": False}})
        assert exc.value.__notes__ == ["in the attribute value at bad"]

    @given(
        st.dictionaries(
            st.text("abcxyz", min_size=1, max_size=3),
            st.text(max_size=4).map(lambda t: {"S": t})
            | st.text("0123456789-.eE", min_size=1, max_size=5).map(lambda t: {"N": t})
            | st.integers().map(lambda n: {"N": n})
            | attribute_values(),
            max_size=4,
        )
    )
    def test_inline_scalars_match_the_full_check(self, item: dict[str, Any]) -> None:
        # validate_sized_item checks ASCII strings and integers inline; the answer, or the
        # error, must be what validate_value gives for each attribute
        try:
            expected = {name: validate_value(value) for name, value in item.items()}
        except (ValidationException, SerializationException) as exc:
            with pytest.raises(type(exc)):
                validate_sized_item(item)
            return
        assert validate_sized_item(item) == (expected, item_size(expected))

    @given(items())
    def test_valid_items_are_fixed_points(self, item: dict[str, Any]) -> None:
        assert validate_item(item) == item


class TestValidateKeyValue:
    def test_ok(self) -> None:
        validate_key_value("pk", {"S": "x" * 2048}, "S")
        validate_key_value("sk", {"B": b"x" * 1024}, "B", key_type="RANGE")
        validate_key_value("sk", {"N": "-" + "9" * 38}, "N", key_type="RANGE")

    def test_type_mismatch(self) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_key_value("pk", {"N": "1"}, "S")
        assert exc.value.message == INVALID + "Type mismatch for key pk expected: S actual: N"

    @pytest.mark.parametrize(("value", "kind"), [({"S": ""}, "string"), ({"B": b""}, "binary")])
    def test_empty(self, value: dict[str, Any], kind: str) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_key_value("pk", value, type_of(value))
        assert exc.value.message == (
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty {kind} value. Key: pk"
        )

    def test_partition_key_size(self) -> None:
        with pytest.raises(ValidationException) as exc:
            validate_key_value("pk", {"S": "\u00e9" * 1025}, "S")  # 2050 UTF-8 bytes
        assert exc.value.message == (
            INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"
        )

    def test_sort_key_size(self) -> None:
        validate_key_value("sk", {"S": "x" * 1025}, "S")  # fine as a partition key
        with pytest.raises(ValidationException) as exc:
            validate_key_value("sk", {"S": "x" * 1025}, "S", key_type="RANGE")
        assert exc.value.message == (
            INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
        )


class TestSizes:
    @pytest.mark.parametrize(
        ("value", "size"),
        [
            ({"S": "abc"}, 3),
            ({"S": "\u00e9\u20ac"}, 5),
            ({"S": ""}, 0),
            ({"B": b"\x00\x01"}, 2),
            ({"BOOL": True}, 1),
            ({"NULL": True}, 1),
            ({"N": "0"}, 2),
            ({"N": "1"}, 2),
            ({"N": "12"}, 2),
            ({"N": "123"}, 3),
            ({"N": "12345"}, 4),
            ({"N": "1000"}, 2),  # trailing zeros are trimmed
            ({"N": "0.0001"}, 2),  # leading zeros too
            ({"N": "-12.5"}, 3),
            ({"N": "9" * 38}, 20),
            ({"SS": ["ab", "c"]}, 3),
            ({"NS": ["1", "123"]}, 5),
            ({"BS": [b"a", b"bc"]}, 3),
            ({"L": []}, 3),
            ({"M": {}}, 3),
            ({"L": [{"S": "xy"}]}, 6),
            ({"L": [{"S": "xy"}, {"NULL": True}]}, 8),
            ({"M": {"ab": {"S": "c"}}}, 7),
            ({"M": {"a": {"L": [{"BOOL": False}]}}}, 3 + 1 + 1 + (3 + 1 + 1)),
        ],
    )
    def test_value_size(self, value: dict[str, Any], size: int) -> None:
        assert value_size(value) == size

    def test_item_size_example(self) -> None:
        """Names count their UTF-8 bytes; 5 + 5 + 5 + 7 by the developer guide's rules."""
        item: Item = {
            "id": {"S": "abc"},
            "n": {"N": "12345"},
            "flag": {"BOOL": True},
            "l": {"L": [{"S": "xy"}]},
        }
        assert item_size(item) == 22
        assert item_size({"\u00e9": {"NULL": True}}) == 3

    @given(items())
    def test_item_size_is_names_plus_value_sizes(self, item: dict[str, Any]) -> None:
        # item_size inlines S and N; the rule stays the sum of the parts
        expected = sum(len(name.encode()) + value_size(value) for name, value in item.items())
        assert item_size(item) == expected


class TestComparison:
    @pytest.mark.parametrize(
        ("a", "b", "equal"),
        [
            ({"N": "1"}, {"N": "1.0"}, True),
            ({"N": "1"}, {"S": "1"}, False),
            ({"SS": ["a", "b"]}, {"SS": ["b", "a"]}, True),
            ({"SS": ["a", "b"]}, {"SS": ["a"]}, False),
            ({"NS": ["1", "2"]}, {"NS": ["2.0", "1"]}, True),
            ({"BS": [b"a", b"b"]}, {"BS": [b"b", b"a"]}, True),
            ({"L": [{"N": "1"}, {"S": "x"}]}, {"L": [{"N": "1"}, {"S": "x"}]}, True),
            ({"L": [{"N": "1"}, {"S": "x"}]}, {"L": [{"S": "x"}, {"N": "1"}]}, False),
            ({"M": {"a": {"N": "1"}}}, {"M": {"a": {"N": "1.00"}}}, True),
            ({"M": {"a": {"N": "1"}}}, {"M": {"b": {"N": "1"}}}, False),
            ({"NULL": True}, {"NULL": True}, True),
            ({"BOOL": True}, {"BOOL": False}, False),
            ({"B": b"a"}, {"B": b"a"}, True),
        ],
    )
    def test_values_equal(self, a: dict[str, Any], b: dict[str, Any], equal: bool) -> None:
        assert values_equal(a, b) is equal
        assert values_equal(b, a) is equal

    @pytest.mark.parametrize(
        ("a", "b", "order"),
        [
            ({"N": "9"}, {"N": "10"}, -1),
            ({"N": "-10"}, {"N": "-9"}, -1),
            ({"N": "1"}, {"N": "1"}, 0),
            ({"S": "Z"}, {"S": "a"}, -1),
            ({"S": "\uffff"}, {"S": "\U00010000"}, -1),  # code points, not UTF-16 units
            ({"S": "ab"}, {"S": "a"}, 1),
            ({"B": b"\x7f"}, {"B": b"\x80"}, -1),  # unsigned
            ({"B": b""}, {"B": b"\x00"}, -1),
            ({"N": "1"}, {"S": "1"}, None),
            ({"BOOL": True}, {"BOOL": True}, None),
            ({"SS": ["a"]}, {"SS": ["a"]}, None),
        ],
    )
    def test_compare_scalar(self, a: dict[str, Any], b: dict[str, Any], order: int | None) -> None:
        assert compare_scalar(a, b) == order
        assert compare_scalar(b, a) == (None if order is None else -order)

    @given(numbers(), numbers())
    def test_numbers_compare_by_value(self, a: str, b: str) -> None:
        expected = (Decimal(a) > Decimal(b)) - (Decimal(a) < Decimal(b))
        assert compare_scalar({"N": a}, {"N": b}) == expected
        assert values_equal({"N": a}, {"N": b}) is (expected == 0)


class TestCanonicalNumber:
    @given(numbers())
    def test_agrees_with_normalize_number(self, text: str) -> None:
        assert canonical_number(Decimal(text)) == normalize_number(text) == text

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (Decimal("1" * 39), MSG_OVERFLOW),  # lost precision in arithmetic: an overflow
            (Decimal("1E+126"), MSG_OVERFLOW),
            (Decimal("1E-131"), MSG_UNDERFLOW),
            (Decimal("Infinity"), MSG_OVERFLOW),
        ],
    )
    def test_out_of_range(self, value: Decimal, message: str) -> None:
        with pytest.raises(ValidationException) as caught:
            canonical_number(value)
        assert caught.value.message == message

    def test_zero(self) -> None:
        assert canonical_number(Decimal("-0.000E+5")) == "0"
