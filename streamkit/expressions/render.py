"""Render any expression AST back to canonical text; ``parse(render(ast)) == ast`` for the same ctx.

Placeholders are written as they were parsed (``#n``, ``:v``), inline names as themselves,
keywords in upper case, and parentheses only where precedence needs them.
"""

from __future__ import annotations

from functools import singledispatch

from .ast import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Call,
    Comparison,
    DeleteAction,
    FunctionCondition,
    In,
    Not,
    Or,
    PathExpr,
    Projection,
    RemoveAction,
    SetAction,
    UpdatePlan,
    UpdateSection,
    ValueRef,
)
from .keycondition import KeyCondition

__all__ = ["render"]


@singledispatch
def render(node: object) -> str:
    """Return the canonical expression text of an AST node (condition, update, projection...).

    Raises:
        TypeError: ``node`` is not an expression AST node.
    """
    if isinstance(node, tuple):
        return ", ".join(_render_path(element) for element in node)
    raise TypeError(f"cannot render {type(node).__name__}")


def _render_path(path: object) -> str:
    if isinstance(path, PathExpr):
        return render(path)
    assert isinstance(path, tuple)
    return render(PathExpr(path, (None,) * len(path)))


@render.register
def _(node: PathExpr) -> str:
    parts: list[str] = []
    for element, placeholder in zip(node.path, node.placeholders, strict=True):
        if isinstance(element, int):
            parts.append(f"[{element}]")
            continue
        text = placeholder if placeholder is not None else element
        parts.append(text if not parts else "." + text)
    return "".join(parts)


@render.register
def _(node: ValueRef) -> str:
    return node.placeholder


@render.register
def _(node: Call | FunctionCondition) -> str:
    return f"{node.name}({', '.join(render(arg) for arg in node.args)})"


@render.register
def _(node: Comparison | Arithmetic) -> str:
    return f"{render(node.left)} {node.op} {render(node.right)}"


@render.register
def _(node: Between) -> str:
    return f"{render(node.subject)} BETWEEN {render(node.low)} AND {render(node.high)}"


@render.register
def _(node: In) -> str:
    return f"{render(node.subject)} IN ({', '.join(render(o) for o in node.options)})"


def _wrap(node: object, *kinds: type) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, kinds) else text


@render.register
def _(node: Not) -> str:
    return "NOT " + _wrap(node.operand, And, Or)


@render.register
def _(node: And) -> str:
    return f"{_wrap(node.left, Or)} AND {_wrap(node.right, And, Or)}"


@render.register
def _(node: Or) -> str:
    return f"{render(node.left)} OR {_wrap(node.right, Or)}"


@render.register
def _(node: SetAction) -> str:
    return f"{render(node.path)} = {render(node.value)}"


@render.register
def _(node: RemoveAction) -> str:
    return render(node.path)


@render.register
def _(node: AddAction | DeleteAction) -> str:
    return f"{render(node.path)} {render(node.value)}"


@render.register
def _(node: UpdateSection) -> str:
    return f"{node.keyword} {', '.join(render(action) for action in node.actions)}"


@render.register
def _(node: UpdatePlan) -> str:
    return " ".join(render(section) for section in node.sections)


@render.register
def _(node: Projection) -> str:
    return ", ".join(render(path) for path in node.paths)


@render.register
def _(node: KeyCondition) -> str:
    return render(node.condition)
