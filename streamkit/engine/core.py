"""State and helpers shared by every group of operations, and the one write path."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from streamkit.clock import Clock
from streamkit.engine import capacity
from streamkit.engine.indexes import maintain_indexes
from streamkit.engine.keys import EncodedKey
from streamkit.engine.params import Params
from streamkit.errors import ResourceNotFoundException, ValidationException
from streamkit.expressions import Condition, ExpressionContext, parse_condition
from streamkit.model.attributes import Item, item_size
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as sql
from streamkit.storage.sqlite import Store

__all__ = ["RCC", "EngineCore", "check_size", "on_table", "reject_legacy"]

T = TypeVar("T")

MAX_ITEM_SIZE = 400 * 1024
RCC = ("INDEXES", "TOTAL", "NONE")
_LEGACY = ("Expected", "ConditionalOperator", "AttributeUpdates", "AttributesToGet")


def reject_legacy(p: Params) -> None:
    for name in _LEGACY:
        if p.has(name):
            raise ValidationException(
                f"The legacy parameter {name} is not supported by this version of streamkit; "
                "use the expression parameters instead"
            )


def on_table(
    spec: TableSpec, fn: Callable[[sqlite3.Connection], T]
) -> Callable[[sqlite3.Connection], T]:
    """Wrap ``fn`` so a table dropped while the call was queued reads as ResourceNotFound."""

    def run(conn: sqlite3.Connection) -> T:
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise ResourceNotFoundException() from None
            raise

    return run


def check_size(item: Item, message: str) -> int:
    size = item_size(item)
    if size > MAX_ITEM_SIZE:
        raise ValidationException(message)
    return size


class EngineCore:
    """What every operation needs: the store, the table catalog, the clock, the write path."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        store: Store,
        specs: list[TableSpec],
        *,
        region: str,
        account: str,
        clock: Clock,
    ) -> None:
        self._store = store
        self._tables: dict[str, TableSpec] = {s.name: s for s in specs}
        self.region = region
        self.account = account
        self.clock = clock

    # -- helpers -------------------------------------------------------------------------

    def _spec(self, name: str) -> TableSpec:
        spec = self._tables.get(name)
        if spec is None:
            raise ResourceNotFoundException()
        return spec

    def _describe(self, spec: TableSpec, status: str, count: tuple[int, int]) -> dict[str, Any]:
        return spec.describe(
            region=self.region,
            account=self.account,
            status=status,
            item_count=count[0],
            size_bytes=count[1],
        )

    def _condition(self, p: Params, ctx: ExpressionContext) -> Condition | None:
        text = p.string("ConditionExpression")
        return None if text is None else parse_condition(text, ctx, kind="ConditionExpression")

    @staticmethod
    def _context(p: Params, *expression_members: str) -> ExpressionContext:
        names, values = p.names(), p.values()
        used = any(p.has(m) for m in expression_members)
        if names is not None and not used:
            raise ValidationException(
                "ExpressionAttributeNames can only be specified when using expressions"
            )
        if values is not None and not used:
            raise ValidationException(
                "ExpressionAttributeValues can only be specified when using expressions: "
                + " and ".join(m for m in expression_members if m != "ProjectionExpression")
                + " is null"
            )
        return ExpressionContext(names, values)

    # -- the write path ---------------------------------------------------------------

    def _write(
        self,
        conn: sqlite3.Connection,
        spec: TableSpec,
        key: EncodedKey,
        old: Item | None,
        new: Item | None,
        size: int,
    ) -> dict[str, float]:
        """Store one item change; runs on the writer thread inside the operation's savepoint.

        Maintains every secondary index in the same transaction and returns the write units
        each index consumed (for ReturnConsumedCapacity=INDEXES).
        """
        index_units = maintain_indexes(conn, spec, key, old, new) if spec.has_indexes else {}
        if new is None:
            sql.delete_row(conn, spec, *key)
        else:
            sql.put_row(conn, spec, *key, new, size)
        return index_units

    @staticmethod
    def _add_capacity(
        out: dict[str, Any],
        mode: str,
        spec: TableSpec,
        units: float,
        *,
        read: bool,
        indexes: Mapping[str, float] | None = None,
    ) -> None:
        local = {n: u for n, u in (indexes or {}).items() if not _is_global(spec, n)}
        global_ = {n: u for n, u in (indexes or {}).items() if _is_global(spec, n)}
        consumed = capacity.consumed_capacity(
            mode, spec.name, units, read=read, local_indexes=local, global_indexes=global_
        )
        if consumed is not None:
            out["ConsumedCapacity"] = consumed


def _is_global(spec: TableSpec, index_name: str) -> bool:
    idx = spec.index(index_name)
    return idx is not None and idx.is_global
