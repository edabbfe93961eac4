"""DynamoDB expressions: parse, render, evaluate, apply updates, project. Pure and synchronous.

Must not import storage, engine or anything above them.

Each name loads its module on first use (PEP 562): the engine's modules import the package
at start-up, and most of it (the AST's dataclasses, the parsers, PartiQL) is needed only by
the first request carrying an expression; ``streamkit serve`` answers its first request
without it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._values import AttributeValue as AttributeValue, Item as Item
    from .ast import (
        AddAction as AddAction,
        And as And,
        Arithmetic as Arithmetic,
        Between as Between,
        Call as Call,
        Comparison as Comparison,
        Condition as Condition,
        DeleteAction as DeleteAction,
        FunctionCondition as FunctionCondition,
        In as In,
        Not as Not,
        Operand as Operand,
        Or as Or,
        Path as Path,
        PathExpr as PathExpr,
        Projection as Projection,
        RemoveAction as RemoveAction,
        SetAction as SetAction,
        SetValue as SetValue,
        UpdateAction as UpdateAction,
        UpdatePlan as UpdatePlan,
        UpdateSection as UpdateSection,
        ValueRef as ValueRef,
    )
    from .context import ExpressionContext as ExpressionContext
    from .evaluate import evaluate as evaluate
    from .keycondition import (
        BoundKeyCondition as BoundKeyCondition,
        KeyCondition as KeyCondition,
        KeyPredicate as KeyPredicate,
        parse_key_condition as parse_key_condition,
    )
    from .legacy import (
        apply_attribute_updates as apply_attribute_updates,
        check_mixing as check_mixing,
        check_query_filter_keys as check_query_filter_keys,
        condition_from_expected as condition_from_expected,
        condition_from_filter as condition_from_filter,
        key_condition_from_legacy as key_condition_from_legacy,
        plan_from_attribute_updates as plan_from_attribute_updates,
        projection_from_attributes_to_get as projection_from_attributes_to_get,
    )
    from .parser import (
        MAX_EXPRESSION_BYTES as MAX_EXPRESSION_BYTES,
        MAX_IN_OPERANDS as MAX_IN_OPERANDS,
        parse_condition as parse_condition,
        parse_projection as parse_projection,
        parse_projection_expr as parse_projection_expr,
        parse_update as parse_update,
    )
    from .paths import get_path as get_path
    from .projection import project as project
    from .render import render as render
    from .reserved import RESERVED_WORDS as RESERVED_WORDS, is_reserved as is_reserved
    from .update import apply_update as apply_update

#: Each public name's module in this package.
_WHERE = {
    "AttributeValue": "_values",
    "Item": "_values",
    "AddAction": "ast",
    "And": "ast",
    "Arithmetic": "ast",
    "Between": "ast",
    "Call": "ast",
    "Comparison": "ast",
    "Condition": "ast",
    "DeleteAction": "ast",
    "FunctionCondition": "ast",
    "In": "ast",
    "Not": "ast",
    "Operand": "ast",
    "Or": "ast",
    "Path": "ast",
    "PathExpr": "ast",
    "Projection": "ast",
    "RemoveAction": "ast",
    "SetAction": "ast",
    "SetValue": "ast",
    "UpdateAction": "ast",
    "UpdatePlan": "ast",
    "UpdateSection": "ast",
    "ValueRef": "ast",
    "ExpressionContext": "context",
    "evaluate": "evaluate",
    "BoundKeyCondition": "keycondition",
    "KeyCondition": "keycondition",
    "KeyPredicate": "keycondition",
    "parse_key_condition": "keycondition",
    "apply_attribute_updates": "legacy",
    "check_mixing": "legacy",
    "check_query_filter_keys": "legacy",
    "condition_from_expected": "legacy",
    "condition_from_filter": "legacy",
    "key_condition_from_legacy": "legacy",
    "plan_from_attribute_updates": "legacy",
    "projection_from_attributes_to_get": "legacy",
    "MAX_EXPRESSION_BYTES": "parser",
    "MAX_IN_OPERANDS": "parser",
    "parse_condition": "parser",
    "parse_projection": "parser",
    "parse_projection_expr": "parser",
    "parse_update": "parser",
    "get_path": "paths",
    "project": "projection",
    "render": "render",
    "RESERVED_WORDS": "reserved",
    "is_reserved": "reserved",
    "apply_update": "update",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``evaluate`` and ``render`` the functions: importing a submodule sets the
    package's attribute of its name to the module, which eager imports used to overwrite."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _WHERE:
            return  # e.g. streamkit.expressions.render: sys.modules still has the module
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "RESERVED_WORDS",
    "AddAction",
    "And",
    "Arithmetic",
    "AttributeValue",
    "Between",
    "BoundKeyCondition",
    "Call",
    "Comparison",
    "Condition",
    "DeleteAction",
    "ExpressionContext",
    "FunctionCondition",
    "In",
    "Item",
    "KeyCondition",
    "KeyPredicate",
    "Not",
    "Operand",
    "Or",
    "Path",
    "PathExpr",
    "Projection",
    "RemoveAction",
    "SetAction",
    "SetValue",
    "UpdateAction",
    "UpdatePlan",
    "UpdateSection",
    "ValueRef",
    "apply_attribute_updates",
    "apply_update",
    "check_mixing",
    "check_query_filter_keys",
    "condition_from_expected",
    "condition_from_filter",
    "evaluate",
    "get_path",
    "is_reserved",
    "key_condition_from_legacy",
    "parse_condition",
    "parse_key_condition",
    "parse_projection",
    "parse_projection_expr",
    "parse_update",
    "plan_from_attribute_updates",
    "project",
    "projection_from_attributes_to_get",
    "render",
]
