"""DynamoDB's capacity-unit arithmetic and the ConsumedCapacity response shape."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["consumed_capacity", "read_units", "write_units"]

RETURN_CONSUMED_CAPACITY = ("INDEXES", "TOTAL", "NONE")


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """Return RCUs for reading ``size`` bytes: 4 KB units, half if eventual, x2 in a transaction."""
    units = float(max(1, math.ceil(size / 4096)))
    if transactional:
        return units * 2
    return units if consistent else units / 2


def write_units(size: int, *, transactional: bool = False) -> float:
    """Return WCUs for writing ``size`` bytes: 1 KB units, x2 in a transaction."""
    units = float(max(1, math.ceil(size / 1024)))
    return units * 2 if transactional else units


def consumed_capacity(
    mode: str,
    table: str,
    units: float,
    *,
    read: bool,
    local_indexes: dict[str, float] | None = None,
    global_indexes: dict[str, float] | None = None,
) -> dict[str, Any] | None:
    """Return the ConsumedCapacity structure for ``ReturnConsumedCapacity=mode``, or None."""
    if mode == "NONE":
        return None
    kind = "ReadCapacityUnits" if read else "WriteCapacityUnits"
    total = units + sum((local_indexes or {}).values()) + sum((global_indexes or {}).values())
    out: dict[str, Any] = {"TableName": table, "CapacityUnits": total, kind: total}
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": units, kind: units}
        if local_indexes:
            out["LocalSecondaryIndexes"] = {
                name: {"CapacityUnits": u, kind: u} for name, u in local_indexes.items()
            }
        if global_indexes:
            out["GlobalSecondaryIndexes"] = {
                name: {"CapacityUnits": u, kind: u} for name, u in global_indexes.items()
            }
    return out
