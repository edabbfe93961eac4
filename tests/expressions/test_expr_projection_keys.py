"""project() and KeyConditionExpression parsing/validation."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit.errors import ValidationException
from streamkit.expressions import (
    ExpressionContext,
    KeyPredicate,
    evaluate,
    parse_key_condition,
    parse_projection,
    project,
    render,
)

ITEM: dict[str, dict[str, Any]] = {
    "p": {"S": "k"},
    "a": {
        "M": {
            "b": {"L": [{"N": "2"}, {"N": "4"}, {"M": {"x": {"S": "hi"}, "y": {"S": "yo"}}}]},
            "c": {"N": "5"},
        }
    },
    "b": {"S": "hello"},
}


def projected(text: str) -> dict[str, Any]:
    return project(ITEM, parse_projection(text, ExpressionContext(None, None)))


class TestProject:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("a.b", {"a": {"M": {"b": ITEM["a"]["M"]["b"]}}}),
            ("a.b[0]", {"a": {"M": {"b": {"L": [{"N": "2"}]}}}}),
            ("a.b[2].y", {"a": {"M": {"b": {"L": [{"M": {"y": {"S": "yo"}}}]}}}}),
            (
                "a.b[2], a.b[0]",
                {"a": {"M": {"b": {"L": [{"N": "2"}, ITEM["a"]["M"]["b"]["L"][2]]}}}},
            ),
            ("a.b[0], a.c", {"a": {"M": {"b": {"L": [{"N": "2"}]}, "c": {"N": "5"}}}}),
            ("a.c, b", {"a": {"M": {"c": {"N": "5"}}}, "b": {"S": "hello"}}),
            ("a.x, a.b[0], x, a.b[3].x", {"a": {"M": {"b": {"L": [{"N": "2"}]}}}}),
        ],
    )
    def test_nested(self, text: str, expected: dict[str, Any]) -> None:
        assert projected(text) == expected

    @pytest.mark.parametrize("text", ["x", "a.b[3]", "a.x.y", "a.b.x", "a[0]", "a.b[0][0]"])
    def test_missing_gives_empty(self, text: str) -> None:
        assert projected(text) == {}

    def test_result_is_a_copy(self) -> None:
        out = projected("a")
        out["a"]["M"]["c"]["N"] = "6"
        assert ITEM["a"]["M"]["c"] == {"N": "5"}

    def test_tolerates_overlapping_paths(self) -> None:
        assert project(ITEM, [("a",), ("a", "c")]) == {"a": ITEM["a"]}
        assert project(ITEM, [("a", "c"), ("a",)]) == {"a": ITEM["a"]}


VALUES: dict[str, dict[str, Any]] = {
    ":a": {"S": "a"},
    ":b": {"S": "b"},
    ":n": {"N": "1"},
    ":t": {"S": "S"},
}


BAD_OP = "Invalid operator used in KeyConditionExpression: "


def key_condition_error(text: str) -> str:
    with pytest.raises(ValidationException) as exc:
        parse_key_condition(text, ExpressionContext(None, VALUES))
    return exc.value.message


class TestKeyCondition:
    def test_hash_and_range(self) -> None:
        kc = parse_key_condition(
            "pk = :a AND sk BETWEEN :a AND :b", ExpressionContext(None, VALUES)
        )
        bound = kc.bind("pk", "sk")
        assert bound.partition_key == "pk"
        assert bound.partition_value == {"S": "a"}
        assert bound.sort == KeyPredicate("sk", "BETWEEN", ({"S": "a"}, {"S": "b"}))
        assert render(kc) == "pk = :a AND sk BETWEEN :a AND :b"
        assert evaluate(kc.condition, {"pk": {"S": "a"}, "sk": {"S": "ab"}})

    def test_value_first_comparison_is_flipped(self) -> None:
        kc = parse_key_condition(":a < sk AND pk = :b", ExpressionContext(None, VALUES))
        assert kc.predicates[0] == KeyPredicate("sk", ">", ({"S": "a"},))
        assert kc.bind("pk", "sk").sort == kc.predicates[0]

    def test_begins_with_and_placeholders(self) -> None:
        kc = parse_key_condition(
            "#p = :a AND begins_with(#s, :b)", ExpressionContext({"#p": "pk", "#s": "sk"}, VALUES)
        )
        assert kc.predicates == (
            KeyPredicate("pk", "=", ({"S": "a"},)),
            KeyPredicate("sk", "begins_with", ({"S": "b"},)),
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("a > :a and size(b) > :n or a > :a", f"{BAD_OP}OR"),
            ("a in (:a, :b)", f"{BAD_OP}IN"),
            ("attribute_exists(a)", f"{BAD_OP}attribute_exists"),
            ("attribute_type(a, :t)", f"{BAD_OP}attribute_type"),
            ("contains(a.d, :a)", f"{BAD_OP}contains"),
            ("not a > :a", f"{BAD_OP}NOT"),
            ("a <> :a", f"{BAD_OP}<>"),
            (":a between size(b) and size(a) and b > :b", "Invalid condition in "
             "KeyConditionExpression: BETWEEN operator must have the key attribute as its first "
             "operand"),
            ("begins_with(:a, b) and a > :b", "Invalid condition in KeyConditionExpression: "
             "begins_with operator must have the key attribute as its first operand"),
            ("size(b) > a AND a.b > b AND b > c", "KeyConditionExpressions cannot contain nested "
             "operations"),
            ("a > size(b.d)", "KeyConditionExpressions cannot contain nested operations"),
            ("a between size(b) and size(a)", "KeyConditionExpressions cannot contain nested "
             "operations"),
            ("b > a.b", "Invalid condition in KeyConditionExpression: Multiple attribute names "
             "used in one condition"),
            ("a between b and size(a)", "Invalid condition in KeyConditionExpression: Multiple "
             "attribute names used in one condition"),
            ("begins_with(a, b)", "Invalid condition in KeyConditionExpression: Multiple "
             "attribute names used in one condition"),
            ("b.d > a AND c.d > e.f", "KeyConditionExpressions cannot have conditions on nested "
             "attributes"),
            ("b[0] > a", "KeyConditionExpressions cannot have conditions on nested attributes"),
            (":b > :a AND a < :b", "Invalid condition in KeyConditionExpression: No key attribute "
             "specified"),
            ("b > :a AND b < :a and c = :a and d = :a", "KeyConditionExpressions must only "
             "contain one condition per key"),
            (
                " AND ".join(f"k{i} = :a" for i in range(9)),
                "Conditions can be of length 1 or 2 only",
            ),
        ],
    )  # fmt: skip
    def test_shape_errors(self, text: str, message: str) -> None:
        assert key_condition_error(text) == message

    def test_three_conditions_on_a_single_attribute_key(self) -> None:
        kc = parse_key_condition(":a = a and b = :a and :a = c", ExpressionContext(None, VALUES))
        with pytest.raises(ValidationException, match="Conditions can be of length 1 or 2 only"):
            kc.bind("a", "b")

    def test_grammar_errors_have_the_kind_prefix(self) -> None:
        assert key_condition_error("a > 4").startswith(
            'Invalid KeyConditionExpression: Syntax error; token: "4"'
        )
        assert key_condition_error("a BETWEEN :b AND :a") == (
            "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be "
            "greater than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, "
            "upper bound operand: AttributeValue: {S:a}"
        )

    @pytest.mark.parametrize(
        ("text", "hash_key", "range_key", "message"),
        [
            ("sk = :a", "pk", "sk", "Query condition missed key schema element: pk"),
            ("pk > :a", "pk", "sk", "Query key condition not supported"),
            ("pk = :a AND extra = :b", "pk", "sk", "Query condition missed key schema element: sk"),
            ("pk = :a AND extra = :b", "pk", None, "Query key condition not supported"),
        ],
    )
    def test_validate(self, text: str, hash_key: str, range_key: str | None, message: str) -> None:
        kc = parse_key_condition(text, ExpressionContext(None, VALUES))
        with pytest.raises(ValidationException) as exc:
            kc.validate(hash_key, range_key)
        assert exc.value.message == message

    def test_hash_only(self) -> None:
        bound = parse_key_condition("pk = :n", ExpressionContext(None, VALUES)).bind("pk", None)
        assert bound.sort is None
        assert bound.partition_value == {"N": "1"}
