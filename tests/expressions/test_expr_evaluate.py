"""Condition evaluation: DynamoDB's comparison, function and missing-attribute semantics."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit.expressions import ExpressionContext, evaluate, parse_condition

ITEM: dict[str, dict[str, Any]] = {
    "n": {"N": "5"},
    "s": {"S": "hello"},
    "b": {"B": b"hi there"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["dog", "cat"]},
    "ns": {"NS": ["1", "2.50"]},
    "bs": {"BS": [b"x"]},
    "l": {"L": [{"N": "2"}, {"S": "dog"}, {"SS": ["q"]}]},
    "m": {"M": {"x": {"N": "2"}, "y": {"M": {"k": {"S": "v"}}}}},
    "u": {"S": "é𝄞"},
    "n2": {"N": "5.0"},
}


def check(text: str, values: dict[str, dict[str, Any]] | None = None) -> bool:
    return evaluate(parse_condition(text, ExpressionContext(None, values)), ITEM)


def v(**kinds: Any) -> dict[str, dict[str, Any]]:
    return {f":{name}": value for name, value in kinds.items()}


class TestComparisons:
    @pytest.mark.parametrize(
        ("text", "value", "expected"),
        [
            ("n = :x", {"N": "5.00"}, True),
            ("n = :x", {"S": "5"}, False),
            ("n <> :x", {"S": "5"}, True),
            ("n < :x", {"N": "10"}, True),
            ("n < :x", {"S": "10"}, False),
            ("s < :x", {"S": "help"}, True),
            ("s >= :x", {"S": "hello"}, True),
            ("b > :x", {"B": b"hi"}, True),
            ("ss = :x", {"SS": ["cat", "dog"]}, True),
            ("ns = :x", {"NS": ["2.5", "1.0"]}, True),
            ("l = :x", {"L": [{"N": "2.0"}, {"S": "dog"}, {"SS": ["q"]}]}, True),
            ("m.y = :x", {"M": {"k": {"S": "v"}}}, True),
            ("m.x <= :x", {"N": "2"}, True),
            ("l[0] = :x", {"N": "2"}, True),
            ("l[9] = :x", {"N": "2"}, False),
            ("t = :x", {"BOOL": True}, True),
            ("z = :x", {"NULL": True}, True),
        ],
    )
    def test_compare(self, text: str, value: dict[str, Any], expected: bool) -> None:
        assert check(text, {":x": value}) is expected

    def test_numbers_compare_numerically(self) -> None:
        assert check("n = n2")
        assert check("n < :x", v(x={"N": "1e1"}))

    def test_strings_compare_by_utf8_bytes(self) -> None:
        # U+FF61 sorts after U+10000 in UTF-8 but before it in UTF-16
        assert check(":x < :y", v(x={"S": "\uff61"}, y={"S": "\U00010000"}))

    def test_missing_attributes(self) -> None:
        assert not check("nope = :x", v(x={"N": "1"}))
        assert check("nope <> :x", v(x={"N": "1"}))
        assert not check("nope = nothing")
        assert check("nope <> nothing")
        for op in ("<", "<=", ">", ">="):
            assert not check(f"nope {op} nothing")
        assert not check("nope BETWEEN n AND n2")
        assert not check("nope IN (n, s)")

    def test_item_values_of_wrong_type_are_just_false(self) -> None:
        assert not check("l < :x", v(x={"N": "1"}))
        assert not check("n BETWEEN l AND :x", v(x={"N": "9"}))


class TestBetweenAndIn:
    def test_between(self) -> None:
        assert check("n BETWEEN :a AND :b", v(a={"N": "5"}, b={"N": "5"}))
        assert check("s between :a and :b", v(a={"S": "a"}, b={"S": "i"}))
        assert not check("n BETWEEN :a AND :b", v(a={"N": "6"}, b={"N": "7"}))
        assert not check("n BETWEEN :a AND :b", v(a={"S": "0"}, b={"S": "9"}))

    def test_in(self) -> None:
        assert check("n IN (:a, :b)", v(a={"S": "dog"}, b={"N": "5"}))
        assert check("ss IN (:a)", v(a={"SS": ["cat", "dog"]}))
        assert not check("n IN (:a)", v(a={"N": "6"}))


class TestFunctions:
    def test_attribute_exists(self) -> None:
        assert check("attribute_exists(m.y.k)")
        assert not check("attribute_exists(m.y.q)")
        assert check("attribute_not_exists(l[3])")
        assert check("attribute_exists(z)")

    @pytest.mark.parametrize(
        ("path", "kind"),
        [("n", "N"), ("s", "S"), ("b", "B"), ("t", "BOOL"), ("z", "NULL"), ("ss", "SS"),
         ("ns", "NS"), ("bs", "BS"), ("l", "L"), ("m", "M")],
    )  # fmt: skip
    def test_attribute_type(self, path: str, kind: str) -> None:
        assert check(f"attribute_type({path}, :t)", v(t={"S": kind}))
        nothing = "S" if kind != "S" else "N"
        assert not check(f"attribute_type({path}, :t)", v(t={"S": nothing}))

    def test_begins_with(self) -> None:
        assert check("begins_with(s, :p)", v(p={"S": "hel"}))
        assert check("begins_with(b, :p)", v(p={"B": b"hi"}))
        assert not check("begins_with(s, :p)", v(p={"B": b"hel"}))
        assert not check("begins_with(n, :p)", v(p={"S": "5"}))
        assert not check("begins_with(nope, :p)", v(p={"S": "5"}))
        assert check("begins_with(:p, s)", v(p={"S": "hello world"}))

    def test_contains(self) -> None:
        assert check("contains(s, :x)", v(x={"S": "ell"}))
        assert check("contains(b, :x)", v(x={"B": b"there"}))
        assert check("contains(ss, :x)", v(x={"S": "cat"}))
        assert not check("contains(ss, :x)", v(x={"N": "1"}))
        assert check("contains(ns, :x)", v(x={"N": "2.5"}))
        assert check("contains(bs, :x)", v(x={"B": b"x"}))
        assert check("contains(l, :x)", v(x={"S": "dog"}))
        assert check("contains(l, :x)", v(x={"SS": ["q"]}))
        assert not check("contains(m, :x)", v(x={"S": "x"}))
        assert not check("contains(n, :x)", v(x={"N": "5"}))

    @pytest.mark.parametrize(
        ("path", "size"),
        [("s", 5), ("b", 8), ("ss", 2), ("ns", 2), ("l", 3), ("m", 2), ("u", 3)],
    )
    def test_size(self, path: str, size: int) -> None:
        assert check(f"size({path}) = :n", v(n={"N": str(size)}))

    def test_size_of_sizeless_types_is_false(self) -> None:
        for path in ("n", "t", "z", "nope"):
            assert not check(f"size({path}) = :n", v(n={"N": "1"}))
            assert not check(f"size({path}) < :n", v(n={"N": "1"}))

    def test_size_against_string_is_false(self) -> None:
        assert not check("size(s) = :x", v(x={"S": "5"}))


class TestLogic:
    def test_not_and_or(self) -> None:
        values = v(one={"N": "1"})
        assert check("NOT n = :one", values)
        assert check("n = :one OR NOT n = :one", values)
        assert not check("n = :one AND NOT n = :one", values)
        assert check("NOT NOT NOT NOT attribute_exists(n)")
        assert check("(n = :one OR s = s2) OR attribute_exists(t)", values)
        assert not check("NOT attribute_exists(n) AND attribute_exists(s)")
