"""Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine import capacity
from streamkit.engine.actions import check_condition, updated_image
from streamkit.engine.core import CAPACITY_CHOICES, EngineCore, check_legacy, on_table
from streamkit.engine.keys import EncodedKey, key_from_item, key_from_request
from streamkit.engine.params import Params
from streamkit.errors import ResourceNotFoundException, ValidationException
from streamkit.model.attributes import Item, validate_sized_item
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as storage_tables

if TYPE_CHECKING:
    from collections.abc import Callable

    from streamkit.expressions import Condition, UpdatePlan

__all__ = ["ItemsMixin"]

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
#: A PutItem or DeleteItem with none of these members has no condition and the defaults of
#: every option: its options need no parsing (the common request; 4-5 us a put).
_PLAIN_WRITE = frozenset({"TableName", "Item", "Key"})
_NO_OPTIONS: tuple[None, str, str, str] = (None, "NONE", "NONE", "NONE")
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


class ItemsMixin(EngineCore):
    """PutItem, GetItem, UpdateItem and DeleteItem."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "PutItem": "put_item",
        "GetItem": "get_item",
        "UpdateItem": "update_item",
        "DeleteItem": "delete_item",
    }

    async def put_item(self, **params: Any) -> dict[str, Any]:
        """Create or replace an item (PutItem)."""
        if len(params) == 2:  # TableName and Item of a table that exists, as SDKs send it: a
            # catalog name is a valid one, so only the item is left to check (1-2 us less)
            name = params.get("TableName")
            spec = self._tables.get(name) if type(name) is str else None
            item = params.get("Item")
            if spec is not None and type(item) is dict:
                item, size = validate_sized_item(item)
                key = key_from_item(spec.key, item)
                return await self._put_or_delete(spec, key, item, size, *_NO_OPTIONS)
        p = Params("PutItem", params, PUT_ITEM_PARAMS)
        plain = params.keys() <= _PLAIN_WRITE
        if not plain:
            check_legacy(p)
        name = p.table_name()
        item, size = p.sized_item()  # 400 KB limit checked
        options = _NO_OPTIONS if plain else self._put_or_delete_options(p)
        spec = self._spec(name)
        return await self._put_or_delete(spec, key_from_item(spec.key, item), item, size, *options)

    def _put_or_delete_options(self, p: Params) -> tuple[Condition | None, str, str, str]:
        """Parse what PutItem and DeleteItem share: condition, ReturnValues and friends."""
        ctx = self._context(p, "ConditionExpression")
        condition = self._condition(p, ctx)
        ctx.check_unused()
        returns = p.string("ReturnValues", default="NONE")
        if returns not in ("NONE", "ALL_OLD"):
            raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        return condition, returns, rcc, on_fail

    async def _put_or_delete(
        self,
        spec: TableSpec,
        key: EncodedKey,
        new: Item | None,
        size: int,
        condition: Condition | None,
        returns: str,
        rcc: str,
        on_fail: str,
    ) -> dict[str, Any]:
        """Replace (``new``) or delete (None) one item under its condition; the response."""
        indexes: dict[str, float] = {}

        def run(conn: sqlite3.Connection) -> tuple[Item | None, int]:
            try:  # on_table's, inline: a table dropped while the write was queued
                old, old_size, old_blob = storage_tables.get_stored_row(conn, spec, *key)
                check_condition(condition, old, on_fail)
                if new is not None or old is not None:
                    written = self._write(
                        conn, spec, key, old, new, size, old_size=old_size, old_blob=old_blob
                    )
                    indexes.update(written)
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    raise ResourceNotFoundException() from None
                raise
            return old, old_size

        self._admit(spec, read=False, hk=key[0])
        old, old_size = await self._store.write(run)
        out: dict[str, Any] = {}
        if returns == "ALL_OLD" and old:
            out["Attributes"] = old
        if rcc != "NONE" or self.throttle.active(spec):  # else nothing counts the units
            units = capacity.write_units(max(size, old_size))
            self._add_capacity(out, rcc, spec, units, read=False, indexes=indexes, hk=key[0])
        return out

    async def get_item(self, **params: Any) -> dict[str, Any]:
        """Read one item by its key (GetItem)."""
        p = Params("GetItem", params, GET_ITEM_PARAMS)
        check_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "ProjectionExpression")
        paths = self._projection(p, ctx)
        ctx.check_unused()
        consistent = p.boolean("ConsistentRead")
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        spec = self._spec(name)
        _, key = key_from_request(spec.key, p.raw("Key"))
        self._admit(spec, read=True, hk=key[0])
        item, size = await self._store.read_point(
            on_table(spec, lambda c: storage_tables.get_sized_row(c, spec, *key))
        )
        out: dict[str, Any] = {}
        if item is not None:
            out["Item"] = item if paths is None else ex.project(item, paths)
        units = capacity.read_units(size, consistent=consistent)
        self._add_capacity(out, rcc, spec, units, read=True, hk=key[0])
        return out

    async def update_item(self, **params: Any) -> dict[str, Any]:
        """Edit an item's attributes, creating the item if needed (UpdateItem)."""
        p = Params("UpdateItem", params, UPDATE_ITEM_PARAMS)
        check_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "UpdateExpression", "ConditionExpression")
        text = p.string("UpdateExpression")
        apply: Callable[[UpdatePlan, Item], Item] | None = None  # apply_update
        plan: UpdatePlan | None = None
        if text is not None:
            plan = ex.parse_update(text, ctx)
        elif p.has("AttributeUpdates"):
            plan = ex.plan_from_attribute_updates(p.raw("AttributeUpdates"))
            apply = ex.apply_attribute_updates
        condition = self._condition(p, ctx)
        ctx.check_unused()
        returns = p.enum(
            "ReturnValues", ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"), "NONE"
        )
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        spec = self._spec(name)
        key_item, key = key_from_request(spec.key, p.raw("Key"))
        if plan is not None:
            plan.check_key_attributes(spec.key.names)

        indexes: dict[str, float] = {}

        def run(conn: sqlite3.Connection) -> tuple[Item | None, int, Item | None, int]:
            old, old_size, old_blob = storage_tables.get_stored_row(conn, spec, *key)
            check_condition(condition, old, on_fail)
            new, size = updated_image(plan, old, key_item, apply)
            if new is not None and new != old:
                written = self._write(
                    conn, spec, key, old, new, size, old_size=old_size, old_blob=old_blob
                )
                indexes.update(written)
            return old, old_size, new, size

        self._admit(spec, read=False, hk=key[0])
        old, old_size, new, size = await self._store.write(on_table(spec, run))
        out: dict[str, Any] = {}
        attributes: Item | None = None
        if returns == "ALL_OLD":
            attributes = old
        elif returns == "ALL_NEW":
            attributes = new
        elif returns == "UPDATED_OLD" and plan is not None and old:
            attributes = ex.project(old, plan.updated_paths)
        elif returns == "UPDATED_NEW" and plan is not None and new is not None:
            attributes = ex.project(new, plan.updated_paths)
        if attributes:
            out["Attributes"] = attributes
        units = capacity.write_units(max(size, old_size))
        self._add_capacity(out, rcc, spec, units, read=False, indexes=indexes, hk=key[0])
        return out

    async def delete_item(self, **params: Any) -> dict[str, Any]:
        """Delete one item by its key (DeleteItem)."""
        if len(params) == 2:  # TableName and Key of a table that exists: as put_item's
            name = params.get("TableName")
            spec = self._tables.get(name) if type(name) is str else None
            raw_key = params.get("Key")
            if spec is not None and raw_key is not None:
                _, key = key_from_request(spec.key, raw_key)
                return await self._put_or_delete(spec, key, None, 0, *_NO_OPTIONS)
        p = Params("DeleteItem", params, DELETE_ITEM_PARAMS)
        plain = params.keys() <= _PLAIN_WRITE
        if not plain:
            check_legacy(p)
        name = p.table_name()
        options = _NO_OPTIONS if plain else self._put_or_delete_options(p)
        spec = self._spec(name)
        _, key = key_from_request(spec.key, p.raw("Key"))
        return await self._put_or_delete(spec, key, None, 0, *options)
