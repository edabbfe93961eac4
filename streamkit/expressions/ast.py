"""Expression AST: frozen slotted dataclasses shared by parser, evaluator, updater, renderer."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeAlias

from streamkit.errors import ValidationException

from ._values import AttributeValue

__all__ = [
    "AddAction",
    "And",
    "Arithmetic",
    "Between",
    "Call",
    "Comparison",
    "Condition",
    "DeleteAction",
    "FunctionCondition",
    "In",
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
]

Path: TypeAlias = tuple[str | int, ...]
"""A resolved document path: attribute names and list indexes, e.g. ``("a", "b", 2, "c")``."""


@dataclass(frozen=True, slots=True)
class PathExpr:
    """A document path as written: resolved elements plus the placeholder each name came from.

    ``placeholders[i]`` is the ``#name`` that produced ``path[i]``, or None when the name was
    written inline (or the element is a list index).
    """

    path: Path
    placeholders: tuple[str | None, ...]

    @classmethod
    def of(cls, *elements: str | int) -> PathExpr:
        """Build a path written inline (no placeholders)."""
        return cls(tuple(elements), (None,) * len(elements))


@dataclass(frozen=True, slots=True)
class ValueRef:
    """A ``:value`` placeholder and the AttributeValue it stands for."""

    placeholder: str
    value: AttributeValue


@dataclass(frozen=True, slots=True)
class Call:
    """A function used as an operand: ``size(p)``, ``if_not_exists(p, v)``, ``list_append(..)``."""

    name: str
    args: tuple[Operand, ...]


Operand: TypeAlias = PathExpr | ValueRef | Call


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with op one of ``= <> < <= > >=``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    """``subject BETWEEN low AND high``."""

    subject: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    """``subject IN (option, ...)``."""

    subject: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class FunctionCondition:
    """A boolean function such as ``attribute_exists(p)`` or ``begins_with(p, :v)``."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT operand``."""

    operand: Condition


@dataclass(frozen=True, slots=True)
class And:
    """``left AND right``."""

    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Or:
    """``left OR right``."""

    left: Condition
    right: Condition


Condition: TypeAlias = Comparison | Between | In | FunctionCondition | Not | And | Or


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` on the right-hand side of SET."""

    op: str
    left: Operand
    right: Operand


SetValue: TypeAlias = Operand | Arithmetic


@dataclass(frozen=True, slots=True)
class SetAction:
    """``path = value``."""

    path: PathExpr
    value: SetValue


@dataclass(frozen=True, slots=True)
class RemoveAction:
    """``path`` in a REMOVE section."""

    path: PathExpr


@dataclass(frozen=True, slots=True)
class AddAction:
    """``path :value`` in an ADD section."""

    path: PathExpr
    value: ValueRef


@dataclass(frozen=True, slots=True)
class DeleteAction:
    """``path :value`` in a DELETE section."""

    path: PathExpr
    value: ValueRef


UpdateAction: TypeAlias = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
class UpdateSection:
    """One clause of an UpdateExpression: ``SET``/``REMOVE``/``ADD``/``DELETE`` and its actions."""

    keyword: str
    actions: tuple[UpdateAction, ...]


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """A parsed UpdateExpression: its sections in the order written."""

    sections: tuple[UpdateSection, ...]

    @property
    def actions(self) -> tuple[UpdateAction, ...]:
        """Every action of every section, in the order written."""
        return tuple(action for section in self.sections for action in section.actions)

    @property
    def updated_paths(self) -> tuple[Path, ...]:
        """The document paths the update writes or removes (for UPDATED_OLD / UPDATED_NEW)."""
        return tuple(action.path.path for action in self.actions)

    def check_key_attributes(self, key_names: Collection[str]) -> None:
        """Reject an update that touches a key attribute (or anything nested in one).

        Raises:
            ValidationException: ``One or more parameter values were invalid: Cannot update
                attribute pk. This attribute is part of the key``.
        """
        for path in self.updated_paths:
            head = path[0]
            if isinstance(head, str) and head in key_names:
                raise ValidationException(
                    "One or more parameter values were invalid: "
                    f"Cannot update attribute {head}. This attribute is part of the key"
                )


@dataclass(frozen=True, slots=True)
class Projection:
    """A parsed ProjectionExpression."""

    paths: tuple[PathExpr, ...]

    @property
    def resolved(self) -> tuple[Path, ...]:
        """The resolved document paths."""
        return tuple(p.path for p in self.paths)
