"""A boto3-resource-style Table: the engine's calls with native Python values in and out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from streamkit.model.native import from_item, to_attribute_value, to_item

if TYPE_CHECKING:
    from streamkit.engine.engine import Engine

__all__ = ["Table"]

_ITEM_MEMBERS = ("Item", "Key", "ExclusiveStartKey")
_ITEM_RESULTS = ("Item", "Attributes", "LastEvaluatedKey")


def _encode(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for member in _ITEM_MEMBERS:
        if member in out:
            out[member] = to_item(out[member])
    if "ExpressionAttributeValues" in out:
        out["ExpressionAttributeValues"] = {
            k: to_attribute_value(v) for k, v in out["ExpressionAttributeValues"].items()
        }
    return out


def _decode(response: dict[str, Any]) -> dict[str, Any]:
    for member in _ITEM_RESULTS:
        if member in response:
            response[member] = from_item(response[member])
    if "Items" in response:
        response["Items"] = [from_item(i) for i in response["Items"]]
    return response


class Table:
    """One table of an engine, like ``boto3.resource("dynamodb").Table(name)``.

    Items, keys and ``ExpressionAttributeValues`` are native Python values (str, Decimal or int,
    bytes, bool, None, list, dict, set), converted as boto3's TypeSerializer does; results come
    back the same way (numbers as Decimal).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self.name = name

    async def _call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        call = getattr(self._engine, method)
        return _decode(await call(TableName=self.name, **_encode(params)))

    async def put_item(self, **params: Any) -> dict[str, Any]:
        """PutItem with a native ``Item``."""
        return await self._call("put_item", params)

    async def get_item(self, **params: Any) -> dict[str, Any]:
        """GetItem with a native ``Key``; ``Item`` comes back native."""
        return await self._call("get_item", params)

    async def update_item(self, **params: Any) -> dict[str, Any]:
        """UpdateItem with a native ``Key`` and ``ExpressionAttributeValues``."""
        return await self._call("update_item", params)

    async def delete_item(self, **params: Any) -> dict[str, Any]:
        """DeleteItem with a native ``Key``."""
        return await self._call("delete_item", params)

    async def query(self, **params: Any) -> dict[str, Any]:
        """Query with native ``ExpressionAttributeValues``; ``Items`` come back native."""
        return await self._call("query", params)

    async def scan(self, **params: Any) -> dict[str, Any]:
        """Scan with native ``ExpressionAttributeValues``; ``Items`` come back native."""
        return await self._call("scan", params)

    async def describe(self) -> dict[str, Any]:
        """Return the table's TableDescription."""
        response = await self._engine.describe_table(TableName=self.name)
        return response["Table"]  # type: ignore[no-any-return]
