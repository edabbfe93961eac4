"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction: PartiQL on the engine's paths.

A statement is parsed (memoised) by :mod:`streamkit.expressions.partiql` into the expression
AST, then rendered back into the members of the equivalent DynamoDB request and run by the
engine's own operation:

- ``SELECT`` is a Query when the WHERE clause fixes the partition key with ``=`` (or ``IN``:
  one Query per value, in order) and every other term naming a key attribute can be the sort
  key condition; otherwise it is a Scan with the whole WHERE clause as its filter. A keyed
  SELECT therefore reads, and consumes, exactly what the equivalent Query does.
- ``INSERT`` is a PutItem with ``attribute_not_exists`` on the partition key;
  DuplicateItemException when the item exists.
- ``UPDATE`` is an UpdateItem of the key the WHERE clause names, with ``attribute_exists``
  and the rest of the WHERE clause as its condition (DynamoDB's PartiQL never creates an item
  with UPDATE).
- ``DELETE`` is a DeleteItem; a missing item is no error, an existing one whose remaining
  WHERE terms are false is a ConditionalCheckFailedException.
- ``BatchExecuteStatement`` runs each statement on its own and answers each in place;
  ``ExecuteTransaction`` builds one TransactWriteItems (or TransactGetItems) request, so
  ClientRequestToken idempotency, conflicts and CancellationReasons are the transaction
  machinery's own.

Where DynamoDB's wording is unknown (ORDER BY misuse, mixed batches, unsupported forms) the
messages are ours; docs/differences.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

import orjson

import streamkit.expressions as ex  # each name loads on first use
from streamkit.engine.core import CAPACITY_CHOICES, EngineCore
from streamkit.engine.params import Params
from streamkit.errors import (
    ConditionalCheckFailedException,
    DuplicateItemException,
    DynamoDBError,
    TransactionCanceledException,
    ValidationException,
)
from streamkit.model.attributes import AttributeValue, Item, validate_value
from streamkit.model.json import decode_b64, decode_binary, encode_b64, json_default
from streamkit.model.schema import KeySpec, TableSpec, constraint

if TYPE_CHECKING:
    from streamkit.expressions import Condition
    from streamkit.expressions.partiql import Statement

__all__ = ["MAX_BATCH_STATEMENTS", "MAX_TRANSACTION_STATEMENTS", "PartiqlMixin"]

MAX_BATCH_STATEMENTS = 25
MAX_TRANSACTION_STATEMENTS = 100
EXECUTE_PARAMS = frozenset(
    {
        "Statement",
        "Parameters",
        "ConsistentRead",
        "NextToken",
        "ReturnConsumedCapacity",
        "Limit",
        "ReturnValuesOnConditionCheckFailure",
    }
)
BATCH_PARAMS = frozenset({"Statements", "ReturnConsumedCapacity"})
TRANSACTION_PARAMS = frozenset(
    {"TransactStatements", "ClientRequestToken", "ReturnConsumedCapacity"}
)
_PLACEHOLDER = re.compile(r"#a\d+|:v\d+")
_EXPRESSION_MEMBERS = (
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ConditionExpression",
    "UpdateExpression",
)
_SORT_OPS = frozenset({"=", "<", "<=", ">", ">="})
_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NO_KEY = "Where clause does not contain a mandatory equality on all key attributes"
_DUPLICATE = "Duplicate primary key exists in table"
#: BatchStatementError codes, by the exception a statement raised.
_BATCH_CODES = {
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "DuplicateItemException": "DuplicateItem",
    "ValidationException": "ValidationError",
    "ResourceNotFoundException": "ResourceNotFound",
    "TransactionConflictException": "TransactionConflict",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "ThrottlingException": "ThrottlingError",
    "RequestLimitExceeded": "RequestLimitExceeded",
    "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceeded",
}


#: The engine's operation methods as defined (before engine.py's retry wrapper), by class.
_UNWRAPPED: dict[tuple[type, str], Callable[..., Awaitable[dict[str, Any]]]] = {}


def _placeholders(request: Mapping[str, Any]) -> set[str]:
    """The ``#aN`` and ``:vN`` placeholders a request's expressions use."""
    used: set[str] = set()
    for member in _EXPRESSION_MEMBERS:
        text = request.get(member)
        if text:
            used.update(_PLACEHOLDER.findall(text))
    return used


def _expression_members(
    statement: Statement,
    values: Mapping[str, AttributeValue],
    request: dict[str, Any],
    *,
    used: set[str] | None = None,
) -> dict[str, Any]:
    """Add the names (and, given ``values``, the values) the request's expressions use."""
    if used is None:
        used = _placeholders(request)
    names = {p: statement.names[p] for p in sorted(used) if p[0] == "#"}
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        bound = {p: values[p] for p in sorted(used) if p[0] == ":"}
        if bound:
            request["ExpressionAttributeValues"] = bound
    return request


def _and(terms: Sequence[Condition]) -> Condition | None:
    node: Condition | None = None
    for term in terms:
        node = term if node is None else ex.And(node, term)
    return node


def _is_attr(operand: object, name: str | None) -> bool:
    return (
        name is not None
        and isinstance(operand, ex.PathExpr)
        and len(operand.path) == 1
        and operand.path[0] == name
    )


def _key_equality(term: Condition, name: str) -> tuple[ex.PathExpr, ex.ValueRef] | None:
    """``name = value`` (either way round): the path and the value."""
    if isinstance(term, ex.Comparison) and term.op == "=":
        if _is_attr(term.left, name) and isinstance(term.right, ex.ValueRef):
            return cast(ex.PathExpr, term.left), term.right
        if _is_attr(term.right, name) and isinstance(term.left, ex.ValueRef):
            return cast(ex.PathExpr, term.right), term.left
    return None


def _sort_condition(term: Condition, name: str | None) -> Condition | None:
    """The term as a KeyConditionExpression sort-key condition, if it can be one."""
    if isinstance(term, ex.Comparison) and term.op in _SORT_OPS:
        if _is_attr(term.left, name) and isinstance(term.right, ex.ValueRef):
            return term
        if _is_attr(term.right, name) and isinstance(term.left, ex.ValueRef):
            return ex.Comparison(_FLIP[term.op], term.right, term.left)
    if (
        isinstance(term, ex.Between)
        and _is_attr(term.subject, name)
        and isinstance(term.low, ex.ValueRef)
        and isinstance(term.high, ex.ValueRef)
    ):
        return term
    if (
        isinstance(term, ex.FunctionCondition)
        and term.name == "begins_with"
        and _is_attr(term.args[0], name)
        and isinstance(term.args[1], ex.ValueRef)
    ):
        return term
    return None


def _names_in(node: object) -> set[str]:
    """The top-level attribute names a condition reads."""
    found: set[str] = set()
    pending: list[object] = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, ex.PathExpr):
            head = item.path[0]
            if isinstance(head, str):
                found.add(head)
        elif isinstance(item, tuple):
            pending.extend(item)
        elif hasattr(item, "__slots__") and not isinstance(item, ex.ValueRef):
            pending.extend(getattr(item, slot) for slot in item.__slots__)
    return found


def _encode_token(position: int, last_key: Item | None) -> str:
    payload = orjson.dumps({"i": position, "k": last_key}, default=json_default)
    return encode_b64(payload)


def _decode_token(token: str) -> tuple[int, Item | None]:
    invalid = ValidationException("Invalid NextToken")  # DynamoDB's wording is unknown
    try:
        data = orjson.loads(decode_b64(token))
        position, key = data["i"], data["k"]
    except (DynamoDBError, ValueError, KeyError, TypeError):
        raise invalid from None
    if not isinstance(position, int) or not (key is None or isinstance(key, dict)):
        raise invalid
    return position, None if key is None else decode_binary(key)


def _merge_capacity(total: dict[str, Any] | None, part: dict[str, Any] | None) -> dict[str, Any]:
    """Sum two ConsumedCapacity entries of one table (numbers added, nested maps merged)."""
    if total is None:
        return dict(part or {})
    if part is None:
        return total
    for member, value in part.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            total[member] = total.get(member, 0) + value
        elif isinstance(value, dict):
            total[member] = _merge_capacity(total.get(member), value)
        else:
            total.setdefault(member, value)
    return total


@dataclass(frozen=True, slots=True)
class _SelectPlan:
    """How a SELECT runs on one table or index: the requests, ready but for their values.

    ``requests`` holds one ``(request, value placeholders)`` per Query (one per partition an
    ``IN`` names) or the single Scan or GetItem; ``get_key`` is set when the WHERE clause is
    exactly the table's whole key (a GetItem: ``(attribute, placeholder)`` per key part).
    """

    requests: tuple[tuple[dict[str, Any], tuple[str, ...]], ...]
    scan: bool
    get_key: tuple[tuple[str, str], ...] | None

    def get_request(
        self, values: Mapping[str, AttributeValue], common: dict[str, Any], *, consistent: bool
    ) -> dict[str, Any]:
        """The GetItem request of a whole-key plan."""
        assert self.get_key is not None
        request = self.requests[0][0].copy()
        request["Key"] = {name: values[ref] for name, ref in self.get_key}
        if common:
            request.update(common)
        if consistent:
            request["ConsistentRead"] = True
        return request


def _read_plan(
    statement: Statement, key: KeySpec
) -> tuple[list[ex.Comparison], Condition | None, Condition | None]:
    """Split WHERE into partition equalities (none: a Scan), a sort-key condition, a filter."""
    from streamkit.expressions.partiql import conjuncts  # on first use

    terms = conjuncts(statement.where)
    if key.multi:
        return [], None, statement.where
    hash_name, range_name = key.hash_name, key.range_name
    partitions: list[ex.Comparison] = []
    rest = list(terms)
    for term in terms:
        if (found := _key_equality(term, hash_name)) is not None:
            partitions = [ex.Comparison("=", *found)]
        elif (
            isinstance(term, ex.In)
            and _is_attr(term.subject, hash_name)
            and all(isinstance(o, ex.ValueRef) for o in term.options)
        ):
            partitions = [ex.Comparison("=", term.subject, o) for o in term.options]
        else:
            continue
        rest.remove(term)
        break
    if not partitions:
        return [], None, statement.where
    sort: Condition | None = None
    sort_terms = [t for t in rest if _sort_condition(t, range_name) is not None]
    if len(sort_terms) == 1:
        sort = _sort_condition(sort_terms[0], range_name)
        rest.remove(sort_terms[0])
    key_names = {hash_name, range_name} - {None}
    if any(_names_in(t) & key_names for t in rest):
        return [], None, statement.where  # a key attribute in the filter: Scan
    return partitions, sort, _and(rest)


def _select_plan(statement: Statement, key: KeySpec) -> _SelectPlan:
    """Plan a SELECT (kept in ``statement.derived`` by the caller, per key schema).

    Raises:
        ValidationException: an ORDER BY DynamoDB would refuse.
    """
    partitions, sort, where = _read_plan(statement, key)
    forward = True
    if statement.order is not None:
        name, descending = statement.order
        if len(partitions) != 1 or name not in key.names:
            raise ValidationException(
                # DynamoDB's wording is unknown; ours
                "ORDER BY needs the WHERE clause to fix the partition key with = and may "
                "only name a key attribute"
            )
        forward = not descending
    base: dict[str, Any] = {"TableName": statement.table}
    if statement.index is not None:
        base["IndexName"] = statement.index
    if statement.projection is not None:
        base["ProjectionExpression"] = ", ".join(ex.render(p) for p in statement.projection)
    get_key: tuple[tuple[str, str], ...] | None = None
    if (
        len(partitions) == 1
        and statement.index is None
        and where is None
        and (key.range_name is None) == (sort is None)
        and (sort is None or (isinstance(sort, ex.Comparison) and sort.op == "="))
    ):
        equalities = [partitions[0]] if sort is None else [partitions[0], sort]
        get_key = tuple(
            (str(cast(ex.PathExpr, term.left).path[0]), cast(ex.ValueRef, term.right).placeholder)
            for term in equalities
        )
        request = _expression_members(statement, {}, dict(base))
        return _SelectPlan(((request, ()),), scan=False, get_key=get_key)
    if where is not None:
        base["FilterExpression"] = ex.render(where)
    if not forward:
        base["ScanIndexForward"] = False
    requests = []
    options: list[ex.Comparison | None] = [*partitions] or [None]
    for partition in options:
        request = dict(base)
        if partition is not None:
            condition = partition if sort is None else ex.And(partition, sort)
            request["KeyConditionExpression"] = ex.render(condition)
        used = _placeholders(request)
        _expression_members(statement, {}, request, used=used)
        requests.append((request, tuple(sorted(p for p in used if p[0] == ":"))))
    return _SelectPlan(tuple(requests), scan=not partitions, get_key=None)


class PartiqlMixin(EngineCore):
    """ExecuteStatement, BatchExecuteStatement and ExecuteTransaction."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "ExecuteStatement": "execute_statement",
        "BatchExecuteStatement": "batch_execute_statement",
        "ExecuteTransaction": "execute_transaction",
    }

    def _pq_method(self, operation: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        """One of the engine's operations as defined, without the retry wrapper ``engine.py``
        adds: the statement's own call is the one retried (as a whole), so a throttled read is
        not retried twice over."""
        cls = type(self)
        method = _UNWRAPPED.get((cls, operation))
        if method is None:
            defined = getattr(cls, operation)
            method = _UNWRAPPED[cls, operation] = getattr(defined, "__wrapped__", defined)
        return method

    async def _pq_run(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run an operation through :meth:`_pq_method`."""
        return await self._pq_method(operation)(self, **request)

    def _pq_plan(self, statement: Statement) -> _SelectPlan:
        """The SELECT's plan on its table or index (kept with the statement, per key schema)."""
        _, key = self._pq_schema(statement)
        cached = statement.derived.get(id(key))
        if cached is not None and cast(tuple[object, _SelectPlan], cached)[0] is key:
            return cast(tuple[object, _SelectPlan], cached)[1]
        plan = _select_plan(statement, key)
        statement.derived[id(key)] = (key, plan)
        return plan

    async def execute_statement(self, **params: Any) -> dict[str, Any]:
        """Run one PartiQL statement (ExecuteStatement)."""
        p = Params("ExecuteStatement", params, EXECUTE_PARAMS)
        statement, values = self._pq_prepare(p.raw("Statement"), p.raw("Parameters"))
        rcc = params.get("ReturnConsumedCapacity")
        common = {} if rcc is None else {"ReturnConsumedCapacity": rcc}
        limit = p.integer("Limit")
        if limit is not None and limit < 1:
            raise constraint(limit, "limit", "have value greater than or equal to 1")
        if statement.is_read:
            consistent = p.boolean("ConsistentRead")
            token = p.string("NextToken")
            plan = self._pq_plan(statement)
            if plan.get_key is None:
                return await self._pq_select(
                    statement, values, common, limit=limit, consistent=consistent, token=token
                )
            # the whole key and nothing else: a GetItem (inline: the hot path of keyed reads)
            if token is not None:  # a GetItem never pages: not a token of this statement
                raise ValidationException("Invalid NextToken")
            request = plan.get_request(values, common, consistent=consistent)
            got = await self._pq_method("get_item")(self, **request)
            return {"Items": [got["Item"]] if "Item" in got else [], **_capacity_of(got)}
        on_fail = p.string("ReturnValuesOnConditionCheckFailure")
        return await self._pq_write_statement(statement, values, common, on_fail)

    # -- parsing and binding -------------------------------------------------------------

    @staticmethod
    def _pq_prepare(
        text: object, raw_params: object
    ) -> tuple[Statement, Mapping[str, AttributeValue]]:
        if text is None:
            raise ValidationException(
                "1 validation error detected: Value null at 'statement' failed to satisfy "
                "constraint: Member must not be null"
            )
        if not isinstance(text, str):
            raise ValidationException("Statement must be a string")
        if not text:
            raise constraint(text, "statement", "have length greater than or equal to 1")
        params: list[AttributeValue] | None = None
        if raw_params is not None:
            if not isinstance(raw_params, list | tuple):
                raise ValidationException("Parameters must be a list of AttributeValues")
            if not raw_params:
                raise constraint("[]", "parameters", "have length greater than or equal to 1")
            params = list(raw_params)
            for index, value in enumerate(params):
                # the shape only: the payload is validated where it is used, by the operation
                # the statement becomes (every Key, Item and ExpressionAttributeValues is)
                if type(value) is not dict or len(value) != 1:
                    params[index] = validate_value(value)  # DynamoDB's error for it
        from streamkit.expressions.partiql import parse_statement  # on first use

        statement = parse_statement(text)
        return statement, statement.bind(params)

    def _pq_schema(self, statement: Statement) -> tuple[TableSpec, KeySpec]:
        spec = self._spec(statement.table)
        if statement.index is None:
            return spec, spec.key
        idx = spec.index(statement.index)
        if idx is None:
            raise ValidationException(
                f"The table does not have the specified index: {statement.index}"
            )
        return spec, idx.key

    # -- SELECT ---------------------------------------------------------------------------

    async def _pq_select(
        self,
        statement: Statement,
        values: Mapping[str, AttributeValue],
        common: dict[str, Any],
        *,
        limit: int | None,
        consistent: bool,
        token: str | None,
    ) -> dict[str, Any]:
        plan = self._pq_plan(statement)
        if plan.get_key is not None:  # the whole key, nothing else: GetItem
            request = plan.get_request(values, common, consistent=consistent)
            got = await self._pq_run("get_item", request)
            return {"Items": [got["Item"]] if "Item" in got else [], **_capacity_of(got)}
        position, start = (0, None) if token is None else _decode_token(token)
        if not 0 <= position < len(plan.requests):
            raise ValidationException("Invalid NextToken")
        items: list[Item] = []
        consumed: dict[str, Any] | None = None
        out = {}
        remaining = limit
        for index in range(position, len(plan.requests)):
            template, used = plan.requests[index]
            call = dict(template, **common)
            if used:
                call["ExpressionAttributeValues"] = {ref: values[ref] for ref in used}
            if consistent:
                call["ConsistentRead"] = True
            if start is not None:
                call["ExclusiveStartKey"] = start
            start = None
            if remaining is not None:
                call["Limit"] = remaining
            if plan.scan:
                page = await self._pq_run("scan", call)
            else:
                page = await self._pq_run("query", call)
            items += page["Items"]
            if "ConsumedCapacity" in page:
                consumed = _merge_capacity(consumed, page["ConsumedCapacity"])
            if remaining is not None:
                remaining -= page["ScannedCount"]
            if "LastEvaluatedKey" in page:
                last = page["LastEvaluatedKey"]
                out = {"NextToken": _encode_token(index, last), "LastEvaluatedKey": last}
                break
            if remaining is not None and remaining <= 0 and index + 1 < len(plan.requests):
                out = {"NextToken": _encode_token(index + 1, None)}
                break
        out["Items"] = items
        if consumed is not None:
            out["ConsumedCapacity"] = consumed
        return out

    # -- writes ---------------------------------------------------------------------------

    def _pq_key_of(
        self, statement: Statement, values: Mapping[str, AttributeValue], key: KeySpec
    ) -> tuple[dict[str, AttributeValue], ex.PathExpr, Condition | None]:
        """The full key a write's WHERE names, the partition key's path, and the rest."""
        from streamkit.expressions.partiql import conjuncts  # on first use

        rest = conjuncts(statement.where)
        found: dict[str, AttributeValue] = {}
        hash_path: ex.PathExpr | None = None
        for name in key.names:
            for term in rest:
                if (equality := _key_equality(term, name)) is not None:
                    path, ref = equality
                    found[name] = values[ref.placeholder]
                    if name == key.hash_name:
                        hash_path = path
                    rest.remove(term)
                    break
            else:
                raise ValidationException(_NO_KEY)
        assert hash_path is not None
        return found, hash_path, _and(rest)

    def _pq_write_request(
        self, statement: Statement, values: Mapping[str, AttributeValue]
    ) -> tuple[str, dict[str, Any]]:
        """The TransactWriteItems kind (Put, Update, Delete, ConditionCheck) and its request."""
        spec, key = self._pq_schema(statement)
        request: dict[str, Any] = {"TableName": statement.table}
        if statement.kind == "INSERT":
            assert statement.item is not None
            request["Item"] = values[statement.item]["M"]
            request["ConditionExpression"] = "attribute_not_exists(#k)"
            request["ExpressionAttributeNames"] = {"#k": spec.key.hash_name}
            return "Put", request
        key_item, hash_path, rest = self._pq_key_of(statement, values, key)
        request["Key"] = key_item
        exists = ex.FunctionCondition("attribute_exists", (hash_path,))
        if statement.kind == "UPDATE":
            assert statement.plan is not None
            request["UpdateExpression"] = ex.render(statement.plan)
            condition: Condition = exists if rest is None else ex.And(exists, rest)
            request["ConditionExpression"] = ex.render(condition)
            kind = "Update"
        elif statement.kind == "DELETE":
            if rest is not None:
                missing = ex.FunctionCondition("attribute_not_exists", (hash_path,))
                request["ConditionExpression"] = ex.render(ex.Or(missing, rest))
            kind = "Delete"
        else:  # EXISTS
            condition = exists if rest is None else ex.And(exists, rest)
            request["ConditionExpression"] = ex.render(condition)
            kind = "ConditionCheck"
        return kind, _expression_members(statement, values, request)

    async def _pq_write_statement(
        self,
        statement: Statement,
        values: Mapping[str, AttributeValue],
        common: dict[str, Any],
        on_fail: str | None,
    ) -> dict[str, Any]:
        if statement.kind == "EXISTS":
            raise ValidationException("EXISTS can only be used in a transaction")  # ours
        kind, request = self._pq_write_request(statement, values)
        request.update(common)
        if on_fail is not None:
            request["ReturnValuesOnConditionCheckFailure"] = on_fail
        if statement.returning is not None:
            request["ReturnValues"] = statement.returning
        if kind == "Put":
            try:
                answer = await self._pq_run("put_item", request)
            except ConditionalCheckFailedException:
                raise DuplicateItemException(_DUPLICATE) from None
        elif kind == "Update":
            answer = await self._pq_run("update_item", request)
        else:
            answer = await self._pq_run("delete_item", request)
        out: dict[str, Any] = {"Items": [answer["Attributes"]] if "Attributes" in answer else []}
        if "ConsumedCapacity" in answer:
            out["ConsumedCapacity"] = answer["ConsumedCapacity"]
        return out

    # -- BatchExecuteStatement ------------------------------------------------------------

    async def batch_execute_statement(self, **params: Any) -> dict[str, Any]:
        """Run up to 25 statements, each on its own (BatchExecuteStatement)."""
        p = Params("BatchExecuteStatement", params, BATCH_PARAMS)
        entries = _statement_list(p.raw("Statements"), "statements", MAX_BATCH_STATEMENTS)
        rcc = p.enum("ReturnConsumedCapacity", CAPACITY_CHOICES, "NONE")
        common = {"ReturnConsumedCapacity": rcc}
        prepared: list[tuple[Statement, Mapping[str, AttributeValue]] | DynamoDBError] = []
        for entry in entries:
            try:
                prepared.append(self._pq_prepare(entry.get("Statement"), entry.get("Parameters")))
            except ValidationException as exc:
                prepared.append(exc)
        kinds = {s[0].is_read for s in prepared if isinstance(s, tuple)}
        if len(kinds) > 1:
            raise ValidationException(
                "A batch must hold only read statements or only write statements"  # ours
            )
        responses: list[dict[str, Any]] = []
        capacity: dict[str, dict[str, Any]] = {}
        for entry, ready in zip(entries, prepared, strict=True):
            if isinstance(ready, DynamoDBError):
                responses.append(_batch_error(ready))
                continue
            statement, values = ready
            try:
                if statement.is_read:
                    answer = await self._pq_batch_read(
                        statement, values, common, bool(entry.get("ConsistentRead"))
                    )
                    response: dict[str, Any] = {"TableName": statement.table}
                    if answer["Items"]:
                        response["Item"] = answer["Items"][0]
                else:
                    answer = await self._pq_write_statement(
                        statement,
                        values,
                        common,
                        entry.get("ReturnValuesOnConditionCheckFailure"),
                    )
                    response = {"TableName": statement.table}
            except DynamoDBError as exc:
                error = _batch_error(exc)
                error["TableName"] = statement.table
                responses.append(error)
                continue
            if "ConsumedCapacity" in answer:
                table = statement.table
                capacity[table] = _merge_capacity(capacity.get(table), answer["ConsumedCapacity"])
            responses.append(response)
        out: dict[str, Any] = {"Responses": responses}
        if rcc in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = list(capacity.values())
        return out

    async def _pq_batch_read(
        self,
        statement: Statement,
        values: Mapping[str, AttributeValue],
        common: dict[str, Any],
        consistent: bool,
    ) -> dict[str, Any]:
        _, key = self._pq_schema(statement)
        self._pq_key_of(statement, values, key)  # a batch read names one whole key
        return await self._pq_select(
            statement, values, common, limit=None, consistent=consistent, token=None
        )

    # -- ExecuteTransaction ---------------------------------------------------------------

    async def execute_transaction(self, **params: Any) -> dict[str, Any]:
        """Run up to 100 statements all-or-nothing (ExecuteTransaction)."""
        p = Params("ExecuteTransaction", params, TRANSACTION_PARAMS)
        entries = _statement_list(
            p.raw("TransactStatements"), "transactStatements", MAX_TRANSACTION_STATEMENTS
        )
        prepared = [self._pq_prepare(e.get("Statement"), e.get("Parameters")) for e in entries]
        reads = {statement.is_read for statement, _ in prepared}
        if len(reads) > 1:
            raise ValidationException(
                "A transaction must hold only read statements or only write statements"  # ours
            )
        extra = {
            member: params[member]
            for member in ("ReturnConsumedCapacity", "ClientRequestToken")
            if params.get(member) is not None
        }
        if reads == {True}:
            extra.pop("ClientRequestToken", None)
            gets = []
            for statement, values in prepared:
                if statement.index is not None:
                    raise ValidationException(
                        "A read statement in a transaction may not name an index"  # ours
                    )
                _, key = self._pq_schema(statement)
                key_item, _, rest = self._pq_key_of(statement, values, key)
                if rest is not None:
                    raise ValidationException(
                        "A read statement in a transaction may only name the whole key"  # ours
                    )
                get: dict[str, Any] = {"TableName": statement.table, "Key": key_item}
                if statement.projection is not None:
                    get["ProjectionExpression"] = ", ".join(
                        ex.render(path) for path in statement.projection
                    )
                gets.append({"Get": _expression_members(statement, values, get)})
            return await self._pq_run("transact_get_items", {"TransactItems": gets, **extra})
        items = []
        inserts = set()
        for index, ((statement, values), entry) in enumerate(zip(prepared, entries, strict=True)):
            kind, request = self._pq_write_request(statement, values)
            on_fail = entry.get("ReturnValuesOnConditionCheckFailure")
            if on_fail is not None:
                request["ReturnValuesOnConditionCheckFailure"] = on_fail
            if kind == "Put":
                inserts.add(index)
            items.append({kind: request})
        try:
            answer = await self._pq_run("transact_write_items", {"TransactItems": items, **extra})
        except TransactionCanceledException as exc:
            reasons = [
                {"Code": "DuplicateItem", "Message": _DUPLICATE}
                if i in inserts and r.get("Code") == "ConditionalCheckFailed"
                else r
                for i, r in enumerate(exc.reasons)
            ]
            raise TransactionCanceledException(reasons=reasons) from None
        out: dict[str, Any] = {}
        if "ConsumedCapacity" in answer:
            out["ConsumedCapacity"] = answer["ConsumedCapacity"]
        return out


def _capacity_of(answer: Mapping[str, Any]) -> dict[str, Any]:
    consumed = answer.get("ConsumedCapacity")
    return {} if consumed is None else {"ConsumedCapacity": consumed}


def _statement_list(raw: object, member: str, most: int) -> list[dict[str, Any]]:
    if raw is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not isinstance(raw, list | tuple) or not all(isinstance(e, Mapping) for e in raw):
        raise ValidationException(f"{member} must be a list of statements")
    if not raw:
        raise constraint("[]", member, "have length greater than or equal to 1")
    if len(raw) > most:
        raise constraint(
            f"[{len(raw)} statements]", member, f"have length less than or equal to {most}"
        )
    return [dict(e) for e in raw]


def _batch_error(exc: DynamoDBError) -> dict[str, Any]:
    error: dict[str, Any] = {
        "Code": _BATCH_CODES.get(exc.code, "InternalServerError"),
        "Message": exc.message,
    }
    if isinstance(exc, ConditionalCheckFailedException) and exc.item is not None:
        error["Item"] = exc.item
    return {"Error": error}
