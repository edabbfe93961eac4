"""Recursive-descent parsers for condition, update and projection expressions.

Syntax errors raise :class:`ExpressionSyntaxError` at once. Every other problem is recorded by
category while the AST is built and the highest-priority one is raised at the end, which is
how DynamoDB picks the message when an expression has several faults.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from streamkit.errors import ExpressionSyntaxError, ValidationException

from ._values import SCALAR_TYPES, TYPE_NAMES, WORD_NAMES, av_type, compare_scalar, describe
from .ast import (
    AddAction,
    Arithmetic,
    Call,
    Condition,
    DeleteAction,
    FunctionCondition,
    Operand,
    Path,
    PathExpr,
    Projection,
    RemoveAction,
    SetAction,
    SetValue,
    UpdateAction,
    UpdatePlan,
    UpdateSection,
    ValueRef,
)
from .context import ExpressionContext
from .grammar import ConditionGrammar
from .lexer import Kind, Token, tokenize
from .paths import find_overlap, format_path
from .reserved import is_reserved

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "parse_condition",
    "parse_projection",
    "parse_projection_expr",
    "parse_update",
]

MAX_EXPRESSION_BYTES = 4096
MAX_IN_OPERANDS = 100
#: Names and indexes in one document path: an item nests at most 32 levels deep. The
#: wording of this error and the next is the best known (DynamoDB does not document it).
MAX_PATH_LEVELS = 32
#: A list index must be a 32-bit integer.
MAX_LIST_INDEX = 2**31 - 1
#: Operators and functions one expression may hold (DynamoDB's documented limit).
MAX_OPERATORS = 300
#: Levels of parentheses, NOTs and function calls one inside another. DynamoDB documents no
#: such limit (its 4 KB size allows ~2,000 parentheses); this one keeps the recursive parser
#: far from Python's recursion limit, and the message is ours.
MAX_NESTING = 100

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
BOOLEAN_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
CONDITION_FUNCTIONS = {**BOOLEAN_FUNCTIONS, "size": 1}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
SECTION_KEYWORDS = ("SET", "REMOVE", "ADD", "DELETE")

_CONDITION_ORDER = (
    "parens",
    "function_name",
    "misused",
    "reserved",
    "undefined",
    "operands",
    "distinct",
    "function",
)
_UPDATE_ORDER = (
    "reserved",
    "function_name",
    "misused",
    "section",
    "undefined_name",
    "undefined_value",
    "overlap",
    "conflict",
    "operand",
    "function",
)
_PROJECTION_ORDER = ("reserved", "undefined_name", "overlap", "conflict")

_UNDEFINED_VALUE = {"NULL": True}
_ANY_TYPE = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
_VALID_TYPES = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
_MISUSED = "The function is not allowed to be used this way in an expression; function: "


def parse_condition(
    text: str, ctx: ExpressionContext, *, kind: str = "ConditionExpression"
) -> Condition:
    """Parse a ConditionExpression, FilterExpression or KeyConditionExpression.

    Args:
        text: The expression.
        ctx: The request's placeholders; the ones used are recorded.
        kind: The request member, used in messages (``Invalid FilterExpression: ...``).

    Raises:
        ValidationException: Any syntax or validation error, with DynamoDB's message.
    """
    return ctx.parse(functools.partial(_parse_condition, text, kind), "condition", kind, text)


def _parse_condition(text: str, kind: str, ctx: ExpressionContext) -> Condition:
    parser = _Parser(text, ctx, kind, _CONDITION_ORDER, joint_undefined=True)
    node = parser.condition_expression()
    parser.finish()
    return node


def parse_update(text: str, ctx: ExpressionContext) -> UpdatePlan:
    """Parse an UpdateExpression into an :class:`UpdatePlan`.

    Raises:
        ValidationException: Any syntax or validation error, with DynamoDB's message.
    """
    return ctx.parse(functools.partial(_parse_update, text), "update", text)


def _parse_update(text: str, ctx: ExpressionContext) -> UpdatePlan:
    parser = _Parser(text, ctx, "UpdateExpression", _UPDATE_ORDER, joint_undefined=False)
    plan = parser.update_expression()
    parser.finish()
    return plan


def parse_projection_expr(text: str, ctx: ExpressionContext) -> Projection:
    """Parse a ProjectionExpression keeping the placeholders (for :func:`render`).

    Raises:
        ValidationException: Any syntax or validation error, with DynamoDB's message.
    """
    parser = _Parser(text, ctx, "ProjectionExpression", _PROJECTION_ORDER, joint_undefined=False)
    projection = parser.projection_expression()
    parser.finish()
    return projection


def parse_projection(text: str, ctx: ExpressionContext) -> tuple[Path, ...]:
    """Parse a ProjectionExpression into its resolved document paths.

    Raises:
        ValidationException: Any syntax or validation error, with DynamoDB's message.
    """
    return parse_projection_expr(text, ctx).resolved


@functools.lru_cache(maxsize=256)
def _cached_tokens(text: str) -> tuple[Token, ...]:
    return tuple(tokenize(text))


def _tokens(text: str) -> Sequence[Token]:
    """Tokenize ``text``; the tokens of short texts (the same few, request after request) are
    cached. Tokens are immutable and depend on the text alone, never on the placeholders."""
    return _cached_tokens(text) if len(text) <= 512 else tokenize(text)


def _static_type(operand: Operand) -> str | None:
    """The type an operand is known to have before evaluation (literal values only)."""
    if isinstance(operand, ValueRef):
        return av_type(operand.value)
    return None


class _Parser(ConditionGrammar):
    """State of one parse: tokens, position, and the first error of each category.

    Conditions parse with the grammar PartiQL's WHERE clause shares (:class:`ConditionGrammar`);
    this class gives it DynamoDB's tokens, atoms, operands and checks.
    """

    def __init__(
        self,
        text: str,
        ctx: ExpressionContext,
        kind: str,
        order: Sequence[str],
        *,
        joint_undefined: bool,
    ) -> None:
        self.text = text
        self.ctx = ctx
        self.kind = kind
        self.order = order
        self.joint_undefined = joint_undefined
        self.errors: dict[str, str] = {}
        self.groups: dict[int, int] = {}
        if not text.strip(" \t\r\n"):
            raise ValidationException(f"Invalid {kind}: The expression can not be empty;")
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_EXPRESSION_BYTES:
            suffix = (
                f" expression size: {size}"
                if kind in ("ConditionExpression", "FilterExpression")
                else ""
            )
            raise ValidationException(
                f"Invalid {kind}: Expression size has exceeded the maximum allowed size;{suffix}"
            )
        self.tokens = _tokens(text)
        self.pos = 0
        self.operators = 0
        self.depth = 0

    # -- token helpers ---------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not Kind.EOF:
            self.pos += 1
        return token

    def syntax_error(self) -> ExpressionSyntaxError:
        index = self.pos
        bad = self.tokens[index]
        start = self.tokens[index - 1].start if index > 0 else bad.start
        if bad.kind is Kind.EOF:
            end = self.tokens[index - 1].end if index > 0 else bad.end
        else:
            after = self.tokens[index + 1]
            end = after.end if after.kind is not Kind.EOF else bad.end
        near = self.text[start:end]
        return ExpressionSyntaxError(
            f'Invalid {self.kind}: Syntax error; token: "{bad.text}", near: "{near}"',
            expression=self.text,
            position=bad.start,
        )

    def expect_op(self, op: str) -> Token:
        if not self.peek().is_op(op):
            raise self.syntax_error()
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.peek().is_word(word):
            raise self.syntax_error()
        return self.advance()

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return any(token.is_word(word) for word in words)

    def take_word(self, word: str) -> bool:
        token = self.tokens[self.pos]
        if token.kind is Kind.IDENT and token.text.upper() == word:
            self.pos += 1
            return True
        return False

    def take_op(self, *ops: str) -> str | None:
        token = self.tokens[self.pos]
        if token.kind is Kind.OP and token.text in ops:
            self.pos += 1
            return token.text
        return None

    def take_comparator(self) -> str | None:
        return self.take_op(*COMPARATORS)

    def open_list(self) -> str:
        self.expect_op("(")
        return ")"

    # -- limits ----------------------------------------------------------------------------

    def count_operator(self) -> None:
        """Count one operator or function against :data:`MAX_OPERATORS`."""
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise ValidationException(
                f"Invalid {self.kind}: The expression contains too many operators; "
                f"operator count: {self.operators}"
            )

    def enter(self) -> None:
        """Enter one more level of nesting (undone by the caller's ``self.depth -= 1``)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ValidationException(
                f"Invalid {self.kind}: The expression is nested too deeply; "
                f"the most levels supported: {MAX_NESTING}"
            )

    # -- error bookkeeping -----------------------------------------------------------------

    def record(self, category: str, message: str) -> None:
        self.errors.setdefault(category, message)

    def finish(self) -> None:
        for category in self.order:
            message = self.errors.get(category)
            if message is not None:
                raise ValidationException(f"Invalid {self.kind}: {message}")

    def wrong_type(self, operator: str, kind: str) -> None:
        self.record(
            "function",
            "Incorrect operand type for operator or function; "
            f"operator or function: {operator}, operand type: {kind}",
        )

    def wrong_count(self, category: str, name: str, count: int) -> None:
        self.record(
            category,
            "Incorrect number of operands for operator or function; "
            f"operator or function: {name}, number of operands: {count}",
        )

    def needs_path(self, name: str) -> None:
        self.record(
            "function",
            f"Operator or function requires a document path; operator or function: {name}",
        )

    def function_arity(
        self, name: str, allowed: dict[str, int], other: dict[str, int], where: str
    ) -> int | None:
        """How many operands the function ``name`` takes in this kind of expression, or None
        (recorded) when it belongs to the other kind or to none."""
        expected = allowed.get(name)
        if expected is None:
            if name in other:
                self.record(
                    "function_name",
                    f"The function is not allowed in {where} expression; function: {name}",
                )
            else:
                self.record("function_name", f"Invalid function name; function: {name}")
        return expected

    # -- shared pieces ---------------------------------------------------------------------

    def path_element(self) -> tuple[str, str | None]:
        token = self.peek()
        if token.kind is Kind.IDENT:
            self.advance()
            if is_reserved(token.text):
                self.record(
                    "reserved",
                    f"Attribute name is a reserved keyword; reserved keyword: {token.text}",
                )
            return token.text, None
        if token.kind is Kind.NAME:
            self.advance()
            resolved = self.ctx.name(token.text)
            if resolved is None:
                self.record(
                    "undefined" if self.joint_undefined else "undefined_name",
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {token.text}",
                )
                resolved = token.text
            return resolved, token.text
        raise self.syntax_error()

    def path(self) -> PathExpr:
        first, placeholder = self.path_element()
        elements: list[str | int] = [first]
        placeholders: list[str | None] = [placeholder]
        while True:
            token = self.peek()
            if token.is_op("."):
                self.advance()
                name, placeholder = self.path_element()
                elements.append(name)
                placeholders.append(placeholder)
            elif token.is_op("["):
                self.advance()
                index = self.peek()
                if index.kind is not Kind.NUMBER:
                    raise self.syntax_error()
                self.advance()
                self.expect_op("]")
                if int(index.text) > MAX_LIST_INDEX:
                    raise ValidationException(f"Invalid {self.kind}: List index is out of range")
                elements.append(int(index.text))
                placeholders.append(None)
            else:
                if len(elements) > MAX_PATH_LEVELS:
                    raise ValidationException(
                        f"Invalid {self.kind}: The document path has too many nesting levels; "
                        f"nesting levels: {len(elements)}"
                    )
                return PathExpr(tuple(elements), tuple(placeholders))

    def value_ref(self) -> ValueRef:
        token = self.peek()
        if token.kind is not Kind.VALUE:
            raise self.syntax_error()
        self.advance()
        value = self.ctx.value(token.text)
        if value is None:
            self.record(
                "undefined" if self.joint_undefined else "undefined_value",
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {token.text}",
            )
            value = dict(_UNDEFINED_VALUE)
        return ValueRef(token.text, value)

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind is Kind.IDENT and self.peek(1).is_op("("):
            self.advance()
            self.advance()
            self.count_operator()
            self.enter()
            args = self.separated(self.operand_parens)
            self.expect_op(")")
            self.depth -= 1
            call = Call(token.text, tuple(args))
            self.check_call(call)
            return call
        if token.kind in (Kind.IDENT, Kind.NAME):
            return self.path()
        if token.kind is Kind.VALUE:
            return self.value_ref()
        raise self.syntax_error()

    def operand_parens(self) -> Operand:
        if not self.peek().is_op("("):
            return self.operand()
        open_index = self.pos
        self.advance()
        self.enter()
        inner = self.operand_parens()
        close_index = self.pos
        self.expect_op(")")
        self.depth -= 1
        self.note_group(open_index, close_index)
        return inner

    def note_group(self, open_index: int, close_index: int) -> None:
        if self.groups.get(open_index + 1) == close_index - 1:
            self.record("parens", "The expression has redundant parentheses;")
        self.groups[open_index] = close_index

    def check_call(self, call: Call) -> None:
        if self.kind == "UpdateExpression":
            self.check_update_call(call)
        else:
            self.check_condition_call(call)

    # -- conditions ------------------------------------------------------------------------

    def condition_expression(self) -> Condition:
        node = self.disjunction()
        if self.peek().kind is not Kind.EOF:
            raise self.syntax_error()
        return node

    def predicate(self) -> Condition:
        """A parenthesised condition, or a comparison or function condition: a ``(`` opens
        an operand when a comparator follows its ``)``, else a condition (tried in turn)."""
        if self.peek().is_op("("):
            start, saved = self.pos, (dict(self.errors), dict(self.groups))
            counts = self.operators, self.depth
            try:
                operand = self.operand_parens()
            except ExpressionSyntaxError:
                operand = None
            if operand is not None and self.starts_comparison():
                return self.comparison_tail(operand)
            self.pos = start
            self.errors, self.groups = saved
            self.operators, self.depth = counts
            open_index = self.pos
            self.advance()
            self.enter()
            node = self.disjunction()
            close_index = self.pos
            self.expect_op(")")
            self.depth -= 1
            self.note_group(open_index, close_index)
            return node
        return self.comparison_tail(self.operand())

    def starts_comparison(self) -> bool:
        token = self.peek()
        return (token.kind is Kind.OP and token.text in COMPARATORS) or self.at_keyword(
            "BETWEEN", "IN"
        )

    def comparison_tail(self, left: Operand) -> Condition:
        node = self.comparison(left)
        if node is not None:
            return node
        if isinstance(left, Call):
            if left.name == "size":
                self.record("misused", _MISUSED + left.name)
            return FunctionCondition(left.name, left.args)
        raise self.syntax_error()

    def comparand(self) -> Operand:
        return self.operand_parens()

    def after_comparison(self, op: str, left: Operand, right: Operand) -> None:
        self.check_operands(op, (left, right))
        self.check_distinct(op, left, right)
        if op not in ("=", "<>"):
            self.check_scalar_literals(op, (left, right))

    def after_between(self, subject: Operand, low: Operand, high: Operand) -> None:
        self.check_operands("BETWEEN", (subject, low, high))
        self.check_between(subject, low, high)

    def after_in(self, subject: Operand, options: Sequence[Operand]) -> None:
        self.check_operands("IN", (subject, *options))
        if len(options) > MAX_IN_OPERANDS:
            self.record(
                "operands",
                "Too many operands for the operator or function; operator or function: IN, "
                f"number of operands: {len(options)}",
            )

    def check_operands(self, operator: str, operands: Sequence[Operand]) -> None:
        """Functions other than size() may not be used as values."""
        del operator
        for operand in operands:
            if isinstance(operand, Call) and operand.name in BOOLEAN_FUNCTIONS:
                self.record("misused", _MISUSED + operand.name)

    def check_distinct(self, operator: str, left: Operand, right: Operand) -> None:
        if isinstance(left, PathExpr) and isinstance(right, PathExpr) and left.path == right.path:
            self.record(
                "distinct",
                "The first operand must be distinct from the remaining operands for this operator "
                f"or function; operator: {operator}, first operand: {format_path(left.path)}",
            )

    def check_scalar_literals(self, operator: str, operands: Sequence[Operand]) -> None:
        for operand in operands:
            kind = _static_type(operand)
            if kind is not None and kind not in SCALAR_TYPES:
                self.wrong_type(operator, kind)

    def check_between(self, subject: Operand, low: Operand, high: Operand) -> None:
        self.check_scalar_literals("BETWEEN", (subject, low, high))
        if not (isinstance(low, ValueRef) and isinstance(high, ValueRef)):
            return
        low_type, high_type = av_type(low.value), av_type(high.value)
        if low_type not in SCALAR_TYPES or high_type not in SCALAR_TYPES:
            return
        bounds = (
            f"lower bound operand: {describe(low.value)}, "
            f"upper bound operand: {describe(high.value)}"
        )
        if low_type != high_type:
            self.record(
                "function",
                "The BETWEEN operator requires same data type for lower and upper bounds; "
                + bounds,
            )
        elif (compare_scalar(low.value, high.value) or 0) > 0:
            self.record(
                "function",
                "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                f"bound; {bounds}",
            )

    def check_condition_call(self, call: Call) -> None:
        name, args = call.name, call.args
        expected = self.function_arity(name, CONDITION_FUNCTIONS, UPDATE_FUNCTIONS, "a condition")
        if expected is None:
            return
        self.check_operands(name, args)
        if len(args) != expected:
            self.wrong_count("operands", name, len(args))
            return
        if expected == 2:
            self.check_distinct(name, args[0], args[1])
        self.check_function_types(name, args)

    def check_function_types(self, name: str, args: tuple[Operand, ...]) -> None:
        if name in ("attribute_exists", "attribute_not_exists"):
            if not isinstance(args[0], PathExpr):
                self.needs_path(name)
        elif name == "attribute_type":
            type_arg = args[1]
            if not isinstance(type_arg, ValueRef):
                self.wrong_type(name, "N" if isinstance(type_arg, Call) else _ANY_TYPE)
            elif av_type(type_arg.value) != "S":
                self.wrong_type(name, av_type(type_arg.value))
            elif type_arg.value["S"] not in TYPE_NAMES:
                self.record(
                    "function",
                    f"Invalid attribute type name found; type: {type_arg.value['S']}, "
                    f"valid types: {_VALID_TYPES}",
                )
        elif name == "begins_with":
            for arg in args:
                kind = _static_type(arg) or ("N" if isinstance(arg, Call) else None)
                if kind is not None and kind not in ("S", "B"):
                    self.wrong_type(name, kind)
                    break
        elif name == "size":
            arg = args[0]
            kind = _static_type(arg) or ("N" if isinstance(arg, Call) else None)
            if kind in ("N", "BOOL", "NULL"):
                self.wrong_type(name, kind)

    # -- updates ---------------------------------------------------------------------------

    def update_expression(self) -> UpdatePlan:
        sections: list[UpdateSection] = []
        seen: set[str] = set()
        targets: list[Path] = []
        while self.peek().kind is not Kind.EOF:
            token = self.peek()
            keyword = token.text.upper() if token.kind is Kind.IDENT else ""
            if keyword not in SECTION_KEYWORDS:
                raise self.syntax_error()
            self.advance()
            actions = self.separated(functools.partial(self.update_action, keyword))
            if not (self.peek().kind is Kind.EOF or self.at_keyword(*SECTION_KEYWORDS)):
                raise self.syntax_error()
            if keyword in seen:
                self.record(
                    "section",
                    f'The "{keyword}" section can only be used once in an update expression;',
                )
            seen.add(keyword)
            targets.extend(action.path.path for action in actions)
            sections.append(UpdateSection(keyword, tuple(actions)))
        self.check_paths(targets)
        return UpdatePlan(tuple(sections))

    def update_action(self, keyword: str) -> UpdateAction:
        path = self.path()
        if keyword == "SET":
            self.expect_op("=")
            return SetAction(path, self.set_value())
        if keyword == "REMOVE":
            return RemoveAction(path)
        value = self.value_ref()
        self.check_add_delete(keyword, value)
        if keyword == "ADD":
            return AddAction(path, value)
        return DeleteAction(path, value)

    def set_value(self) -> SetValue:
        if self.peek().is_op("("):
            self.advance()
            inner = self.arithmetic()
            self.expect_op(")")
            if isinstance(inner, Arithmetic) or not self.peek().is_op("+", "-"):
                return inner
            return self.arithmetic_tail(inner)
        return self.arithmetic()

    def arithmetic(self) -> SetValue:
        return self.arithmetic_tail(self.operand_parens())

    def arithmetic_tail(self, left: Operand) -> SetValue:
        token = self.peek()
        if not token.is_op("+", "-"):
            return left
        self.advance()
        self.count_operator()
        right = self.operand_parens()
        for operand in (left, right):
            if isinstance(operand, Call) and operand.name == "list_append":
                self.record("misused", _MISUSED + operand.name)
            kind = _static_type(operand)
            if kind is not None and kind != "N":
                self.wrong_type(token.text, kind)
        return Arithmetic(token.text, left, right)

    def check_add_delete(self, keyword: str, value: ValueRef) -> None:
        kind = av_type(value.value)
        allowed = ("N", "SS", "NS", "BS") if keyword == "ADD" else ("SS", "NS", "BS")
        if kind not in allowed:
            self.record(
                "operand",
                "Incorrect operand type for operator or function; "
                f"operator: {keyword}, operand type: {WORD_NAMES[kind]}, "
                f"typeSet: ALLOWED_FOR_{keyword}_OPERAND",
            )

    def check_update_call(self, call: Call) -> None:
        name, args = call.name, call.args
        expected = self.function_arity(name, UPDATE_FUNCTIONS, CONDITION_FUNCTIONS, "an update")
        if expected is None:
            return
        for arg in args:
            if isinstance(arg, Call) and arg.name == "list_append":
                self.record("misused", _MISUSED + arg.name)
        if len(args) != expected:
            self.wrong_count("function", name, len(args))
            return
        if name == "if_not_exists":
            if not isinstance(args[0], PathExpr):
                self.needs_path(name)
            return
        for arg in args:
            kind = _static_type(arg)
            if kind is not None and kind != "L":
                self.wrong_type(name, kind)
                return

    def check_paths(self, paths: Sequence[Path]) -> None:
        found = find_overlap(paths)
        if found is not None:
            self.record(*found)

    # -- projections -----------------------------------------------------------------------

    def projection_expression(self) -> Projection:
        paths = self.separated(self.path)
        if self.peek().kind is not Kind.EOF:
            raise self.syntax_error()
        self.check_paths([p.path for p in paths])
        return Projection(tuple(paths))
