"""Expression limits: 300 operators, bounded nesting, 32-level paths; never a RecursionError."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.errors import ValidationException
from streamkit.expressions import (
    ExpressionContext,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
)

VALUES: dict[str, dict[str, Any]] = {":v": {"S": "x"}, ":n": {"N": "1"}, ":l": {"L": []}}


def condition_error(text: str, kind: str = "FilterExpression") -> str:
    with pytest.raises(ValidationException) as caught:
        parse_condition(text, ExpressionContext(None, VALUES), kind=kind)
    return caught.value.message


def test_300_operators_are_allowed_301_are_not() -> None:
    ok = " AND ".join(["a = :v"] * 150)  # 150 comparisons + 149 ANDs = 299
    parse_condition(ok, ExpressionContext(None, VALUES), kind="FilterExpression")
    assert condition_error(" OR ".join(["a = :v"] * 151)) == (
        "Invalid FilterExpression: The expression contains too many operators; operator count: 301"
    )


def test_functions_and_arithmetic_count_too() -> None:
    many = " AND ".join(["attribute_exists(a)"] * 151)  # 151 functions + 150 ANDs
    assert "too many operators; operator count: 301" in condition_error(many)
    plus = "SET a = " + ", b = ".join([":n + :n"] * 301)
    with pytest.raises(ValidationException, match="too many operators; operator count: 301"):
        parse_update(plus, ExpressionContext(None, VALUES))


@pytest.mark.parametrize(
    "text",
    [
        "(" * 2000 + "a = :v" + ")" * 2000,
        "NOT " * 120 + "a = :v",
        "size(" * 150 + "a" + ")" * 150 + " = :n",
        "a IN (" + "(" * 1500 + ":v" + ")" * 1500 + ")",
    ],
)
def test_deep_nesting_is_a_validation_error(text: str) -> None:
    assert "The expression is nested too deeply" in condition_error(text)


def test_deep_update_functions_are_refused() -> None:
    text = "SET a = " + "if_not_exists(a, " * 200 + ":v" + ")" * 200
    with pytest.raises(ValidationException, match="nested too deeply"):
        parse_update(text, ExpressionContext(None, VALUES))


def test_paths_have_at_most_32_levels() -> None:
    parse_projection("a" + ".b" * 31, ExpressionContext(None, None))
    with pytest.raises(ValidationException) as caught:
        parse_projection("a" + ".b" * 16 + "[0]" * 16, ExpressionContext(None, None))
    assert caught.value.message == (
        "Invalid ProjectionExpression: The document path has too many nesting levels; "
        "nesting levels: 33"
    )
    assert "nesting levels: 40" in condition_error("a" + "[1]" * 39 + " = :v")


def test_list_indexes_are_32_bit() -> None:
    parse_projection("a[2147483647]", ExpressionContext(None, None))
    with pytest.raises(ValidationException, match="List index is out of range"):
        parse_projection("a[2147483648]", ExpressionContext(None, None))


NESTED = st.recursive(
    st.sampled_from(["a", "#n", ":v", ":n", "a.b", "a[0]", "size(a)"]),
    lambda inner: st.one_of(
        inner.map(lambda x: f"({x})"),
        inner.map(lambda x: f"NOT {x}"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} AND {p[1]}"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} = {p[1]}"),
        inner.map(lambda x: f"attribute_exists({x})"),
        inner.map(lambda x: f"if_not_exists(a, {x})"),
        st.tuples(inner, inner).map(lambda p: f"list_append({p[0]}, {p[1]})"),
    ),
    max_leaves=60,
)


@given(NESTED, st.integers(0, 400), st.sampled_from(["(", "NOT ", "size(", "a["]))
@settings(max_examples=300)
def test_no_input_raises_anything_but_validation(text: str, depth: int, opener: str) -> None:
    closer = {"(": ")", "NOT ": "", "size(": ")", "a[": "]"}[opener]
    deep = opener * depth + text + closer * depth
    names: dict[str, Any] = {"#n": "n"}
    for candidate in (text, deep, f"a = {deep}", f"SET a = {deep}", f"REMOVE {deep}"):
        for parse in (
            lambda t: parse_condition(t, ExpressionContext(names, VALUES), kind="FilterExpression"),
            lambda t: parse_key_condition(t, ExpressionContext(names, VALUES)),
            lambda t: parse_update(t, ExpressionContext(names, VALUES)),
            lambda t: parse_projection(t, ExpressionContext(names, None)),
        ):
            with contextlib.suppress(ValidationException):
                parse(candidate)
