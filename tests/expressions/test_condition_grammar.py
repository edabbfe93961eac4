"""The two condition front ends share one grammar: where their languages overlap, a condition
written as a DynamoDB ConditionExpression and as a PartiQL WHERE clause parses to one AST."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.errors import ValidationException
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
    parse_condition,
)
from streamkit.expressions.grammar import ConditionGrammar
from streamkit.expressions.partiql import parse_statement
from tests.expressions.expr_strategies import conditions

_NAMES = ("alpha", "status", "x", "a b", "it's")
_TYPES = ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS")


@st.composite
def _paths(draw: st.DrawFn) -> PathExpr:
    first = draw(st.sampled_from(_NAMES))
    rest = draw(st.lists(st.one_of(st.sampled_from(_NAMES), st.integers(0, 12)), max_size=2))
    return PathExpr.of(first, *rest)


_strings = st.text(alphabet="ab' é", max_size=4).map(lambda s: {"S": s})
_numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.decimals(-1000, 1000, places=2, allow_nan=False).map(lambda d: format(d, "f")),
).map(lambda n: {"N": n})


def _values(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[ValueRef]:
    return strategy.map(lambda value: ValueRef("", value))


def _operands() -> st.SearchStrategy[Operand]:
    return st.one_of(
        _paths(),
        _values(st.one_of(_strings, _numbers)),
        _paths().map(lambda path: Call("size", (path,))),
    )


@st.composite
def _leaves(draw: st.DrawFn) -> Condition:
    choice = draw(st.integers(0, 5))
    left = draw(_operands())
    if choice == 0:
        right = draw(_operands().filter(lambda o: not (o == left and isinstance(o, PathExpr))))
        op = draw(st.sampled_from(("=", "<>", "<", "<=", ">", ">=")))
        return Comparison(op, left, right)
    if choice == 1:
        low, high = sorted(draw(st.lists(st.integers(-50, 50), min_size=2, max_size=2)))
        return Between(left, ValueRef("", {"N": str(low)}), ValueRef("", {"N": str(high)}))
    if choice == 2:
        return In(left, tuple(draw(st.lists(_operands(), min_size=1, max_size=4))))
    path = draw(_paths())
    if choice == 3:
        return FunctionCondition(
            draw(st.sampled_from(("attribute_exists", "attribute_not_exists"))), (path,)
        )
    if choice == 4:
        type_name = ValueRef("", {"S": draw(st.sampled_from(_TYPES))})
        return FunctionCondition("attribute_type", (path, type_name))
    name = draw(st.sampled_from(("begins_with", "contains")))
    return FunctionCondition(name, (path, draw(_values(_strings))))


def _group(node: Condition, text: str, *looser: type) -> str:
    """``text`` parenthesised when ``node`` binds looser than where it stands."""
    return f"({text})" if isinstance(node, looser) else text


class _Writer:
    """Writes a condition in one dialect; ``names``/``values`` collect DynamoDB's placeholders."""

    def __init__(self, partiql: bool) -> None:
        self.partiql = partiql
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.comparisons = 0

    def condition(self, node: Condition) -> str:
        if isinstance(node, Or):
            right = _group(node.right, self.condition(node.right), Or)
            return f"{self.condition(node.left)} OR {right}"
        if isinstance(node, And):
            left = _group(node.left, self.condition(node.left), Or)
            return f"{left} AND {_group(node.right, self.condition(node.right), Or, And)}"
        if isinstance(node, Not):
            return "NOT " + _group(node.operand, self.condition(node.operand), Or, And)
        if isinstance(node, Comparison):
            self.comparisons += 1
            op = "!=" if self.partiql and node.op == "<>" and self.comparisons % 2 else node.op
            return f"{self.operand(node.left)} {op} {self.operand(node.right)}"
        if isinstance(node, Between):
            subject, low, high = (self.operand(o) for o in (node.subject, node.low, node.high))
            return f"{subject} BETWEEN {low} AND {high}"
        if isinstance(node, In):
            options = ", ".join(self.operand(o) for o in node.options)
            brackets = "[]" if self.partiql and len(node.options) % 2 else "()"
            return f"{self.operand(node.subject)} IN {brackets[0]}{options}{brackets[1]}"
        assert isinstance(node, FunctionCondition)
        if self.partiql and node.name in ("attribute_exists", "attribute_not_exists"):
            negated = " NOT" if node.name == "attribute_exists" else ""
            return f"{self.operand(node.args[0])} IS{negated} MISSING"
        return f"{node.name}({', '.join(self.operand(a) for a in node.args)})"

    def operand(self, operand: Operand) -> str:
        if isinstance(operand, Call):
            return f"{operand.name}({', '.join(self.operand(a) for a in operand.args)})"
        if isinstance(operand, ValueRef):
            if not self.partiql:
                placeholder = f":v{len(self.values)}"
                self.values[placeholder] = operand.value
                return placeholder
            if "S" in operand.value:
                text: str = operand.value["S"]
                return "'" + text.replace("'", "''") + "'"
            return str(operand.value["N"])
        assert isinstance(operand, PathExpr)
        out = ""
        for element in operand.path:
            if isinstance(element, int):
                out += f"[{element}]"
                continue
            out += "." if out else ""
            if self.partiql:
                out += element if element.isidentifier() else '"' + element + '"'
            else:
                placeholder = f"#n{len(self.names)}"
                self.names[placeholder] = element
                out += placeholder
        return out


def _bare(node: object) -> object:
    """``node`` without its placeholders (which differ between the dialects)."""
    if isinstance(node, PathExpr):
        return node.path
    if isinstance(node, ValueRef):
        return repr(node.value)
    if isinstance(node, tuple):
        return tuple(_bare(item) for item in node)
    if dataclasses.is_dataclass(node):
        fields = dataclasses.fields(node)
        return (type(node).__name__, *(_bare(getattr(node, f.name)) for f in fields))
    return node


@given(conditions(_leaves(), max_leaves=8))
@settings(max_examples=300)
def test_both_front_ends_parse_a_shared_condition_alike(condition: Condition) -> None:
    dynamodb, partiql = _Writer(partiql=False), _Writer(partiql=True)
    expression = dynamodb.condition(condition)
    where = partiql.condition(condition)
    context = ExpressionContext(dynamodb.names or None, dynamodb.values or None)
    parsed = parse_condition(expression, context)
    statement = parse_statement(f'SELECT * FROM "t" WHERE {where}')
    assert _bare(parsed) == _bare(statement.where) == _bare(condition)


@pytest.mark.parametrize(
    ("expression", "where"),
    [
        ("a = :v OR b = :v AND NOT c = :v", "a = 1 OR b = 1 AND NOT c = 1"),
        ("NOT a = :v AND b = :v", "NOT a = 1 AND b = 1"),
        ("a = :v OR b = :v OR c = :v", "a = 1 OR b = 1 OR c = 1"),
        ("(a = :v OR b = :v) AND c = :v", "(a = 1 OR b = 1) AND c = 1"),
    ],
)
def test_precedence_is_one(expression: str, where: str) -> None:
    parsed = parse_condition(expression, ExpressionContext(None, {":v": {"N": "1"}}))
    assert _bare(parsed) == _bare(parse_statement(f"SELECT * FROM t WHERE {where}").where)


def test_both_front_ends_count_operators_with_the_grammar() -> None:
    """The shared grammar counts each AND/OR/NOT and comparison against each front end's
    limit, and each front end words the error its own way."""
    many = " OR ".join(["a = :v"] * 151)  # 301 operators
    with pytest.raises(ValidationException, match="too many operators; operator count: 301"):
        parse_condition(many, ExpressionContext(None, {":v": {"N": "1"}}))
    with pytest.raises(ValidationException, match="more than 300 operators"):
        parse_statement("SELECT * FROM t WHERE " + many.replace(":v", "1"))


def test_the_grammar_leaves_its_hooks_to_the_front_ends() -> None:
    with pytest.raises(NotImplementedError):
        ConditionGrammar().disjunction()
