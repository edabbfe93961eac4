"""Pieces shared by single-item writes, batches and transactions: conditions, update images,
per-table capacity lists and the request validator's shape messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine import capacity
from streamkit.engine.core import check_size
from streamkit.errors import ConditionalCheckFailedException, ValidationException
from streamkit.model.attributes import Item, check_nesting
from streamkit.model.schema import TableSpec

if TYPE_CHECKING:
    from streamkit.expressions import Condition, UpdatePlan

__all__ = ["CapacityTally", "check_condition", "length_error", "null_error", "updated_image"]

UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"


def check_condition(condition: Condition | None, old: Item | None, on_fail: str) -> None:
    """Raise ConditionalCheckFailedException (with the old item for ALL_OLD) if the condition
    is false on ``old``; a missing item is evaluated as an empty one."""
    if condition is not None and not ex.evaluate(condition, old or {}):
        raise ConditionalCheckFailedException(item=old if on_fail == "ALL_OLD" and old else None)


def updated_image(
    plan: UpdatePlan | None,
    old: Item | None,
    key_item: Item,
    apply: Callable[[UpdatePlan, Item], Item] | None = None,
) -> tuple[Item | None, int]:
    """Return the item UpdateItem leaves behind and its size (400 KB limit checked).

    None: the item does not exist and the update only REMOVEs or DELETEs, so it stays absent
    (even a REMOVE of a nested path that could not exist is no error then).

    ``apply`` is :func:`apply_update` (None), or ``apply_attribute_updates`` for the legacy
    AttributeUpdates (the same updates, with the legacy error wording).
    """
    if old is None and plan is not None and _only_removes(plan):
        return None, 0  # nothing to remove from: DynamoDB creates no item (and no record)
    base = old if old is not None else dict(key_item)
    if plan is None:
        return base, check_size(base, UPDATE_TOO_LARGE)
    new = (ex.apply_update if apply is None else apply)(plan, base)
    for name in {path[0] for path in plan.updated_paths}:  # a SET can nest valid parts too deep
        value = new.get(str(name))  # a path starts with an attribute name, never an index
        if value is not None:
            check_nesting(value)
    return new, check_size(new, UPDATE_TOO_LARGE)


def _only_removes(plan: UpdatePlan) -> bool:
    return all(isinstance(a, ex.RemoveAction | ex.DeleteAction) for a in plan.actions)


class CapacityTally:
    """Capacity of a batch or transaction call, summed per table and per index.

    Batch and transaction calls answer with a ConsumedCapacity *list*: one entry per table,
    in the order the tables first appear.
    """

    def __init__(self, *, read: bool) -> None:
        self._read = read
        self._tables: dict[str, tuple[TableSpec, float, dict[str, float]]] = {}

    def add(
        self, spec: TableSpec, units: float, indexes: Mapping[str, float] | None = None
    ) -> None:
        """Count ``units`` on the table and ``indexes`` (index name -> units) on its indexes."""
        _, total, per_index = self._tables.get(spec.name, (spec, 0.0, {}))
        for name, more in (indexes or {}).items():
            per_index[name] = per_index.get(name, 0.0) + more
        self._tables[spec.name] = (spec, total + units, per_index)

    def as_list(self, mode: str) -> list[dict[str, Any]]:
        """Return the ConsumedCapacity list for ``ReturnConsumedCapacity=mode`` (empty: NONE)."""
        out: list[dict[str, Any]] = []
        for spec, units, per_index in self._tables.values():
            local = {i.name for i in spec.local_indexes}
            entry = capacity.consumed_capacity(
                mode,
                spec.name,
                units,
                read=self._read,
                local_indexes={k: v for k, v in per_index.items() if k in local},
                global_indexes={k: v for k, v in per_index.items() if k not in local},
            )
            if entry is not None:
                out.append(entry)
        return out


def null_error(member: str) -> ValidationException:
    """DynamoDB's error for a required member that is missing."""
    return ValidationException(
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
        "Member must not be null"
    )


def length_error(member: str, rule: str) -> ValidationException:
    """DynamoDB's error for a list/map member of the wrong length (the value is not echoed)."""
    return ValidationException(
        f"1 validation error detected at '{member}' failed to satisfy constraint: {rule}"
    )
