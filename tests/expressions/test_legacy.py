"""Legacy parameters (Expected, filters, KeyConditions, AttributeUpdates, AttributesToGet).

Expected results and messages are DynamoDB's, as pinned by Scylla Alternator's
test_expected.py / test_query_filter.py / test_key_conditions.py, dynalite's validation tests
and ExtendDB's test_conditional_operator.py (all run against the real service).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.errors import SerializationException, ValidationException
from streamkit.expressions import (
    ExpressionContext,
    KeyCondition,
    KeyPredicate,
    apply_attribute_updates,
    apply_update,
    check_mixing,
    check_query_filter_keys,
    condition_from_expected,
    condition_from_filter,
    evaluate,
    key_condition_from_legacy,
    parse_condition,
    plan_from_attribute_updates,
    project,
    projection_from_attributes_to_get,
)
from streamkit.expressions.legacy import COMPARISON_OPERATORS
from streamkit.model.attributes import compare_scalar

from .expr_strategies import (
    items as expr_items,
    numbers as expr_numbers,
    scalars as expr_scalars,
    short_bytes,
    short_text,
    values as expr_values,
)

INVALID = "One or more parameter values were invalid: "

ITEM: dict[str, dict[str, Any]] = {
    "n": {"N": "2"},
    "s": {"S": "hello"},
    "b": {"B": b"hi there"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["chinchilla", "cat", "dog", "mouse"]},
    "ns": {"NS": ["2", "4", "7"]},
    "l": {"L": [{"N": "2"}, {"N": "4"}, {"N": "7"}]},
    "m": {"M": {"k": {"S": "v"}}},
}


def cond(op: str, *values: dict[str, Any]) -> dict[str, Any]:
    return {"ComparisonOperator": op, "AttributeValueList": list(values)}


def scan(attr: str, op: str, *values: dict[str, Any]) -> bool:
    condition = condition_from_filter({attr: cond(op, *values)}, None, kind="ScanFilter")
    assert condition is not None
    return evaluate(condition, ITEM)


def S(text: str) -> dict[str, Any]:
    return {"S": text}


def N(text: str) -> dict[str, Any]:
    return {"N": text}


def B(data: bytes) -> dict[str, Any]:
    return {"B": data}


@contextmanager
def raises(message: str) -> Iterator[None]:
    """Expect a ValidationException whose DynamoDB message is exactly ``message``."""
    with pytest.raises(ValidationException) as info:
        yield
    assert info.value.message == message


# --------------------------------------------------------------------------- operators


class TestOperators:
    @pytest.mark.parametrize(
        ("attr", "op", "values", "expected"),
        [
            ("n", "EQ", [N("2.0")], True),
            ("n", "EQ", [N("3")], False),
            ("n", "EQ", [S("2")], False),  # another type: a plain false, not an error
            ("q", "EQ", [N("2")], False),
            ("ss", "EQ", [{"SS": ["mouse", "dog", "cat", "chinchilla"]}], True),
            ("l", "EQ", [{"L": [N("2"), N("4"), N("7")]}], True),
            ("m", "EQ", [{"M": {"k": S("v")}}], True),
            ("t", "EQ", [{"BOOL": True}], True),
            ("n", "NE", [N("3")], True),
            ("n", "NE", [N("2")], False),
            ("n", "NE", [S("2")], True),
            ("q", "NE", [N("2")], True),  # a missing attribute is "not equal"
            ("n", "LE", [N("2")], True),
            ("n", "LT", [N("2")], False),
            ("n", "LT", [N("3")], True),
            ("s", "GE", [S("aardvark")], True),
            ("s", "GT", [S("zebra")], False),
            ("b", "GT", [B(b"aardvark")], True),
            ("b", "LT", [B(b"\xff")], True),  # bytes compare unsigned
            ("n", "LE", [S("1")], False),
            ("q", "GE", [N("0")], False),
            ("n", "BETWEEN", [N("1"), N("3")], True),
            ("n", "BETWEEN", [N("2"), N("2")], True),
            ("n", "BETWEEN", [N("3"), N("4")], False),
            ("s", "BETWEEN", [S("cat"), S("dog")], False),
            ("q", "BETWEEN", [N("0"), N("100")], False),
            ("n", "IN", [N("1"), N("2"), N("8")], True),
            ("n", "IN", [N("1"), N("4")], False),
            ("ns", "IN", [N("2")], False),  # IN tests the attribute, not set membership
            ("q", "IN", [N("2")], False),
            ("q", "NULL", [], True),
            ("n", "NULL", [], False),
            ("z", "NULL", [], False),  # NULL means "missing", not "of type NULL"
            ("z", "NOT_NULL", [], True),
            ("q", "NOT_NULL", [], False),
            ("s", "CONTAINS", [S("ell")], True),
            ("s", "CONTAINS", [S("dog")], False),
            ("s", "CONTAINS", [N("1")], False),
            ("ns", "CONTAINS", [N("4")], True),
            ("ns", "CONTAINS", [N("1")], False),
            ("ss", "CONTAINS", [S("dog")], True),
            ("l", "CONTAINS", [N("4")], True),
            ("l", "CONTAINS", [N("1")], False),
            ("b", "CONTAINS", [B(b"here")], True),
            ("b", "CONTAINS", [B(b"dog")], False),
            ("q", "CONTAINS", [N("1")], False),
            ("s", "NOT_CONTAINS", [S("dog")], True),
            ("s", "NOT_CONTAINS", [S("ell")], False),
            ("s", "NOT_CONTAINS", [N("1")], True),
            ("ns", "NOT_CONTAINS", [N("1")], True),
            ("ns", "NOT_CONTAINS", [N("4")], False),
            ("l", "NOT_CONTAINS", [N("4")], False),
            ("b", "NOT_CONTAINS", [B(b"here")], False),
            ("q", "NOT_CONTAINS", [N("1")], False),  # missing: both CONTAINS and NOT_ are false
            ("s", "BEGINS_WITH", [S("hell")], True),
            ("s", "BEGINS_WITH", [S("dog")], False),
            ("b", "BEGINS_WITH", [B(b"hi")], True),
            ("n", "BEGINS_WITH", [S("2")], False),  # a number attribute: plain false
            ("q", "BEGINS_WITH", [S("a")], False),
        ],
    )
    def test_semantics(
        self, attr: str, op: str, values: list[dict[str, Any]], expected: bool
    ) -> None:
        assert scan(attr, op, *values) is expected

    def test_every_operator_is_covered(self) -> None:
        assert set(COMPARISON_OPERATORS) == {
            "EQ", "NE", "IN", "LE", "LT", "GE", "GT", "BETWEEN",
            "NOT_NULL", "NULL", "CONTAINS", "NOT_CONTAINS", "BEGINS_WITH",
        }  # fmt: skip

    def test_missing_attribute_value_list_is_empty(self) -> None:
        condition = condition_from_filter(
            {"q": {"ComparisonOperator": "NULL"}}, None, kind="ScanFilter"
        )
        assert condition is not None
        assert evaluate(condition, ITEM)

    def test_values_are_validated(self) -> None:
        with raises(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        ):
            condition_from_filter({"a": cond("EQ", {})}, None, kind="ScanFilter")
        with raises(f"{INVALID}An string set  may not be empty"):
            condition_from_filter({"a": cond("EQ", {"SS": []})}, None, kind="ScanFilter")
        with raises("The parameter cannot be converted to a numeric value: b"):
            condition_from_filter({"a": cond("EQ", N("1"), N("b"))}, None, kind="ScanFilter")


# -------------------------------------------------------------------- argument checks

ARITY_CASES = [
    {"a": {"ComparisonOperator": "EQ"}},
    {"a": cond("EQ")},
    *({"a": {"ComparisonOperator": op}} for op in ("NE", "LE", "LT", "GE", "GT")),
    *({"a": {"ComparisonOperator": op}} for op in ("CONTAINS", "NOT_CONTAINS", "BEGINS_WITH")),
    {"a": {"ComparisonOperator": "IN"}},
    {"a": {"ComparisonOperator": "BETWEEN"}},
    {"a": cond("BETWEEN", S("a"))},
    {"a": cond("BETWEEN", S("a"), S("b"), S("c"))},
    {"a": cond("NULL", S("a"))},
    {"a": cond("NOT_NULL", S("a"))},
    *({"a": cond(op, S("a"), S("a"))} for op in ("EQ", "NE", "LE", "LT", "GE", "GT")),
    *({"a": cond(op, S("a"), S("a"))} for op in ("CONTAINS", "NOT_CONTAINS", "BEGINS_WITH")),
]

TYPED_VALUES: dict[str, dict[str, Any]] = {
    "BOOL": {"BOOL": True},
    "NULL": {"NULL": True},
    "SS": {"SS": ["a"]},
    "NS": {"NS": ["1"]},
    "BS": {"BS": [b"ab"]},
    "M": {"M": {}},
    "L": {"L": []},
    "N": N("1"),
}
TYPE_CASES = [
    *(
        (op, kind)
        for op in ("LT", "LE", "GT", "GE", "IN")
        for kind in ("BOOL", "NULL", "SS", "NS", "BS", "M", "L")
    ),
    *((op, kind) for op in ("CONTAINS", "NOT_CONTAINS") for kind in ("SS", "NS", "BS", "M", "L")),
    *(("BEGINS_WITH", kind) for kind in ("N", "BOOL", "NULL", "SS", "NS", "BS", "M", "L")),
]


class TestArguments:
    @pytest.mark.parametrize("filter_", ARITY_CASES)
    def test_argument_count(self, filter_: dict[str, Any]) -> None:
        op = filter_["a"]["ComparisonOperator"]
        with raises(f"{INVALID}Invalid number of argument(s) for the {op} ComparisonOperator"):
            condition_from_filter(filter_, None, kind="ScanFilter")

    @pytest.mark.parametrize(("op", "kind"), TYPE_CASES)
    def test_value_type(self, op: str, kind: str) -> None:
        with raises(
            f"{INVALID}ComparisonOperator {op} is not valid for {kind} AttributeValue type"
        ):
            condition_from_filter({"a": cond(op, TYPED_VALUES[kind])}, None, kind="ScanFilter")

    @pytest.mark.parametrize("kind", ["BOOL", "NULL", "SS", "NS", "BS", "M", "L"])
    def test_between_value_type(self, kind: str) -> None:
        value = TYPED_VALUES[kind]
        with raises(
            f"{INVALID}ComparisonOperator BETWEEN is not valid for {kind} AttributeValue type"
        ):
            condition_from_filter({"a": cond("BETWEEN", value, value)}, None, kind="ScanFilter")

    @pytest.mark.parametrize("kind", ["SS", "NS", "BS", "M", "L", "BOOL", "NULL"])
    def test_eq_and_ne_take_any_type(self, kind: str) -> None:
        for op in ("EQ", "NE"):
            filter_ = {"a": cond(op, TYPED_VALUES[kind])}
            assert condition_from_filter(filter_, None, kind="ScanFilter") is not None

    @pytest.mark.parametrize("op", ["IN", "BETWEEN"])
    def test_values_of_one_type(self, op: str) -> None:
        with raises(f"{INVALID}AttributeValues inside AttributeValueList must be of same type"):
            condition_from_filter({"a": cond(op, N("3"), S("dog"))}, None, kind="ScanFilter")

    @pytest.mark.parametrize(
        ("low", "high"), [(N("4"), N("3")), (S("dog"), S("aardvark")), (B(b"\xff"), B(b"\x01"))]
    )
    def test_between_bounds(self, low: dict[str, Any], high: dict[str, Any]) -> None:
        with raises(
            "The BETWEEN condition was provided a range where the lower bound is greater than "
            "the upper bound"
        ):
            condition_from_filter({"a": cond("BETWEEN", low, high)}, None, kind="QueryFilter")

    def test_comparison_operator_enum(self) -> None:
        enum = ", ".join(COMPARISON_OPERATORS)
        with raises(
            "2 validation errors detected: Value null at 'scanFilter.a.member.comparisonOperator' "
            "failed to satisfy constraint: Member must not be null; Value 'eq' at "
            "'scanFilter.b.member.comparisonOperator' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{enum}]"
        ):
            condition_from_filter(
                {"a": {}, "b": {"ComparisonOperator": "eq"}}, None, kind="ScanFilter"
            )
        with raises(
            "1 validation error detected: Value 'DOG' at "
            "'queryFilter.i.member.comparisonOperator' failed to satisfy constraint: Member "
            f"must satisfy enum value set: [{enum}]"
        ):
            condition_from_filter({"i": cond("DOG", N("3"))}, None, kind="QueryFilter")

    def test_wrong_json_types(self) -> None:
        with pytest.raises(SerializationException):
            condition_from_filter({"a": "EQ"}, None, kind="ScanFilter")
        with pytest.raises(SerializationException):
            condition_from_filter(
                {"a": {"ComparisonOperator": "EQ", "AttributeValueList": S("x")}},
                None,
                kind="ScanFilter",
            )


# ---------------------------------------------------------------------------- combining


class TestConditionalOperator:
    FILTER: ClassVar[dict[str, Any]] = {"n": cond("EQ", N("2")), "s": cond("EQ", S("nope"))}

    def test_and_is_the_default(self) -> None:
        for operator in (None, "AND"):
            condition = condition_from_filter(self.FILTER, operator, kind="ScanFilter")
            assert condition is not None
            assert not evaluate(condition, ITEM)

    def test_or(self) -> None:
        condition = condition_from_filter(self.FILTER, "OR", kind="ScanFilter")
        assert condition is not None
        assert evaluate(condition, ITEM)

    def test_empty_filter_matches_everything(self) -> None:
        assert condition_from_filter({}, None, kind="QueryFilter") is None
        assert condition_from_filter(None, None, kind="QueryFilter") is None
        assert condition_from_expected({}, None) is None

    @pytest.mark.parametrize("operator", ["AND", "OR"])
    def test_needs_conditions(self, operator: str) -> None:
        message = "ConditionalOperator cannot be used without Filter or Expected"
        with raises(message):
            condition_from_filter(None, operator, kind="ScanFilter")
        with raises(message):
            condition_from_filter({}, operator, kind="ScanFilter")
        with raises(message):
            condition_from_expected({}, operator)

    def test_needs_two_conditions(self) -> None:
        message = (
            "ConditionalOperator can only be used when Filter or Expected has two or more elements"
        )
        with raises(message):
            condition_from_filter({"n": cond("EQ", N("2"))}, "AND", kind="ScanFilter")
        with raises(message):
            condition_from_expected({"n": {"Value": N("2")}}, "OR")

    @pytest.mark.parametrize("operator", ["XOR", "and"])
    def test_enum(self, operator: str) -> None:
        with raises(
            f"1 validation error detected: Value '{operator}' at 'conditionalOperator' failed "
            "to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        ):
            condition_from_filter(self.FILTER, operator, kind="ScanFilter")


# ----------------------------------------------------------------------------- Expected


def expected(spec: dict[str, Any], operator: str | None = None) -> bool:
    condition = condition_from_expected(spec, operator)
    assert condition is not None
    return evaluate(condition, ITEM)


class TestExpected:
    def test_value_forms(self) -> None:
        assert expected({"n": {"Value": N("2")}})
        assert not expected({"n": {"Value": N("3")}})
        assert not expected({"q": {"Value": N("2")}})
        assert expected({"n": {"Value": N("2"), "Exists": True}})
        assert not expected({"n": {"Value": N("3"), "Exists": True}})

    def test_exists_false(self) -> None:
        assert expected({"q": {"Exists": False}})
        assert not expected({"n": {"Exists": False}})
        assert not expected({"z": {"Exists": False}})

    def test_comparison_operator_forms(self) -> None:
        assert expected({"n": cond("EQ", N("2"))})
        assert expected({"n": {"ComparisonOperator": "GT", "Value": N("1")}})
        assert expected({"q": {"ComparisonOperator": "NULL"}})
        assert expected({"n": cond("NOT_NULL")})
        assert not expected({"q": cond("NOT_CONTAINS", N("1"))})

    def test_several_conditions(self) -> None:
        spec = {
            "n": {"Exists": True, "Value": N("2")},
            "s": cond("EQ", S("hello")),
            "c": {"Exists": False},
        }
        assert expected(spec)
        assert expected(spec, "AND")
        wrong = {
            "n": {"Exists": True, "Value": N("74")},
            "s": cond("EQ", S("nope")),
            "c": {"Exists": False},
        }
        assert not expected(wrong)
        assert expected(wrong, "OR")
        assert not expected({**wrong, "c": {"Exists": True, "Value": N("1")}}, "OR")

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({}, "Value must be provided when Exists is null for Attribute: a"),
            ({"Exists": True}, "Value must be provided when Exists is true for Attribute: a"),
            (
                {"Exists": False, "Value": S("a")},
                "Value cannot be used when Exists is false for Attribute: a",
            ),
            (
                {"Exists": False, "ComparisonOperator": "EQ", "AttributeValueList": [N("3")]},
                "Exists and ComparisonOperator cannot be used together for Attribute: a",
            ),
            (
                {"Value": N("3"), "ComparisonOperator": "EQ", "AttributeValueList": [N("3")]},
                "Value and AttributeValueList cannot be used together for Attribute: a",
            ),
            (
                {"AttributeValueList": [N("3")]},
                "AttributeValueList can only be used with a ComparisonOperator for Attribute: a",
            ),
            (
                {"ComparisonOperator": "EQ"},
                "Value or AttributeValueList must be used with ComparisonOperator: EQ for "
                "Attribute: a",
            ),
            (
                cond("EQ", N("2"), N("3")),
                "Invalid number of argument(s) for the EQ ComparisonOperator",
            ),
            (cond("IN"), "Invalid number of argument(s) for the IN ComparisonOperator"),
            (
                cond("NOT_NULL", N("2")),
                "Invalid number of argument(s) for the NOT_NULL ComparisonOperator",
            ),
            (
                cond("IN", N("3"), S("dog")),
                "AttributeValues inside AttributeValueList must be of same type",
            ),
            (
                cond("BEGINS_WITH", N("3")),
                "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type",
            ),
            (
                cond("CONTAINS", {"L": [N("1")]}),
                "ComparisonOperator CONTAINS is not valid for L AttributeValue type",
            ),
        ],
    )
    def test_errors(self, spec: dict[str, Any], message: str) -> None:
        with raises(INVALID + message):
            condition_from_expected({"a": spec}, None)

    def test_between_bounds(self) -> None:
        with raises(
            "The BETWEEN condition was provided a range where the lower bound is greater than "
            "the upper bound"
        ):
            condition_from_expected({"a": cond("BETWEEN", N("4"), N("3"))}, None)

    def test_expected_value_is_validated(self) -> None:
        with raises(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        ):
            condition_from_expected({"a": {"Value": {}}}, None)
        with raises("The parameter cannot be converted to a numeric value"):
            condition_from_expected({"a": {"Value": {"NS": ["1", ""]}}}, None)

    def test_comparison_operator_enum(self) -> None:
        with pytest.raises(
            ValidationException, match=re.escape("'expected.a.member.comparisonOperator'")
        ):
            condition_from_expected({"a": {"ComparisonOperator": "eq"}}, None)

    def test_exists_must_be_boolean(self) -> None:
        with pytest.raises(SerializationException):
            condition_from_expected({"a": {"Exists": "yes"}}, None)


# ------------------------------------------------------------------------ KeyConditions


class TestKeyConditions:
    def test_translates_to_a_key_condition(self) -> None:
        kc = key_condition_from_legacy(
            {"p": cond("EQ", S("x")), "c": cond("BETWEEN", N("4"), N("7"))}
        )
        assert isinstance(kc, KeyCondition)
        assert kc.predicates == (
            KeyPredicate("p", "=", (S("x"),)),
            KeyPredicate("c", "BETWEEN", (N("4"), N("7"))),
        )
        bound = kc.bind("p", "c")
        assert bound.partition_value == S("x")
        assert bound.sort == KeyPredicate("c", "BETWEEN", (N("4"), N("7")))
        assert evaluate(kc.condition, {"p": S("x"), "c": N("5")})
        assert not evaluate(kc.condition, {"p": S("x"), "c": N("8")})

    @pytest.mark.parametrize(
        ("op", "values", "predicate_op"),
        [
            ("EQ", [N("3")], "="),
            ("LT", [N("5")], "<"),
            ("LE", [N("5")], "<="),
            ("GT", [N("5")], ">"),
            ("GE", [N("5")], ">="),
            ("BEGINS_WITH", [S("00")], "begins_with"),
        ],
    )
    def test_sort_key_operators(
        self, op: str, values: list[dict[str, Any]], predicate_op: str
    ) -> None:
        kc = key_condition_from_legacy({"p": cond("EQ", S("x")), "c": cond(op, *values)})
        sort = kc.bind("p", "c").sort
        assert sort == KeyPredicate("c", predicate_op, tuple(values))
        # The AST agrees with the KeyConditionExpression it stands for.
        text = "begins_with(c, :v)" if op == "BEGINS_WITH" else f"c {predicate_op} :v"
        reference = parse_condition(text, ExpressionContext(None, {":v": values[0]}))
        for candidate in ({"c": N("3")}, {"c": N("9")}, {"c": S("001")}, {"c": S("1")}):
            item = {"p": S("x"), **candidate}
            assert evaluate(kc.condition, item) == evaluate(reference, item)

    @pytest.mark.parametrize("op", ["LE", "LT", "GE", "GT", "BEGINS_WITH"])
    def test_partition_key_needs_eq(self, op: str) -> None:
        kc = key_condition_from_legacy({"p": cond(op, S("x"))})
        with raises("Query key condition not supported"):
            kc.bind("p", "c")

    def test_partition_key_missing(self) -> None:
        kc = key_condition_from_legacy({"c": cond("EQ", N("3"))})
        with raises("Query condition missed key schema element: p"):
            kc.bind("p", "c")

    @pytest.mark.parametrize(
        "condition",
        [
            {"ComparisonOperator": "NULL"},
            {"ComparisonOperator": "NOT_NULL"},
            cond("NE", N("1")),
            cond("CONTAINS", S("a")),
            cond("NOT_CONTAINS", S("a")),
            cond("IN", S("a")),
        ],
    )
    def test_non_indexable_operators(self, condition: dict[str, Any]) -> None:
        with raises("Attempted conditional constraint is not an indexable operation"):
            key_condition_from_legacy({"p": condition})

    def test_one_or_two_conditions(self) -> None:
        with raises("Conditions can be of length 1 or 2 only"):
            key_condition_from_legacy({})
        with raises("Conditions can be of length 1 or 2 only"):
            key_condition_from_legacy({k: cond("EQ", S("x")) for k in "abc"})

    def test_argument_rules_apply(self) -> None:
        with raises(f"{INVALID}ComparisonOperator LE is not valid for SS AttributeValue type"):
            key_condition_from_legacy({"a": cond("LE", {"SS": ["a"]})})
        with raises(f"{INVALID}Invalid number of argument(s) for the EQ ComparisonOperator"):
            key_condition_from_legacy({"p": cond("EQ")})
        with raises(
            f"{INVALID}ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"
        ):
            key_condition_from_legacy({"p": cond("EQ", S("x")), "c": cond("BEGINS_WITH", N("3"))})
        with pytest.raises(
            ValidationException, match=re.escape("'keyConditions.p.member.comparisonOperator'")
        ):
            key_condition_from_legacy({"p": {"AttributeValueList": [S("x")]}})


class TestQueryFilterKeys:
    def test_rejects_key_attributes(self) -> None:
        message = "QueryFilter can only contain non-primary key attributes: Primary key attribute: "
        with raises(message + "p"):
            check_query_filter_keys({"p": cond("EQ", S("x"))}, ["p", "c"])
        with raises(message + "c"):
            check_query_filter_keys({"c": cond("EQ", N("3")), "i": cond("EQ", N("1"))}, ["p", "c"])
        check_query_filter_keys({"i": cond("EQ", N("1"))}, ["p", "c"])
        check_query_filter_keys(None, ["p"])


# --------------------------------------------------------------------- AttributeUpdates


ONLY_DELETE = "Only DELETE action is allowed when no attribute value is specified"
CHECK = "attribute_exists(pk)"


class TestAttributeUpdates:
    def apply(self, updates: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        return apply_update(plan_from_attribute_updates(updates), item)

    def test_put(self) -> None:
        assert self.apply({"a": {"Value": N("2"), "Action": "PUT"}}, {"a": N("1")}) == {"a": N("2")}
        assert self.apply({"b": {"Value": S("x")}}, {}) == {"b": S("x")}  # PUT is the default

    def test_delete_without_value_removes(self) -> None:
        assert self.apply({"a": {"Action": "DELETE"}}, {"a": N("1"), "b": N("2")}) == {"b": N("2")}
        assert self.apply({"a": {"Action": "DELETE"}}, {}) == {}

    def test_delete_set_elements(self) -> None:
        item = {"a": {"NS": ["1", "2", "3"]}}
        assert self.apply({"a": {"Action": "DELETE", "Value": {"NS": ["1", "4"]}}}, item) == {
            "a": {"NS": ["2", "3"]}
        }
        emptied = self.apply({"a": {"Action": "DELETE", "Value": {"NS": ["3", "2", "1"]}}}, item)
        assert emptied == {}
        assert self.apply({"a": {"Action": "DELETE", "Value": {"SS": ["a"]}}}, {}) == {}

    def test_add_numbers_and_sets(self) -> None:
        assert self.apply({"a": {"Action": "ADD", "Value": N("3")}}, {"a": N("-1.5")}) == {
            "a": N("1.5")
        }
        assert self.apply({"a": {"Action": "ADD", "Value": N("3")}}, {}) == {"a": N("3")}
        added = self.apply(
            {"a": {"Action": "ADD", "Value": {"SS": ["b", "c"]}}}, {"a": {"SS": ["a", "b"]}}
        )
        assert added == {"a": {"SS": ["a", "b", "c"]}}
        assert self.apply({"e": {"Action": "ADD", "Value": {"SS": ["a", "b"]}}}, {}) == {
            "e": {"SS": ["a", "b"]}
        }

    def test_add_list_appends(self) -> None:
        item = {"a": {"L": [N("1")]}}
        update = {"a": {"Action": "ADD", "Value": {"L": [N("2"), S("x")]}}}
        assert self.apply(update, item) == {"a": {"L": [N("1"), N("2"), S("x")]}}
        assert self.apply(update, {}) == {"a": {"L": [N("2"), S("x")]}}

    def test_several_actions(self) -> None:
        item = {"k": S("key"), "b": S("a"), "c": {"SS": ["x", "y"]}, "d": N("1")}
        updates = {
            "b": {"Action": "DELETE"},
            "c": {"Action": "DELETE", "Value": {"SS": ["x"]}},
            "d": {"Action": "ADD", "Value": N("5")},
            "e": {"Action": "ADD", "Value": {"NS": ["1"]}},
            "f": {"Value": {"M": {"x": N("1")}}},
        }
        plan = plan_from_attribute_updates(updates)
        new = apply_update(plan, item)
        assert new == {
            "k": S("key"),
            "c": {"SS": ["y"]},
            "d": N("6"),
            "e": {"NS": ["1"]},
            "f": {"M": {"x": N("1")}},
        }
        assert sorted(plan.updated_paths) == [("b",), ("c",), ("d",), ("e",), ("f",)]
        assert project(new, plan.updated_paths) == {k: v for k, v in new.items() if k != "k"}
        assert [s.keyword for s in plan.sections] == ["SET", "REMOVE", "ADD", "DELETE"]
        assert item["d"] == N("1")  # the input is untouched

    def test_empty_updates(self) -> None:
        plan = plan_from_attribute_updates({})
        assert plan.sections == ()
        assert apply_update(plan, {"a": N("1")}) == {"a": N("1")}

    def test_key_attributes_are_refused(self) -> None:
        plan = plan_from_attribute_updates({"a": {"Value": S("x")}})
        with raises(f"{INVALID}Cannot update attribute a. This attribute is part of the key"):
            plan.check_key_attributes(["a"])
        plan.check_key_attributes(["p"])

    @pytest.mark.parametrize(
        ("update", "message"),
        [
            ({}, ONLY_DELETE),
            ({"Action": "PUT"}, ONLY_DELETE),
            ({"Action": "ADD"}, ONLY_DELETE),
            *(
                ({"Action": "DELETE", "Value": v},
                 f"DELETE action with value is not supported for the type {k}")
                for k, v in [("S", S("1")), ("N", N("1")), ("B", B(b"b")), ("NULL", {"NULL": True}),
                             ("BOOL", {"BOOL": True}), ("M", {"M": {}}), ("L", {"L": []})]
            ),
            *(
                ({"Action": "ADD", "Value": v}, f"ADD action is not supported for the type {k}")
                for k, v in [("S", S("1")), ("B", B(b"b")), ("NULL", {"NULL": True}),
                             ("BOOL", {"BOOL": True}), ("M", {"M": {}})]
            ),
        ],
    )  # fmt: skip
    def test_errors(self, update: dict[str, Any], message: str) -> None:
        with raises(INVALID + message):
            plan_from_attribute_updates({"a": update})

    def test_action_enum(self) -> None:
        with raises(
            "1 validation error detected: Value 'SET' at 'attributeUpdates.a.member.action' "
            "failed to satisfy constraint: Member must satisfy enum value set: "
            "[ADD, PUT, DELETE]"
        ):
            plan_from_attribute_updates({"b": {"Value": N("1")}, "a": {"Action": "SET"}})

    def test_values_are_validated(self) -> None:
        with raises(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        ):
            plan_from_attribute_updates({"a": {"Value": {}}})

    @pytest.mark.parametrize(
        ("existing", "update"),
        [
            ({"SS": ["1"]}, {"Action": "DELETE", "Value": {"NS": ["1"]}}),
            (N("1"), {"Action": "DELETE", "Value": {"NS": ["1"]}}),
            ({"SS": ["1"]}, {"Action": "ADD", "Value": {"NS": ["2"]}}),
            ({"NS": ["1"]}, {"Action": "ADD", "Value": N("2")}),
            (S("x"), {"Action": "ADD", "Value": {"L": [N("2")]}}),
        ],
    )
    def test_type_mismatch(self, existing: dict[str, Any], update: dict[str, Any]) -> None:
        plan = plan_from_attribute_updates({"b": update})
        with raises("Type mismatch for attribute to update"):
            apply_attribute_updates(plan, {"b": existing})
        with raises("An operand in the update expression has an incorrect data type"):
            apply_update(plan, {"b": existing})

    def test_apply_attribute_updates_passes_other_errors(self) -> None:
        plan = plan_from_attribute_updates({"b": {"Action": "ADD", "Value": N("9" * 38)}})
        with pytest.raises(ValidationException, match="Number overflow"):
            apply_attribute_updates(plan, {"b": N("9" * 38 + "0" * 88)})
        assert apply_attribute_updates(plan, {}) == {"b": N("9" * 38)}


# ---------------------------------------------------------------------- AttributesToGet


class TestAttributesToGet:
    def test_paths(self) -> None:
        paths = projection_from_attributes_to_get(["a", "b.c", "d[0]"])
        assert paths == (("a",), ("b.c",), ("d[0]",))  # names, never document paths
        item = {"a": N("1"), "b.c": N("2"), "b": {"M": {"c": N("3")}}, "e": N("4")}
        assert project(item, paths) == {"a": N("1"), "b.c": N("2")}

    def test_duplicates(self) -> None:
        with raises(f"{INVALID}Duplicate value in attribute name: a"):
            projection_from_attributes_to_get(["b", "a", "c", "a"])

    def test_empty(self) -> None:
        with raises(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        ):
            projection_from_attributes_to_get([])

    def test_wrong_json_types(self) -> None:
        with pytest.raises(SerializationException):
            projection_from_attributes_to_get("a")
        with pytest.raises(SerializationException):
            projection_from_attributes_to_get([1])  # type: ignore[list-item]


# ------------------------------------------------------------------------------- mixing


def mixing(non_expression: str, expression: str) -> str:
    return (
        "Can not use both expression and non-expression parameters in the same request: "
        f"Non-expression parameters: {{{non_expression}}} Expression parameters: {{{expression}}}"
    )


EAV = {":v": S("x")}
FILTER = {"a": cond("EQ", S("x"))}
TWO = {"a": cond("EQ", S("x")), "b": cond("EQ", S("y"))}


class TestMixing:
    @pytest.mark.parametrize(
        ("operation", "params", "message"),
        [
            ("GetItem", {"AttributesToGet": ["a"], "ProjectionExpression": "",
                         "ExpressionAttributeNames": {}},
             mixing("AttributesToGet", "ProjectionExpression")),
            ("BatchGetItem", {"AttributesToGet": ["a"], "ProjectionExpression": "a"},
             mixing("AttributesToGet", "ProjectionExpression")),
            ("Scan", {"ConditionalOperator": "AND", "FilterExpression": "a = :v",
                      "ExpressionAttributeValues": EAV},
             mixing("ConditionalOperator", "FilterExpression")),
            ("Scan", {"ConditionalOperator": "AND", "ProjectionExpression": "a"},
             mixing("ConditionalOperator", "ProjectionExpression")),
            ("Scan", {"AttributesToGet": ["a"], "ScanFilter": FILTER, "ConditionalOperator": "AND",
                      "FilterExpression": "a = :v", "ProjectionExpression": "b",
                      "ExpressionAttributeValues": EAV},
             mixing("AttributesToGet, ScanFilter, ConditionalOperator",
                    "ProjectionExpression, FilterExpression")),
            ("Scan", {"ScanFilter": FILTER, "ProjectionExpression": "b"},
             mixing("ScanFilter", "ProjectionExpression")),
            ("Scan", {"AttributesToGet": ["a"], "FilterExpression": "a = :v",
                      "ExpressionAttributeValues": EAV},
             mixing("AttributesToGet", "FilterExpression")),
            ("Query", {"ConditionalOperator": "AND", "KeyConditionExpression": "pk = :v",
                       "ExpressionAttributeValues": EAV},
             mixing("ConditionalOperator", "KeyConditionExpression")),
            ("Query", {"KeyConditions": FILTER, "QueryFilter": FILTER, "ConditionalOperator": "AND",
                       "KeyConditionExpression": "pk = :p", "FilterExpression": "a = :v",
                       "ProjectionExpression": "b", "ExpressionAttributeValues": EAV},
             mixing("QueryFilter, ConditionalOperator, KeyConditions",
                    "ProjectionExpression, FilterExpression, KeyConditionExpression")),
            ("Query", {"AttributesToGet": ["a"], "KeyConditionExpression": "pk = :v",
                       "ExpressionAttributeValues": EAV},
             mixing("AttributesToGet", "KeyConditionExpression")),
            ("Query", {"QueryFilter": FILTER, "KeyConditionExpression": "pk = :v",
                       "ExpressionAttributeValues": EAV},
             mixing("QueryFilter", "KeyConditionExpression")),
            ("PutItem", {"ConditionalOperator": "AND", "ConditionExpression": CHECK},
             mixing("ConditionalOperator", "ConditionExpression")),
            ("PutItem", {"Expected": FILTER, "ConditionalOperator": "AND",
                         "ConditionExpression": CHECK},
             mixing("Expected, ConditionalOperator", "ConditionExpression")),
            ("DeleteItem", {"ConditionalOperator": "AND", "ConditionExpression": CHECK},
             mixing("ConditionalOperator", "ConditionExpression")),
            ("UpdateItem", {"ConditionalOperator": "AND", "UpdateExpression": "SET a = :v",
                            "ExpressionAttributeValues": EAV},
             mixing("ConditionalOperator", "UpdateExpression")),
            ("UpdateItem", {"AttributeUpdates": {"a": {"Value": S("v")}}, "Expected": FILTER,
                            "ConditionalOperator": "AND", "UpdateExpression": "SET a = :v",
                            "ConditionExpression": CHECK,
                            "ExpressionAttributeValues": EAV},
             mixing("AttributeUpdates, Expected, ConditionalOperator",
                    "UpdateExpression, ConditionExpression")),
            ("UpdateItem", {"AttributeUpdates": {}, "Expected": {"a": {}},
                            "ExpressionAttributeNames": {}, "ExpressionAttributeValues": {},
                            "ConditionExpression": "", "UpdateExpression": ""},
             mixing("AttributeUpdates, Expected", "UpdateExpression, ConditionExpression")),
            ("UpdateItem", {"AttributeUpdates": {"a": {"Value": S("v")}},
                            "ConditionExpression": CHECK},
             mixing("AttributeUpdates", "ConditionExpression")),
            ("UpdateItem", {"Expected": TWO, "UpdateExpression": "SET c = :v",
                            "ExpressionAttributeValues": EAV},
             mixing("Expected", "UpdateExpression")),
            ("Scan", {"ConditionalOperator": "AND", "FilterExpression": "a = :v",
                      "ExpressionAttributeValues": {**EAV, ":unused": S("y")}},
             mixing("ConditionalOperator", "FilterExpression")),
            # Only expression attribute maps, no expression:
            ("GetItem", {"AttributesToGet": ["a"], "ExpressionAttributeNames": {}},
             "ExpressionAttributeNames can only be specified when using expressions"),
            ("Scan", {"ScanFilter": FILTER, "ExpressionAttributeNames": {"#a": "a"},
                      "ExpressionAttributeValues": EAV},
             "ExpressionAttributeNames can only be specified when using expressions"),
            ("Scan", {"ScanFilter": FILTER, "ExpressionAttributeValues": {}},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "FilterExpression is null"),
            ("Scan", {"ProjectionExpression": "a", "ExpressionAttributeValues": EAV},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "FilterExpression is null"),
            ("Query", {"KeyConditions": FILTER, "ExpressionAttributeValues": EAV},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "FilterExpression and KeyConditionExpression are null"),
            ("UpdateItem", {"Expected": {"a": {}}, "ExpressionAttributeValues": {}},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "UpdateExpression and ConditionExpression are null"),
            ("DeleteItem", {"Expected": {}, "ExpressionAttributeValues": {}},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "ConditionExpression is null"),
            ("PutItem", {"Expected": {"a": {}}, "ExpressionAttributeValues": {}},
             "ExpressionAttributeValues can only be specified when using expressions: "
             "ConditionExpression is null"),
        ],
    )  # fmt: skip
    def test_errors(self, operation: str, params: dict[str, Any], message: str) -> None:
        with raises(message):
            check_mixing(params, operation)

    @pytest.mark.parametrize(
        ("operation", "params"),
        [
            ("Query", {"KeyConditions": FILTER, "FilterExpression": "a = :v",
                       "ExpressionAttributeValues": EAV}),
            ("Query", {"KeyConditions": FILTER, "ProjectionExpression": "a"}),
            ("Query", {"KeyConditions": FILTER, "AttributesToGet": ["a"]}),
            ("Query", {"KeyConditions": FILTER, "QueryFilter": TWO, "ConditionalOperator": "OR"}),
            ("Scan", {"ScanFilter": TWO, "ConditionalOperator": "AND"}),
            ("Scan", {"ScanFilter": FILTER}),
            ("Scan", {"FilterExpression": "a = :v", "ExpressionAttributeValues": EAV,
                      "ExpressionAttributeNames": {"#a": "a"}, "ScanFilter": None}),
            ("PutItem", {"Expected": TWO, "ConditionalOperator": "AND"}),
            ("DeleteItem", {"Expected": TWO, "ConditionalOperator": "OR"}),
            ("UpdateItem", {"AttributeUpdates": {}, "Expected": {}}),
            ("GetItem", {"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": "a"}}),
            ("GetItem", {}),
        ],
    )  # fmt: skip
    def test_accepted(self, operation: str, params: dict[str, Any]) -> None:
        check_mixing(params, operation)

    @pytest.mark.parametrize(
        ("operation", "params", "message"),
        [
            ("Scan", {"ConditionalOperator": "AND"}, "without"),
            ("Scan", {"ConditionalOperator": "OR"}, "without"),
            ("Scan", {"ConditionalOperator": "AND", "ScanFilter": {}}, "without"),
            ("Scan", {"ConditionalOperator": "AND", "ScanFilter": FILTER}, "two"),
            ("Scan", {"ConditionalOperator": "AND", "AttributesToGet": ["a", "b"]}, "without"),
            ("Query", {"ConditionalOperator": "AND", "KeyConditions": FILTER}, "without"),
            ("Query", {"ConditionalOperator": "AND"}, "without"),
            ("Query", {"ConditionalOperator": "AND", "KeyConditions": FILTER,
                       "QueryFilter": FILTER}, "two"),
            ("PutItem", {"ConditionalOperator": "AND"}, "without"),
            ("PutItem", {"ConditionalOperator": "AND", "Expected": FILTER}, "two"),
            ("DeleteItem", {"ConditionalOperator": "AND"}, "without"),
            ("DeleteItem", {"ConditionalOperator": "AND", "Expected": FILTER}, "two"),
            ("UpdateItem", {"ConditionalOperator": "AND",
                            "AttributeUpdates": {"a": {"Value": S("v")}}}, "without"),
            ("UpdateItem", {"ConditionalOperator": "AND"}, "without"),
            ("UpdateItem", {"ConditionalOperator": "OR", "Expected": {}}, "without"),
        ],
    )  # fmt: skip
    def test_conditional_operator_needs_two_conditions(
        self, operation: str, params: dict[str, Any], message: str
    ) -> None:
        text = {
            "without": "ConditionalOperator cannot be used without Filter or Expected",
            "two": "ConditionalOperator can only be used when Filter or Expected has two or "
            "more elements",
        }[message]
        with raises(text):
            check_mixing(params, operation)

    def test_conditional_operator_enum_comes_first(self) -> None:
        with raises(
            "1 validation error detected: Value 'AN' at 'conditionalOperator' failed to "
            "satisfy constraint: Member must satisfy enum value set: [OR, AND]"
        ):
            check_mixing({"ConditionalOperator": "AN", "FilterExpression": "a"}, "Scan")

    def test_unknown_operation(self) -> None:
        with pytest.raises(ValueError, match="TransactWriteItems"):
            check_mixing({}, "TransactWriteItems")


# --------------------------------------------------------------------------- properties

OPERATORS = st.sampled_from([*COMPARISON_OPERATORS, "eq", "DOG", None])
NAMES = st.sampled_from(["a", "b", "c", "x"])


@st.composite
def legacy_conditions(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    op = draw(OPERATORS)
    if op is not None:
        body["ComparisonOperator"] = op
    if draw(st.booleans()):
        body["AttributeValueList"] = draw(
            st.lists(st.one_of(expr_scalars(), expr_values()), max_size=3)
        )
    return body


@st.composite
def expected_entries(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = draw(legacy_conditions()) if draw(st.booleans()) else {}
    if draw(st.booleans()):
        body["Value"] = draw(expr_values())
    if draw(st.booleans()):
        body["Exists"] = draw(st.booleans())
    return body


CONDITIONAL_OPERATORS = st.sampled_from([None, None, "AND", "OR", "XOR"])

# The expression each single-condition legacy filter must agree with.
REFERENCES = {
    "EQ": "#a = :v0",
    "NE": "#a <> :v0",
    "LT": "#a < :v0",
    "LE": "#a <= :v0",
    "GT": "#a > :v0",
    "GE": "#a >= :v0",
    "BETWEEN": "#a BETWEEN :v0 AND :v1",
    "IN": "#a IN (:v0, :v1)",
    "NULL": "attribute_not_exists(#a)",
    "NOT_NULL": "attribute_exists(#a)",
    "CONTAINS": "contains(#a, :v0)",
    "NOT_CONTAINS": "attribute_exists(#a) AND NOT contains(#a, :v0)",
    "BEGINS_WITH": "begins_with(#a, :v0)",
}
ARITY = {"BETWEEN": 2, "IN": 2, "NULL": 0, "NOT_NULL": 0}
SAME_KIND: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "S": short_text.map(S),
    "N": expr_numbers.map(N),
    "B": short_bytes.map(B),
}


@st.composite
def value_pairs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Two values, mostly scalars and often of one type in ascending order (BETWEEN, IN)."""
    first = draw(st.one_of(expr_scalars(), expr_scalars(), expr_values()))
    kind = next(iter(first))
    if kind in SAME_KIND and draw(st.booleans()):
        second = draw(SAME_KIND[kind])
        if compare_scalar(first, second) == 1:
            first, second = second, first
    else:
        second = draw(st.one_of(expr_scalars(), expr_values()))
    return [first, second]


class TestProperties:
    @settings(max_examples=40)
    @given(
        st.dictionaries(NAMES, legacy_conditions(), max_size=3),
        CONDITIONAL_OPERATORS,
        st.lists(expr_items(), min_size=1, max_size=3),
    )
    def test_random_filters_raise_only_validation_errors(
        self, filter_: dict[str, Any], operator: str | None, targets: list[dict[str, Any]]
    ) -> None:
        try:
            condition = condition_from_filter(filter_, operator, kind="ScanFilter")
        except ValidationException:
            return
        for item in targets:
            if condition is not None:
                evaluate(condition, item)

    @settings(max_examples=40)
    @given(
        st.dictionaries(NAMES, expected_entries(), max_size=3),
        CONDITIONAL_OPERATORS,
        expr_items(),
    )
    def test_random_expected_raise_only_validation_errors(
        self, spec: dict[str, Any], operator: str | None, item: dict[str, Any]
    ) -> None:
        try:
            condition = condition_from_expected(spec, operator)
        except ValidationException:
            return
        if condition is not None:
            evaluate(condition, item)

    @settings(max_examples=40)
    @given(st.dictionaries(NAMES, legacy_conditions(), max_size=3))
    def test_random_key_conditions_raise_only_validation_errors(self, spec: dict[str, Any]) -> None:
        try:
            kc = key_condition_from_legacy(spec)
        except ValidationException:
            return
        with contextlib.suppress(ValidationException):
            kc.bind("a", "b")

    @settings(max_examples=60)
    @given(
        st.sampled_from(sorted(REFERENCES)),
        NAMES,
        value_pairs(),
        st.lists(expr_items(), min_size=1, max_size=3),
    )
    def test_filter_equals_its_expression(
        self,
        op: str,
        name: str,
        values: list[dict[str, Any]],
        targets: list[dict[str, Any]],
    ) -> None:
        args = values[: ARITY.get(op, 1)]
        try:
            condition = condition_from_filter({name: cond(op, *args)}, None, kind="ScanFilter")
        except ValidationException:
            return  # a type the operator refuses
        assert condition is not None
        ctx = ExpressionContext(
            {"#a": name}, {f":v{i}": value for i, value in enumerate(args)} or None
        )
        reference = parse_condition(REFERENCES[op], ctx)
        for item in [*targets, {name: values[0]}, {name: values[1]}]:
            assert evaluate(condition, item) == evaluate(reference, item)

    @settings(max_examples=40)
    @given(NAMES, expr_values(), st.lists(expr_items(), min_size=1, max_size=3))
    def test_expected_value_equals_eq(
        self, name: str, value: dict[str, Any], targets: list[dict[str, Any]]
    ) -> None:
        by_value = condition_from_expected({name: {"Value": value}}, None)
        by_operator = condition_from_filter({name: cond("EQ", value)}, None, kind="QueryFilter")
        assert by_value is not None
        assert by_operator is not None
        reference = parse_condition("#a = :v", ExpressionContext({"#a": name}, {":v": value}))
        for item in [*targets, {name: value}]:
            outcome = evaluate(reference, item)
            assert evaluate(by_value, item) == outcome
            assert evaluate(by_operator, item) == outcome
