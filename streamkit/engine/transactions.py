"""TransactWriteItems and TransactGetItems: all-or-nothing writes, snapshot reads.

A write transaction is one function run by the store in one hop, inside its own savepoint:
it reads every item, checks every condition, and only then writes, so a cancelled transaction
changes nothing. Conflicts are emulated at the group commit: a transaction that touches an item
already written by another transaction of the same commit batch (both were in flight together)
is cancelled with the reason ``TransactionConflict``, as DynamoDB cancels the later of two
overlapping transactions. See docs/transactions.md.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine import capacity
from streamkit.engine.actions import (
    CapacityTally,
    check_condition,
    length_error,
    null_error,
    updated_image,
)
from streamkit.engine.core import CAPACITY_CHOICES, EngineCore, on_table
from streamkit.engine.keys import EncodedKey, key_from_item, key_from_request
from streamkit.engine.params import Params
from streamkit.errors import (
    ConditionalCheckFailedException,
    IdempotentParameterMismatchException,
    TransactionCanceledException,
    ValidationException,
)
from streamkit.model.attributes import MSG_ITEM_TOO_LARGE, Item, item_size
from streamkit.model.schema import TableSpec, constraint
from streamkit.storage import tables as storage_tables, tokens

if TYPE_CHECKING:
    from streamkit.expressions import Condition, Path, UpdatePlan

__all__ = ["MAX_TRANSACTION_ACTIONS", "MAX_TRANSACTION_BYTES", "TOKEN_TTL", "TransactionsMixin"]

MAX_TRANSACTION_ACTIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
TOKEN_TTL = 600.0  # a ClientRequestToken is remembered for 10 minutes
ON_ONE_ITEM = "Transaction request cannot include multiple operations on one item"
TOO_LARGE = "Transaction payload size cannot exceed 4 MB"
CONFLICT = "Transaction is ongoing for the item"
_ONE_OF = "TransactItems can only contain one of Check, Put, Update or Delete"
_KINDS = ("ConditionCheck", "Put", "Delete", "Update")
_COMMON = frozenset(
    {
        "TableName",
        "ConditionExpression",
        "ExpressionAttributeNames",
        "ExpressionAttributeValues",
        "ReturnValuesOnConditionCheckFailure",
    }
)
_MEMBERS = {
    "Put": _COMMON | {"Item"},
    "Update": _COMMON | {"Key", "UpdateExpression"},
    "Delete": _COMMON | {"Key"},
    "ConditionCheck": _COMMON | {"Key"},
}
_REQUIRED = {
    "Put": ("Item",),
    "Update": ("Key", "UpdateExpression"),
    "Delete": ("Key",),
    "ConditionCheck": ("Key", "ConditionExpression"),
}
WRITE_PARAMS = frozenset(
    {
        "TransactItems",
        "ReturnConsumedCapacity",
        "ReturnItemCollectionMetrics",
        "ClientRequestToken",
    }
)
GET_PARAMS = frozenset({"TransactItems", "ReturnConsumedCapacity"})
GET_MEMBERS = frozenset({"TableName", "Key", "ProjectionExpression", "ExpressionAttributeNames"})
_NONE: dict[str, Any] = {"Code": "None"}


def _lower(name: str) -> str:
    return name[0].lower() + name[1:]


@dataclass(slots=True)
class _Action:
    """One Put, Update, Delete or ConditionCheck, parsed; ``bind`` checks it against its table."""

    kind: str
    spec: TableSpec
    raw: Any  # Put: the validated item; otherwise the request's Key
    condition: Condition | None
    on_fail: str
    plan: UpdatePlan | None = None
    error: str | None = None  # an item-level validation error: cancels with ValidationError
    key_item: Item = field(default_factory=dict)
    key: EncodedKey = (b"", b"")
    size: int = 0

    def bind(self) -> None:
        if self.error is not None:
            return
        try:
            if self.kind == "Put":
                self.key = key_from_item(self.spec.key, self.raw)
                self.size = item_size(self.raw)
            else:
                self.key_item, self.key = key_from_request(self.spec.key, self.raw)
            if self.plan is not None:
                self.plan.check_key_attributes(self.spec.key.names)
        except ValidationException as exc:
            self.error = exc.message

    def outcome(self, old: Item | None) -> _Outcome:
        """Check the condition and compute the new item: (reason, new item, new size)."""
        try:
            check_condition(self.condition, old, self.on_fail)
            if self.kind == "Put":
                return _NONE, self.raw, self.size
            if self.kind == "Update":
                return _NONE, *updated_image(self.plan, old, self.key_item)
            return _NONE, (old if self.kind == "ConditionCheck" else None), 0
        except ConditionalCheckFailedException as exc:
            reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": exc.message}
            if exc.item is not None:
                reason["Item"] = exc.item
            return reason, old, 0
        except ValidationException as exc:
            return {"Code": "ValidationError", "Message": exc.message}, old, 0


def _digest(items: object) -> bytes:
    return hashlib.sha256(orjson.dumps(items, option=orjson.OPT_SORT_KEYS, default=repr)).digest()


def _transact_items(p: Params) -> list[Any]:
    items = p.raw("TransactItems")
    if items is None:
        raise null_error("transactItems")
    if not isinstance(items, list) or not items:
        raise length_error("transactItems", "Member must have length greater than or equal to 1")
    if len(items) > MAX_TRANSACTION_ACTIONS:
        raise length_error(
            "transactItems",
            f"Member must have length less than or equal to {MAX_TRANSACTION_ACTIONS}",
        )
    return items


def _cancel(reasons: list[dict[str, Any]]) -> TransactionCanceledException:
    return TransactionCanceledException(reasons=reasons)


def _invalid(count: int, index: int, message: str) -> TransactionCanceledException:
    """Cancel a transaction of ``count`` actions because action ``index`` is invalid."""
    reasons = [dict(_NONE) for _ in range(count)]
    reasons[index] = {"Code": "ValidationError", "Message": message}
    return _cancel(reasons)


#: an action's (cancellation reason, new item, new size)
_Outcome = tuple[dict[str, Any], Item | None, int]
#: a written action's (item size for capacity, write units per index)
_Done = tuple[int, dict[str, float]]


@dataclass(slots=True, frozen=True)
class _Transaction:
    """A validated TransactWriteItems request."""

    actions: list[_Action]
    targets: list[tuple[str, EncodedKey]]  # (table name, key) of each action
    token: str | None  # ClientRequestToken
    digest: bytes  # of the request's TransactItems, to tell a replay from a reuse of the token
    rcc: str  # ReturnConsumedCapacity


def _replay(conn: sqlite3.Connection, request: _Transaction, now: float) -> list[_Done] | None:
    """Answer a repeat of an applied request (same ClientRequestToken): sizes, nothing written.

    None if the token is new (or there is none); a token reused with other items is refused.
    """
    if request.token is None:
        return None
    seen = tokens.lookup(conn, request.token, now)
    if seen is None:
        return None
    if seen != request.digest:
        raise IdempotentParameterMismatchException(
            "ClientRequestToken was already used with different parameters"
        )
    return [(_size(storage_tables.get_row(conn, a.spec, *a.key)), {}) for a in request.actions]


def _check(
    conn: sqlite3.Connection, request: _Transaction, busy: frozenset[tuple[str, EncodedKey]]
) -> tuple[list[Item | None], list[_Outcome]]:
    """Read every item and check every action: the old items and the outcomes.

    Raises TransactionCanceledException, one reason per action, if any condition fails, any
    update is invalid or any item is in ``busy`` (written by a transaction of this batch).
    """
    olds = [storage_tables.get_row(conn, a.spec, *a.key) for a in request.actions]
    outcomes = [a.outcome(old) for a, old in zip(request.actions, olds, strict=True)]
    reasons = [
        {"Code": "TransactionConflict", "Message": CONFLICT} if target in busy else reason
        for target, (reason, _, _) in zip(request.targets, outcomes, strict=True)
    ]
    if any(r["Code"] != "None" for r in reasons):
        raise _cancel(reasons)
    return olds, outcomes


def _write_capacity(request: _Transaction, replay: bool, done: list[_Done]) -> list[dict[str, Any]]:
    """ConsumedCapacity: transactional writes (index writes doubled too); a replay only read."""
    tally = CapacityTally(read=replay)
    for a, (size, indexes) in zip(request.actions, done, strict=True):
        if replay:
            tally.add(a.spec, capacity.read_units(size, consistent=True))
        else:
            doubled = {name: units * 2 for name, units in indexes.items()}
            tally.add(a.spec, capacity.write_units(size, transactional=True), doubled)
    return tally.as_list(request.rcc)


class TransactionsMixin(EngineCore):
    """TransactWriteItems and TransactGetItems."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "TransactWriteItems": "transact_write_items",
        "TransactGetItems": "transact_get_items",
    }

    # The group-commit batch (the store's commit count while it runs) and the items that
    # transactions of that batch wrote: the conflict emulation. Replaced, never mutated.
    _tx_batch: int = -1
    _tx_items: frozenset[tuple[str, EncodedKey]] = frozenset()

    async def transact_write_items(self, **params: Any) -> dict[str, Any]:
        """Apply up to 100 Put/Update/Delete/ConditionCheck actions atomically.

        Raises TransactionCanceledException, with one CancellationReason per action in order,
        when a condition fails, an item is invalid or too large, or another transaction of
        the same commit batch wrote one of the items; nothing is written then.
        """
        request = self._parse_transaction(params)
        now = self.clock.now()

        def run(conn: sqlite3.Connection) -> tuple[bool, list[_Done]]:
            replayed = _replay(conn, request, now)
            if replayed is not None:
                return True, replayed
            batch = self._store.statistics().commits
            busy = self._tx_items if batch == self._tx_batch else frozenset()
            olds, outcomes = _check(conn, request, busy)
            done = self._apply(conn, request.actions, olds, outcomes)
            self._tx_batch, self._tx_items = batch, busy | frozenset(request.targets)
            if request.token is not None:
                tokens.remember(conn, request.token, request.digest, now + TOKEN_TTL)
            return False, done

        replay, done = await self._store.write(on_table(request.actions[0].spec, run))
        out: dict[str, Any] = {}
        if request.rcc != "NONE":
            out["ConsumedCapacity"] = _write_capacity(request, replay, done)
        return out

    def _parse_transaction(self, params: dict[str, Any]) -> _Transaction:
        """Validate a TransactWriteItems request; an invalid item cancels it (ValidationError)."""
        p = Params("TransactWriteItems", params, WRITE_PARAMS)
        entries = _transact_items(p)
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        p.enum("ReturnItemCollectionMetrics", ("SIZE", "NONE"), "NONE")
        token = p.string("ClientRequestToken")
        if token is not None and not 1 <= len(token) <= 36:
            rule = (
                "have length less than or equal to 36"
                if token
                else "have length greater than or equal to 1"
            )
            raise constraint(token, "clientRequestToken", rule)
        actions = [self._parse_action(i, entry) for i, entry in enumerate(entries, 1)]
        for index, action in enumerate(actions):
            action.bind()
            if action.error is not None:
                raise _invalid(len(actions), index, action.error)
        targets = [(a.spec.name, a.key) for a in actions]
        if len(set(targets)) != len(targets):
            raise ValidationException(ON_ONE_ITEM)
        payload = sum(a.size if a.kind == "Put" else item_size(a.key_item) for a in actions)
        if payload > MAX_TRANSACTION_BYTES:
            raise ValidationException(TOO_LARGE)
        return _Transaction(actions, targets, token, _digest(entries), rcc)

    def _apply(
        self,
        conn: sqlite3.Connection,
        actions: list[_Action],
        olds: list[Item | None],
        outcomes: list[_Outcome],
    ) -> list[_Done]:
        """Write every action whose item changes; a write the table refuses cancels them all."""
        done: list[_Done] = []
        for index, (a, old, (_, new, size)) in enumerate(zip(actions, olds, outcomes, strict=True)):
            indexes: dict[str, float] = {}
            if a.kind != "ConditionCheck" and new != old:
                try:
                    indexes = self._write(conn, a.spec, a.key, old, new, size)
                except ValidationException as exc:  # e.g. a wrong-typed index key
                    raise _invalid(len(actions), index, exc.message) from None
            done.append((max(_size(old), size), indexes))
        return done

    async def transact_get_items(self, **params: Any) -> dict[str, Any]:
        """Read up to 100 items from one consistent snapshot (TransactGetItems)."""
        p = Params("TransactGetItems", params, GET_PARAMS)
        entries = _transact_items(p)
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        gets: list[tuple[TableSpec, EncodedKey, tuple[Path, ...] | None]] = []
        for index, entry in enumerate(entries, 1):
            outer = Params(
                "TransactGetItems", entry if isinstance(entry, Mapping) else {}, ("Get",)
            )
            body = outer.mapping("Get")
            if body is None:
                raise null_error(f"transactItems.{index}.member.get")
            g = Params("TransactGetItems", body, GET_MEMBERS)
            name = g.table_name()
            if not g.has("Key"):
                raise null_error(f"transactItems.{index}.member.get.key")
            ctx = self._context(g, "ProjectionExpression")
            text = g.string("ProjectionExpression")
            paths = None if text is None else ex.parse_projection(text, ctx)
            ctx.check_unused()
            spec = self._spec(name)
            gets.append((spec, key_from_request(spec.key, g.raw("Key"))[1], paths))
        if len({(s.name, k) for s, k, _ in gets}) != len(gets):
            raise ValidationException(ON_ONE_ITEM)

        def run(conn: sqlite3.Connection) -> list[Item | None]:
            own = not conn.in_transaction
            if own:
                conn.execute("BEGIN")  # one snapshot for every read
            try:
                return [storage_tables.get_row(conn, spec, *key) for spec, key, _ in gets]
            finally:
                if own:
                    conn.execute("COMMIT")

        items = await self._store.read_point(on_table(gets[0][0], run))
        responses: list[dict[str, Any]] = []
        tally = CapacityTally(read=True)
        for (spec, _, paths), item in zip(gets, items, strict=True):
            responses.append(
                {} if item is None else {"Item": ex.project(item, paths) if paths else item}
            )
            tally.add(spec, capacity.read_units(_size(item), consistent=True, transactional=True))
        out: dict[str, Any] = {"Responses": responses}
        if rcc != "NONE":
            out["ConsumedCapacity"] = tally.as_list(rcc)
        return out

    def _parse_action(self, index: int, entry: object) -> _Action:
        """Validate one TransactWriteItem's shape and expressions (errors fail the request)."""
        if not isinstance(entry, Mapping):
            raise ValidationException(_ONE_OF)
        outer = Params("TransactWriteItems", entry, _KINDS)
        kinds = [k for k in _KINDS if outer.has(k)]
        if len(kinds) != 1:
            raise ValidationException(_ONE_OF)
        kind = kinds[0]
        p = Params("TransactWriteItems", outer.mapping(kind) or {}, _MEMBERS[kind])
        name = p.table_name()
        for required in _REQUIRED[kind]:
            if not p.has(required):
                raise null_error(f"transactItems.{index}.member.{_lower(kind)}.{_lower(required)}")
        error: str | None = None
        raw: Any = p.raw("Key")
        if kind == "Put":
            try:
                raw = p.item()
            except ValidationException as exc:
                if exc.message != MSG_ITEM_TOO_LARGE:
                    raise
                error = exc.message
        members = ("UpdateExpression", "ConditionExpression")
        ctx = self._context(p, *(members if kind == "Update" else members[1:]))
        text = p.string("UpdateExpression")
        plan = None if text is None else ex.parse_update(text, ctx)
        condition = self._condition(p, ctx)
        ctx.check_unused()
        on_fail = p.enum("ReturnValuesOnConditionCheckFailure", ("ALL_OLD", "NONE"), "NONE")
        spec = self._spec(name)
        return _Action(kind, spec, raw, condition, on_fail, plan, error)


def _size(item: Item | None) -> int:
    return item_size(item) if item else 0
