"""State and helpers shared by every group of operations, and the one write path."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import anyio

import streamkit.expressions as ex  # each name loads on first use
from streamkit.backoff import Backoff
from streamkit.clock import Clock
from streamkit.engine import capacity
from streamkit.engine.indexes import maintain_indexes
from streamkit.engine.keys import EncodedKey
from streamkit.engine.params import Params
from streamkit.engine.regions import ALONE, RegionGroup
from streamkit.engine.throttle import Throttle
from streamkit.errors import ClosedError, ResourceNotFoundException, ValidationException
from streamkit.model.attributes import Item, item_size
from streamkit.model.schema import TableSpec
from streamkit.storage import history, select, tables as storage_tables, versions
from streamkit.storage.changes import ChangeLog, items_equal
from streamkit.storage.codec import dump_item
from streamkit.storage.history import HistoryState
from streamkit.storage.sqlite import Store

if TYPE_CHECKING:
    from streamkit.engine.engine import Engine
    from streamkit.expressions import Condition, ExpressionContext, Path

__all__ = [
    "CAPACITY_CHOICES",
    "CLOSED",
    "EngineCore",
    "check_legacy",
    "check_size",
    "on_table",
    "table_counts",
]

T = TypeVar("T")

MAX_ITEM_SIZE = 400 * 1024
#: the values ReturnConsumedCapacity takes, for ``Params.enum``
CAPACITY_CHOICES = ("INDEXES", "TOTAL", "NONE")
CLOSED = "the engine is closed: its open_engine block has exited"


def check_legacy(p: Params) -> None:
    """Refuse a request that mixes legacy and expression parameters, as DynamoDB does."""
    ex.check_mixing(p.members, p.operation)


def _null_members(members: list[str]) -> str:
    return " and ".join(members) + (" are null" if len(members) > 1 else " is null")


def table_counts(conn: sqlite3.Connection, spec: TableSpec) -> dict[str | None, tuple[int, int]]:
    """Return (item count, bytes) of a table (key None) and of each of its indexes."""
    counts: dict[str | None, tuple[int, int]] = {
        None: select.count_entries(conn, select.items_table(spec))
    }
    for idx in spec.indexes:
        counts[idx.name] = select.count_entries(conn, select.index_table(spec, idx))
    return counts


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

    # The state every operation shares; :class:`~streamkit.engine.Engine`'s constructor sets
    # it all (this class and the mixins declare what they use).
    _store: Store
    _tables: dict[str, TableSpec]  # the catalog
    region: str
    account: str
    clock: Clock
    _changes: ChangeLog  # the stream change log's write side
    #: table name -> (the spec its stream ARN was made for, the ARN): held while that very
    #: spec is the catalog's (a new spec, e.g. a new stream label, makes it again)
    _stream_arns: dict[str, tuple[TableSpec, str]]
    throttle: Throttle  # off unless open_engine(throttling=True) or set_table
    retry_policy: Backoff
    _catalog_event: anyio.Event | None = None
    _ttl_attributes: dict[str, str]  # table -> TTL attribute, while enabled
    _pitr: dict[str, HistoryState]  # table -> its history, while PITR is on
    #: the regions this engine was opened with (global tables' peers); None when alone
    group: RegionGroup | None = None

    @property
    def closed(self) -> bool:
        """Whether the engine's ``open_engine`` block has exited."""
        return self._store.closed

    def join_group(self, group: RegionGroup) -> None:
        """Become one of ``group``'s regions (``streamkit.open_regions`` calls this)."""
        self.group = group

    def check_open(self) -> None:
        """Raise ClosedError if the engine's ``open_engine`` block has exited."""
        if self._store.closed:
            raise ClosedError(CLOSED)

    def catalog_waiter(self) -> anyio.Event:
        """Return an event set after the next CreateTable, UpdateTable or DeleteTable.

        Take it *before* looking at the catalog, then wait on it: no change is missed.
        """
        if self._catalog_event is None:
            self._catalog_event = anyio.Event()
        return self._catalog_event

    def _forget_table(self, name: str) -> None:
        """Drop every in-memory fact about a deleted table, so a table re-created under the
        same name starts as a fresh one does. Mixins holding per-table state extend this."""
        self._tables.pop(name, None)
        self._ttl_attributes.pop(name, None)
        self.throttle.forget_table(name)
        self._catalog_changed()

    async def _before_table_drop(self, spec: TableSpec) -> None:
        """Run by DeleteTable just before it drops a table; mixins extend this (PITR: the
        table's ``$DeletedTableBackup``, then its history)."""

    def _catalog_changed(self) -> None:
        event, self._catalog_event = self._catalog_event, None
        if event is not None:
            event.set()

    def stream_arn(self, table: str) -> str | None:
        """Return the ARN of a table's enabled stream, or None (no table, or no stream)."""
        spec = self._tables.get(table)
        if spec is None or spec.stream_view_type is None:
            return None
        return spec.stream_arn(self.region, self.account)

    # -- the other regions (global tables) -------------------------------------------

    def _whole(self) -> Engine:
        """This engine as the :class:`Engine` it is part of (another mixin's method on it)."""
        return cast("Engine", self)

    async def _peer(self, region: str) -> Engine:
        """Return the engine of ``region`` (this one for its own) through the group.

        Raises:
            ValidationException: the engine was opened alone, or the group cannot serve
                ``region``.
        """
        if region == self.region:
            return self._whole()
        if self.group is None:
            raise ValidationException(ALONE)
        return await self.group.engine(region)

    async def _replica_peers(self, spec: TableSpec) -> list[Engine]:
        """Return the engines of a global table's other replicas ([] for a regional one)."""
        return [await self._peer(r) for r in spec.replica_regions(besides=self.region)]

    # -- helpers -------------------------------------------------------------------------

    def _spec(self, name: str, *, named: bool = False) -> TableSpec:
        """Return a table's spec; ResourceNotFoundException (naming it if ``named``) if none."""
        spec = self._tables.get(name)
        if spec is None:
            if named:
                raise ResourceNotFoundException(
                    f"Requested resource not found: Table: {name} not found"
                )
            raise ResourceNotFoundException()
        return spec

    def _describe(
        self, spec: TableSpec, status: str, counts: Mapping[str | None, tuple[int, int]]
    ) -> dict[str, Any]:
        return spec.describe(
            region=self.region,
            account=self.account,
            status=status,
            counts=counts,
        )

    def _condition(self, p: Params, ctx: ExpressionContext) -> Condition | None:
        """Return the ConditionExpression, or the legacy Expected translated, or None."""
        text = p.string("ConditionExpression")
        if text is not None:
            return ex.parse_condition(text, ctx, kind="ConditionExpression")
        return ex.condition_from_expected(p.raw("Expected"), p.raw("ConditionalOperator"))

    @staticmethod
    def _projection(p: Params, ctx: ExpressionContext) -> tuple[Path, ...] | None:
        """Return the ProjectionExpression's paths, or the legacy AttributesToGet, or None."""
        text = p.string("ProjectionExpression")
        if text is not None:
            return ex.parse_projection(text, ctx)
        names = p.raw("AttributesToGet")
        return None if names is None else ex.projection_from_attributes_to_get(names)

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
                + _null_members([m for m in expression_members if m != "ProjectionExpression"])
            )
        return ex.ExpressionContext(names, values)

    # -- the write path ---------------------------------------------------------------

    def _write(
        self,
        conn: sqlite3.Connection,
        spec: TableSpec,
        key: EncodedKey,
        old: Item | None,
        new: Item | None,
        size: int,
        *,
        now: float | None = None,
        service: bool = False,
        old_size: int | None = None,
        version: versions.Version | None = None,
        old_blob: bytes | None = None,
    ) -> dict[str, float]:
        """Store one item change; runs on the writer thread inside the operation's savepoint.

        Maintains every secondary index in the same transaction and returns the write units
        each index consumed (for ReturnConsumedCapacity=INDEXES). With a stream enabled,
        appends the change's stream record in the same transaction (``service``: a TTL
        deletion, recorded with the service's userIdentity). ``old_size``, when the caller
        read it with the old item, saves the change log from measuring the old image again;
        ``old_blob`` (the old item as its row stored it) saves serialising it again for the
        stream record and the PITR history. A global table's item also gets its hidden
        version (storage/versions.py): a new local one, or ``version`` (a replicated write's,
        engine/replication.py).
        """
        index_units = maintain_indexes(conn, spec, key, old, new) if spec.has_indexes else {}
        blob = None
        if new is None:
            storage_tables.delete_row(conn, spec, *key)
        else:
            blob = storage_tables.put_row(
                conn, spec, *key, new, size, ttl_attribute=self._ttl_attributes.get(spec.name)
            )
        if version is not None or spec.is_global:
            self._put_version(conn, spec, key, old, new, now, version)
        pitr = self._pitr.get(spec.name)
        if pitr is not None:  # point-in-time recovery is on: keep the change's history row
            self._pitr_record(conn, pitr, key, old, blob, size, now, old_size, old_blob)
        if spec.stream_view_type is not None:
            known = self._stream_arns.get(spec.name)  # one lookup by a string's cached hash
            if known is not None and known[0] is spec:
                arn = known[1]
            else:
                arn = _stream_arn(spec, self.region, self.account)
                if len(self._stream_arns) >= _ARNS_KEPT:
                    self._stream_arns.clear()
                self._stream_arns[spec.name] = (spec, arn)
            self._changes.append(  # positional: a keyword call costs ~0.1 us more here
                conn,
                arn,
                spec.stream_view_type,
                spec.key.names,
                key[0],
                old,
                new,
                self.clock.now() if now is None else now,
                service,
                version is not None,  # replicated
                (old_size, size if new is not None else None),
                (old_blob, blob),
            )
        return index_units

    def _put_version(
        self,
        conn: sqlite3.Connection,
        spec: TableSpec,
        key: EncodedKey,
        old: Item | None,
        new: Item | None,
        now: float | None,
        version: versions.Version | None,
    ) -> None:
        """Store a global table's item version: ``version``, or a new local one that beats the
        stored one (a deletion keeps its row, a tombstone). A local write that changes nothing
        keeps the stored version: it has no stream record, so it is not replicated (as in
        DynamoDB, whose replication reads the stream)."""
        if version is not None:
            versions.put_version(conn, spec, *key, version, deleted=new is None)
            return
        if old is not None and new is not None and items_equal(old, new):
            return
        at = self.clock.now() if now is None else now
        versions.local_version(
            conn, spec, *key, int(at * 1_000_000), self.region, deleted=new is None
        )

    def _pitr_record(
        self,
        conn: sqlite3.Connection,
        state: HistoryState,
        key: EncodedKey,
        old: Item | None,
        blob: bytes | None,
        size: int,
        now: float | None,
        old_size: int | None,
        old_blob: bytes | None = None,
    ) -> None:
        """Append one item change to a PITR-enabled table's history (storage/history.py).

        The old item is needed only while the items present at enable time are still being
        recorded (its key may need a base row): its stored blob, or serialised again."""
        if not state.filling or old is None:
            old_blob = None
        else:
            old_blob = old_blob or dump_item(old)
            old_size = item_size(old) if old_size is None else old_size
        at = self.clock.now() if now is None else now
        history.record(conn, state, *key, old_blob, blob, size, old_size or 0, at)

    def _admit(self, spec: TableSpec, *, read: bool, hk: bytes | None = None) -> None:
        """Refuse, before it runs, a request the throttling simulator has no capacity for."""
        if not self.throttle.active(spec):  # off unless asked for: every request comes here
            return
        gsis = () if read else tuple(i.name for i in spec.global_indexes)
        self.throttle.check(spec, read=read, hk=hk, indexes=gsis)

    def _add_capacity(
        self,
        out: dict[str, Any],
        mode: str,
        spec: TableSpec,
        units: float,
        *,
        read: bool,
        indexes: Mapping[str, float] | None = None,
        hk: bytes | None = None,
    ) -> None:
        """Charge the consumed units to the throttling simulator and report them if asked."""
        self.throttle.charge(spec, units, read=read, hk=hk, index_units=indexes)
        if mode == "NONE":  # the default: nothing to report
            return
        local = {n: u for n, u in (indexes or {}).items() if not _is_global(spec, n)}
        global_ = {n: u for n, u in (indexes or {}).items() if _is_global(spec, n)}
        consumed = capacity.consumed_capacity(
            mode, spec.name, units, read=read, local_indexes=local, global_indexes=global_
        )
        if consumed is not None:
            out["ConsumedCapacity"] = consumed


#: (table, stream label, region, account) -> the stream's ARN, which is made of them; at most
#: _ARNS_KEPT are kept (then the ARN is made again: a few hundred ns).
_ARNS_KEPT = 1024  # stream ARNs an engine remembers (EngineCore._stream_arns)


def _stream_arn(spec: TableSpec, region: str, account: str) -> str:
    return f"{spec.arn(region, account)}/stream/{spec.stream_label}"


def _is_global(spec: TableSpec, index_name: str) -> bool:
    idx = spec.index(index_name)
    return idx is not None and idx.is_global
