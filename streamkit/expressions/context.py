"""ExpressionContext: one request's ExpressionAttributeNames/Values and which of them were used."""

from __future__ import annotations

import marshal
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, final

from streamkit.errors import ValidationException

from ._values import AttributeValue

__all__ = ["ExpressionContext"]

T = TypeVar("T")
_NAME_KEY = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_KEY = re.compile(r":[A-Za-z0-9_]+")
MEMO_ENTRIES = 512  # parsed expressions kept (oldest dropped first)
MEMO_VALUES_BYTES = 2048  # requests whose values serialise larger are parsed every time
_memo: dict[tuple[Any, ...], tuple[Any, frozenset[str], frozenset[str]]] = {}


def _check_keys(parameter: str, placeholders: Mapping[str, object], key: re.Pattern[str]) -> None:
    if not placeholders:
        raise ValidationException(f"{parameter} must not be empty")
    for name in placeholders:
        if not key.fullmatch(name):
            raise ValidationException(
                f'{parameter} contains invalid key: Syntax error; key: "{name}"'
            )


@final
class ExpressionContext:
    """The placeholders of one request, shared by all of its expressions.

    Construction validates the maps as DynamoDB's request validator does (empty maps and
    malformed keys are rejected before any expression is parsed). Parsing functions look
    placeholders up here and record them; :meth:`check_unused` then rejects entries that no
    expression of the request used.

    Args:
        names: ExpressionAttributeNames, or None when the request has none.
        values: ExpressionAttributeValues (already validated AttributeValues), or None.

    Raises:
        ValidationException: a map is empty or has a key that is not ``#name`` / ``:value``.
    """

    __slots__ = ("_names", "_used_names", "_used_values", "_values")

    def __init__(
        self,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        if names is not None:
            _check_keys("ExpressionAttributeNames", names, _NAME_KEY)
        if values is not None:
            _check_keys("ExpressionAttributeValues", values, _VALUE_KEY)
        self._names: dict[str, str] = dict(names or {})
        self._values: dict[str, AttributeValue] = dict(values or {})
        self._used_names: set[str] = set()
        self._used_values: set[str] = set()

    @property
    def names(self) -> Mapping[str, str]:
        """ExpressionAttributeNames as given (empty mapping if none)."""
        return self._names

    @property
    def values(self) -> Mapping[str, AttributeValue]:
        """ExpressionAttributeValues as given (empty mapping if none)."""
        return self._values

    def name(self, placeholder: str) -> str | None:
        """Return the attribute name for ``#placeholder`` and mark it used; None if undefined."""
        resolved = self._names.get(placeholder)
        if resolved is not None:
            self._used_names.add(placeholder)
        return resolved

    def value(self, placeholder: str) -> AttributeValue | None:
        """Return the value for ``:placeholder`` and mark it used; None if undefined."""
        resolved = self._values.get(placeholder)
        if resolved is not None:
            self._used_values.add(placeholder)
        return resolved

    def parse(self, parser: Callable[[ExpressionContext], T], *key: object) -> T:
        """Return ``parser(context)``, memoized on ``key`` and this request's placeholders.

        Requests repeat their expressions (``ADD #n :one``, ``attribute_not_exists(pk)``), and
        a parse costs more than the rest of a small write, so results are kept, keyed by
        ``key`` (what the parser is and the expression text), the names and the values; a
        hit marks the placeholders the parse used, as the parse would have. The parse runs
        on a copy of the values, so a caller changing its own later cannot reach a kept
        result; a failed parse raises and is not kept.
        """
        try:
            # version 0 has no back-references, so equal values give equal bytes whatever
            # their reference counts (later versions flag objects referenced elsewhere)
            values = marshal.dumps(self._values, 0) if self._values else b""
        except ValueError:  # not plain data (never so for values a request validated)
            return parser(self)
        if len(values) > MEMO_VALUES_BYTES:
            return parser(self)
        memo_key = (*key, tuple(self._names.items()), values)
        try:
            hit = _memo.get(memo_key)
        except TypeError:  # something unhashable (never so in a request the engine checked)
            return parser(self)
        if hit is None:
            scratch = ExpressionContext.__new__(ExpressionContext)  # maps already checked
            scratch._names = self._names
            scratch._values = marshal.loads(values) if values else {}
            scratch._used_names, scratch._used_values = set(), set()
            result = parser(scratch)
            hit = (result, frozenset(scratch._used_names), frozenset(scratch._used_values))
            if len(_memo) >= MEMO_ENTRIES:
                del _memo[next(iter(_memo))]
            _memo[memo_key] = hit
        self._used_names.update(hit[1])
        self._used_values.update(hit[2])
        return hit[0]

    def check_unused(self) -> None:
        """Raise DynamoDB's error for placeholders no expression used (names are checked first).

        Raises:
            ValidationException: ``Value provided in ExpressionAttributeNames unused in
                expressions: keys: {#a, #b}`` (or the same for ExpressionAttributeValues).
        """
        for label, defined, used in (
            ("ExpressionAttributeNames", self._names, self._used_names),
            ("ExpressionAttributeValues", self._values, self._used_values),
        ):
            unused = [key for key in defined if key not in used]
            if unused:
                keys = ", ".join(unused)
                raise ValidationException(
                    f"Value provided in {label} unused in expressions: keys: {{{keys}}}"
                )
