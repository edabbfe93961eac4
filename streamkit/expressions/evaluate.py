"""Evaluate a parsed condition against an item with DynamoDB's semantics."""

from __future__ import annotations

from collections.abc import Mapping

from ._values import (
    AttributeValue,
    av_type,
    compare_scalar,
    contains,
    size_of,
    values_equal,
)
from .ast import (
    And,
    Between,
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
from .paths import get_path

__all__ = ["evaluate", "operand_value"]


def evaluate(cond: Condition, item: Mapping[str, AttributeValue]) -> bool:
    """Return whether ``item`` satisfies ``cond``.

    A missing attribute makes every comparison false except ``<>``, which is then true;
    values of different types are never equal and never ordered; ``<``/``BETWEEN`` only
    order S, N and B values.
    """
    if isinstance(cond, And):
        return evaluate(cond.left, item) and evaluate(cond.right, item)
    if isinstance(cond, Or):
        return evaluate(cond.left, item) or evaluate(cond.right, item)
    if isinstance(cond, Not):
        return not evaluate(cond.operand, item)
    if isinstance(cond, Comparison):
        return _compare(cond.op, operand_value(cond.left, item), operand_value(cond.right, item))
    if isinstance(cond, Between):
        subject = operand_value(cond.subject, item)
        low = operand_value(cond.low, item)
        high = operand_value(cond.high, item)
        if subject is None or low is None or high is None:
            return False
        above = compare_scalar(subject, low)
        below = compare_scalar(subject, high)
        return above is not None and below is not None and above >= 0 and below <= 0
    if isinstance(cond, In):
        subject = operand_value(cond.subject, item)
        if subject is None:
            return False
        for option in cond.options:
            value = operand_value(option, item)
            if value is not None and values_equal(subject, value):
                return True
        return False
    return _function(cond, item)


def operand_value(operand: Operand, item: Mapping[str, AttributeValue]) -> AttributeValue | None:
    """Return the value of a condition operand, or None if it is missing / undefined."""
    if isinstance(operand, ValueRef):
        return operand.value
    if isinstance(operand, PathExpr):
        return get_path(item, operand.path)
    if operand.name == "size" and len(operand.args) == 1:
        value = operand_value(operand.args[0], item)
        size = None if value is None else size_of(value)
        return None if size is None else {"N": str(size)}
    return None


def _compare(op: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    if left is None or right is None:
        return op == "<>"
    if op == "=":
        return values_equal(left, right)
    if op == "<>":
        return not values_equal(left, right)
    order = compare_scalar(left, right)
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def _function(cond: FunctionCondition, item: Mapping[str, AttributeValue]) -> bool:
    name, args = cond.name, cond.args
    if name == "attribute_exists":
        return operand_value(args[0], item) is not None
    if name == "attribute_not_exists":
        return operand_value(args[0], item) is None
    first = operand_value(args[0], item)
    second = operand_value(args[1], item)
    if first is None or second is None:
        return False
    if name == "attribute_type":
        return av_type(second) == "S" and av_type(first) == second["S"]
    if name == "begins_with":
        kind = av_type(first)
        if kind != av_type(second) or kind not in ("S", "B"):
            return False
        if kind == "S":
            return bool(first["S"].startswith(second["S"]))
        return bytes(first["B"]).startswith(bytes(second["B"]))
    if name == "contains":
        return contains(first, second)
    return False
