"""Document paths: lookup in an item, DynamoDB's path text in messages, overlap/conflict checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._values import AttributeValue
from .ast import Path

__all__ = ["find_overlap", "format_path", "get_path"]


def get_path(item: Mapping[str, AttributeValue], path: Path) -> AttributeValue | None:
    """Return the value at ``path`` in ``item``, or None if any step is missing or mistyped."""
    head = path[0]
    if not isinstance(head, str):
        return None
    current = item.get(head)
    for element in path[1:]:
        if current is None:
            return None
        if isinstance(element, int):
            items = current.get("L")
            if items is None or element >= len(items):
                return None
            current = items[element]
        else:
            members = current.get("M")
            if members is None:
                return None
            current = members.get(element)
    return current


def format_path(path: Path) -> str:
    """Render a path the way DynamoDB's messages do: ``[a, b, [2]]``."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in path) + "]"


def find_overlap(paths: Sequence[Path]) -> tuple[str, str] | None:
    """Find the first overlapping and the first conflicting pair of paths.

    Two paths overlap when one is a prefix of (or equal to) the other; they conflict when at
    some position one has a name and the other an index. Pairs are checked in the order the
    paths were written, each new path against every earlier one.

    Returns:
        ``("overlap", message)`` or ``("conflict", message)`` (overlap wins), or None.
    """
    conflict: str | None = None
    for i, later in enumerate(paths):
        for earlier in paths[:i]:
            outcome = _compare(earlier, later)
            if outcome is None:
                continue
            message = (
                f"Two document paths {outcome} with each other; must remove or rewrite one of "
                f"these paths; path one: {format_path(earlier)}, path two: {format_path(later)}"
            )
            if outcome == "overlap":
                return ("overlap", message)
            if conflict is None:
                conflict = message
    return None if conflict is None else ("conflict", conflict)


def _compare(a: Path, b: Path) -> str | None:
    for x, y in zip(a, b, strict=False):
        if isinstance(x, int) != isinstance(y, int):
            return "conflict"
        if x != y:
            return None
    return "overlap"
