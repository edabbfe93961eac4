"""DynamoDB expressions: parse, render, evaluate, apply updates, project. Pure and synchronous.

Must not import storage, engine or anything above them.
"""

from __future__ import annotations

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
    "apply_update",
    "evaluate",
    "get_path",
    "is_reserved",
    "parse_condition",
    "parse_key_condition",
    "parse_projection",
    "parse_projection_expr",
    "parse_update",
    "project",
    "render",
]
