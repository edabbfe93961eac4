"""Hypothesis strategies for expression tests: values, items, and ASTs over a fixed context."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from streamkit.expressions import (
    And,
    Between,
    Call,
    Comparison,
    Condition,
    ExpressionContext,
    FunctionCondition,
    In,
    Not,
    Operand,
    Or,
    PathExpr,
    ValueRef,
)

NAMES = {"#n0": "alpha", "#n1": "status", "#n2": "a.b", "#n3": "x"}
ATTRS = ("a", "b", "c", "x")

numbers = st.decimals(
    min_value=-(10**6), max_value=10**6, allow_nan=False, allow_infinity=False, places=3
).map(lambda d: format(d.normalize(), "f") if not d.is_zero() else "0")
short_text = st.text(alphabet="abcé", max_size=4)
short_bytes = st.binary(max_size=3)


def scalars() -> st.SearchStrategy[dict[str, Any]]:
    """S, N and B values."""
    return st.one_of(
        short_text.map(lambda s: {"S": s}),
        numbers.map(lambda n: {"N": n}),
        short_bytes.map(lambda b: {"B": b}),
    )


def values() -> st.SearchStrategy[dict[str, Any]]:
    """Any AttributeValue, small."""
    leaves = st.one_of(
        scalars(),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(short_text, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
        st.lists(st.integers(-5, 5), min_size=1, max_size=3, unique=True).map(
            lambda v: {"NS": [str(i) for i in v]}
        ),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda v: {"L": v}),
            st.dictionaries(st.sampled_from(ATTRS), inner, max_size=3).map(lambda v: {"M": v}),
        ),
        max_leaves=6,
    )


def items() -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    """Items over a small set of attribute names, so paths often hit."""
    return st.dictionaries(st.sampled_from((*ATTRS, "alpha", "status")), values(), max_size=5)


VALUES: dict[str, dict[str, Any]] = {
    ":s": {"S": "ab"},
    ":n": {"N": "1"},
    ":m": {"N": "-2.5"},
    ":b": {"B": b"a"},
    ":l": {"L": [{"N": "1"}]},
    ":ss": {"SS": ["ab", "c"]},
    ":t": {"S": "N"},
}


def context() -> ExpressionContext:
    """A context holding every placeholder the AST strategies use."""
    return ExpressionContext(NAMES, VALUES)


@st.composite
def paths(draw: st.DrawFn) -> PathExpr:
    """A path of 1-3 elements mixing inline names, placeholders and list indexes."""
    elements: list[str | int] = []
    placeholders: list[str | None] = []
    for depth in range(draw(st.integers(1, 3))):
        if depth and draw(st.booleans()):
            elements.append(draw(st.integers(0, 3)))
            placeholders.append(None)
        elif draw(st.booleans()):
            key = draw(st.sampled_from(sorted(NAMES)))
            elements.append(NAMES[key])
            placeholders.append(key)
        else:
            elements.append(draw(st.sampled_from(ATTRS)))
            placeholders.append(None)
    return PathExpr(tuple(elements), tuple(placeholders))


def value_refs(*keys: str) -> st.SearchStrategy[ValueRef]:
    """References to the fixed values."""
    return st.sampled_from(keys or tuple(VALUES)).map(lambda k: ValueRef(k, VALUES[k]))


def scalar_refs() -> st.SearchStrategy[ValueRef]:
    """References to fixed scalar values only."""
    return value_refs(":s", ":n", ":m", ":b")


def operands() -> st.SearchStrategy[Operand]:
    """Paths, scalar values and size(path)."""
    return st.one_of(paths(), scalar_refs(), paths().map(lambda p: Call("size", (p,))))


def _distinct(left: Operand, right: Operand) -> bool:
    return not (
        isinstance(left, PathExpr) and isinstance(right, PathExpr) and left.path == right.path
    )


@st.composite
def leaves(draw: st.DrawFn) -> Condition:
    """One simple condition that passes validation."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        left, right = draw(operands()), draw(operands())
        if not _distinct(left, right):
            right = draw(scalar_refs())
        return Comparison(draw(st.sampled_from(("=", "<>", "<", "<=", ">", ">="))), left, right)
    if choice == 1:
        low, high = ValueRef(":m", VALUES[":m"]), ValueRef(":n", VALUES[":n"])
        return Between(draw(operands()), low, high)
    if choice == 2:
        options = draw(st.lists(operands(), min_size=1, max_size=3))
        return In(draw(operands()), tuple(options))
    if choice == 3:
        name = draw(st.sampled_from(("attribute_exists", "attribute_not_exists")))
        return FunctionCondition(name, (draw(paths()),))
    if choice == 4:
        return FunctionCondition("attribute_type", (draw(paths()), ValueRef(":t", VALUES[":t"])))
    name = draw(st.sampled_from(("begins_with", "contains")))
    return FunctionCondition(name, (draw(paths()), draw(value_refs(":s", ":b"))))


def conditions(
    atoms: st.SearchStrategy[Condition] | None = None, *, max_leaves: int = 6
) -> st.SearchStrategy[Condition]:
    """Condition ASTs with NOT/AND/OR nesting over ``atoms`` (:func:`leaves` by default)."""
    return st.recursive(
        leaves() if atoms is None else atoms,
        lambda inner: st.one_of(
            inner.map(Not),
            st.tuples(inner, inner).map(lambda p: And(*p)),
            st.tuples(inner, inner).map(lambda p: Or(*p)),
        ),
        max_leaves=max_leaves,
    )


TOKENS = (
    "a", "b", "#n0", "#zz", ":s", ":n", ":zz", "=", "<>", "<", "<=", ">", ">=", "(", ")", "[",
    "]", "0", "12", ",", ".", "+", "-", "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE",
    "ADD", "DELETE", "size", "contains", "attribute_exists", "list_append", "if_not_exists",
    "status", "_", "@", "#", ":", "\u00e9", " ", "\t",
)  # fmt: skip


def token_soup() -> st.SearchStrategy[str]:
    """Strings made of expression tokens in random order."""
    return st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join)
