"""The Engine: DynamoDB's API over the SQLite store. Passive: it owns connections, never tasks."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

import structlog

from streamkit.clock import Clock, SystemClock
from streamkit.engine import capacity
from streamkit.engine.keys import EncodedKey, key_from_item, key_from_request
from streamkit.engine.params import Params
from streamkit.engine.resource import Table
from streamkit.engine.tables import (
    CREATE_TABLE_PARAMS,
    UPDATE_TABLE_PARAMS,
    apply_table_update,
    build_table_spec,
)
from streamkit.errors import (
    ConditionalCheckFailedException,
    ResourceInUseException,
    ResourceNotFoundException,
    ValidationException,
)
from streamkit.expressions import (
    Condition,
    ExpressionContext,
    UpdatePlan,
    apply_update,
    evaluate,
    parse_condition,
    parse_projection,
    parse_update,
    project,
)
from streamkit.model.attributes import Item, item_size
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as sql
from streamkit.storage.sqlite import Durability, Store, open_store

__all__ = ["Engine", "open_engine"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_ITEM_SIZE = 400 * 1024
_RCC = ("INDEXES", "TOTAL", "NONE")
_COMMON_WRITE = frozenset(
    {
        "TableName",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValues",
        "ReturnConsumedCapacity",
        "ReturnItemCollectionMetrics",
        "ReturnValuesOnConditionCheckFailure",
        "Expected",
        "ConditionalOperator",
    }
)
PUT_ITEM_PARAMS = _COMMON_WRITE | {"Item"}
DELETE_ITEM_PARAMS = _COMMON_WRITE | {"Key"}
UPDATE_ITEM_PARAMS = _COMMON_WRITE | {"Key", "UpdateExpression", "AttributeUpdates"}
GET_ITEM_PARAMS = frozenset(
    {
        "TableName",
        "Key",
        "AttributesToGet",
        "ConsistentRead",
        "ReturnConsumedCapacity",
        "ProjectionExpression",
        "ExpressionAttributeNames",
    }
)
_LEGACY = ("Expected", "ConditionalOperator", "AttributeUpdates", "AttributesToGet")


def _reject_legacy(p: Params) -> None:
    for name in _LEGACY:
        if p.has(name):
            raise ValidationException(
                f"The legacy parameter {name} is not supported by this version of streamkit; "
                "use the expression parameters instead"
            )


def _on_table(
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


def _check_size(item: Item, message: str) -> int:
    size = item_size(item)
    if size > MAX_ITEM_SIZE:
        raise ValidationException(message)
    return size


class Engine:
    """DynamoDB's data plane and control plane, with boto3's method names and dict shapes.

    Every method takes the request's members as keyword arguments (``TableName=...``,
    ``Item={"pk": {"S": "a"}}``) and returns the response dict, as ``boto3.client("dynamodb")``
    does, without ``ResponseMetadata``. Binary values are ``bytes``. Errors are the
    :mod:`streamkit.errors` classes named after DynamoDB's error codes.
    """

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "CreateTable": "create_table",
        "DescribeTable": "describe_table",
        "ListTables": "list_tables",
        "UpdateTable": "update_table",
        "DeleteTable": "delete_table",
        "PutItem": "put_item",
        "GetItem": "get_item",
        "UpdateItem": "update_item",
        "DeleteItem": "delete_item",
    }

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

    def table(self, name: str) -> Table:
        """Return a boto3-resource-style Table that takes and returns native Python values."""
        return Table(self, name)

    def _describe(self, spec: TableSpec, status: str, count: tuple[int, int]) -> dict[str, Any]:
        return spec.describe(
            region=self.region,
            account=self.account,
            status=status,
            item_count=count[0],
            size_bytes=count[1],
        )

    # -- control plane -------------------------------------------------------------------

    async def create_table(self, **params: Any) -> dict[str, Any]:
        """Create a table (CreateTable)."""
        p = Params("CreateTable", params, CREATE_TABLE_PARAMS)
        name = p.table_name()
        spec = build_table_spec(params, name, self.clock.now())

        def run(conn: sqlite3.Connection) -> None:
            exists = conn.execute("SELECT 1 FROM sk_tables WHERE name = ?", (name,)).fetchone()
            if exists:
                raise ResourceInUseException(f"Table already exists: {name}")
            sql.create_table(conn, spec)

        if name in self._tables:
            raise ResourceInUseException(f"Table already exists: {name}")
        await self._store.write(run)
        self._tables[name] = spec
        log.info("table_created", table=name)
        return {"TableDescription": self._describe(spec, "CREATING", (0, 0))}

    async def describe_table(self, **params: Any) -> dict[str, Any]:
        """Describe a table (DescribeTable)."""
        p = Params("DescribeTable", params, {"TableName"})
        name = p.table_name()
        spec = self._tables.get(name)
        if spec is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        count = await self._store.read(_on_table(spec, lambda c: sql.count_items(c, spec)))
        return {"Table": self._describe(spec, "ACTIVE", count)}

    async def list_tables(self, **params: Any) -> dict[str, Any]:
        """List table names in order (ListTables)."""
        p = Params("ListTables", params, {"ExclusiveStartTableName", "Limit"})
        start = p.string("ExclusiveStartTableName")
        limit = p.integer("Limit")
        if limit is not None and not 1 <= limit <= 100:
            raise ValidationException(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value "
                + ("greater than or equal to 1" if limit < 1 else "less than or equal to 100")
            )
        names = sorted(n for n in self._tables if start is None or n > start)
        page = names[: limit or 100]
        out: dict[str, Any] = {"TableNames": page}
        if len(names) > len(page):
            out["LastEvaluatedTableName"] = page[-1]
        return out

    async def update_table(self, **params: Any) -> dict[str, Any]:
        """Change throughput, billing mode, stream or protection settings (UpdateTable)."""
        p = Params("UpdateTable", params, UPDATE_TABLE_PARAMS)
        name = p.table_name()
        spec = self._spec(name)
        new = apply_table_update(spec, params, self.clock.now())
        await self._store.write(_on_table(spec, lambda c: sql.save_spec(c, new)))
        self._tables[name] = new
        count = await self._store.read(_on_table(new, lambda c: sql.count_items(c, new)))
        return {"TableDescription": self._describe(new, "UPDATING", count)}

    async def delete_table(self, **params: Any) -> dict[str, Any]:
        """Delete a table and all its items (DeleteTable)."""
        p = Params("DeleteTable", params, {"TableName"})
        name = p.table_name()
        spec = self._tables.get(name)
        if spec is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        if spec.deletion_protection:
            raise ValidationException(
                "Resource cannot be deleted as it is currently protected against deletion. "
                "Disable deletion protection first."
            )

        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            count = sql.count_items(conn, spec)
            sql.drop_table(conn, spec)
            return count

        count = await self._store.write(_on_table(spec, run))
        self._tables.pop(name, None)
        log.info("table_deleted", table=name)
        return {"TableDescription": self._describe(spec, "DELETING", count)}

    # -- data plane ----------------------------------------------------------------------

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

    async def put_item(self, **params: Any) -> dict[str, Any]:
        """Create or replace an item (PutItem)."""
        p = Params("PutItem", params, PUT_ITEM_PARAMS)
        _reject_legacy(p)
        name = p.table_name()
        item = p.item()
        ctx = self._context(p, "ConditionExpression")
        condition = self._condition(p, ctx)
        ctx.check_unused()
        returns = p.string("ReturnValues", default="NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
        rcc = p.enum("ReturnConsumedCapacity", _RCC, "NONE")
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        spec = self._spec(name)
        key = key_from_item(spec.key, item)
        size = _check_size(item, "Item size has exceeded the maximum allowed size")

        def run(conn: sqlite3.Connection) -> Item | None:
            old = sql.get_row(conn, spec, *key)
            if condition is not None and not evaluate(condition, old or {}):
                raise ConditionalCheckFailedException(
                    item=old if on_fail == "ALL_OLD" and old else None
                )
            self._write(conn, spec, key, old, item, size)
            return old

        old = await self._store.write(_on_table(spec, run))
        out: dict[str, Any] = {}
        if returns == "ALL_OLD" and old:
            out["Attributes"] = old
        units = capacity.write_units(max(size, item_size(old) if old else 0))
        self._add_capacity(out, rcc, spec, units, read=False)
        return out

    async def get_item(self, **params: Any) -> dict[str, Any]:
        """Read one item by its key (GetItem)."""
        p = Params("GetItem", params, GET_ITEM_PARAMS)
        _reject_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "ProjectionExpression")
        text = p.string("ProjectionExpression")
        paths = None if text is None else parse_projection(text, ctx)
        ctx.check_unused()
        consistent = p.boolean("ConsistentRead")
        rcc = p.enum("ReturnConsumedCapacity", _RCC, "NONE")
        spec = self._spec(name)
        _, key = key_from_request(spec.key, p.raw("Key"))
        item = await self._store.read(_on_table(spec, lambda c: sql.get_row(c, spec, *key)))
        out: dict[str, Any] = {}
        if item is not None:
            out["Item"] = item if paths is None else project(item, paths)
        units = capacity.read_units(item_size(item) if item else 0, consistent=consistent)
        self._add_capacity(out, rcc, spec, units, read=True)
        return out

    async def update_item(self, **params: Any) -> dict[str, Any]:
        """Edit an item's attributes, creating the item if needed (UpdateItem)."""
        p = Params("UpdateItem", params, UPDATE_ITEM_PARAMS)
        _reject_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "UpdateExpression", "ConditionExpression")
        text = p.string("UpdateExpression")
        plan: UpdatePlan | None = None if text is None else parse_update(text, ctx)
        condition = self._condition(p, ctx)
        ctx.check_unused()
        returns = p.enum(
            "ReturnValues", ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"), "NONE"
        )
        rcc = p.enum("ReturnConsumedCapacity", _RCC, "NONE")
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        spec = self._spec(name)
        key_item, key = key_from_request(spec.key, p.raw("Key"))
        if plan is not None:
            plan.check_key_attributes(spec.key.names)

        def run(conn: sqlite3.Connection) -> tuple[Item | None, Item, int]:
            old = sql.get_row(conn, spec, *key)
            if condition is not None and not evaluate(condition, old or {}):
                raise ConditionalCheckFailedException(
                    item=old if on_fail == "ALL_OLD" and old else None
                )
            base = old if old is not None else dict(key_item)
            new = base if plan is None else apply_update(plan, base)
            size = _check_size(new, "Item size to update has exceeded the maximum allowed size")
            if new != old:
                self._write(conn, spec, key, old, new, size)
            return old, new, size

        old, new, size = await self._store.write(_on_table(spec, run))
        out: dict[str, Any] = {}
        attributes: Item | None = None
        if returns == "ALL_OLD":
            attributes = old
        elif returns == "ALL_NEW":
            attributes = new
        elif returns == "UPDATED_OLD" and plan is not None and old:
            attributes = project(old, plan.updated_paths)
        elif returns == "UPDATED_NEW" and plan is not None:
            attributes = project(new, plan.updated_paths)
        if attributes:
            out["Attributes"] = attributes
        units = capacity.write_units(max(size, item_size(old) if old else 0))
        self._add_capacity(out, rcc, spec, units, read=False)
        return out

    async def delete_item(self, **params: Any) -> dict[str, Any]:
        """Delete one item by its key (DeleteItem)."""
        p = Params("DeleteItem", params, DELETE_ITEM_PARAMS)
        _reject_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "ConditionExpression")
        condition = self._condition(p, ctx)
        ctx.check_unused()
        returns = p.string("ReturnValues", default="NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
        rcc = p.enum("ReturnConsumedCapacity", _RCC, "NONE")
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        spec = self._spec(name)
        _, key = key_from_request(spec.key, p.raw("Key"))

        def run(conn: sqlite3.Connection) -> Item | None:
            old = sql.get_row(conn, spec, *key)
            if condition is not None and not evaluate(condition, old or {}):
                raise ConditionalCheckFailedException(
                    item=old if on_fail == "ALL_OLD" and old else None
                )
            if old is not None:
                self._write(conn, spec, key, old, None, 0)
            return old

        old = await self._store.write(_on_table(spec, run))
        out: dict[str, Any] = {}
        if returns == "ALL_OLD" and old:
            out["Attributes"] = old
        units = capacity.write_units(item_size(old) if old else 0)
        self._add_capacity(out, rcc, spec, units, read=False)
        return out

    # -- shared write path ---------------------------------------------------------------

    def _write(
        self,
        conn: sqlite3.Connection,
        spec: TableSpec,
        key: EncodedKey,
        old: Item | None,
        new: Item | None,
        size: int,
    ) -> None:
        """Store one item change; runs on the writer thread inside the operation's savepoint."""
        if new is None:
            sql.delete_row(conn, spec, *key)
        else:
            sql.put_row(conn, spec, *key, new, size)

    @staticmethod
    def _add_capacity(
        out: dict[str, Any], mode: str, spec: TableSpec, units: float, *, read: bool
    ) -> None:
        consumed = capacity.consumed_capacity(mode, spec.name, units, read=read)
        if consumed is not None:
            out["ConsumedCapacity"] = consumed


@asynccontextmanager
async def open_engine(
    path: str | os.PathLike[str] | None = None,
    *,
    region: str = "us-east-1",
    account: str = "000000000000",
    clock: Clock | None = None,
    durability: Durability = "normal",
) -> AsyncIterator[Engine]:
    """Open an engine on a SQLite file (``None`` or ``":memory:"``: in memory).

    Args:
        path: the database file, created with its folder if missing.
        region: the AWS region this engine answers for (ARNs, stream records).
        account: the account id in ARNs.
        clock: the time source for every time-dependent rule; the system clock by default.
        durability: ``"normal"`` (default) or ``"full"``; see
            :func:`streamkit.storage.sqlite.open_store`.
    """
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    async with open_store(path, durability=durability, setup=sql.migrate) as store:
        specs = await store.read(sql.load_specs)
        yield Engine(store, specs, region=region, account=account, clock=clock or SystemClock())
