"""A boto3-resource-style Table: the engine's calls with native Python values in and out.

Like boto3's resource, a Table takes boto3's condition builders (``Key("pk").eq("a")``,
``Attr("n").gt(1)`` from ``boto3.dynamodb.conditions``) wherever a KeyConditionExpression,
FilterExpression or ConditionExpression goes, and has a :meth:`Table.batch_writer`. boto3 stays
optional: it is imported, to render a builder, only when a call is given one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from streamkit.backoff import Backoff
from streamkit.model.native import from_item, to_attribute_value, to_item

if TYPE_CHECKING:
    from typing import Unpack

    from streamkit.engine.engine import Engine
    from streamkit.engine.typed import (
        TableDeleteItemRequest,
        TableGetItemRequest,
        TablePutItemRequest,
        TableQueryRequest,
        TableScanRequest,
        TableUpdateItemRequest,
    )

__all__ = ["BatchWriter", "Table"]

# The members boto3's resource renders from a condition builder, and whether as a key condition.
_BUILT_MEMBERS = {
    "ConditionExpression": False,
    "FilterExpression": False,
    "KeyConditionExpression": True,
}

#: The batch writer's wait before re-sending unprocessed requests: 50 ms, doubling, at most 5 s.
_RESEND_BACKOFF = Backoff(base=0.05, cap=5.0, jitter=False)

_ITEM_MEMBERS = ("Item", "Key", "ExclusiveStartKey")
_ITEM_RESULTS = ("Item", "Attributes", "LastEvaluatedKey")


def _render_conditions(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Render boto3 condition builders to expression strings, as boto3's resource does.

    The placeholders they generate (``#n0``, ``:v0``) are added to the request's
    ``ExpressionAttributeNames`` and ``ExpressionAttributeValues``.
    """
    built = {  # boto3's builders (ConditionBase) are what has get_expression()
        m: key
        for m, key in _BUILT_MEMBERS.items()
        if m in params and hasattr(params[m], "get_expression")
    }
    if not built:
        return params
    try:
        from boto3.dynamodb.conditions import ConditionExpressionBuilder
    except ImportError:  # pragma: no cover - boto3 is a test dependency
        raise TypeError(
            f"{', '.join(built)} is not a string: a condition builder needs boto3 installed"
        ) from None
    builder = ConditionExpressionBuilder()  # one per request: placeholders never collide
    out = dict(params)
    names = dict(out.get("ExpressionAttributeNames") or {})
    values = dict(out.get("ExpressionAttributeValues") or {})
    for member, is_key in built.items():
        expression = builder.build_expression(out[member], is_key_condition=is_key)
        out[member] = expression.condition_expression
        names.update(expression.attribute_name_placeholders)
        values.update(expression.attribute_value_placeholders)
    if names:
        out["ExpressionAttributeNames"] = names
    if values:
        out["ExpressionAttributeValues"] = values
    return out


def _encode(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(_render_conditions(params))
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

    async def put_item(self, **params: Unpack[TablePutItemRequest]) -> dict[str, Any]:
        """PutItem with a native ``Item``."""
        return await self._call("put_item", params)

    async def get_item(self, **params: Unpack[TableGetItemRequest]) -> dict[str, Any]:
        """GetItem with a native ``Key``; ``Item`` comes back native."""
        return await self._call("get_item", params)

    async def update_item(self, **params: Unpack[TableUpdateItemRequest]) -> dict[str, Any]:
        """UpdateItem with a native ``Key`` and ``ExpressionAttributeValues``."""
        return await self._call("update_item", params)

    async def delete_item(self, **params: Unpack[TableDeleteItemRequest]) -> dict[str, Any]:
        """DeleteItem with a native ``Key``."""
        return await self._call("delete_item", params)

    async def query(self, **params: Unpack[TableQueryRequest]) -> dict[str, Any]:
        """Query with native ``ExpressionAttributeValues``; ``Items`` come back native."""
        return await self._call("query", params)

    async def scan(self, **params: Unpack[TableScanRequest]) -> dict[str, Any]:
        """Scan with native ``ExpressionAttributeValues``; ``Items`` come back native."""
        return await self._call("scan", params)

    def batch_writer(
        self, overwrite_by_pkeys: list[str] | None = None, *, flush_amount: int = 25
    ) -> BatchWriter:
        """Buffer puts and deletes and send them in BatchWriteItem calls, as boto3's does.

        ``async with table.batch_writer() as batch: await batch.put_item(Item=...)``. See
        :class:`BatchWriter`.
        """
        return BatchWriter(self, flush_amount=flush_amount, overwrite_by_pkeys=overwrite_by_pkeys)

    async def execute_statement(self, Statement: str, **params: Any) -> dict[str, Any]:  # noqa: N803
        """ExecuteStatement with native ``Parameters``; ``Items`` come back native.

        The statement names its own table (PartiQL has no implied table), so this is the
        engine's ``execute_statement`` with boto3-resource-style values.
        """
        if "Parameters" in params:
            params["Parameters"] = [to_attribute_value(v) for v in params["Parameters"]]
        return _decode(await self._engine.execute_statement(Statement=Statement, **params))

    async def describe(self) -> dict[str, Any]:
        """Return the table's TableDescription."""
        response = await self._engine.describe_table(TableName=self.name)
        return response["Table"]  # type: ignore[no-any-return]


class BatchWriter:
    """boto3's ``Table.batch_writer()``, asynchronous: buffered puts and deletes of one table.

    ``put_item(Item=...)`` and ``delete_item(Key=...)`` (native values) go to a buffer, sent as
    one BatchWriteItem once it holds ``flush_amount`` (25) requests, and whatever is left when
    the ``async with`` block exits (even by an exception, as boto3 does). Requests that come
    back in ``UnprocessedItems`` return to the buffer and go out again; unlike boto3, which
    re-sends at once, the writer first waits on the engine's clock, with back-off, so a
    throttled table is not hammered (and a test's manual clock decides when).

    With ``overwrite_by_pkeys`` (the key attribute names), a request replaces any buffered one
    for the same key rather than joining it (a BatchWriteItem refuses two writes to one key).
    """

    def __init__(
        self,
        table: Table,
        *,
        flush_amount: int = 25,
        overwrite_by_pkeys: list[str] | None = None,
    ) -> None:
        self._table = table
        self._flush_amount = flush_amount
        self._overwrite_by_pkeys = overwrite_by_pkeys
        self._buffer: list[dict[str, Any]] = []
        self._waits = 0  # consecutive flushes that came back with unprocessed requests

    async def put_item(self, Item: Mapping[str, Any]) -> None:  # noqa: N803 - boto3's name
        """Buffer a PutRequest for the native ``Item``."""
        await self._add({"PutRequest": {"Item": to_item(Item)}})

    async def delete_item(self, Key: Mapping[str, Any]) -> None:  # noqa: N803 - boto3's name
        """Buffer a DeleteRequest for the native ``Key``."""
        await self._add({"DeleteRequest": {"Key": to_item(Key)}})

    async def _add(self, request: dict[str, Any]) -> None:
        if self._overwrite_by_pkeys:
            key = self._key_of(request)
            self._buffer = [r for r in self._buffer if self._key_of(r) != key]
        self._buffer.append(request)
        if len(self._buffer) >= self._flush_amount:
            await self._flush()

    def _key_of(self, request: Mapping[str, Any]) -> list[Any]:
        assert self._overwrite_by_pkeys is not None
        attributes = (
            request["PutRequest"]["Item"]
            if "PutRequest" in request
            else request["DeleteRequest"]["Key"]
        )
        return [attributes[name] for name in self._overwrite_by_pkeys]

    async def _flush(self) -> None:
        """Send the next 25 requests; UnprocessedItems go back in the buffer. If the call
        raises, the requests it carried are not kept (boto3's batch writer drops them too)."""
        table = self._table
        sending = self._buffer[: self._flush_amount]
        self._buffer = self._buffer[self._flush_amount :]
        if self._waits:
            await replace(_RESEND_BACKOFF, clock=table._engine.clock).sleep(self._waits)
        response = await table._engine.batch_write_item(RequestItems={table.name: sending})
        unprocessed = (response.get("UnprocessedItems") or {}).get(table.name, [])
        self._buffer.extend(unprocessed)
        self._waits = self._waits + 1 if unprocessed else 0

    async def flush(self) -> None:
        """Send everything buffered now, until nothing is left."""
        while self._buffer:
            await self._flush()

    async def __aenter__(self) -> BatchWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.flush()
