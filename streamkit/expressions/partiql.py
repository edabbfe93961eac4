"""DynamoDB's PartiQL dialect: a statement parsed once into the expression AST the engine runs.

:func:`parse_statement` turns ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` (and, for
transactions, ``EXISTS(SELECT ...)``) into a :class:`Statement` whose WHERE clause is a
:data:`~streamkit.expressions.ast.Condition` and whose SET/REMOVE clauses are an
:class:`~streamkit.expressions.ast.UpdatePlan`: the same nodes a ConditionExpression or an
UpdateExpression parses into. Every attribute name becomes a ``#aN`` placeholder and every
literal or ``?`` parameter a ``:vN`` one, so the engine renders them back to expression text
(:func:`~streamkit.expressions.render.render`) and runs its own Query, Scan, PutItem,
UpdateItem, DeleteItem and transaction paths: streams, TTL, indexes and capacity included.

A parse depends on the statement text alone (parameters are bound afterwards by
:meth:`Statement.bind`), so parses are memoised on the text, as expression tokens are.

Errors are :class:`~streamkit.errors.ValidationException`. DynamoDB's messages for a malformed
statement start ``Statement wasn't well formed, can't be processed:``; the detail after the
colon is ours (DynamoDB's wording for each syntax fault is not documented). Nesting and
operator counts are bounded as in :mod:`streamkit.expressions.parser`, so no statement reaches
Python's recursion limit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from streamkit.errors import ValidationException

from ._values import AttributeValue
from .ast import (
    AddAction,
    And,
    Arithmetic,
    Call,
    Condition,
    DeleteAction,
    FunctionCondition,
    Not,
    Operand,
    PathExpr,
    RemoveAction,
    SetAction,
    SetValue,
    UpdateAction,
    UpdatePlan,
    UpdateSection,
    ValueRef,
)
from .grammar import ConditionGrammar
from .parser import MAX_NESTING, MAX_OPERATORS

__all__ = [
    "MAX_STATEMENT_LENGTH",
    "BoundValues",
    "ListOf",
    "MapOf",
    "Param",
    "SetOf",
    "Statement",
    "Template",
    "bind_template",
    "conjuncts",
    "malformed",
    "parse_statement",
]

#: PartiQLStatement's length limit in DynamoDB's API model.
MAX_STATEMENT_LENGTH = 8192
#: Levels a literal may nest (an item nests at most 32 levels deep).
MAX_LITERAL_DEPTH = 32

_MALFORMED = "Statement wasn't well formed, can't be processed: "
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op><<|>>|<>|!=|<=|>=|[=<>()\[\]{},.:?*+\-])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "BETWEEN", "IS", "INSERT"),
        *("INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "RETURNING", "ORDER", "BY"),
        *("MISSING", "NULL", "TRUE", "FALSE", "EXISTS"),
    }
)
_COMPARATORS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_BOOLEAN_FUNCTIONS = {"begins_with": 2, "contains": 2, "attribute_type": 2}
_RETURNING = {
    ("ALL", "OLD"): "ALL_OLD",
    ("MODIFIED", "OLD"): "UPDATED_OLD",
    ("ALL", "NEW"): "ALL_NEW",
    ("MODIFIED", "NEW"): "UPDATED_NEW",
}


def malformed(detail: str) -> ValidationException:
    """DynamoDB's error for a statement that does not parse."""
    return ValidationException(_MALFORMED + detail)


# -- value templates: literals that may hold ``?`` parameters ----------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """The ``index``-th ``?`` of the statement (0-based)."""

    index: int


@dataclass(frozen=True, slots=True)
class ListOf:
    """A ``[...]`` literal holding at least one parameter."""

    items: tuple[Template, ...]


@dataclass(frozen=True, slots=True)
class MapOf:
    """A ``{...}`` literal holding at least one parameter."""

    items: tuple[tuple[str, Template], ...]


@dataclass(frozen=True, slots=True)
class SetOf:
    """A ``<<...>>`` literal holding at least one parameter."""

    items: tuple[Template, ...]


Template: TypeAlias = "AttributeValue | Param | ListOf | MapOf | SetOf"


def bind_template(template: Template, params: Sequence[AttributeValue]) -> AttributeValue:
    """Return the AttributeValue of a literal once the statement's parameters are known."""
    if isinstance(template, Param):
        return params[template.index]
    if isinstance(template, ListOf):
        return {"L": [bind_template(t, params) for t in template.items]}
    if isinstance(template, MapOf):
        return {"M": {k: bind_template(t, params) for k, t in template.items}}
    if isinstance(template, SetOf):
        return _make_set([bind_template(t, params) for t in template.items])
    return template


def _make_set(members: list[AttributeValue]) -> AttributeValue:
    kinds = {next(iter(m)) for m in members}
    if len(kinds) != 1 or (kind := kinds.pop()) not in ("S", "N", "B"):
        raise ValidationException(
            "One or more parameter values were invalid: A set may only contain strings, "
            "numbers or binaries of one type"
        )
    return {kind + "S": [m[kind] for m in members]}


# -- statements -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """One parsed statement.

    ``kind`` is ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` or ``EXISTS`` (a SELECT wrapped
    in ``EXISTS(...)``, allowed in transactions). ``names`` maps each ``#aN`` placeholder to
    its attribute name; ``values[N]`` is the literal behind ``:vN``. Statements compare and
    hash by identity (a parse is memoised, so one text gives one statement while it is kept),
    which lets the engine memoise its plan for a statement.
    """

    kind: str
    table: str
    index: str | None = None
    projection: tuple[PathExpr, ...] | None = None
    where: Condition | None = None
    order: tuple[str, bool] | None = None  # (attribute, descending)
    item: str | None = None  # INSERT's VALUE: the placeholder of its map
    plan: UpdatePlan | None = None
    returning: str | None = None  # ReturnValues: ALL_OLD, UPDATED_NEW, ...
    names: dict[str, str] = field(default_factory=dict)
    values: tuple[Template, ...] = ()
    params: int = 0
    #: What the engine derives from the statement, per table schema (its plans), kept with
    #: the statement so they live as long as its parse is memoised.
    derived: dict[object, object] = field(default_factory=dict, repr=False)

    @property
    def is_read(self) -> bool:
        """Whether the statement only reads (SELECT)."""
        return self.kind == "SELECT"

    def bind(self, params: Sequence[AttributeValue] | None) -> Mapping[str, AttributeValue]:
        """The ``:vN`` values with the request's parameters bound (each when first read).

        Raises:
            ValidationException: the request does not give one parameter per ``?``.
        """
        given = params or ()
        if len(given) != self.params:
            raise ValidationException("Number of parameters in request and statement don't match.")
        return BoundValues(self.values, given)


class BoundValues(Mapping[str, AttributeValue]):
    """A statement's ``:vN`` values, bound to the request's parameters as they are read (a
    keyed SELECT reads only its key's values)."""

    __slots__ = ("_params", "_templates")

    def __init__(self, templates: Sequence[Template], params: Sequence[AttributeValue]) -> None:
        self._templates = templates
        self._params = params

    def __getitem__(self, placeholder: str) -> AttributeValue:
        try:
            template = self._templates[int(placeholder[2:])]
        except (ValueError, IndexError):
            raise KeyError(placeholder) from None
        if type(template) is Param:
            return self._params[template.index]
        return bind_template(template, self._params)

    def __iter__(self) -> Iterator[str]:
        return (f":v{i}" for i in range(len(self._templates)))

    def __len__(self) -> int:
        return len(self._templates)


def conjuncts(condition: Condition | None) -> list[Condition]:
    """The terms of a condition's top-level AND chain (none for no condition)."""
    if condition is None:
        return []
    out: list[Condition] = []
    stack = [condition]
    while stack:
        node = stack.pop()
        if isinstance(node, And):
            stack += (node.right, node.left)
        else:
            out.append(node)
    return out


def parse_statement(text: str) -> Statement:
    """Parse one PartiQL statement (memoised on its text).

    Raises:
        ValidationException: the statement is malformed, too long, or not supported.
    """
    if not isinstance(text, str):
        raise malformed("the statement is not text")
    if len(text) > MAX_STATEMENT_LENGTH:
        raise ValidationException(
            "1 validation error detected: Value at 'statement' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_STATEMENT_LENGTH}"
        )
    return _cached_parse(text)


@functools.lru_cache(maxsize=256)
def _cached_parse(text: str) -> Statement:
    parser = _Parser(_tokenize(text))
    statement = parser.statement()
    parser.expect_end()
    return statement


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, quoted, number, word, op, end
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise malformed(f"Unexpected character {text[position]!r} at position {position + 1}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser(ConditionGrammar):
    """Recursive descent over one statement's tokens; depth and operators bounded.

    WHERE clauses parse with the grammar DynamoDB's condition expressions share
    (:class:`ConditionGrammar`); this class gives it PartiQL's tokens, predicates and operands.
    """

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.operators = 0
        self.names: dict[str, str] = {}  # attribute name -> placeholder
        self.values: list[Template] = []
        self.params = 0

    # -- token helpers --------------------------------------------------------------------

    @property
    def token(self) -> _Token:
        return self.tokens[self.pos]

    def keyword(self, *words: str) -> bool:
        token = self.token
        return token.kind == "word" and token.text.upper() in words

    def function(self, *names: str) -> bool:
        """Whether the next tokens are ``name(`` for one of ``names`` (any case)."""
        token = self.token
        return (
            token.kind == "word"
            and token.text.lower() in names
            and self.tokens[self.pos + 1].text == "("
        )

    def take_keyword(self, *words: str) -> str | None:
        if self.keyword(*words):
            self.pos += 1
            return self.tokens[self.pos - 1].text.upper()
        return None

    def take_word(self, word: str) -> bool:
        token = self.tokens[self.pos]
        if token.kind == "word" and token.text.upper() == word:
            self.pos += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.take_word(word):
            raise self.unexpected(f"expected {word}")

    def op(self, *texts: str) -> bool:
        return self.token.kind == "op" and self.token.text in texts

    def take_op(self, *texts: str) -> str | None:
        if self.op(*texts):
            self.pos += 1
            return self.tokens[self.pos - 1].text
        return None

    def expect_op(self, text: str) -> None:
        if self.take_op(text) is None:
            raise self.unexpected(f"expected '{text}'")

    def take_comparator(self) -> str | None:
        token = self.tokens[self.pos]
        if token.kind == "op" and (op := _COMPARATORS.get(token.text)) is not None:
            self.pos += 1
            return op
        return None

    def open_list(self) -> str:
        token = self.token
        closing = {"(": ")", "[": "]"}.get(token.text)
        if closing is None or token.kind != "op":
            raise self.unexpected("expected a list after IN")
        self.pos += 1
        return closing

    def unexpected(self, hint: str) -> ValidationException:
        token = self.token
        what = "end of statement" if token.kind == "end" else f"token '{token.text}'"
        return malformed(f"Unexpected {what} at position {token.position + 1} ({hint})")

    def expect_end(self) -> None:
        if self.token.kind != "end":
            raise self.unexpected("expected end of statement")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise malformed(f"The statement nests more than {MAX_NESTING} levels")

    def count_operator(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            raise malformed(f"The statement has more than {MAX_OPERATORS} operators")

    # -- statements -----------------------------------------------------------------------

    def statement(self) -> Statement:
        if self.keyword("SELECT"):
            return self.select()
        if self.take_keyword("INSERT"):
            return self.insert()
        if self.take_keyword("UPDATE"):
            return self.update()
        if self.take_keyword("DELETE"):
            return self.delete()
        if self.take_keyword("EXISTS"):
            self.expect_op("(")
            inner = self.select()
            self.expect_op(")")
            return Statement(
                "EXISTS",
                inner.table,
                index=inner.index,
                where=inner.where,
                names=inner.names,
                values=inner.values,
                params=inner.params,
            )
        raise self.unexpected("expected SELECT, INSERT, UPDATE, DELETE or EXISTS")

    def finish(self, kind: str, table: str, **members: object) -> Statement:
        names = {placeholder: name for name, placeholder in self.names.items()}
        return Statement(
            kind,
            table,
            names=names,
            values=tuple(self.values),
            params=self.params,
            **members,  # type: ignore[arg-type]
        )

    def select(self) -> Statement:
        self.expect_word("SELECT")
        projection: tuple[PathExpr, ...] | None = None
        if not self.take_op("*"):
            projection = tuple(self.separated(self.path))
        self.expect_word("FROM")
        table = self.identifier()
        index = self.identifier() if self.take_op(".") else None
        where = self.condition() if self.take_keyword("WHERE") else None
        order: tuple[str, bool] | None = None
        if self.take_keyword("ORDER"):
            self.expect_word("BY")
            name = self.identifier()
            descending = self.take_keyword("ASC", "DESC") == "DESC"
            order = (name, descending)
        return self.finish(
            "SELECT", table, index=index, projection=projection, where=where, order=order
        )

    def insert(self) -> Statement:
        self.expect_word("INTO")
        table = self.identifier()
        self.expect_word("VALUE")
        if not self.op("{"):
            raise self.unexpected("expected a map literal { ... }")
        item = self.value_ref()
        return self.finish("INSERT", table, item=item.placeholder)

    def update(self) -> Statement:
        table = self.identifier()
        sets: list[UpdateAction] = []
        removes: list[UpdateAction] = []
        adds: list[UpdateAction] = []
        deletes: list[UpdateAction] = []
        clauses = 0
        while True:
            if self.take_keyword("SET"):
                for action in self.separated(self.assignment):
                    if isinstance(action, AddAction):
                        adds.append(action)
                    elif isinstance(action, DeleteAction):
                        deletes.append(action)
                    else:
                        sets.append(action)
            elif self.take_keyword("REMOVE"):
                removes.extend(RemoveAction(path) for path in self.separated(self.path))
            else:
                break
            clauses += 1
        if not clauses:
            raise self.unexpected("expected SET or REMOVE")
        sections = tuple(
            UpdateSection(word, tuple(actions))
            for word, actions in (
                ("SET", sets),
                ("REMOVE", removes),
                ("ADD", adds),
                ("DELETE", deletes),
            )
            if actions
        )
        self.expect_word("WHERE")
        where = self.condition()
        returning = self.returning(all_modes=True)
        return self.finish(
            "UPDATE", table, plan=UpdatePlan(sections), where=where, returning=returning
        )

    def delete(self) -> Statement:
        self.expect_word("FROM")
        table = self.identifier()
        self.expect_word("WHERE")
        where = self.condition()
        returning = self.returning(all_modes=False)
        return self.finish("DELETE", table, where=where, returning=returning)

    def returning(self, *, all_modes: bool) -> str | None:
        if not self.take_keyword("RETURNING"):
            return None
        first = self.take_keyword("ALL", "MODIFIED")
        second = self.take_keyword("OLD", "NEW")
        if first is None or second is None:
            raise self.unexpected("expected ALL OLD, MODIFIED OLD, ALL NEW or MODIFIED NEW")
        self.expect_op("*")
        mode = _RETURNING[first, second]
        if not all_modes and mode != "ALL_OLD":
            raise ValidationException(
                "DELETE statements only support RETURNING ALL OLD *"  # wording is ours
            )
        return mode

    def assignment(self) -> UpdateAction:
        target = self.path()
        self.expect_op("=")
        if self.function("set_add", "set_delete"):
            name = self.token.text.lower()
            self.pos += 2
            subject = self.path()
            self.expect_op(",")
            value = self.value_ref()
            self.expect_op(")")
            if subject.path != target.path:
                raise ValidationException(
                    f"{name} must name the attribute it sets: SET a = {name}(a, value)"
                )
            self.count_operator()
            if name == "set_add":
                return AddAction(target, value)
            return DeleteAction(target, value)
        left: SetValue = self.set_operand()
        if sign := self.take_op("+", "-"):
            self.count_operator()
            right = self.set_operand()
            assert not isinstance(left, Arithmetic)
            left = Arithmetic(sign, left, right)
        return SetAction(target, left)

    def set_operand(self) -> Operand:
        if self.function("list_append", "if_not_exists"):
            name = self.token.text.lower()
            self.pos += 2
            self.enter()
            self.count_operator()
            first = self.set_operand()
            self.expect_op(",")
            second = self.set_operand()
            self.expect_op(")")
            self.depth -= 1
            return Call(name, (first, second))
        return self.operand()

    # -- conditions -----------------------------------------------------------------------

    def condition(self) -> Condition:
        """A WHERE clause or a parenthesised condition: one level deeper."""
        self.enter()
        node = self.disjunction()
        self.depth -= 1
        return node

    def predicate(self) -> Condition:
        if self.take_op("("):
            node = self.condition()
            self.expect_op(")")
            return node
        token = self.token
        lowered = token.text.lower()
        if (
            token.kind == "word"
            and lowered in _BOOLEAN_FUNCTIONS
            and self.tokens[self.pos + 1].text == "("
        ):
            self.pos += 2
            self.count_operator()
            args = self.separated(self.operand)
            self.expect_op(")")
            if len(args) != _BOOLEAN_FUNCTIONS[lowered]:
                raise ValidationException(
                    f"Incorrect number of arguments for function {lowered}: {len(args)}"
                )
            return FunctionCondition(lowered, tuple(args))
        subject = self.operand()
        compared = self.comparison(subject)
        if compared is not None:
            return compared
        if self.take_keyword("IS"):
            self.count_operator()
            negated = self.take_keyword("NOT") is not None
            word = self.take_keyword("MISSING", "NULL")
            if word is None or not isinstance(subject, PathExpr):
                raise self.unexpected("expected a path IS [NOT] MISSING or IS [NOT] NULL")
            if word == "MISSING":
                name = "attribute_exists" if negated else "attribute_not_exists"
                return FunctionCondition(name, (subject,))
            typed: Condition = FunctionCondition(
                "attribute_type", (subject, self.constant({"S": "NULL"}))
            )
            return Not(typed) if negated else typed
        raise self.unexpected("expected a comparison")

    def comparand(self) -> Operand:
        return self.operand()

    def after_in(self, subject: Operand, options: Sequence[Operand]) -> None:
        if len(options) > 100:
            raise ValidationException("IN operator can have at most 100 values")

    def operand(self) -> Operand:
        token = self.token
        if (
            token.kind == "word"
            and token.text.lower() == "size"
            and self.tokens[self.pos + 1].text == "("
        ):
            self.pos += 2
            self.count_operator()
            path = self.path()
            self.expect_op(")")
            return Call("size", (path,))
        if token.kind in ("word", "quoted") and not (
            token.kind == "word" and token.text.upper() in _KEYWORDS
        ):
            return self.path()
        return self.value_ref()

    def value_ref(self) -> ValueRef:
        template = self.literal()
        placeholder = f":v{len(self.values)}"
        self.values.append(template)
        value = template if isinstance(template, dict) else {"NULL": True}
        return ValueRef(placeholder, value)

    def constant(self, value: AttributeValue) -> ValueRef:
        placeholder = f":v{len(self.values)}"
        self.values.append(value)
        return ValueRef(placeholder, value)

    # -- names and literals ---------------------------------------------------------------

    def identifier(self) -> str:
        token = self.token
        if token.kind == "quoted":
            self.pos += 1
            name = token.text[1:-1].replace('""', '"')
            if not name:
                raise malformed(f"Empty identifier at position {token.position + 1}")
            return name
        if token.kind == "word" and token.text.upper() not in _KEYWORDS:
            self.pos += 1
            return token.text
        raise self.unexpected("expected an identifier")

    def path(self) -> PathExpr:
        elements: list[str | int] = [self.identifier()]
        while True:
            if self.take_op("."):
                elements.append(self.identifier())
            elif self.take_op("["):
                token = self.token
                if token.kind != "number" or not token.text.isdigit():
                    raise self.unexpected("expected a list index")
                self.pos += 1
                elements.append(int(token.text))
                self.expect_op("]")
            else:
                break
            if len(elements) > MAX_LITERAL_DEPTH:
                raise malformed("A document path has too many levels")
        placeholders: list[str | None] = []
        for element in elements:
            if isinstance(element, int):
                placeholders.append(None)
                continue
            placeholder = self.names.get(element)
            if placeholder is None:
                placeholder = self.names[element] = f"#a{len(self.names)}"
            placeholders.append(placeholder)
        return PathExpr(tuple(elements), tuple(placeholders))

    def literal(self, depth: int = 0) -> Template:
        if depth > MAX_LITERAL_DEPTH:
            raise malformed(f"A literal nests more than {MAX_LITERAL_DEPTH} levels")
        token = self.token
        self.pos += 1
        if token.kind == "string":
            return {"S": token.text[1:-1].replace("''", "'")}
        if token.kind == "number":
            return {"N": token.text}
        if token.kind == "op" and token.text == "-" and self.token.kind == "number":
            self.pos += 1
            return {"N": "-" + self.tokens[self.pos - 1].text}
        if token.kind == "op" and token.text == "?":
            self.params += 1
            return Param(self.params - 1)
        if token.kind == "word":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                return {"BOOL": word == "TRUE"}
            if word == "NULL":
                return {"NULL": True}
        if token.kind == "op" and token.text in ("[", "<<"):
            closing = "]" if token.text == "[" else ">>"
            items: list[Template] = []
            if not self.take_op(closing):
                items = self.separated(functools.partial(self.literal, depth + 1))
                self.expect_op(closing)
            if closing == "]":
                if all(isinstance(t, dict) for t in items):
                    return {"L": list(items)}
                return ListOf(tuple(items))
            if not items:
                raise ValidationException(
                    "One or more parameter values were invalid: A set may not be empty"
                )
            if all(isinstance(t, dict) for t in items):
                return _make_set(items)  # type: ignore[arg-type]
            return SetOf(tuple(items))
        if token.kind == "op" and token.text == "{":
            pairs: list[tuple[str, Template]] = []
            if not self.take_op("}"):
                while True:
                    key = self.token
                    if key.kind == "string":
                        name = key.text[1:-1].replace("''", "'")
                    elif key.kind == "quoted":
                        name = key.text[1:-1].replace('""', '"')
                    else:
                        raise self.unexpected("expected a 'name' in a map literal")
                    self.pos += 1
                    self.expect_op(":")
                    pairs.append((name, self.literal(depth + 1)))
                    if not self.take_op(","):
                        break
                self.expect_op("}")
            if all(isinstance(t, dict) for _, t in pairs):
                return {"M": dict(pairs)}
            return MapOf(tuple(pairs))
        self.pos -= 1
        raise self.unexpected("expected a value")
