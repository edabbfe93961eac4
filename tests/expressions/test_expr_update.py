"""apply_update: SET / REMOVE / ADD / DELETE semantics and evaluation-time errors."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import ValidationException
from streamkit.expressions import ExpressionContext, apply_update, parse_update
from streamkit.expressions._values import add_numbers, canonical_number

Item = dict[str, dict[str, Any]]


def n(x: str) -> dict[str, Any]:
    return {"N": x}


def s(x: str) -> dict[str, Any]:
    return {"S": x}


def update(
    item: Item,
    text: str,
    values: dict[str, dict[str, Any]] | None = None,
    names: dict[str, str] | None = None,
) -> Item:
    ctx = ExpressionContext(names, values)
    plan = parse_update(text, ctx)
    ctx.check_unused()
    before = copy.deepcopy(item)
    after = apply_update(plan, item)
    assert item == before, "input item must not change"
    return after


def update_error(item: Item, text: str, values: dict[str, dict[str, Any]] | None = None) -> str:
    with pytest.raises(ValidationException) as exc:
        update(item, text, values)
    return exc.value.message


BAD_TYPE = "An operand in the update expression has an incorrect data type"
BAD_PATH = "The document path provided in the update expression is invalid for update"
MISSING = "The provided expression refers to an attribute that does not exist in the item"


class TestSet:
    def test_set_and_copy(self) -> None:
        out = update({"a": s("hi")}, "SET b = a, c = :v", {":v": n("4")})
        assert out == {"a": s("hi"), "b": s("hi"), "c": n("4")}

    def test_operands_read_the_original_item(self) -> None:
        assert update_error({}, "SET x = :v, y = x", {":v": n("1")}) == MISSING
        out = update({"a": s("x")}, "REMOVE a SET b = a")
        assert out == {"b": s("x")}

    def test_missing_operand(self) -> None:
        assert update_error({}, "SET c = z") == MISSING
        assert update_error({"a": n("1")}, "SET a = a + b") == MISSING

    def test_arithmetic(self) -> None:
        item = {"a": n("2")}
        assert update(item, "SET a = a + :v", {":v": n("3")})["a"] == n("5")
        assert update(item, "SET a = :v - a", {":v": n("7")})["a"] == n("5")
        assert update(item, "SET b = a + a")["b"] == n("4")

    def test_arithmetic_precision(self) -> None:
        values = {":a": n("1"), ":b": n("10000000000000000000000")}
        assert update({}, "SET x = :a + :b", values)["x"] == n("10000000000000000000001")
        assert update({}, "SET x = :b - :a", values)["x"] == n("9999999999999999999999")
        assert update({}, "SET x = :a - :a", {":a": n("1")})["x"] == n("0")
        assert update({}, "SET x = :a + :c", {":a": n("0.1"), ":c": n("0.2")})["x"] == n("0.3")

    @given(
        st.integers(min_value=-(10**20), max_value=10**20),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.booleans(),
    )
    def test_integer_arithmetic_matches_decimal(self, a: int, b: int, subtract: bool) -> None:
        # integers that fit in 18 digits take a shortcut past Decimal; both give one answer
        exact = Decimal(a) - Decimal(b) if subtract else Decimal(a) + Decimal(b)
        assert add_numbers(str(a), str(b), subtract=subtract) == canonical_number(exact)

    @pytest.mark.parametrize(
        ("a", "b", "message"),
        [
            ("9e125", "9e125", "overflow"),
            ("1e50", "1", "overflow"),
            ("1e-130", "-0.9e-130", "underflow"),
        ],
    )
    def test_arithmetic_range(self, a: str, b: str, message: str) -> None:
        error = update_error({}, "SET x = :a + :b", {":a": n(a), ":b": n(b)})
        assert f"Number {message}. Attempting to store a number with magnitude" in error

    def test_arithmetic_on_item_value_of_wrong_type(self) -> None:
        assert update_error({"a": s("x")}, "SET e = a + :v", {":v": n("1")}) == BAD_TYPE

    def test_if_not_exists(self) -> None:
        values = {":v": n("2")}
        assert update({}, "SET a = if_not_exists(a, :v)", values) == {"a": n("2")}
        assert update({"a": n("1")}, "SET a = if_not_exists(a, :v)", values) == {"a": n("1")}
        assert update({"c": n("1")}, "SET b = if_not_exists(c, :v) + :v", values)["b"] == n("3")

    def test_list_append(self) -> None:
        item: Item = {"l": {"L": [n("1")]}}
        values = {":v": {"L": [n("2")]}}
        assert update(item, "SET l = list_append(l, :v)", values)["l"] == {"L": [n("1"), n("2")]}
        assert update(item, "SET l = list_append(:v, l)", values)["l"] == {"L": [n("2"), n("1")]}
        out = update(
            {}, "SET l = list_append(if_not_exists(l, :e), :v)", {**values, ":e": {"L": []}}
        )
        assert out["l"] == {"L": [n("2")]}
        assert update_error({"l": s("x")}, "SET l = list_append(l, :v)", values) == BAD_TYPE
        assert update_error({}, "SET l = list_append(l, :v)", values) == MISSING

    def test_nested(self) -> None:
        inner: dict[str, Any] = {"M": {"x": {"L": [n("3"), n("5")]}}}
        item: Item = {"a": {"M": {"b": n("3"), "c": {"L": [s("hi"), inner]}}}}
        out = update(item, "SET a.c[1].#k[1] = :v, a.d = :v", {":v": n("9")}, {"#k": "x"})
        assert out["a"]["M"]["c"]["L"][1] == {"M": {"x": {"L": [n("3"), n("9")]}}}
        assert out["a"]["M"]["d"] == n("9")
        assert item["a"]["M"]["c"]["L"][1] is inner

    def test_nested_replaces_with_any_type(self) -> None:
        out = update({"a": {"M": {"c": {"M": {}}}}}, "SET a.c = :v", {":v": n("7")})
        assert out == {"a": {"M": {"c": n("7")}}}

    @pytest.mark.parametrize(
        "text", ["SET a.c = :v", "SET b.c = :v", "SET c.c = :v", "SET a[0] = :v", "SET x[0] = :v",
                 "SET b[5].c = :v", "SET m[0] = :v", "SET b.x = :v"],
    )  # fmt: skip
    def test_invalid_document_path(self, text: str) -> None:
        item: Item = {"a": s("hello"), "b": {"L": [s("hi")]}, "m": {"M": {}}}
        assert update_error(item, text, {":v": n("7")}) == BAD_PATH

    def test_list_index_beyond_end_appends_in_index_order(self) -> None:
        item: Item = {"a": {"L": [s("one"), s("two"), s("three")]}}
        out = update(item, "SET a[7] = :v", {":v": s("hello")})
        assert out["a"]["L"][-1] == s("hello")
        values = {":a": s("a1"), ":b": s("a2"), ":c": s("a3"), ":d": s("a4")}
        out = update(item, "SET a[84] = :a, a[37] = :b, a[17] = :c, a[50] = :d", values)
        assert [e["S"] for e in out["a"]["L"]] == ["one", "two", "three", "a3", "a2", "a4", "a1"]

    def test_empty_values_allowed(self) -> None:
        values: dict[str, dict[str, Any]] = {
            ":l": {"L": []},
            ":m": {"M": {}},
            ":s": s(""),
            ":b": {"B": b""},
        }
        out = update({}, "SET d = :l, e = :m, f = :s, g = :b", values)
        assert out == {"d": {"L": []}, "e": {"M": {}}, "f": s(""), "g": {"B": b""}}

    def test_values_are_copied(self) -> None:
        values = {":l": {"L": [n("1")]}}
        out = update({}, "SET a = :l, b = :l", values)
        out["a"]["L"].append(n("2"))
        assert out["b"] == {"L": [n("1")]}
        assert values[":l"] == {"L": [n("1")]}


class TestRemove:
    def test_remove(self) -> None:
        assert update({"a": s("x"), "b": s("y")}, "REMOVE a, c") == {"b": s("y")}

    def test_nested_and_list_elements(self) -> None:
        inner: dict[str, Any] = {
            "M": {"x": {"M": {"y": {"L": [n("3"), n("5"), n("7")]}}}, "q": n("2")}
        }
        item: Item = {"a": {"M": {"b": n("3"), "c": {"L": [s("hi"), inner]}}}}
        out = update(item, "REMOVE a.c[1].x.y[1], a.c[1].q")
        assert out["a"]["M"]["c"]["L"][1] == {"M": {"x": {"M": {"y": {"L": [n("3"), n("7")]}}}}}

    def test_indexes_refer_to_the_original_list(self) -> None:
        item: Item = {"a": {"L": [n(str(i)) for i in range(2, 8)]}}
        for text in ("REMOVE a[1] SET a[3] = :v", "SET a[3] = :v REMOVE a[1]"):
            out = update(item, text, {":v": n("17")})
            assert [e["N"] for e in out["a"]["L"]] == ["2", "4", "17", "6", "7"]
        out = update(item, "REMOVE a[0], a[2], a[4]")
        assert [e["N"] for e in out["a"]["L"]] == ["3", "5", "7"]

    def test_remove_beyond_end_does_not_hit_appended(self) -> None:
        item: Item = {"a": {"L": [n("1")]}}
        out = update(item, "REMOVE a[1] SET a[5] = :v", {":v": n("9")})
        assert out["a"] == {"L": [n("1"), n("9")]}

    def test_missing_leaf_is_ignored(self) -> None:
        item: Item = {"a": {"M": {"x": n("3")}}, "b": {"L": [s("hi")]}}
        assert update(item, "REMOVE a.y, b[7], c") == item

    def test_singletons_leave_empty_containers(self) -> None:
        assert update({"a": {"M": {"b": n("1")}}}, "REMOVE a.b") == {"a": {"M": {}}}
        assert update({"a": {"L": [n("1")]}}, "REMOVE a[0]") == {"a": {"L": []}}

    @pytest.mark.parametrize("text", ["REMOVE a.c", "REMOVE b.c", "REMOVE c.c", "REMOVE a[0]"])
    def test_invalid_parent(self, text: str) -> None:
        assert update_error({"a": s("hello"), "b": {"L": [s("hi")]}}, text) == BAD_PATH


class TestAdd:
    def test_numbers(self) -> None:
        assert update({"a": n("3")}, "ADD a :v", {":v": n("4")}) == {"a": n("7")}
        assert update({}, "ADD a :v", {":v": n("-4.5")}) == {"a": n("-4.5")}
        assert update({"m": {"M": {}}}, "ADD m.x :v", {":v": n("1")}) == {"m": {"M": {"x": n("1")}}}

    def test_sets(self) -> None:
        item: Item = {"a": {"SS": ["dog", "cat"]}}
        out = update(item, "ADD a :v", {":v": {"SS": ["pig", "cat"]}})
        assert out == {"a": {"SS": ["dog", "cat", "pig"]}}
        assert update({}, "ADD b :v", {":v": {"NS": ["1"]}}) == {"b": {"NS": ["1"]}}
        out = update({"a": {"NS": ["1.0"]}}, "ADD a :v", {":v": {"NS": ["1", "2"]}})
        assert out == {"a": {"NS": ["1.0", "2"]}}

    @pytest.mark.parametrize(
        ("existing", "operand"),
        [(s("hi"), n("1")), ({"SS": ["a"]}, {"NS": ["1"]}), ({"NS": ["1"]}, n("1")),
         ({"L": []}, {"SS": ["a"]}), ({"M": {}}, {"NS": ["1"]})],
    )  # fmt: skip
    def test_type_mismatch(self, existing: dict[str, Any], operand: dict[str, Any]) -> None:
        assert update_error({"a": existing}, "ADD a :v", {":v": operand}) == BAD_TYPE

    def test_nested_missing_parent(self) -> None:
        assert update_error({}, "ADD a.b :v", {":v": n("1")}) == BAD_PATH


class TestDelete:
    def test_delete(self) -> None:
        item: Item = {"a": {"SS": ["dog", "cat", "mouse"]}, "b": s("hi")}
        out = update(item, "DELETE a :v", {":v": {"SS": ["cat", "mouse", "pig"]}})
        assert out == {"a": {"SS": ["dog"]}, "b": s("hi")}

    def test_delete_last_removes_attribute(self) -> None:
        item: Item = {"a": {"NS": ["1", "2"]}, "m": {"M": {"s": {"BS": [b"x"]}}}}
        out = update(
            item, "DELETE a :v, m.s :b", {":v": {"NS": ["2.0", "1"]}, ":b": {"BS": [b"x"]}}
        )
        assert out == {"m": {"M": {}}}

    def test_delete_from_missing_is_noop(self) -> None:
        assert update({}, "DELETE a :v", {":v": {"SS": ["x"]}}) == {}

    def test_delete_under_missing_parent(self) -> None:
        assert update_error({}, "DELETE y.a :v", {":v": {"SS": ["x"]}}) == BAD_PATH

    def test_type_mismatch(self) -> None:
        assert update_error({"a": {"NS": ["1"]}}, "DELETE a :v", {":v": {"SS": ["1"]}}) == BAD_TYPE
        assert update_error({"a": n("1")}, "DELETE a :v", {":v": {"NS": ["1"]}}) == BAD_TYPE


class TestUpdatedPaths:
    def test_paths(self) -> None:
        plan = parse_update("SET a.b = :v ADD c :v", ExpressionContext(None, {":v": n("1")}))
        assert plan.updated_paths == (("a", "b"), ("c",))
