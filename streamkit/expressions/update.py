"""Apply an UpdatePlan to an item: SET / REMOVE / ADD / DELETE with DynamoDB's semantics."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from streamkit.errors import ValidationException

from ._values import (
    SET_TYPES,
    AttributeValue,
    Item,
    add_numbers,
    av_type,
    set_difference,
    set_union,
)
from .ast import (
    AddAction,
    Arithmetic,
    Call,
    DeleteAction,
    Operand,
    Path,
    PathExpr,
    RemoveAction,
    SetAction,
    SetValue,
    UpdatePlan,
    ValueRef,
)
from .paths import get_path

__all__ = ["apply_update"]

_MISSING = "The provided expression refers to an attribute that does not exist in the item"
_BAD_TYPE = "An operand in the update expression has an incorrect data type"
_BAD_PATH = "The document path provided in the update expression is invalid for update"


class _Tombstone:
    """Marks a list element REMOVE dropped; lists are compacted once every action ran."""


_GONE = _Tombstone()


def apply_update(plan: UpdatePlan, item: Mapping[str, AttributeValue]) -> Item:
    """Return a new item with ``plan`` applied; ``item`` is left untouched.

    Every operand is read from the original item, list indexes refer to positions in the
    original lists (REMOVE ``a[1]`` and SET ``a[3]`` together touch the original 2nd and 4th
    elements), SET beyond the end of a list appends in index order, and a DELETE that empties
    a set removes the attribute.

    Raises:
        ValidationException: A missing operand attribute, an operand of the wrong type, a
            path whose parent is missing or of the wrong type, or a number out of range.
    """
    writes: list[tuple[Path, AttributeValue]] = []
    removes: list[Path] = []
    checks: list[Path] = []
    for action in plan.actions:
        path = action.path.path
        if isinstance(action, SetAction):
            writes.append((path, _set_value(action.value, item)))
        elif isinstance(action, RemoveAction):
            removes.append(path)
        elif isinstance(action, AddAction):
            writes.append((path, _added(get_path(item, path), action.value.value)))
        elif isinstance(action, DeleteAction):
            existing = get_path(item, path)
            if existing is None:
                checks.append(path)
                continue
            remaining = _deleted(existing, action.value.value)
            if remaining is None:
                removes.append(path)
            else:
                writes.append((path, remaining))

    # Copy on write: the new item shares the old one's values, except those an action edits
    # inside of (a path longer than one), which are copied first.
    result: dict[str, Any] = dict(item)
    for path in [path for path, _ in writes] + removes:
        if len(path) > 1 and isinstance(path[0], str) and path[0] in item:
            result[path[0]] = _copy(item[path[0]])
    edit = _Edit(result)
    for path in checks:
        edit.parent(path)
    for path, value in writes:
        edit.write(path, _copy(value))
    for path in removes:
        edit.remove(path)
    edit.finish()
    return result


_SCALAR_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL"})
_IMMUTABLE = (str, bytes, bool)


def _copy(value: AttributeValue) -> AttributeValue:
    """Return a deep copy of an AttributeValue (what ``copy.deepcopy`` gives, much faster).

    Scalars are immutable (str, bytes, bool) and are shared; maps, lists and sets are copied.
    Anything unexpected falls back to ``copy.deepcopy``.
    """
    if len(value) == 1:
        for tag, payload in value.items():
            if tag in _SCALAR_TAGS and type(payload) in _IMMUTABLE:
                return {tag: payload}
            if tag == "M" and type(payload) is dict:
                return {tag: {k: _copy(v) for k, v in payload.items()}}
            if tag == "L" and type(payload) is list:
                return {tag: [_copy(v) for v in payload]}
            if (
                tag in SET_TYPES
                and type(payload) is list
                and all(type(member) in _IMMUTABLE for member in payload)
            ):
                return {tag: payload.copy()}
    return copy.deepcopy(value)


def _operand(operand: Operand, item: Mapping[str, AttributeValue]) -> AttributeValue:
    if isinstance(operand, ValueRef):
        return operand.value
    if isinstance(operand, PathExpr):
        value = get_path(item, operand.path)
        if value is None:
            raise ValidationException(_MISSING)
        return value
    return _call(operand, item)


def _call(call: Call, item: Mapping[str, AttributeValue]) -> AttributeValue:
    first, second = call.args
    if call.name == "if_not_exists":
        if isinstance(first, PathExpr):
            existing = get_path(item, first.path)
            if existing is not None:
                return existing
        return _operand(second, item)
    left, right = _operand(first, item), _operand(second, item)
    if av_type(left) != "L" or av_type(right) != "L":
        raise ValidationException(_BAD_TYPE)
    return {"L": [*left["L"], *right["L"]]}


def _set_value(value: SetValue, item: Mapping[str, AttributeValue]) -> AttributeValue:
    if not isinstance(value, Arithmetic):
        return _operand(value, item)
    left, right = _operand(value.left, item), _operand(value.right, item)
    if av_type(left) != "N" or av_type(right) != "N":
        raise ValidationException(_BAD_TYPE)
    return {"N": add_numbers(left["N"], right["N"], subtract=value.op == "-")}


def _added(existing: AttributeValue | None, operand: AttributeValue) -> AttributeValue:
    if existing is None:
        return operand
    kind = av_type(operand)
    if av_type(existing) != kind:
        raise ValidationException(_BAD_TYPE)
    if kind == "N":
        return {"N": add_numbers(existing["N"], operand["N"])}
    return {kind: set_union(kind, existing[kind], operand[kind])}


def _deleted(existing: AttributeValue, operand: AttributeValue) -> AttributeValue | None:
    kind = av_type(operand)
    if av_type(existing) != kind or kind not in SET_TYPES:
        raise ValidationException(_BAD_TYPE)
    remaining = set_difference(kind, existing[kind], operand[kind])
    return {kind: remaining} if remaining else None


class _Edit:
    """Writes and removals on the copied item, with list positions fixed to the original."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.appends: dict[int, tuple[list[Any], list[tuple[int, AttributeValue]]]] = {}
        self.touched: dict[int, list[Any]] = {}

    def parent(self, path: Path) -> dict[str, Any] | list[Any]:
        """Return the map (or list) that holds the last element of ``path``."""
        container: dict[str, Any] | list[Any] = self.item
        if not path or not isinstance(path[0], str):
            raise ValidationException(_BAD_PATH)
        for index, element in enumerate(path):
            want_list = isinstance(element, int)
            if index > 0:
                node = container
                kind = "L" if want_list else "M"
                if not isinstance(node, dict) or kind not in node:
                    raise ValidationException(_BAD_PATH)
                container = node[kind]
            if index == len(path) - 1:
                return container
            if isinstance(element, int):
                assert isinstance(container, list)
                if element >= len(container) or container[element] is _GONE:
                    raise ValidationException(_BAD_PATH)
                container = container[element]
            else:
                assert isinstance(container, dict)
                if element not in container:
                    raise ValidationException(_BAD_PATH)
                container = container[element]
        raise ValidationException(_BAD_PATH)  # pragma: no cover

    def write(self, path: Path, value: AttributeValue) -> None:
        container = self.parent(path)
        last = path[-1]
        if isinstance(last, int):
            assert isinstance(container, list)
            if last < len(container):
                container[last] = value
            else:
                self.appends.setdefault(id(container), (container, []))[1].append((last, value))
        else:
            assert isinstance(container, dict)
            container[last] = value

    def remove(self, path: Path) -> None:
        container = self.parent(path)
        last = path[-1]
        if isinstance(last, int):
            assert isinstance(container, list)
            if last < len(container):
                container[last] = _GONE
                self.touched[id(container)] = container
        else:
            assert isinstance(container, dict)
            container.pop(last, None)

    def finish(self) -> None:
        for target, pending in self.appends.values():
            target.extend(value for _, value in sorted(pending, key=lambda p: p[0]))
        for target in self.touched.values():
            target[:] = [value for value in target if value is not _GONE]
