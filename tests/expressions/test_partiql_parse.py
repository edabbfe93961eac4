"""The PartiQL parser: statements become the expression AST; garbage is a ValidationException."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.errors import ValidationException
from streamkit.expressions import (
    AddAction,
    And,
    Comparison,
    FunctionCondition,
    In,
    PathExpr,
    SetAction,
    render,
)
from streamkit.expressions.partiql import (
    MapOf,
    Param,
    conjuncts,
    parse_statement,
)


def test_select_parses_to_the_expression_ast() -> None:
    statement = parse_statement(
        'SELECT a, "b".c[2] FROM "t"."i" WHERE pk = ? AND begins_with(sk, \'x\') ORDER BY sk DESC'
    )
    assert statement.kind == "SELECT"
    assert (statement.table, statement.index) == ("t", "i")
    assert statement.projection is not None
    assert [p.path for p in statement.projection] == [("a",), ("b", "c", 2)]
    assert isinstance(statement.where, And)
    first, second = conjuncts(statement.where)
    assert isinstance(first, Comparison)
    assert first.left == PathExpr(("pk",), ("#a3",))
    assert isinstance(second, FunctionCondition)
    assert second.name == "begins_with"
    assert statement.order == ("sk", True)
    assert statement.params == 1
    assert statement.values == (Param(0), {"S": "x"})
    assert render(statement.where) == "#a3 = :v0 AND begins_with(#a4, :v1)"
    assert statement.names["#a3"] == "pk"


def test_update_maps_set_add_to_add_and_keeps_sections() -> None:
    statement = parse_statement(
        "UPDATE t SET a = a + 1, s = set_add(s, <<'x'>>) REMOVE b SET c = list_append(c, [?]) "
        "WHERE pk = 'k' RETURNING MODIFIED NEW *"
    )
    assert statement.plan is not None
    words = [section.keyword for section in statement.plan.sections]
    assert words == ["SET", "REMOVE", "ADD"]
    assert isinstance(statement.plan.sections[2].actions[0], AddAction)
    assert isinstance(statement.plan.sections[0].actions[0], SetAction)
    assert statement.returning == "UPDATED_NEW"
    assert render(statement.plan).startswith("SET #a0 = #a0 + :v0")


def test_literals_and_parameters_bind() -> None:
    statement = parse_statement(
        "INSERT INTO t VALUE {'pk': 'it''s', 'n': -1.5e3, 'b': false, 'z': null, "
        "'l': [1, ?], 's': <<1, 2>>, 'q': {'x': ?}}"
    )
    assert statement.item == ":v0"
    assert isinstance(statement.values[0], MapOf)
    bound = statement.bind([{"S": "p1"}, {"N": "7"}])
    item = bound[":v0"]["M"]
    assert item["pk"] == {"S": "it's"}
    assert item["n"] == {"N": "-1.5e3"}
    assert item["b"] == {"BOOL": False}
    assert item["z"] == {"NULL": True}
    assert item["l"] == {"L": [{"N": "1"}, {"S": "p1"}]}
    assert item["s"] == {"NS": ["1", "2"]}
    assert item["q"] == {"M": {"x": {"N": "7"}}}
    with pytest.raises(ValidationException, match="Number of parameters"):
        statement.bind([{"S": "only one"}])


def test_is_missing_in_and_case_insensitive_keywords() -> None:
    statement = parse_statement("select * from t where a is not missing and b in (1, 2)")
    first, second = conjuncts(statement.where)
    assert first == FunctionCondition("attribute_exists", (PathExpr(("a",), ("#a0",)),))
    assert isinstance(second, In)


def test_parses_are_memoised() -> None:
    text = "SELECT * FROM t WHERE pk = 'memo'"
    assert parse_statement(text) is parse_statement(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT",
        "SELECT * FROM t WHERE",
        "SELECT * FROM t WHERE a",
        "SELECT * FROM t WHERE a = ",
        "SELECT * FROM t t2",
        "DELETE FROM t WHERE a = 1 RETURNING ALL NEW *",
        "UPDATE t SET a = set_add(b, <<1>>) WHERE pk = 1",
        "INSERT INTO t VALUE {'a': <<>>}",
        "INSERT INTO t VALUE {'a': <<1, 'x'>>}",
        "SELECT * FROM t WHERE a = 1 ;",
        "SELECT * FROM t WHERE a = @",
        "SELECT * FROM t WHERE a = " + "[" * 40 + "]" * 40,
        "SELECT * FROM t WHERE " + "NOT " * 200 + "a = 1",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(ValidationException):
        parse_statement(text)


_PIECES = st.sampled_from(
    [
        "SELECT", "*", "FROM", '"t"', "t", ".", "WHERE", "pk", "=", "?", "'s'", "1", "-2.5",
        "AND", "OR", "NOT", "(", ")", "[", "]", "{", "}", "<<", ">>", ",", ":", "IN",
        "BETWEEN", "IS", "MISSING", "NULL", "size(", "begins_with(", "contains(", "INSERT",
        "INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "ALL", "OLD",
        "NEW", "MODIFIED", "ORDER", "BY", "DESC", "EXISTS", "set_add(", "list_append(",
        "+", "-", "<>", "!=", "<=", "true", "'", '"',
    ]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=40), st.text(max_size=60), st.integers(0, 300))
@settings(max_examples=400)
def test_no_statement_raises_anything_but_validation(
    pieces: list[str], noise: str, depth: int
) -> None:
    joined = " ".join(pieces)
    deep = "SELECT * FROM t WHERE " + "(" * depth + "a = 1" + ")" * depth
    nested = "INSERT INTO t VALUE {'a': " + "[" * depth + "]" * depth + "}"
    for text in (joined, noise, joined + noise, deep, nested):
        with contextlib.suppress(ValidationException):
            parse_statement(text)
