"""KeyConditionExpression: parse into key predicates and check them against a key schema."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from streamkit.errors import ValidationException
from streamkit.model.schema import MAX_MULTI_KEYS

from ._values import AttributeValue
from .ast import (
    And,
    Between,
    Call,
    Comparison,
    Condition,
    FunctionCondition,
    In,
    Not,
    Operand,
    Or,
    PathExpr,
    ValueRef,
)
from .context import ExpressionContext
from .parser import parse_condition

__all__ = [
    "BoundKeyCondition",
    "BoundMultiKeyCondition",
    "KeyCondition",
    "KeyPredicate",
    "parse_key_condition",
]

_KIND = "KeyConditionExpression"
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class KeyPredicate:
    """One condition on a key attribute.

    ``op`` is one of ``= < <= > >= BETWEEN begins_with``; ``values`` holds one value, or the
    lower and upper bound for BETWEEN.
    """

    attribute: str
    op: str
    values: tuple[AttributeValue, ...]


@dataclass(frozen=True, slots=True)
class BoundKeyCondition:
    """A key condition matched to a key schema: the partition value and the sort predicate."""

    partition_key: str
    partition_value: AttributeValue
    sort: KeyPredicate | None


@dataclass(frozen=True, slots=True)
class BoundMultiKeyCondition:
    """A key condition matched to a multi-attribute key schema (a GSI's).

    ``partition``: the value of every HASH attribute, in schema order; ``equal``: the values of
    the leading RANGE attributes compared with ``=``; ``last``: the condition on the RANGE
    attribute after those, if any (any operator).
    """

    partition: tuple[AttributeValue, ...]
    equal: tuple[AttributeValue, ...]
    last: KeyPredicate | None


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A parsed KeyConditionExpression: one or two key predicates joined by AND.

    ``condition`` is the parsed expression (for :func:`evaluate` and :func:`render`).
    """

    condition: Condition
    predicates: tuple[KeyPredicate, ...]

    def validate(self, hash_key: str, range_key: str | None) -> None:
        """Check the predicates against the table's (or index's) key schema.

        Raises:
            ValidationException: ``Query condition missed key schema element: pk``, or
                ``Query key condition not supported`` for a partition key condition other
                than ``=`` (or a condition on a non-key attribute of a hash-only schema).
        """
        self.bind(hash_key, range_key)

    def bind(self, hash_key: str, range_key: str | None) -> BoundKeyCondition:
        """Validate as :meth:`validate` does and split into partition value and sort predicate."""
        partition: KeyPredicate | None = None
        sort: KeyPredicate | None = None
        if len(self.predicates) > 2:
            raise ValidationException("Conditions can be of length 1 or 2 only")
        for predicate in self.predicates:
            if predicate.attribute == hash_key:
                partition = predicate
            elif predicate.attribute == range_key:
                sort = predicate
            elif range_key is not None:
                raise ValidationException(f"Query condition missed key schema element: {range_key}")
            else:
                raise ValidationException("Query key condition not supported")
        if partition is None:
            raise ValidationException(f"Query condition missed key schema element: {hash_key}")
        if partition.op != "=":
            raise ValidationException("Query key condition not supported")
        return BoundKeyCondition(hash_key, partition.values[0], sort)

    def bind_multi(
        self, hash_keys: Sequence[str], range_keys: Sequence[str]
    ) -> BoundMultiKeyCondition:
        """Match the predicates to a multi-attribute key: ``=`` on every HASH attribute, and
        RANGE attributes used from the first with no gap, all with ``=`` but the last.

        DynamoDB's wording for the multi-attribute rules is not published; these messages
        follow its single-attribute ones.

        Raises:
            ValidationException: a HASH attribute without a condition, a gap among the RANGE
                attributes, a condition other than ``=`` before the last one used, or a
                condition on an attribute outside the key.
        """
        by_name = {p.attribute: p for p in self.predicates}
        keys = set(hash_keys) | set(range_keys)
        for name in hash_keys:
            predicate = by_name.get(name)
            if predicate is None:
                raise ValidationException(f"Query condition missed key schema element: {name}")
            if predicate.op != "=":
                raise ValidationException("Query key condition not supported")
        if any(name not in keys for name in by_name):
            raise ValidationException("Query key condition not supported")
        used = [name for name in range_keys if name in by_name]
        if used != list(range_keys[: len(used)]):
            gap = next(name for name in range_keys if name not in by_name)
            raise ValidationException(f"Query condition missed key schema element: {gap}")
        conditions = [by_name[name] for name in used]
        if any(p.op != "=" for p in conditions[:-1]):
            raise ValidationException("Query key condition not supported")
        return BoundMultiKeyCondition(
            tuple(by_name[name].values[0] for name in hash_keys),
            tuple(p.values[0] for p in conditions[:-1]),
            conditions[-1] if conditions else None,
        )


def parse_key_condition(text: str, ctx: ExpressionContext) -> KeyCondition:
    """Parse a KeyConditionExpression.

    Raises:
        ValidationException: Syntax and validation errors of the condition grammar, then the
            key-condition rules (only AND, only ``= < <= > >= BETWEEN begins_with``, one
            top-level attribute compared with values, at most two conditions, one per key).
    """
    return ctx.parse(functools.partial(_parse_key_condition, text), "key condition", text)


def _parse_key_condition(text: str, ctx: ExpressionContext) -> KeyCondition:
    condition = parse_condition(text, ctx, kind=_KIND)
    leaves: list[Condition] = []
    _flatten(condition, leaves)
    predicates = [_predicate(leaf) for leaf in leaves]
    seen: set[str] = set()
    for predicate in predicates:
        if predicate.attribute in seen:
            raise ValidationException(
                "KeyConditionExpressions must only contain one condition per key"
            )
        seen.add(predicate.attribute)
    if len(predicates) > 2 * MAX_MULTI_KEYS:  # a multi-attribute GSI key has up to 8
        raise ValidationException("Conditions can be of length 1 or 2 only")
    return KeyCondition(condition, tuple(predicates))


def _invalid_operator(op: str) -> ValidationException:
    return ValidationException(f"Invalid operator used in {_KIND}: {op}")


def _flatten(node: Condition, leaves: list[Condition]) -> None:
    if isinstance(node, And):
        _flatten(node.left, leaves)
        _flatten(node.right, leaves)
    elif isinstance(node, Or):
        raise _invalid_operator("OR")
    elif isinstance(node, Not):
        raise _invalid_operator("NOT")
    elif isinstance(node, In):
        raise _invalid_operator("IN")
    elif isinstance(node, Comparison) and node.op == "<>":
        raise _invalid_operator("<>")
    elif isinstance(node, FunctionCondition) and node.name != "begins_with":
        raise _invalid_operator(node.name)
    else:
        leaves.append(node)


def _only_key(operands: tuple[Operand, ...], op: str, *, key_first: bool) -> str:
    """Return the one key attribute of a condition, checking DynamoDB's rules in its order."""
    nested = "KeyConditionExpressions cannot have conditions on nested attributes"
    first = operands[0]
    if isinstance(first, PathExpr) and len(first.path) > 1:
        raise ValidationException(nested)
    paths = [operand for operand in operands if isinstance(operand, PathExpr)]
    if len(paths) > 1:
        raise ValidationException(
            f"Invalid condition in {_KIND}: Multiple attribute names used in one condition"
        )
    if key_first and not isinstance(first, PathExpr):
        raise ValidationException(
            f"Invalid condition in {_KIND}: {op} operator must have the key attribute as its "
            "first operand"
        )
    if any(isinstance(operand, Call) for operand in operands):
        raise ValidationException("KeyConditionExpressions cannot contain nested operations")
    if not paths:
        raise ValidationException(f"Invalid condition in {_KIND}: No key attribute specified")
    if len(paths[0].path) > 1:
        raise ValidationException(nested)
    return str(paths[0].path[0])


def _value(operand: Operand) -> AttributeValue:
    assert isinstance(operand, ValueRef)
    return operand.value


def _predicate(leaf: Condition) -> KeyPredicate:
    if isinstance(leaf, Comparison):
        name = _only_key((leaf.left, leaf.right), leaf.op, key_first=False)
        if isinstance(leaf.left, PathExpr):
            return KeyPredicate(name, leaf.op, (_value(leaf.right),))
        return KeyPredicate(name, _FLIPPED[leaf.op], (_value(leaf.left),))
    if isinstance(leaf, Between):
        name = _only_key((leaf.subject, leaf.low, leaf.high), "BETWEEN", key_first=True)
        return KeyPredicate(name, "BETWEEN", (_value(leaf.low), _value(leaf.high)))
    assert isinstance(leaf, FunctionCondition)
    name = _only_key(leaf.args, "begins_with", key_first=True)
    return KeyPredicate(name, "begins_with", (_value(leaf.args[1]),))
