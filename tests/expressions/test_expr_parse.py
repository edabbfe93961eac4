"""Parsing and validation of condition, update and projection expressions: DynamoDB's messages."""

from __future__ import annotations

from typing import Any

import pytest

from streamkit.errors import ExpressionSyntaxError, ValidationException
from streamkit.expressions import (
    RESERVED_WORDS,
    And,
    Comparison,
    ExpressionContext,
    Not,
    Or,
    PathExpr,
    SetAction,
    UpdatePlan,
    ValueRef,
    parse_condition,
    parse_projection,
    parse_update,
)

VALUES: dict[str, dict[str, Any]] = {
    ":v": {"N": "1"},
    ":w": {"N": "2"},
    ":s": {"S": "x"},
    ":a": {"S": "N"},
    ":z": {"S": "z"},
    ":l": {"L": [{"N": "1"}]},
    ":ss": {"SS": ["a"]},
    ":ns": {"NS": ["1"]},
    ":t": {"S": "DOG"},
    ":bool": {"BOOL": True},
    ":m": {"M": {}},
    ":b": {"B": b"z"},
    ":b2": {"B": b"a"},
}
NAMES = {"#c": "c", "#d": "[3]", "#n": "status"}


def ctx() -> ExpressionContext:
    return ExpressionContext(NAMES, VALUES)


def condition_error(text: str, kind: str = "ConditionExpression") -> str:
    with pytest.raises(ValidationException) as exc:
        parse_condition(text, ctx(), kind=kind)
    return exc.value.message


def update_error(text: str) -> str:
    with pytest.raises(ValidationException) as exc:
        parse_update(text, ctx())
    return exc.value.message


class TestReservedWords:
    def test_full_list(self) -> None:
        assert len(RESERVED_WORDS) == 573
        assert {"ABORT", "STATUS", "NAME", "ZONE", "FLATTERN", "SIZE"} <= RESERVED_WORDS

    @pytest.mark.parametrize("word", ["status", "Name", "COMMENT", "abOrt"])
    def test_reserved_attribute_name(self, word: str) -> None:
        assert condition_error(f"{word} = :v") == (
            "Invalid ConditionExpression: Attribute name is a reserved keyword; "
            f"reserved keyword: {word}"
        )

    def test_placeholder_for_reserved_word(self) -> None:
        cond = parse_condition("#n = :v", ctx())
        assert cond == Comparison("=", PathExpr(("status",), ("#n",)), ValueRef(":v", VALUES[":v"]))

    def test_nested_reserved_word(self) -> None:
        assert condition_error("a.#c.COMMENT = :v").endswith("reserved keyword: COMMENT")

    def test_function_names_are_not_reserved_checked(self) -> None:
        parse_condition("size(a) > :v", ctx())


class TestSyntaxErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("foo", 'Syntax error; token: "<EOF>", near: "foo"'),
            ("a = ", 'Syntax error; token: "<EOF>", near: "="'),
            ("a IN ()", 'Syntax error; token: ")", near: "()"'),
            ("attribute_type()", 'Syntax error; token: ")", near: "()"'),
            ("a[abc] = :v", 'Syntax error; token: "abc", near: "[abc]"'),
            ("a[].b = :v", 'Syntax error; token: "]", near: "[]."'),
            ("a[-1] = :v", 'Syntax error; token: "-", near: "[-1"'),
            ("a = :v)", 'Syntax error; token: ")", near: ":v)"'),
            ("_a = :v", 'Syntax error; token: "_", near: "_a"'),
            ("a = # ", 'Syntax error; token: "#", near: "= #"'),
        ],
    )
    def test_condition(self, text: str, message: str) -> None:
        assert condition_error(text) == f"Invalid ConditionExpression: {message}"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("ADD hits : incr", 'token: ":", near: "hits : incr"'),
            ("INVALID SYNTAX HERE", 'token: "INVALID", near: "INVALID SYNTAX"'),
            ("SET _123 = :v", 'token: "_", near: "SET _123"'),
            ("SET a = :v,", 'token: "<EOF>", near: ","'),
            ("ADD numx", 'token: "<EOF>", near: "numx"'),
            ("ADD numx 1", 'token: "1", near: "numx 1"'),
            ("DELETE setx a", 'token: "a", near: "setx a"'),
            ("SET note = :v +", 'token: "<EOF>", near: "+"'),
            ("SET numx = numx * :v", 'token: "*", near: "numx * :v"'),
            ("SET a[:v] = :v", 'token: ":v", near: "[:v]"'),
            ("SET a[#c] = :v", 'token: "#c", near: "[#c]"'),
            ("SET :a = :v", 'token: ":a", near: "SET :a ="'),
            ("SET a = b + c + d", 'token: "+", near: "c + d"'),
            ("SET c = if_not_exists(c, :v+:w)", 'token: "+", near: ":v+:w"'),
            ("SET a = _f(b)", 'token: "_", near: "= _f"'),
            ("set a = (b.c).d + e", 'token: ".", near: ").d"'),
            ("SET a = 5", 'token: "5", near: "= 5"'),
            ("remove a = b", 'token: "=", near: "a = b"'),
        ],
    )
    def test_update(self, text: str, message: str) -> None:
        assert update_error(text) == f"Invalid UpdateExpression: Syntax error; {message}"

    def test_syntax_error_carries_position(self) -> None:
        with pytest.raises(ExpressionSyntaxError) as exc:
            parse_condition("a = = :v", ctx())
        assert exc.value.position == 4
        assert exc.value.expression == "a = = :v"

    def test_names_may_start_with_digits_after_sigil(self) -> None:
        c = ExpressionContext({"#123": "x", "#_": "y"}, {":1": {"N": "1"}, ":_": {"N": "2"}})
        parse_condition("#123 = :1 AND #_ = :_", c)
        c.check_unused()


class TestEmptyAndSize:
    @pytest.mark.parametrize("kind", ["ConditionExpression", "FilterExpression"])
    def test_empty(self, kind: str) -> None:
        assert condition_error("", kind) == f"Invalid {kind}: The expression can not be empty;"
        assert condition_error("  \n", kind) == f"Invalid {kind}: The expression can not be empty;"

    def test_empty_update_and_projection(self) -> None:
        assert update_error("") == "Invalid UpdateExpression: The expression can not be empty;"
        with pytest.raises(ValidationException, match="ProjectionExpression: The expression can"):
            parse_projection("", ctx())

    def test_condition_size_limit_has_suffix(self) -> None:
        text = "attribute_not_exists(a" + "z" * 4090 + ")"
        assert len(text) == 4113
        assert condition_error(text) == (
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size;"
            " expression size: 4113"
        )

    def test_update_and_projection_size_limit(self) -> None:
        assert update_error("SET a" + "z" * 4092 + " = :v") == (
            "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size;"
        )
        with pytest.raises(ValidationException) as exc:
            parse_projection("a" + "z" * 4096, ctx())
        assert exc.value.message == (
            "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size;"
        )

    def test_exactly_4096_bytes_is_accepted(self) -> None:
        assert parse_projection("a" + "z" * 4095, ctx()) == (("a" + "z" * 4095,),)


class TestPlaceholders:
    def test_undefined_value(self) -> None:
        assert condition_error("foo = :foo") == (
            "Invalid ConditionExpression: An expression attribute value used in expression is "
            "not defined; attribute value: :foo"
        )

    def test_undefined_name(self) -> None:
        assert update_error("SET #nope = :v") == (
            "Invalid UpdateExpression: An expression attribute name used in the document path is "
            "not defined; attribute name: #nope"
        )

    def test_update_reports_names_before_values(self) -> None:
        assert "attribute name: #x" in update_error("SET a = :nope, #x = :v")

    def test_no_maps_at_all(self) -> None:
        with pytest.raises(ValidationException, match="attribute value: :v"):
            parse_condition("a = :v", ExpressionContext(None, None))

    def test_unused_names_then_values(self) -> None:
        c = ExpressionContext({"#a": "a", "#b": "b"}, {":v": {"N": "1"}, ":w": {"N": "1"}})
        parse_condition("#a = :v", c)
        with pytest.raises(ValidationException) as exc:
            c.check_unused()
        assert exc.value.message == (
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
        )

    def test_unused_values_lists_all(self) -> None:
        c = ExpressionContext(None, {":a": {"N": "1"}, ":b": {"N": "1"}, ":c": {"N": "1"}})
        parse_condition("x = :b", c)
        with pytest.raises(ValidationException) as exc:
            c.check_unused()
        assert exc.value.message == (
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :c}"
        )

    def test_usage_is_shared_between_expressions(self) -> None:
        c = ExpressionContext({"#a": "a", "#b": "b"}, {":v": {"N": "1"}})
        parse_condition("#a = :v", c, kind="KeyConditionExpression")
        parse_projection("#b", c)
        c.check_unused()

    def test_empty_maps_rejected_at_construction(self) -> None:
        with pytest.raises(
            ValidationException, match=r"^ExpressionAttributeNames must not be empty$"
        ):
            ExpressionContext({}, None)
        with pytest.raises(
            ValidationException, match=r"^ExpressionAttributeValues must not be empty$"
        ):
            ExpressionContext(None, {})

    def test_invalid_keys(self) -> None:
        with pytest.raises(ValidationException) as exc:
            ExpressionContext({"a": "a"}, None)
        assert exc.value.message == (
            'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
        )
        with pytest.raises(ValidationException, match='invalid key: Syntax error; key: "b"'):
            ExpressionContext(None, {"b": {"S": "x"}})

    def test_dot_in_placeholder_name_is_one_element(self) -> None:
        c = ExpressionContext({"#ab": "a.b"}, None)
        assert parse_projection("#ab", c) == (("a.b",),)


class TestConditionRules:
    def test_precedence(self) -> None:
        cond = parse_condition("a = :v OR b = :v AND NOT c = :v", ctx())
        assert isinstance(cond, Or)
        assert isinstance(cond.right, And)
        assert isinstance(cond.right.right, Not)

    def test_keywords_are_case_insensitive(self) -> None:
        parse_condition("a between :v and :w aNd b in (:v) oR nOt c = :v", ctx())

    def test_function_names_are_case_sensitive(self) -> None:
        assert condition_error("ATTRIBUTE_EXISTS(a)") == (
            "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS"
        )

    def test_redundant_parentheses(self) -> None:
        message = "Invalid ConditionExpression: The expression has redundant parentheses;"
        assert condition_error("((a = :v))") == message
        assert condition_error("((a)) = :v") == message
        parse_condition("((a = :v) AND (b = :v))", ctx())
        parse_condition("(a) = :v AND (b = :v)", ctx())

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("size(a)", "The function is not allowed to be used this way in an expression; "
             "function: size"),
            ("attribute_exists(a) < :v", "The function is not allowed to be used this way in an "
             "expression; function: attribute_exists"),
            ("size(contains(a, :s)) > :v", "The function is not allowed to be used this way in "
             "an expression; function: contains"),
            ("dog(a) = :v", "Invalid function name; function: dog"),
            ("if_not_exists(a, b) = :v", "The function is not allowed in a condition expression; "
             "function: if_not_exists"),
            ("list_append(a, b) = :v", "The function is not allowed in a condition expression; "
             "function: list_append"),
            ("contains(a)", "Incorrect number of operands for operator or function; operator or "
             "function: contains, number of operands: 1"),
            ("begins_with(a, :s, :s)", "Incorrect number of operands for operator or function; "
             "operator or function: begins_with, number of operands: 3"),
            ("size(a, a) = :v", "Incorrect number of operands for operator or function; operator "
             "or function: size, number of operands: 2"),
            ("contains(a, a)", "The first operand must be distinct from the remaining operands "
             "for this operator or function; operator: contains, first operand: [a]"),
            ("attribute_exists(:v)", "Operator or function requires a document path; operator or "
             "function: attribute_exists"),
            ("attribute_type(a, :t)", "Invalid attribute type name found; type: DOG, valid "
             "types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
            ("attribute_type(a, :v)", "Incorrect operand type for operator or function; operator "
             "or function: attribute_type, operand type: N"),
            ("begins_with(a, :v)", "Incorrect operand type for operator or function; operator or "
             "function: begins_with, operand type: N"),
            ("size(:v) = :v", "Incorrect operand type for operator or function; operator or "
             "function: size, operand type: N"),
            ("a < :l", "Incorrect operand type for operator or function; operator or function: "
             "<, operand type: L"),
            ("a BETWEEN :w AND :v", "The BETWEEN operator requires upper bound to be greater than "
             "or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound "
             "operand: AttributeValue: {N:1}"),
            ("a BETWEEN :z AND :a", "The BETWEEN operator requires upper bound to be greater than "
             "or equal to lower bound; lower bound operand: AttributeValue: {S:z}, upper bound "
             "operand: AttributeValue: {S:N}"),
            ("a BETWEEN :b AND :b2", "The BETWEEN operator requires upper bound to be greater "
             "than or equal to lower bound; lower bound operand: AttributeValue: {B:eg==}, upper "
             "bound operand: AttributeValue: {B:YQ==}"),
            ("a BETWEEN :v AND :s", "The BETWEEN operator requires same data type for lower and "
             "upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: "
             "AttributeValue: {S:x}"),
        ],
    )  # fmt: skip
    def test_validation_messages(self, text: str, message: str) -> None:
        assert condition_error(text) == f"Invalid ConditionExpression: {message}"

    def test_between_with_item_operands_is_not_validated(self) -> None:
        parse_condition("a BETWEEN b AND :v", ctx())
        parse_condition("a BETWEEN :v AND :v", ctx())

    def test_attribute_type_accepts_a_value_first(self) -> None:
        parse_condition("attribute_type(:v, :a) OR a = :v", ctx())

    def test_in_limit(self) -> None:
        values = {f":v{i}": {"N": str(i)} for i in range(101)}
        c = ExpressionContext(None, values)
        parse_condition(f"a IN ({', '.join(list(values)[:100])})", c)
        with pytest.raises(ValidationException) as exc:
            parse_condition(f"a IN ({', '.join(values)})", c)
        assert exc.value.message == (
            "Invalid ConditionExpression: Too many operands for the operator or function; "
            "operator or function: IN, number of operands: 101"
        )

    def test_error_priority(self) -> None:
        # an unknown function outranks a reserved word, which outranks an undefined value
        assert "Invalid function name" in condition_error("status = :nope AND dog(a)")
        assert "reserved keyword" in condition_error("status = :nope")

    def test_kind_prefix(self) -> None:
        assert condition_error("a", "FilterExpression").startswith("Invalid FilterExpression: ")


class TestUpdateRules:
    @pytest.mark.parametrize("keyword", ["SET", "REMOVE", "ADD", "DELETE"])
    def test_section_once(self, keyword: str) -> None:
        body = {"SET": "a = :v", "REMOVE": "a", "ADD": "a :v", "DELETE": "a :ss"}[keyword]
        other = {"SET": "b = :v", "REMOVE": "b", "ADD": "b :v", "DELETE": "b :ss"}[keyword]
        middle = "REMOVE z" if keyword != "REMOVE" else "SET z = :v"
        assert update_error(f"{keyword} {body} {middle} {keyword} {other}") == (
            f'Invalid UpdateExpression: The "{keyword}" section can only be used once in an '
            "update expression;"
        )

    def test_sections_in_any_order_and_case(self) -> None:
        plan = parse_update("remove a sEt b = :v delete c :ss add d :v", ctx())
        assert [s.keyword for s in plan.sections] == ["REMOVE", "SET", "DELETE", "ADD"]

    @pytest.mark.parametrize(
        ("text", "one", "two"),
        [
            ("SET a = :v REMOVE a", "[a]", "[a]"),
            ("SET a = :v, a.b = :w", "[a]", "[a, b]"),
            ("SET a[1][1] = :v, a[1] = :w", "[a, [1], [1]]", "[a, [1]]"),
            ("SET lst[0] = :v, lst[0].ok = :v", "[lst, [0]]", "[lst, [0], ok]"),
            ("SET #c = :v, c = :w", "[c]", "[c]"),
            ("set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)", "[c, [1], a]", "[c]"),
            ("set #c[3].#d = a, #c[3] = a", "[c, [3], [3]]", "[c, [3]]"),
        ],
    )
    def test_overlap(self, text: str, one: str, two: str) -> None:
        assert update_error(text) == (
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            f"or rewrite one of these paths; path one: {one}, path two: {two}"
        )

    @pytest.mark.parametrize(
        ("text", "one", "two"),
        [
            ("SET a.b = :v, a[1] = :w", "[a, b]", "[a, [1]]"),
            ("remove a.#c set a[1] = #d", "[a, c]", "[a, [1]]"),
            ("set #c[3].#d = a, #c.#d[3] = if_not_exists(a, :v)", "[c, [3], [3]]",
             "[c, [3], [3]]"),
        ],
    )  # fmt: skip
    def test_conflict(self, text: str, one: str, two: str) -> None:
        assert update_error(text) == (
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove "
            f"or rewrite one of these paths; path one: {one}, path two: {two}"
        )

    def test_reading_a_written_path_is_fine(self) -> None:
        parse_update("REMOVE a SET b = a, c = a.x", ctx())
        parse_update("SET a.b = :v, a.c = :v, b[1] = :v, b[2] = :v", ctx())

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("ADD a :s", "operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"),
            ("ADD a :l", "operator: ADD, operand type: LIST, typeSet: ALLOWED_FOR_ADD_OPERAND"),
            ("ADD a :m", "operator: ADD, operand type: MAP, typeSet: ALLOWED_FOR_ADD_OPERAND"),
            ("ADD a :bool",
             "operator: ADD, operand type: BOOLEAN, typeSet: ALLOWED_FOR_ADD_OPERAND"),
            ("DELETE a :v",
             "operator: DELETE, operand type: NUMBER, typeSet: ALLOWED_FOR_DELETE_OPERAND"),
            ("DELETE a :b",
             "operator: DELETE, operand type: BINARY, typeSet: ALLOWED_FOR_DELETE_OPERAND"),
        ],
    )  # fmt: skip
    def test_add_delete_operand_types(self, text: str, message: str) -> None:
        assert update_error(text) == (
            f"Invalid UpdateExpression: Incorrect operand type for operator or function; {message}"
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("SET a = f(b, c)", "Invalid function name; function: f"),
            ("SET a = LIST_APPEND(:l, :l)", "Invalid function name; function: LIST_APPEND"),
            ("SET a = contains(s, :s)",
             "The function is not allowed in an update expression; function: contains"),
            ("SET a = size(s)", "The function is not allowed in an update expression; "
             "function: size"),
            ("SET a = list_append(list_append(l, :l), :l)",
             "The function is not allowed to be used this way in an expression; "
             "function: list_append"),
            ("SET a = list_append(:l)", "Incorrect number of operands for operator or function; "
             "operator or function: list_append, number of operands: 1"),
            ("SET a = if_not_exists(c)", "Incorrect number of operands for operator or function; "
             "operator or function: if_not_exists, number of operands: 1"),
            ("SET a = if_not_exists(:v, c)", "Operator or function requires a document path; "
             "operator or function: if_not_exists"),
            ("SET a = if_not_exists(if_not_exists(a, b), c)", "Operator or function requires a "
             "document path; operator or function: if_not_exists"),
            ("SET a = list_append(:s, a)", "Incorrect operand type for operator or function; "
             "operator or function: list_append, operand type: S"),
            ("SET a = a + :s", "Incorrect operand type for operator or function; operator or "
             "function: +, operand type: S"),
            ("SET a = :b - a", "Incorrect operand type for operator or function; operator or "
             "function: -, operand type: B"),
            ("SET a = a + :ss", "Incorrect operand type for operator or function; operator or "
             "function: +, operand type: SS"),
            (" set #c = :v set abOrt = a ", "Attribute name is a reserved keyword; reserved "
             "keyword: abOrt"),
            ("set #c = if_not_exist(:c) set c = d", "Invalid function name; function: "
             "if_not_exist"),
        ],
    )  # fmt: skip
    def test_validation_messages(self, text: str, message: str) -> None:
        assert update_error(text) == f"Invalid UpdateExpression: {message}"

    def test_accepted_shapes(self) -> None:
        for text in (
            "SET a = list_append(if_not_exists(a, :l), :l)",
            "SET b = if_not_exists(b, :v) + :w",
            "SET a = (b + c)",
            "SET a = (b) + (c)",
            "SET a = if_not_exists(b, if_not_exists(c, :v))",
            "SET a.c[1].#c.y[1] = :v",
            "ADD a.b :v",
            "DELETE s :ss",
        ):
            parse_update(text, ctx())

    def test_updated_paths(self) -> None:
        plan = parse_update("SET a = :v, b.c = :v REMOVE d[1] ADD #c :v", ctx())
        assert plan.updated_paths == (("a",), ("b", "c"), ("d", 1), ("c",))

    @pytest.mark.parametrize(
        "text",
        ["SET pk = :v", "REMOVE pk", "ADD pk :v", "DELETE pk :ss", "SET pk.b = :v", "ADD sk[1] :v"],
    )
    def test_key_attributes(self, text: str) -> None:
        plan = parse_update(text, ctx())
        with pytest.raises(ValidationException) as exc:
            plan.check_key_attributes({"pk", "sk"})
        name = text.split()[1].split(".")[0].split("[")[0]
        assert exc.value.message == (
            "One or more parameter values were invalid: "
            f"Cannot update attribute {name}. This attribute is part of the key"
        )

    def test_key_attributes_may_be_read(self) -> None:
        parse_update("SET a = pk", ctx()).check_key_attributes(("pk",))


class TestProjectionRules:
    def test_paths(self) -> None:
        assert parse_projection(" a , #c.b[2] , x.y ", ctx()) == (("a",), ("c", "b", 2), ("x", "y"))

    @pytest.mark.parametrize("text", ["a, a", "a.b, a", "a, a.b[2].c", "a[1], a[1]"])
    def test_overlap(self, text: str) -> None:
        with pytest.raises(
            ValidationException, match=r"^Invalid ProjectionExpression: Two .*overlap"
        ):
            parse_projection(text, ctx())

    def test_conflict(self) -> None:
        with pytest.raises(ValidationException) as exc:
            parse_projection("a.b, a[1]", ctx())
        assert exc.value.message == (
            "Invalid ProjectionExpression: Two document paths conflict with each other; must "
            "remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"
        )

    @pytest.mark.parametrize("text", ["a,", ",a", "a,,b", "a b", ":v", "a = :v", "size(a)"])
    def test_syntax(self, text: str) -> None:
        with pytest.raises(ExpressionSyntaxError, match=r"^Invalid ProjectionExpression: Syntax"):
            parse_projection(text, ctx())

    def test_reserved(self) -> None:
        with pytest.raises(ValidationException) as exc:
            parse_projection("list[0].COMMENT", ctx())
        assert exc.value.message == (
            "Invalid ProjectionExpression: Attribute name is a reserved keyword; "
            "reserved keyword: list"
        )


def _value_set(plan: UpdatePlan) -> object:
    (action,) = plan.actions
    assert isinstance(action, SetAction)
    assert isinstance(action.value, ValueRef)
    return action.value.value


class TestMemo:
    """Parses are kept per (text, names, values); a kept one must act like a fresh parse."""

    def test_a_kept_parse_marks_the_placeholders_it_uses(self) -> None:
        names, values = {"#c": "count"}, {":one": {"N": "1"}}
        for _ in range(2):
            ctx = ExpressionContext(names, values)
            parse_update("ADD #c :one", ctx)
            ctx.check_unused()

    def test_placeholders_another_expression_used_first(self) -> None:
        names = {"#c": "count"}
        values = {":one": {"N": "1"}, ":zero": {"N": "0"}}
        both = ExpressionContext(names, values)
        parse_condition("#c > :zero", both)
        parse_update("ADD #c :one", both)
        both.check_unused()
        alone = ExpressionContext(names, {":one": {"N": "1"}})
        parse_update("ADD #c :one", alone)  # its names were marked by the condition before
        alone.check_unused()

    def test_values_are_part_of_the_key_and_copied(self) -> None:
        mine = {":v": {"N": "1"}}
        first = parse_update("SET a = :v", ExpressionContext(None, mine))
        mine[":v"]["N"] = "5"  # the caller reuses its dict
        second = parse_update("SET a = :v", ExpressionContext(None, mine))
        again = parse_update("SET a = :v", ExpressionContext(None, {":v": {"N": "1"}}))
        assert again is first
        assert _value_set(first) == {"N": "1"}
        assert _value_set(second) == {"N": "5"}

    def test_unhashable_input_is_parsed_without_the_memo(self) -> None:
        names: Any = {"#a": ["not", "a", "str"]}  # the engine refuses these before parsing
        plan = parse_update("SET #a = :v", ExpressionContext(names, {":v": {"N": "1"}}))
        assert len(plan.actions) == 1

    def test_failures_are_not_kept(self) -> None:
        with pytest.raises(ValidationException):
            parse_update("SET a = :late", ExpressionContext(None, {":other": {"N": "1"}}))
        with pytest.raises(ValidationException):
            parse_update("SET a = :late", ExpressionContext(None, {":other": {"N": "1"}}))
        plan = parse_update("SET a = :late", ExpressionContext(None, {":late": {"N": "1"}}))
        assert len(plan.actions) == 1
