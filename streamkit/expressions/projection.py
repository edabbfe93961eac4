"""Apply projected document paths to an item, keeping only the selected parts."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._values import AttributeValue, Item
from .ast import Path
from .paths import get_path

__all__ = ["project"]


@dataclass(slots=True)
class _Node:
    """A partially selected map (``kind == "M"``) or list (``kind == "L"``)."""

    kind: str
    children: dict[str | int, _Node | _Leaf] = field(default_factory=dict)


@dataclass(slots=True)
class _Leaf:
    """A value selected whole."""

    value: AttributeValue


def project(item: Mapping[str, AttributeValue], paths: Sequence[Path]) -> Item:
    """Return the parts of ``item`` selected by ``paths``.

    Nested paths give nested maps holding only the selected members; selected list elements
    are gathered, in index order, into a shorter list (``a[0], a[2]`` of ``[1, 2, 3]`` gives
    ``[1, 3]``). Paths that do not resolve are ignored.
    """
    root: dict[str | int, _Node | _Leaf] = {}
    for path in paths:
        value = get_path(item, path)
        if value is not None:
            _insert(root, path, value)
    return {str(name): _build(node) for name, node in root.items()}


def _insert(root: dict[str | int, _Node | _Leaf], path: Path, value: AttributeValue) -> None:
    children = root
    for depth, element in enumerate(path):
        existing = children.get(element)
        if depth == len(path) - 1:
            children[element] = _Leaf(value)
            return
        if isinstance(existing, _Leaf):
            return  # an enclosing value is already selected whole
        kind = "L" if isinstance(path[depth + 1], int) else "M"
        if existing is None:
            existing = _Node(kind)
            children[element] = existing
        elif existing.kind != kind:
            return
        children = existing.children


def _build(node: _Node | _Leaf) -> AttributeValue:
    if isinstance(node, _Leaf):
        return copy.deepcopy(node.value)
    if node.kind == "M":
        return {"M": {str(k): _build(v) for k, v in node.children.items()}}
    indexes = sorted(k for k in node.children if isinstance(k, int))
    return {"L": [_build(node.children[k]) for k in indexes]}
