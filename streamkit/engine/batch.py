"""BatchGetItem and BatchWriteItem: many items in one call, each item atomic by itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine import capacity
from streamkit.engine.actions import CapacityTally, length_error, null_error
from streamkit.engine.core import CAPACITY_CHOICES, EngineCore, check_legacy, on_table
from streamkit.engine.keys import EncodedKey, key_from_item, key_from_request
from streamkit.engine.params import Params
from streamkit.errors import (
    DynamoDBError,
    ProvisionedThroughputExceededException,
    ThrottlingException,
    ValidationException,
)
from streamkit.model.attributes import Item
from streamkit.model.schema import TableSpec, validate_name
from streamkit.storage import tables as storage_tables

if TYPE_CHECKING:
    from streamkit.expressions import Path

__all__ = ["MAX_BATCH_GET_KEYS", "MAX_BATCH_RESPONSE", "MAX_BATCH_WRITES", "BatchMixin"]

MAX_BATCH_WRITES = 25
MAX_BATCH_GET_KEYS = 100
MAX_BATCH_RESPONSE = 16 * 1024 * 1024
DUPLICATES = "Provided list of item keys contains duplicates"
_ABSENT: tuple[None, int] = (None, 0)
_Row = tuple[Item | None, int]  # an item read (None: absent) and its size
_ONE_REQUEST = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)
BATCH_WRITE_PARAMS = frozenset(
    {"RequestItems", "ReturnConsumedCapacity", "ReturnItemCollectionMetrics"}
)
BATCH_GET_PARAMS = frozenset({"RequestItems", "ReturnConsumedCapacity"})
KEYS_AND_ATTRIBUTES = frozenset(
    {
        "Keys",
        "ConsistentRead",
        "ProjectionExpression",
        "ExpressionAttributeNames",
        "AttributesToGet",
    }
)


def _request_items(p: Params) -> Mapping[str, Any]:
    value = p.mapping("RequestItems")
    if value is None:
        raise null_error("requestItems")
    if not value:
        raise length_error("requestItems", "Member must have length greater than or equal to 1")
    for name in value:
        validate_name(name, "requestItems")
    return value


@dataclass(frozen=True, slots=True)
class _Write:
    """One PutRequest (``item`` set) or DeleteRequest (``item`` None), validated."""

    spec: TableSpec
    key: EncodedKey
    item: Item | None
    size: int
    request: Any  # echoed in UnprocessedItems when throttled


@dataclass(frozen=True, slots=True)
class _Get:
    """One table's KeysAndAttributes, validated; ``request`` is echoed in UnprocessedKeys."""

    spec: TableSpec
    request: Mapping[str, Any]
    keys: list[tuple[Any, EncodedKey]]
    paths: tuple[Path, ...] | None
    consistent: bool


class BatchMixin(EngineCore):
    """BatchGetItem and BatchWriteItem."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "BatchGetItem": "batch_get_item",
        "BatchWriteItem": "batch_write_item",
    }

    async def batch_write_item(self, **params: Any) -> dict[str, Any]:
        """Put or delete up to 25 items in one or more tables (BatchWriteItem).

        Every request is validated before anything is written; then all of them are applied in
        one store hop. Each item is written whole; the batch is not a transaction (use
        TransactWriteItems for that). ``UnprocessedItems`` is always present.
        """
        p = Params("BatchWriteItem", params, BATCH_WRITE_PARAMS)
        request_items = _request_items(p)
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        p.enum("ReturnItemCollectionMetrics", ("SIZE", "NONE"), "NONE")
        total = 0
        for requests in request_items.values():
            if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BATCH_WRITES:
                raise length_error(
                    "requestItems",
                    "Map value must satisfy constraint: [Member must have length less than or "
                    f"equal to {MAX_BATCH_WRITES}, Member must have length greater than or "
                    "equal to 1]",
                )
            total += len(requests)
        if total > MAX_BATCH_WRITES:
            raise ValidationException("Too many items requested for the BatchWriteItem call")
        writes: list[_Write] = []
        for name, requests in request_items.items():
            spec = self._spec(name)
            seen: set[EncodedKey] = set()
            for request in requests:
                write = _write_request(spec, request)
                if write.key in seen:
                    raise ValidationException(DUPLICATES)
                seen.add(write.key)
                writes.append(write)

        unprocessed: dict[str, list[Any]] = {}
        admitted: list[_Write] = []
        refusal: DynamoDBError | None = None
        for w in writes:
            try:
                self._admit(w.spec, read=False, hk=w.key[0])
            except (ProvisionedThroughputExceededException, ThrottlingException) as exc:
                refusal = exc
                unprocessed.setdefault(w.spec.name, []).append(w.request)
            else:
                admitted.append(w)
        if refusal is not None and not admitted:
            raise refusal
        writes = admitted

        def run(conn: sqlite3.Connection) -> list[tuple[int, dict[str, float]]]:
            # each table's keys are distinct, so reading every old item first reads what each
            # write would have found
            stored = {
                name: storage_tables.get_sized_rows(conn, spec, keys)
                for name, (spec, keys) in _keys_by_table(writes).items()
            }
            done: list[tuple[int, dict[str, float]]] = []
            for w in writes:
                old, old_size = stored[w.spec.name].get(w.key, _ABSENT)
                indexes: dict[str, float] = {}
                if w.item is not None or old is not None:
                    indexes = self._write(
                        conn, w.spec, w.key, old, w.item, w.size, old_size=old_size
                    )
                done.append((old_size, indexes))
            return done

        done = await self._store.write(on_table(writes[0].spec, run))
        out: dict[str, Any] = {"UnprocessedItems": unprocessed}
        tally = CapacityTally(read=False)
        for w, (old_size, indexes) in zip(writes, done, strict=True):
            units = capacity.write_units(max(old_size, w.size))
            self.throttle.charge(w.spec, units, read=False, hk=w.key[0], index_units=indexes)
            tally.add(w.spec, units, indexes)
        if rcc != "NONE":
            out["ConsumedCapacity"] = tally.as_list(rcc)
        return out

    async def batch_get_item(self, **params: Any) -> dict[str, Any]:
        """Read up to 100 items from one or more tables (BatchGetItem), in one store hop.

        ``Responses`` has an entry (maybe empty) for every table asked; missing items are left
        out. When the items found exceed 16 MB, the keys not read come back in
        ``UnprocessedKeys`` with the table's other parameters; that member is always present.
        """
        p = Params("BatchGetItem", params, BATCH_GET_PARAMS)
        request_items = _request_items(p)
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        gets = self._parse_gets(request_items)
        gets, throttled = self._admit_gets(gets)
        found = await self._store.read_point(on_table(gets[0].spec, lambda c: _read_gets(c, gets)))
        out, tally = self._batch_get_response(gets, found, throttled)
        if rcc != "NONE":
            out["ConsumedCapacity"] = tally.as_list(rcc)
        return out

    def _parse_gets(self, request_items: Mapping[str, Any]) -> list[_Get]:
        """Validate every table's KeysAndAttributes, then the keys against the tables."""
        parsed = [self._keys_and_attributes(name, r) for name, r in request_items.items()]
        if sum(len(raw_keys) for _, _, raw_keys in parsed) > MAX_BATCH_GET_KEYS:
            raise ValidationException("Too many items requested for the BatchGetItem call")
        gets: list[_Get] = []
        for (name, request), (paths, consistent, raw_keys) in zip(
            request_items.items(), parsed, strict=True
        ):
            spec = self._spec(name)
            keys = [(raw, key_from_request(spec.key, raw)[1]) for raw in raw_keys]
            if len({key for _, key in keys}) != len(keys):
                raise ValidationException(DUPLICATES)
            gets.append(_Get(spec, request, keys, paths, consistent))
        return gets

    def _admit_gets(self, gets: list[_Get]) -> tuple[list[_Get], dict[str, list[Any]]]:
        """Keep the keys the throttle admits: (the gets left, each table's refused raw keys).

        Raises the throttle's refusal if it refused every key.
        """
        throttled: dict[str, list[Any]] = {}
        refusal: DynamoDBError | None = None
        admitted: list[_Get] = []
        for g in gets:
            allowed = []
            for raw, key in g.keys:
                try:
                    self._admit(g.spec, read=True, hk=key[0])
                except (ProvisionedThroughputExceededException, ThrottlingException) as exc:
                    refusal = exc
                    throttled.setdefault(g.spec.name, []).append(raw)
                else:
                    allowed.append((raw, key))
            admitted.append(replace(g, keys=allowed))
        if refusal is not None and not any(g.keys for g in admitted):
            raise refusal
        return admitted, throttled

    def _batch_get_response(
        self, gets: list[_Get], found: list[list[_Row]], throttled: dict[str, list[Any]]
    ) -> tuple[dict[str, Any], CapacityTally]:
        """Responses and UnprocessedKeys, and the capacity of the reads, charged to the tables."""
        responses: dict[str, list[Item]] = {}
        unprocessed: dict[str, Any] = {}
        tally = CapacityTally(read=True)
        for index, g in enumerate(gets):
            rows = found[index] if index < len(found) else []
            responses[g.spec.name] = [
                item if g.paths is None else ex.project(item, g.paths)
                for item, _ in rows
                if item is not None
            ]
            for (_, key), (_, size) in zip(g.keys, rows, strict=False):
                units = capacity.read_units(size, consistent=g.consistent)
                self.throttle.charge(g.spec, units, read=True, hk=key[0])
                tally.add(g.spec, units)
            left = [raw for raw, _ in g.keys[len(rows) :]] + throttled.get(g.spec.name, [])
            if left:
                unprocessed[g.spec.name] = {**g.request, "Keys": left}
        return {"Responses": responses, "UnprocessedKeys": unprocessed}, tally

    def _keys_and_attributes(
        self, name: str, request: object
    ) -> tuple[tuple[Path, ...] | None, bool, list[Any]]:
        """Validate one table's KeysAndAttributes (shape and expressions, not the keys)."""
        wrapper = Params("BatchGetItem", {"RequestItems": request}, ("RequestItems",))
        p = Params("BatchGetItem", wrapper.mapping("RequestItems") or {}, KEYS_AND_ATTRIBUTES)
        check_legacy(p)
        member = f"requestItems.{name}.member.keys"
        raw_keys = p.raw("Keys")
        if raw_keys is None:
            raise null_error(member)
        if not isinstance(raw_keys, list) or not raw_keys:
            raise length_error(member, "Member must have length greater than or equal to 1")
        if len(raw_keys) > MAX_BATCH_GET_KEYS:
            raise length_error(
                member, f"Member must have length less than or equal to {MAX_BATCH_GET_KEYS}"
            )
        ctx = self._context(p, "ProjectionExpression")
        paths = self._projection(p, ctx)
        ctx.check_unused()
        return paths, p.boolean("ConsistentRead"), raw_keys


def _read_gets(conn: sqlite3.Connection, gets: list[_Get]) -> list[list[_Row]]:
    """Read each table's keys in one statement, in order, until 16 MB of items are found.

    One list of (item or None, size) per table, up to the key that would pass the budget; the
    tables after it are left out.
    """
    budget = MAX_BATCH_RESPONSE
    found: list[list[_Row]] = []
    for g in gets:
        rows: list[_Row] = []
        found.append(rows)
        # decodes every item found, past the budget too: 40 MB at most (100 keys)
        stored = storage_tables.get_sized_rows(conn, g.spec, [key for _, key in g.keys])
        for _, key in g.keys:
            item, size = stored.get(key, _ABSENT)
            if size > budget:
                return found
            budget -= size
            rows.append((item, size))
    return found


def _keys_by_table(writes: list[_Write]) -> dict[str, tuple[TableSpec, list[EncodedKey]]]:
    by_table: dict[str, tuple[TableSpec, list[EncodedKey]]] = {}
    for w in writes:
        by_table.setdefault(w.spec.name, (w.spec, []))[1].append(w.key)
    return by_table


def _write_request(spec: TableSpec, request: object) -> _Write:
    """Validate one WriteRequest against its table."""
    if not isinstance(request, Mapping):
        raise ValidationException(_ONE_REQUEST)
    p = Params("BatchWriteItem", request, ("PutRequest", "DeleteRequest"))
    put, delete = p.mapping("PutRequest"), p.mapping("DeleteRequest")
    if (put is None) == (delete is None):
        raise ValidationException(_ONE_REQUEST)
    if put is not None:
        item, size = Params("BatchWriteItem", put, ("Item",)).sized_item()
        return _Write(spec, key_from_item(spec.key, item), item, size, request)
    assert delete is not None
    raw_key = Params("BatchWriteItem", delete, ("Key",)).raw("Key")
    if raw_key is None:
        raise null_error("requestItems.member.deleteRequest.key")
    return _Write(spec, key_from_request(spec.key, raw_key)[1], None, 0, request)
