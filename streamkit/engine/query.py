"""Query and Scan on tables and secondary indexes: key ranges, paging, filters, segments."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine import capacity
from streamkit.engine.core import CAPACITY_CHOICES, EngineCore, check_legacy, on_table
from streamkit.engine.keys import encode_key_of, encode_partition, encode_partition_parts
from streamkit.engine.params import Params
from streamkit.errors import ValidationException
from streamkit.model.attributes import Item, type_of, validate_value
from streamkit.model.schema import IndexSpec, KeySpec, TableSpec, constraint, invalid
from streamkit.storage import select, tables as storage_tables
from streamkit.storage.codec import (
    encode_key,
    encode_key_parts,
    item_fragment,
    key_part_prefix,
    load_item,
)

if TYPE_CHECKING:
    from streamkit.expressions import Condition, ExpressionContext, KeyCondition, KeyPredicate, Path

__all__ = ["PAGE_BYTES", "QueryMixin"]

PAGE_BYTES = 1024 * 1024
MAX_SEGMENTS = 1_000_000
_SELECTS = ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT")
_COMMON = frozenset(
    {
        "TableName",
        "IndexName",
        "Select",
        "AttributesToGet",
        "Limit",
        "ConsistentRead",
        "ConditionalOperator",
        "ExclusiveStartKey",
        "ReturnConsumedCapacity",
        "ProjectionExpression",
        "FilterExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
    }
)
QUERY_PARAMS = _COMMON | {
    "KeyConditions",
    "QueryFilter",
    "ScanIndexForward",
    "KeyConditionExpression",
}
SCAN_PARAMS = _COMMON | {"ScanFilter", "TotalSegments", "Segment"}


@dataclass(slots=True)
class _Plan:
    """Everything the read hop needs, decided on the event loop before it."""

    spec: TableSpec
    index: IndexSpec | None
    bounds: list[select.Bound]
    after: tuple[bytes, ...] | None
    forward: bool
    limit: int | None
    condition: Condition | None
    paths: tuple[Path, ...] | None
    count_only: bool
    fetch_base: bool
    key_names: tuple[str, ...]
    encoded: bool  # items may be returned as their stored JSON (orjson.Fragment)


@dataclass(slots=True)
class _Page:
    items: list[Item | orjson.Fragment] = field(default_factory=list)
    count: int = 0
    scanned: int = 0
    read_bytes: int = 0
    last_key: Item | None = None


def _run(conn: sqlite3.Connection, plan: _Plan) -> _Page:
    """Read one page on the reader thread: evaluate rows in key order until Limit or 1 MB."""
    spec, idx = plan.spec, plan.index
    if idx is None:
        source, columns = select.items_table(spec), select.TABLE_COLUMNS
    else:
        source, columns = select.index_table(spec, idx), select.INDEX_COLUMNS
    page = _Page()
    rows = select.select_rows(
        conn,
        source,
        columns,
        plan.bounds,
        after=plan.after,
        forward=plan.forward,
        with_keys=plan.fetch_base,
    )
    # The loops run once per row read: keep their state in locals.
    limit, items, load = plan.limit, page.items, load_item
    scanned = count = read_bytes = 0
    lazy = plan.count_only or (plan.encoded and plan.paths is None)
    if lazy and plan.condition is None and not plan.fetch_base:
        # Nothing looks inside the items: hand over the stored JSON, decoding only the last.
        fragment, keep = item_fragment, not plan.count_only
        for row in rows:  # (item blob, size)
            scanned += 1
            read_bytes += row[1]
            if keep:
                items.append(fragment(row[0]) or load(row[0]))
            if scanned == limit or read_bytes >= PAGE_BYTES:
                page.last_key = _key_of(load(row[0]), plan.key_names)
                break
        count = scanned
    else:
        condition, paths, fetch_base = plan.condition, plan.paths, plan.fetch_base
        keep = not plan.count_only
        for row in rows:  # (item blob, size), then with fetch_base the keys: the table's last
            item = load(row[0])
            if fetch_base:
                item = storage_tables.get_row(conn, spec, row[-2], row[-1]) or item
            scanned += 1
            read_bytes += row[1]
            if condition is None or ex.evaluate(condition, item):
                count += 1
                if keep:
                    items.append(item if paths is None else ex.project(item, paths))
            if scanned == limit or read_bytes >= PAGE_BYTES:
                page.last_key = _key_of(item, plan.key_names)
                break
    page.scanned, page.count, page.read_bytes = scanned, count, read_bytes
    return page


def _key_of(item: Item, names: tuple[str, ...]) -> Item:
    return {n: item[n] for n in names if n in item}


def _prefix_end(prefix: bytes) -> bytes | None:
    """Return the smallest byte string greater than every string starting with ``prefix``."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return None
    end[-1] += 1
    return bytes(end)


def _sort_bounds(column: str, predicate: KeyPredicate, kind: str) -> list[select.Bound]:
    values = predicate.values
    for value in values:
        if type_of(value) != kind:
            raise invalid("Condition parameter type does not match schema type")
    encoded = [encode_key(v) for v in values]
    op = predicate.op
    if op == "BETWEEN":
        return [select.Bound(column, ">=", encoded[0]), select.Bound(column, "<=", encoded[1])]
    if op == "begins_with":
        if kind == "N":
            raise ValidationException(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                "function; operator or function: begins_with, operand type: N"
            )
        bounds = [select.Bound(column, ">=", encoded[0])]
        end = _prefix_end(encoded[0])
        if end is not None:
            bounds.append(select.Bound(column, "<", end))
        return bounds
    return [select.Bound(column, op, encoded[0])]


_COMPARE = {
    "=": bytes.__eq__,
    "<": bytes.__lt__,
    "<=": bytes.__le__,
    ">": bytes.__gt__,
    ">=": bytes.__ge__,
}


def _check_start_in_bounds(
    operation: str, start: tuple[bytes, ...], bounds: Sequence[select.Bound], *, index: bool
) -> None:
    """Refuse an ExclusiveStartKey that the request's key ranges could never have returned.

    Query: its partition must be the queried one (DynamoDB's message) and its sort key must
    satisfy the key condition; parallel Scan: it must lie in the segment. DynamoDB's wording
    for the last two is the best we know of (dynalite's and AWS forum reports).
    """
    columns = ("ihk", "irk", "hk", "rk") if index else ("hk", "rk")
    for bound in bounds:
        value = start[columns.index(bound.column)]
        if _COMPARE[bound.op](value, bound.value):
            continue
        if operation == "Scan":
            raise ValidationException(
                "The provided Exclusive start key does not map to the provided Segment and "
                "TotalSegments values."
            )
        if bound.op == "=":
            raise ValidationException(
                "The provided starting key is outside query boundaries based on provided conditions"
            )
        raise ValidationException(
            "The provided starting key does not match the range key predicate"
        )


def _check_filter_keys(condition: Condition, key_names: Sequence[str]) -> None:
    """Refuse a Query FilterExpression that names a key attribute of the queried schema."""
    pending: list[object] = [condition]
    while pending:  # iterative: a deep expression must not exhaust the stack
        node = pending.pop()
        if isinstance(node, ex.PathExpr):
            head = node.path[0]
            if head in key_names:
                raise ValidationException(
                    "Filter Expression can only contain non-primary key attributes: "
                    f"Primary key attribute: {head}"
                )
        elif isinstance(node, tuple):
            pending.extend(node)
        elif hasattr(node, "__slots__"):
            pending.extend(getattr(node, name) for name in node.__slots__)


def _multi_key_bounds(
    hk: str, rk: str, condition: KeyCondition, schema: KeySpec
) -> list[select.Bound]:
    """Return the byte ranges of a Query on a multi-attribute key (see ``encode_key_parts``).

    Equal values on every HASH attribute select one partition; equal values on the leading
    RANGE attributes are a prefix of the sort key, and the condition on the next attribute
    a range within that prefix.
    """
    bound = condition.bind_multi(
        [n for n, _ in schema.hash_keys], [n for n, _ in schema.range_keys]
    )
    kinds = [k for _, k in schema.range_keys]
    for value, kind in (
        *zip(bound.partition, (k for _, k in schema.hash_keys), strict=True),
        *zip(bound.equal, kinds, strict=False),
    ):
        if type_of(value) != kind:
            raise invalid("Condition parameter type does not match schema type")
    bounds = [select.Bound(hk, "=", encode_partition_parts(bound.partition))]
    prefix = encode_key_parts(bound.equal)
    last = bound.last
    if last is None:
        return bounds + _prefix_range(rk, prefix)
    kind = kinds[len(bound.equal)]
    if any(type_of(v) != kind for v in last.values):
        raise invalid("Condition parameter type does not match schema type")
    if last.op == "begins_with":
        if kind == "N":
            raise ValidationException(
                "Invalid KeyConditionExpression: Incorrect operand type for operator or "
                "function; operator or function: begins_with, operand type: N"
            )
        return bounds + _prefix_range(rk, prefix + key_part_prefix(last.values[0]))
    parts = [prefix + encode_key_parts([v]) for v in last.values]
    if last.op == "=":
        return bounds + _prefix_range(rk, parts[0])
    after = [p[:-1] + b"\x01" for p in parts]  # past every key whose part equals the value
    low, high = {
        "<": (prefix, parts[0]),
        "<=": (prefix, after[0]),
        ">": (after[0], None),
        ">=": (parts[0], None),
        "BETWEEN": (parts[0], after[-1]),
    }[last.op]
    high = high if high is not None else _prefix_end(prefix) if prefix else None
    if low:
        bounds.append(select.Bound(rk, ">=", low))
    if high is not None:
        bounds.append(select.Bound(rk, "<", high))
    return bounds


def _prefix_range(column: str, prefix: bytes) -> list[select.Bound]:
    """Return the bounds of every value of ``column`` that starts with ``prefix``."""
    if not prefix:
        return []
    bounds = [select.Bound(column, ">=", prefix)]
    end = _prefix_end(prefix)
    if end is not None:
        bounds.append(select.Bound(column, "<", end))
    return bounds


def _segment_bounds(column: str, segment: int, total: int) -> list[select.Bound]:
    """Return the hash-prefix range of one parallel-scan segment."""
    space = 1 << 32
    bounds = []
    if segment > 0:
        bounds.append(select.Bound(column, ">=", (segment * space // total).to_bytes(4, "big")))
    if segment < total - 1:
        bounds.append(
            select.Bound(column, "<", ((segment + 1) * space // total).to_bytes(4, "big"))
        )
    return bounds


class QueryMixin(EngineCore):
    """Query and Scan."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {"Query": "query", "Scan": "scan"}
    #: The same operations for a caller that only serialises the answer with orjson (the
    #: HTTP endpoint): their ``Items`` may hold ``orjson.Fragment`` objects, the stored JSON.
    ENCODED_OPERATIONS: ClassVar[Mapping[str, str]] = {
        "Query": "query_encoded",
        "Scan": "scan_encoded",
    }

    async def query(self, **params: Any) -> dict[str, Any]:
        """Read the items of one partition in sort-key order (Query)."""
        return await self._query(params, encoded=False)

    async def query_encoded(self, **params: Any) -> dict[str, Any]:
        """Query, with items that need no decoding given as ``orjson.Fragment``."""
        return await self._query(params, encoded=True)

    async def scan(self, **params: Any) -> dict[str, Any]:
        """Read every item of a table or index, one page at a time (Scan)."""
        return await self._scan(params, encoded=False)

    async def scan_encoded(self, **params: Any) -> dict[str, Any]:
        """Scan, with items that need no decoding given as ``orjson.Fragment``."""
        return await self._scan(params, encoded=True)

    async def _query(self, params: dict[str, Any], *, encoded: bool) -> dict[str, Any]:
        p = Params("Query", params, QUERY_PARAMS)
        check_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "KeyConditionExpression", "FilterExpression", "ProjectionExpression")
        text = p.string("KeyConditionExpression")
        if text is not None:
            key_condition = ex.parse_key_condition(text, ctx)
        elif p.has("KeyConditions"):
            key_condition = ex.key_condition_from_legacy(p.raw("KeyConditions"))
        else:
            raise ValidationException(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified "
                "in the request."
            )
        condition, paths = self._filter_and_projection(p, ctx, "QueryFilter")
        ctx.check_unused()
        forward = p.boolean("ScanIndexForward", default=True)
        spec, idx, schema = self._target(p, name)
        if p.has("QueryFilter"):
            ex.check_query_filter_keys(p.raw("QueryFilter"), schema.names)
        elif condition is not None:
            _check_filter_keys(condition, schema.names)
        hk, rk = ("hk", "rk") if idx is None else ("ihk", "irk")
        if schema.multi:
            bounds = _multi_key_bounds(hk, rk, key_condition, schema)
        else:
            bound = key_condition.bind(schema.hash_name, schema.range_name)
            if type_of(bound.partition_value) != schema.hash_type:
                raise invalid("Condition parameter type does not match schema type")
            bounds = [select.Bound(hk, "=", encode_partition(bound.partition_value))]
            if bound.sort is not None:
                assert schema.range_type is not None
                bounds += _sort_bounds(rk, bound.sort, schema.range_type)
        return await self._read_page(
            p, spec, idx, bounds, condition, paths, forward=forward, encoded=encoded
        )

    async def _scan(self, params: dict[str, Any], *, encoded: bool) -> dict[str, Any]:
        p = Params("Scan", params, SCAN_PARAMS)
        check_legacy(p)
        name = p.table_name()
        ctx = self._context(p, "FilterExpression", "ProjectionExpression")
        condition, paths = self._filter_and_projection(p, ctx, "ScanFilter")
        ctx.check_unused()
        segment, total = p.integer("Segment"), p.integer("TotalSegments")
        bounds: list[select.Bound] = []
        if segment is not None or total is not None:
            segment, total = self._segments(segment, total)
        spec, idx, _ = self._target(p, name)
        if total is not None and segment is not None:
            bounds = _segment_bounds("hk" if idx is None else "ihk", segment, total)
        return await self._read_page(
            p, spec, idx, bounds, condition, paths, forward=True, encoded=encoded
        )

    # -- shared steps ------------------------------------------------------------------------

    def _filter_and_projection(
        self, p: Params, ctx: ExpressionContext, legacy_filter: str
    ) -> tuple[Condition | None, tuple[Path, ...] | None]:
        """Return the filter (FilterExpression, or the legacy QueryFilter/ScanFilter) and paths."""
        text = p.string("FilterExpression")
        condition: Condition | None
        if text is not None:
            condition = ex.parse_condition(text, ctx, kind="FilterExpression")
        else:
            condition = ex.condition_from_filter(
                p.raw(legacy_filter), p.raw("ConditionalOperator"), kind=legacy_filter
            )
        return condition, self._projection(p, ctx)

    @staticmethod
    def _segments(segment: int | None, total: int | None) -> tuple[int, int]:
        if total is None:
            raise ValidationException(
                "The TotalSegments parameter is required but was not present in the request "
                "when Segment parameter is present"
            )
        if segment is None:
            raise ValidationException(
                "The Segment parameter is required but was not present in the request when "
                "parameter TotalSegments is present"
            )
        if not 1 <= total <= MAX_SEGMENTS:
            rule = (
                "greater than or equal to 1"
                if total < 1
                else f"less than or equal to {MAX_SEGMENTS}"
            )
            raise constraint(total, "totalSegments", f"have value {rule}")
        if segment < 0:
            raise constraint(segment, "segment", "have value greater than or equal to 0")
        if segment >= total:
            raise ValidationException(
                "The Segment parameter is zero-based and must be less than parameter "
                f"TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
            )
        return segment, total

    def _target(self, p: Params, name: str) -> tuple[TableSpec, IndexSpec | None, KeySpec]:
        spec = self._spec(name)
        index_name = p.string("IndexName")
        if index_name is None:
            return spec, None, spec.key
        idx = spec.index(index_name)
        if idx is None:
            raise ValidationException(f"The table does not have the specified index: {index_name}")
        if idx.status == "CREATING":
            raise ValidationException(
                f"Cannot read from backfilling global secondary index: {index_name}"
            )
        return spec, idx, idx.key

    def _start_key(
        self, p: Params, spec: TableSpec, idx: IndexSpec | None, key_names: Sequence[str]
    ) -> tuple[bytes, ...] | None:
        raw = p.mapping("ExclusiveStartKey")
        if raw is None:
            return None
        message = "The provided starting key is invalid"
        if idx is None and p.operation == "Scan":
            message += ": The provided key element does not match the schema"
        if set(raw) != set(key_names):
            raise ValidationException(message)
        types = spec.attribute_types
        values = {}
        for name in key_names:
            value = validate_value(raw[name])
            if type_of(value) != types[name]:
                raise ValidationException(message)
            values[name] = value
        table_keys = encode_key_of(spec.key, values)
        if idx is None:
            return table_keys
        return encode_key_of(idx.key, values) + table_keys

    async def _read_page(
        self,
        p: Params,
        spec: TableSpec,
        idx: IndexSpec | None,
        bounds: list[select.Bound],
        condition: Condition | None,
        paths: tuple[Path, ...] | None,
        *,
        forward: bool,
        encoded: bool,
    ) -> dict[str, Any]:
        limit = p.integer("Limit")
        if limit is not None and limit < 1:
            raise constraint(limit, "limit", "have value greater than or equal to 1")
        consistent = p.boolean("ConsistentRead")
        if consistent and idx is not None and idx.is_global:
            raise ValidationException(
                "Consistent reads are not supported on global secondary indexes"
            )
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        chosen = self._select(p, idx, paths)
        key_names = spec.key.names
        if idx is not None:
            key_names = tuple(dict.fromkeys((*spec.key.names, *idx.key.names)))
        after = self._start_key(p, spec, idx, key_names)
        if after is not None:
            _check_start_in_bounds(p.operation, after, bounds, index=idx is not None)
        partial_lsi = idx is not None and not idx.is_global and idx.projection_type != "ALL"
        plan = _Plan(
            spec=spec,
            index=idx,
            bounds=bounds,
            after=after,
            forward=forward,
            limit=limit,
            condition=condition,
            paths=paths if chosen == "SPECIFIC_ATTRIBUTES" else None,
            count_only=chosen == "COUNT",
            fetch_base=partial_lsi
            and (chosen != "ALL_PROJECTED_ATTRIBUTES" or condition is not None),
            key_names=key_names,
            encoded=encoded,
        )
        partition = next((b.value for b in bounds if b.op == "=" and b.column == "hk"), None)
        if idx is None or not idx.is_global:
            self._admit(spec, read=True, hk=partition)
        page = await self._store.read_point(on_table(spec, lambda conn: _run(conn, plan)))
        out: dict[str, Any] = {}
        if not plan.count_only:
            out["Items"] = page.items
        out["Count"] = page.count
        out["ScannedCount"] = page.scanned
        if page.last_key is not None:
            out["LastEvaluatedKey"] = page.last_key
        units = capacity.read_units(page.read_bytes, consistent=consistent)
        if idx is None or not idx.is_global:
            self.throttle.charge(spec, units, read=True, hk=partition)
        consumed = self._read_capacity(rcc, spec, idx, units)
        if consumed is not None:
            out["ConsumedCapacity"] = consumed
        return out

    @staticmethod
    def _select(p: Params, idx: IndexSpec | None, paths: tuple[Path, ...] | None) -> str:
        default = (
            "SPECIFIC_ATTRIBUTES"
            if paths is not None
            else "ALL_PROJECTED_ATTRIBUTES"
            if idx is not None
            else "ALL_ATTRIBUTES"
        )
        chosen = p.enum("Select", _SELECTS, default)
        if paths is not None and chosen != "SPECIFIC_ATTRIBUTES":
            what = "only the Count" if chosen == "COUNT" else chosen
            given = "ProjectionExpression" if p.has("ProjectionExpression") else "AttributesToGet"
            raise ValidationException(f"Cannot specify the {given} when choosing to get {what}")
        if chosen == "SPECIFIC_ATTRIBUTES" and paths is None:
            raise ValidationException(
                "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
                "SPECIFIC_ATTRIBUTES"
            )
        if chosen == "ALL_PROJECTED_ATTRIBUTES" and idx is None:
            raise ValidationException(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
            )
        if (
            chosen == "ALL_ATTRIBUTES"
            and idx is not None
            and idx.is_global
            and idx.projection_type != "ALL"
        ):
            raise invalid(
                f"Select type ALL_ATTRIBUTES is not supported for global secondary index "
                f"{idx.name} because its projection type is not ALL"
            )
        return chosen

    @staticmethod
    def _read_capacity(
        mode: str, spec: TableSpec, idx: IndexSpec | None, units: float
    ) -> dict[str, Any] | None:
        if idx is None:
            return capacity.consumed_capacity(mode, spec.name, units, read=True)
        where = {idx.name: units}
        return capacity.consumed_capacity(
            mode,
            spec.name,
            0.0,
            read=True,
            local_indexes=None if idx.is_global else where,
            global_indexes=where if idx.is_global else None,
        )
