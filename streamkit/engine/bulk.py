"""Bulk reads and writes: any number of items, retrying what a batch call left over.

DynamoDB may answer a batch call with ``UnprocessedItems``/``UnprocessedKeys`` (throttling, the
16 MB response limit) or refuse it whole with a retryable error; the AWS SDKs then re-send the
rest with exponential back-off and full jitter. These helpers do the same for any object with
``batch_write_item``/``batch_get_item`` coroutines (an :class:`~streamkit.Engine`, a client),
waiting as their :class:`~streamkit.backoff.Backoff` says (:data:`BULK_BACKOFF` by default).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from streamkit.backoff import Backoff
from streamkit.errors import DynamoDBError

if TYPE_CHECKING:
    from typing import Unpack

    from streamkit.engine.typed import BatchGetItemRequest, BatchWriteItemRequest

__all__ = ["BULK_BACKOFF", "batch_get_all", "batch_write_all"]

#: 8 calls per chunk, the first retry within 100 ms, doubling, at most 5 s, on the system clock.
BULK_BACKOFF = Backoff(max_attempts=8, base=0.1, cap=5.0)


class BatchClient(Protocol):
    async def batch_write_item(self, **params: Unpack[BatchWriteItemRequest]) -> dict[str, Any]: ...

    async def batch_get_item(self, **params: Unpack[BatchGetItemRequest]) -> dict[str, Any]: ...


async def _call_with_retries(
    call: Callable[..., Awaitable[dict[str, Any]]],
    request: Any,
    unprocessed: str,
    backoff: Backoff,
    responses: list[dict[str, Any]],
) -> Any:
    """Send ``request``, re-sending what comes back unprocessed; return what is left."""
    attempts = 0
    while True:
        if attempts:
            await backoff.sleep(attempts)
        attempts += 1
        try:
            response = await call(RequestItems=request)
        except DynamoDBError as exc:
            if not exc.retryable or backoff.exhausted(attempts):
                raise
            continue
        responses.append(response)
        request = response.get(unprocessed) or {}
        if not request or backoff.exhausted(attempts):
            return request


async def batch_write_all(
    client: BatchClient,
    request_items: Mapping[str, list[dict[str, Any]]],
    *,
    backoff: Backoff = BULK_BACKOFF,
    **params: Any,
) -> dict[str, Any]:
    """Apply every write request, 25 per BatchWriteItem call, retrying unprocessed ones.

    Returns ``{"UnprocessedItems": ...}`` (empty when everything was written within
    ``backoff.max_attempts`` calls per chunk) and, if asked with ``ReturnConsumedCapacity``, the
    ``ConsumedCapacity`` entries of every call. Other ``params`` go to every call.
    """
    flat = [(table, request) for table, requests in request_items.items() for request in requests]
    left_over: dict[str, list[dict[str, Any]]] = {}
    responses: list[dict[str, Any]] = []
    send = functools.partial(client.batch_write_item, **params)
    for start in range(0, len(flat), 25):
        chunk: dict[str, list[dict[str, Any]]] = {}
        for table, request in flat[start : start + 25]:
            chunk.setdefault(table, []).append(request)
        left = await _call_with_retries(send, chunk, "UnprocessedItems", backoff, responses)
        for table, requests in left.items():
            left_over.setdefault(table, []).extend(requests)
    out: dict[str, Any] = {"UnprocessedItems": left_over}
    consumed = [c for r in responses for c in r.get("ConsumedCapacity", [])]
    if consumed:
        out["ConsumedCapacity"] = consumed
    return out


async def batch_get_all(
    client: BatchClient,
    request_items: Mapping[str, Mapping[str, Any]],
    *,
    backoff: Backoff = BULK_BACKOFF,
    **params: Any,
) -> dict[str, Any]:
    """Read every key, 100 per BatchGetItem call, retrying unprocessed keys.

    Returns ``{"Responses": {table: [items]}, "UnprocessedKeys": ...}`` merged over all calls
    (``UnprocessedKeys`` empty on success) and the ``ConsumedCapacity`` entries if asked.
    """
    flat = [(table, key) for table, request in request_items.items() for key in request["Keys"]]
    items: dict[str, list[dict[str, Any]]] = {table: [] for table in request_items}
    left_over: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    send = functools.partial(client.batch_get_item, **params)
    for start in range(0, len(flat), 100):
        chunk: dict[str, Any] = {}
        for table, key in flat[start : start + 100]:
            chunk.setdefault(table, {**request_items[table], "Keys": []})["Keys"].append(key)
        seen = len(responses)
        left = await _call_with_retries(send, chunk, "UnprocessedKeys", backoff, responses)
        for response in responses[seen:]:
            for table, found in response.get("Responses", {}).items():
                items.setdefault(table, []).extend(found)
        for table, request in left.items():
            left_over.setdefault(table, {**request, "Keys": []})["Keys"].extend(request["Keys"])
    out: dict[str, Any] = {"Responses": items, "UnprocessedKeys": left_over}
    consumed = [c for r in responses for c in r.get("ConsumedCapacity", [])]
    if consumed:
        out["ConsumedCapacity"] = consumed
    return out
