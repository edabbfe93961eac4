"""Lambda's event-filter language (EventBridge pattern syntax) over Lambda-shaped stream records.

Patterns are compiled once, when a mapping is registered, and matched against each record as it
appears in the handler's event (DynamoDB JSON: ``{"dynamodb": {"NewImage": {"s": {"S": "x"}}}}``).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeAlias, final

from streamkit.errors import ConfigurationError
from streamkit.model.json import encode_b64

__all__ = [
    "INVALID_PATTERN",
    "MAX_FILTERS",
    "MAX_PATTERN_LENGTH",
    "Pattern",
    "compile_filter_criteria",
    "compile_pattern",
    "matches",
]

INVALID_PATTERN: Final = "Invalid filter pattern definition."
MAX_FILTERS: Final = 5  # Lambda's default quota (adjustable up to 10 on AWS)
MAX_PATTERN_LENGTH: Final = 4096  # characters, Lambda's model limit on Filter.Pattern
MAX_PATTERN_DEPTH: Final = 64  # streamkit's own bound on nesting; AWS documents none

_OPERATORS: Final = frozenset(
    {
        "prefix",
        "suffix",
        "equals-ignore-case",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
    }
)
_NUMERIC_OPS: Final = frozenset({"=", "<", "<=", ">", ">="})


def compile_filter_criteria(criteria: Mapping[str, Any] | None) -> tuple[Pattern, ...]:
    """Validate Lambda's ``FilterCriteria`` and compile its patterns.

    Args:
        criteria: ``{"Filters": [{"Pattern": "<JSON text>"}, ...]}`` as for
            CreateEventSourceMapping; ``None``, ``{}`` and ``{"Filters": []}`` mean no filtering.
            As a convenience a ``Pattern`` may also be a dict, which is serialised first.

    Returns:
        The compiled patterns, in order (empty when there is no filter).

    Raises:
        ConfigurationError: ``"Invalid filter pattern definition."`` for anything Lambda would
            refuse: malformed criteria, more than 5 filters, a pattern over 4096 characters,
            bad JSON or a pattern that breaks the rule syntax. A note on the exception says
            which rule was broken.
    """
    if criteria is None:
        return ()
    if not isinstance(criteria, Mapping):
        raise _invalid("FilterCriteria must be a mapping like {'Filters': [{'Pattern': '...'}]}")
    filters = criteria.get("Filters")
    if filters is None:
        return ()
    if isinstance(filters, str | bytes) or not isinstance(filters, Iterable):
        raise _invalid("FilterCriteria['Filters'] must be a list")
    entries = list(filters)
    if len(entries) > MAX_FILTERS:
        raise _invalid(f"at most {MAX_FILTERS} filters are allowed, got {len(entries)}")
    compiled: list[Pattern] = []
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, Mapping) or "Pattern" not in entry:
            raise _invalid(f"filter {index} must be a mapping with a 'Pattern' member")
        compiled.append(compile_pattern(entry["Pattern"]))
    return tuple(compiled)


def compile_pattern(pattern: str | Mapping[str, Any]) -> Pattern:
    """Compile one filter pattern (JSON text, or a dict serialised to JSON first).

    Raises:
        ConfigurationError: ``"Invalid filter pattern definition."`` (see
            :func:`compile_filter_criteria`).
    """
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, Mapping):
        try:
            text = json.dumps(pattern, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise _invalid(f"the pattern is not JSON-serialisable: {exc}") from None
    elif isinstance(pattern, str):
        text = pattern
    else:
        raise _invalid(f"a pattern must be a JSON string, not {type(pattern).__name__}")
    return Pattern(text)


def matches(patterns: Iterable[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Return whether a Lambda-shaped record passes the filters.

    Filters are OR-ed; no filters at all means every record passes. Each item of ``patterns``
    is a compiled :class:`Pattern` or a plain pattern dict (compiled on the fly).

    Raises:
        ConfigurationError: A plain pattern dict is not a valid pattern.
    """
    found_any = False
    for pattern in patterns:
        found_any = True
        if compile_pattern(pattern).matches(record):
            return True
    return not found_any


@final
class Pattern(Mapping[str, Any]):
    """A compiled filter pattern; also a read-only mapping view of the pattern's JSON.

    Build one with :func:`compile_pattern`. ``text`` is the pattern as given.
    """

    __slots__ = ("_matcher", "_source", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise _invalid("a pattern must be a JSON string")
        if len(text) > MAX_PATTERN_LENGTH:
            raise _invalid(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
        try:
            parsed = json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_nan)
            source = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _invalid(f"the pattern is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise _invalid("Filter is not an object")
        self.text: str = text
        self._source: dict[str, Any] = source
        self._matcher = _compile_object(parsed, depth=1, inside_or=False)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Return whether ``record`` (a Lambda-shaped stream record) matches this pattern."""
        return self._matcher.match(record)

    def __getitem__(self, key: str) -> Any:
        return self._source[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


# ------------------------------------------------------------------------------ compiling


class _Number:
    """A JSON number in a pattern, keeping its literal text (exact matching compares text)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self) -> float:
        number = float(self.text)
        if not math.isfinite(number):
            raise _invalid(f"the number {self.text} is out of range")
        return number


def _nan(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _invalid(reason: str) -> ConfigurationError:
    exc = ConfigurationError(INVALID_PATTERN)
    exc.add_note(reason)
    return exc


_Leaf: TypeAlias = object


class _Rule:
    """One entry of a pattern's value list: accepts or refuses a single leaf value."""

    __slots__ = ()

    def accept(self, value: _Leaf) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Exact(_Rule):
    value: str | bool | None

    def accept(self, value: _Leaf) -> bool:
        if self.value is None or isinstance(self.value, bool):
            return value is self.value
        return isinstance(value, str) and value == self.value


@dataclass(frozen=True, slots=True)
class _ExactNumber(_Rule):
    text: str

    def accept(self, value: _Leaf) -> bool:
        return _number_text(value) == self.text


@dataclass(frozen=True, slots=True)
class _Prefix(_Rule):
    text: str
    ignore_case: bool = False

    def accept(self, value: _Leaf) -> bool:
        if not isinstance(value, str):
            return False
        if self.ignore_case:
            return self.matches(value.lower(), self.text.lower())
        return self.matches(value, self.text)

    @staticmethod
    def matches(value: str, text: str) -> bool:
        return value.startswith(text)


@dataclass(frozen=True, slots=True)
class _Suffix(_Prefix):
    """The prefix rule read from the other end."""

    @staticmethod
    def matches(value: str, text: str) -> bool:
        return value.endswith(text)


@dataclass(frozen=True, slots=True)
class _EqualsIgnoreCase(_Rule):
    text: str

    def accept(self, value: _Leaf) -> bool:
        return isinstance(value, str) and value.lower() == self.text.lower()


@dataclass(frozen=True, slots=True)
class _Wildcard(_Rule):
    regex: re.Pattern[str]

    def accept(self, value: _Leaf) -> bool:
        return isinstance(value, str) and self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class _Cidr(_Rule):
    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def accept(self, value: _Leaf) -> bool:
        if not isinstance(value, str):
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == self.network.version and address in self.network


@dataclass(frozen=True, slots=True)
class _Numeric(_Rule):
    lower: float | None = None
    lower_open: bool = False
    upper: float | None = None
    upper_open: bool = False

    def accept(self, value: _Leaf) -> bool:
        number = _number_value(value)
        if number is None or math.isnan(number):
            return False
        if self.lower is not None and (
            number < self.lower or (self.lower_open and number == self.lower)
        ):
            return False
        return self.upper is None or not (
            number > self.upper or (self.upper_open and number == self.upper)
        )


@dataclass(frozen=True, slots=True)
class _AnythingBut(_Rule):
    excluded: tuple[_Rule, ...]

    def accept(self, value: _Leaf) -> bool:
        return not any(rule.accept(value) for rule in self.excluded)


@dataclass(frozen=True, slots=True)
class _Field:
    """The value list under one field name: OR of its rules, plus ``exists`` tests."""

    rules: tuple[_Rule, ...]
    if_present: bool  # an {"exists": true} entry
    if_absent: bool  # an {"exists": false} entry

    def match(self, leaves: tuple[_Leaf, ...]) -> bool:
        if not leaves:
            return self.if_absent
        if self.if_present:
            return True
        return any(rule.accept(leaf) for leaf in leaves for rule in self.rules)


@dataclass(frozen=True, slots=True)
class _Object:
    """A pattern object: every field must match, and one alternative of each ``$or``."""

    fields: tuple[tuple[str, _Field | _Object], ...]
    alternatives: tuple[tuple[_Object, ...], ...]

    def match(self, value: object) -> bool:
        candidates = _objects(value)
        return any(self._match_fields(candidate) for candidate in candidates)

    def _match_fields(self, obj: Mapping[Any, Any]) -> bool:
        for name, sub in self.fields:
            found = obj.get(name, _MISSING)
            if isinstance(sub, _Object):
                if not sub.match(None if found is _MISSING else found):
                    return False
            elif not sub.match(() if found is _MISSING else _leaves(found)):
                return False
        return all(
            any(option._match_fields(obj) for option in options) for options in self.alternatives
        )


_MISSING: Final = object()


def _compile_object(pattern: dict[str, Any], *, depth: int, inside_or: bool) -> _Object:
    if depth > MAX_PATTERN_DEPTH:
        raise _invalid(f"the pattern is nested more than {MAX_PATTERN_DEPTH} levels deep")
    if not pattern:
        raise _invalid("Empty objects are not allowed")
    fields: list[tuple[str, _Field | _Object]] = []
    alternatives: list[tuple[_Object, ...]] = []
    for name, value in pattern.items():
        if name == "$or":
            alternatives.append(_compile_or(value, depth=depth))
            continue
        if inside_or and name in _OPERATORS:
            raise _invalid(f"{name} is a reserved field name inside $or")
        if isinstance(value, dict):
            fields.append((name, _compile_object(value, depth=depth + 1, inside_or=inside_or)))
        elif isinstance(value, list):
            fields.append((name, _compile_field(value)))
        else:
            raise _invalid(f'"{name}" must be an object or an array')
    return _Object(tuple(fields), tuple(alternatives))


def _compile_or(value: object, *, depth: int) -> tuple[_Object, ...]:
    if not isinstance(value, list):
        raise _invalid("$or must be followed by an array")
    if len(value) < 2:
        raise _invalid("There must be at least 2 objects in $or")
    options: list[_Object] = []
    for option in value:
        if not isinstance(option, dict):
            raise _invalid("Only JSON objects are allowed in the array of $or")
        options.append(_compile_object(option, depth=depth + 1, inside_or=True))
    return tuple(options)


def _compile_field(values: list[Any]) -> _Field:
    if not values:
        raise _invalid("Empty arrays are not allowed")
    rules: list[_Rule] = []
    if_present = if_absent = False
    for value in values:
        if isinstance(value, dict):
            if set(value) == {"exists"}:
                flag = value["exists"]
                if not isinstance(flag, bool):
                    raise _invalid("exists match pattern must be either true or false.")
                if_present |= flag
                if_absent |= not flag
            else:
                rules.append(_compile_expression(value))
        else:
            rules.append(_compile_scalar(value))
    return _Field(tuple(rules), if_present, if_absent)


def _compile_scalar(value: object) -> _Rule:
    if isinstance(value, _Number):
        return _ExactNumber(value.text)
    if value is None or isinstance(value, str | bool):
        return _Exact(value)
    raise _invalid("Match value must be String, number, true, false, or null")


def _compile_expression(expression: dict[str, Any]) -> _Rule:
    if len(expression) != 1:
        raise _invalid("Only one key allowed in match expression")
    ((operator, operand),) = expression.items()
    if operator in ("prefix", "suffix"):
        kind = _Prefix if operator == "prefix" else _Suffix
        if isinstance(operand, dict):
            return kind(_ignore_case_operand(operand, operator), ignore_case=True)
        return kind(_string(operand, operator))
    if operator == "equals-ignore-case":
        return _EqualsIgnoreCase(_string(operand, operator))
    if operator == "anything-but":
        return _compile_anything_but(operand)
    if operator == "numeric":
        return _compile_numeric(operand)
    if operator == "cidr":
        return _Cidr(_network(_string(operand, operator)))
    if operator == "wildcard":
        return _Wildcard(_wildcard(_string(operand, operator)))
    raise _invalid(f"Unrecognized match type {operator}")


def _ignore_case_operand(operand: dict[str, Any], operator: str) -> str:
    if set(operand) != {"equals-ignore-case"}:
        raise _invalid(f"Unsupported {operator} pattern: {', '.join(map(str, operand))}")
    return _string(operand["equals-ignore-case"], f"{operator}/equals-ignore-case")


def _string(value: object, operator: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{operator} match pattern must be a string")
    return value


def _compile_anything_but(operand: object) -> _Rule:
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise _invalid("Only one key allowed in anything-but expression")
        ((inner, value),) = operand.items()
        if inner in ("prefix", "suffix"):
            text = _string(value, f"anything-but/{inner}")
            if not text:
                raise _invalid("Null prefix/suffix not allowed")
            return _AnythingBut(((_Prefix if inner == "prefix" else _Suffix)(text),))
        if inner == "equals-ignore-case":
            texts = _strings(value, "anything-but/equals-ignore-case")
            return _AnythingBut(tuple(_EqualsIgnoreCase(t) for t in texts))
        if inner == "wildcard":
            texts = _strings(value, "anything-but/wildcard")
            return _AnythingBut(tuple(_Wildcard(_wildcard(t)) for t in texts))
        raise _invalid(f"Unsupported anything-but pattern: {inner}")
    values = operand if isinstance(operand, list) else [operand]
    strings = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if isinstance(v, _Number)]
    if not values or len(strings) + len(numbers) != len(values) or (strings and numbers):
        raise _invalid(
            "Value of anything-but must be a string, a number, or a non-empty array of only "
            "strings or only numbers"
        )
    excluded: list[_Rule] = [_Exact(s) for s in strings]
    excluded.extend(_ExactNumber(n.text) for n in numbers)
    return _AnythingBut(tuple(excluded))


def _strings(value: object, operator: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise _invalid(f"{operator} must be a string or a non-empty array of strings")
    return [str(v) for v in values]


def _compile_numeric(operand: object) -> _Numeric:
    if not isinstance(operand, list):
        raise _invalid("Value of numeric must be an array.")
    terms = list(operand)
    if len(terms) not in (2, 4):
        raise _invalid("numeric takes [op, n] or [>|>=, n, <|<=, m]")
    op, bound = terms[0], terms[1]
    if not isinstance(op, str) or op not in _NUMERIC_OPS:
        raise _invalid(f"Unrecognized numeric range operator: {op}")
    if not isinstance(bound, _Number):
        raise _invalid(f"Value of {op} must be numeric")
    first = bound.value()
    if len(terms) == 2:
        if op == "=":
            return _Numeric(first, False, first, False)
        if op in (">", ">="):
            return _Numeric(lower=first, lower_open=op == ">")
        return _Numeric(upper=first, upper_open=op == "<")
    top_op, top = terms[2], terms[3]
    if op not in (">", ">="):
        raise _invalid("Too many elements in numeric expression")
    if not isinstance(top_op, str) or top_op not in ("<", "<="):
        raise _invalid(f"Bad numeric range operator: {top_op}")
    if not isinstance(top, _Number):
        raise _invalid(f"Value of {top_op} must be numeric")
    second = top.value()
    if second <= first:
        raise _invalid("Bottom must be less than top")
    return _Numeric(first, op == ">", second, top_op == "<")


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if text.count("/") != 1:
        raise _invalid("Malformed CIDR, one '/' required")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _invalid(f"Nonstandard IP address or mask: {text}") from None


def _wildcard(text: str) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    previous_star = False
    for char in text:
        if escaped:
            if char not in "*\\":
                raise _invalid(f"Invalid escape in wildcard pattern: \\{char}")
            parts.append(re.escape(char))
            escaped = previous_star = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            if previous_star:
                raise _invalid("Consecutive wildcard characters are not allowed")
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(char))
            previous_star = False
    if escaped:
        raise _invalid("Wildcard pattern ends with an escape character")
    return re.compile("".join(parts), re.DOTALL)


# ------------------------------------------------------------------------------ matching


def _objects(value: object) -> list[Mapping[Any, Any]]:
    """The objects a nested pattern is tried against: the value, or each object in a list."""
    if isinstance(value, Mapping):
        return [value]
    found: list[Mapping[Any, Any]] = []
    if isinstance(value, list | tuple):
        stack = list(reversed(value))
        while stack:
            item = stack.pop()
            if isinstance(item, Mapping):
                found.append(item)
            elif isinstance(item, list | tuple):
                stack.extend(reversed(item))
    return found or [{}]


def _leaves(value: object) -> tuple[_Leaf, ...]:
    """The scalar values at a path: the value itself, or the scalars of a (nested) list."""
    if isinstance(value, Mapping):
        return ()
    if not isinstance(value, list | tuple):
        return (_leaf(value),)
    out: list[_Leaf] = []
    stack = list(reversed(value))
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif not isinstance(item, Mapping):
            out.append(_leaf(item))
    return tuple(out)


def _leaf(value: object) -> _Leaf:
    # The Lambda event is JSON: binary values travel as base64 text.
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_b64(value)
    return value


def _number_text(value: object) -> str | None:
    """The JSON text of a number leaf (``None`` for anything else)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return json.dumps(value)
        except ValueError:  # an int too long to render
            return None
    if isinstance(value, Decimal):
        return str(value)
    return None


def _number_value(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return math.inf if value > 0 else -math.inf
