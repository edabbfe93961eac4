"""DynamoDB's legacy request parameters, translated into the expression AST.

boto3 users still send the pre-2014 parameters: ``Expected``, ``KeyConditions``,
``QueryFilter``, ``ScanFilter``, ``AttributeUpdates``, ``AttributesToGet`` and
``ConditionalOperator``. This module validates them with DynamoDB's own messages and turns
them into the same AST the expression parser produces, so the engine evaluates one
representation:

* ``Expected`` / ``QueryFilter`` / ``ScanFilter`` become a :data:`Condition` for
  :func:`evaluate`;
* ``KeyConditions`` becomes a :class:`KeyCondition` (``.bind(hash, range)`` works as for a
  KeyConditionExpression);
* ``AttributeUpdates`` becomes an :class:`UpdatePlan` for :func:`apply_update`;
* ``AttributesToGet`` becomes projection paths for :func:`project`.

How each ComparisonOperator maps (``a`` is the attribute, ``v`` the values):

=============  ===============================================================
EQ / NE        ``a = v`` / ``a <> v`` (NE is true when ``a`` is missing)
LT LE GT GE    ``a < v`` ... (false when ``a`` is missing or of another type)
BETWEEN        ``a BETWEEN v0 AND v1``
IN             ``a IN (v0, v1, ...)``
NULL           ``attribute_not_exists(a)``
NOT_NULL       ``attribute_exists(a)``
CONTAINS       ``contains(a, v)``
NOT_CONTAINS   ``attribute_exists(a) AND NOT contains(a, v)`` (false when missing)
BEGINS_WITH    ``begins_with(a, v)``
=============  ===============================================================

Messages follow DynamoDB as recorded by dynalite's and Scylla Alternator's tests, which were
run against the real service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from streamkit.errors import SerializationException, ValidationException
from streamkit.model.attributes import validate_value

from ._values import SET_TYPES, AttributeValue, Item, av_type, compare_scalar
from .ast import (
    AddAction,
    And,
    Between,
    Call,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCondition,
    In,
    Not,
    Or,
    Path,
    PathExpr,
    RemoveAction,
    SetAction,
    UpdateAction,
    UpdatePlan,
    UpdateSection,
    ValueRef,
)
from .keycondition import KeyCondition, KeyPredicate
from .update import apply_update

__all__ = [
    "COMPARISON_OPERATORS",
    "LEGACY_TYPE_MISMATCH",
    "apply_attribute_updates",
    "check_mixing",
    "check_query_filter_keys",
    "condition_from_expected",
    "condition_from_filter",
    "key_condition_from_legacy",
    "plan_from_attribute_updates",
    "projection_from_attributes_to_get",
]

_INVALID: Final = "One or more parameter values were invalid: "

COMPARISON_OPERATORS: Final = (
    "IN",
    "NULL",
    "BETWEEN",
    "LT",
    "NOT_CONTAINS",
    "EQ",
    "GT",
    "NOT_NULL",
    "NE",
    "LE",
    "BEGINS_WITH",
    "GE",
    "CONTAINS",
)
"""The ComparisonOperator enum, in the order DynamoDB lists it in its enum message."""

LEGACY_TYPE_MISMATCH: Final = "Type mismatch for attribute to update"
"""What DynamoDB says when an AttributeUpdates ADD/DELETE meets an attribute of another type."""

_CONDITIONAL_OPERATORS: Final = ("OR", "AND")
_ACTIONS: Final = ("ADD", "PUT", "DELETE")
_ALL_TYPES: Final = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
_SCALARS: Final = frozenset({"S", "N", "B"})

# (exact count, or minimum count when the second member is True) per operator.
_ARITY: Final[dict[str, tuple[int, bool]]] = {
    "EQ": (1, False),
    "NE": (1, False),
    "LE": (1, False),
    "LT": (1, False),
    "GE": (1, False),
    "GT": (1, False),
    "CONTAINS": (1, False),
    "NOT_CONTAINS": (1, False),
    "BEGINS_WITH": (1, False),
    "NULL": (0, False),
    "NOT_NULL": (0, False),
    "IN": (1, True),
    "BETWEEN": (2, False),
}
_VALUE_TYPES: Final[dict[str, frozenset[str]]] = {
    "EQ": _ALL_TYPES,
    "NE": _ALL_TYPES,
    "LE": _SCALARS,
    "LT": _SCALARS,
    "GE": _SCALARS,
    "GT": _SCALARS,
    "IN": _SCALARS,
    "BETWEEN": _SCALARS,
    "CONTAINS": _SCALARS | {"BOOL", "NULL"},
    "NOT_CONTAINS": _SCALARS | {"BOOL", "NULL"},
    "BEGINS_WITH": frozenset({"S", "B"}),
}
_COMPARATORS: Final = {"EQ": "=", "NE": "<>", "LT": "<", "LE": "<=", "GT": ">", "GE": ">="}
_KEY_OPERATORS: Final = {
    "EQ": "=",
    "LT": "<",
    "LE": "<=",
    "GT": ">",
    "GE": ">=",
    "BETWEEN": "BETWEEN",
    "BEGINS_WITH": "begins_with",
}

# Per operation: (legacy parameters, expression parameters), each in the order DynamoDB
# lists them in its "Can not use both expression and non-expression parameters" message.
_MIXING: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "PutItem": (("Expected", "ConditionalOperator"), ("ConditionExpression",)),
    "DeleteItem": (("Expected", "ConditionalOperator"), ("ConditionExpression",)),
    "UpdateItem": (
        ("AttributeUpdates", "Expected", "ConditionalOperator"),
        ("UpdateExpression", "ConditionExpression"),
    ),
    "GetItem": (("AttributesToGet",), ("ProjectionExpression",)),
    "BatchGetItem": (("AttributesToGet",), ("ProjectionExpression",)),
    "Query": (
        ("AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"),
        ("ProjectionExpression", "FilterExpression", "KeyConditionExpression"),
    ),
    "Scan": (
        ("AttributesToGet", "ScanFilter", "ConditionalOperator"),
        ("ProjectionExpression", "FilterExpression"),
    ),
}
# The map ConditionalOperator combines, per operation.
_CONDITION_MAPS: Final = {
    "PutItem": "Expected",
    "DeleteItem": "Expected",
    "UpdateItem": "Expected",
    "Query": "QueryFilter",
    "Scan": "ScanFilter",
}
# GetItem and BatchGetItem have no ExpressionAttributeValues member.
_NO_VALUES_MEMBER: Final = frozenset({"GetItem", "BatchGetItem"})

_WITHOUT_CONDITIONS: Final = "ConditionalOperator cannot be used without Filter or Expected"
_ONE_CONDITION: Final = (
    "ConditionalOperator can only be used when Filter or Expected has two or more elements"
)


# ------------------------------------------------------------------------- request shape


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shape_errors(errors: list[str]) -> ValidationException:
    count = len(errors)
    plural = "s" if count > 1 else ""
    return ValidationException(f"{count} validation error{plural} detected: " + "; ".join(errors))


def _enum_error(value: object, member: str, choices: Sequence[str]) -> str:
    if value is None:
        return f"Value null at '{member}' failed to satisfy constraint: Member must not be null"
    return (
        f"Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(choices)}]"
    )


def _expect_map(value: object, member: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise SerializationException(f"Attribute names must be strings ({member})")
        return value
    if isinstance(value, list | tuple):
        raise SerializationException(f"Start of list found where not expected ({member})")
    raise SerializationException(f"Expected map or null ({member})")


def _expect_list(value: object, member: str) -> Sequence[Any]:
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, Mapping):
        raise SerializationException(
            f"Start of structure or map found where not expected ({member})"
        )
    raise SerializationException(f"Expected list or null ({member})")


def _expect_str(value: object, member: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        raise SerializationException(
            f"Start of structure or map found where not expected ({member})"
        )
    if isinstance(value, list | tuple):
        raise SerializationException(f"Start of list found where not expected ({member})")
    raise SerializationException(f"{type(value).__name__} cannot be converted to String ({member})")


def _conditional_operator(value: object) -> str | None:
    """Validate ConditionalOperator's value (None when absent)."""
    if value is None:
        return None
    text = _expect_str(value, "ConditionalOperator")
    if text not in _CONDITIONAL_OPERATORS:
        raise _shape_errors([_enum_error(text, "conditionalOperator", _CONDITIONAL_OPERATORS)])
    return text


def _check_condition_count(conditional_operator: str | None, count: int) -> None:
    if conditional_operator is None:
        return
    if count == 0:
        raise ValidationException(_WITHOUT_CONDITIONS)
    if count == 1:
        raise ValidationException(_ONE_CONDITION)


# ---------------------------------------------------------------------------- mixing


def check_mixing(params: Mapping[str, Any], operation: str) -> None:
    """Apply DynamoDB's rules on combining legacy and expression parameters.

    A member counts as given when its value is not None (JSON ``null`` is absent). The
    checks run in DynamoDB's order: ConditionalOperator's enum, then mixing, then
    ExpressionAttributeNames / ExpressionAttributeValues given without an expression, then
    ConditionalOperator's need for two or more conditions. ``KeyConditions`` only counts as
    a legacy parameter when ``KeyConditionExpression`` is also given (DynamoDB accepts
    KeyConditions with FilterExpression / ProjectionExpression).

    Args:
        params: The request's members (for BatchGetItem: one table's KeysAndAttributes).
        operation: ``PutItem``, ``DeleteItem``, ``UpdateItem``, ``GetItem``,
            ``BatchGetItem``, ``Query`` or ``Scan``.

    Raises:
        ValueError: ``operation`` has no legacy parameters (a programming error).
        SerializationException: ConditionalOperator is not a string.
        ValidationException: ``Can not use both expression and non-expression parameters in
            the same request: Non-expression parameters: {AttributesToGet} Expression
            parameters: {ProjectionExpression}``, ``ExpressionAttributeNames can only be
            specified when using expressions``, ``ExpressionAttributeValues can only be
            specified when using expressions: FilterExpression is null``,
            ``ConditionalOperator cannot be used without Filter or Expected`` or
            ``ConditionalOperator can only be used when Filter or Expected has two or more
            elements``.
    """
    if operation not in _MIXING:
        raise ValueError(f"{operation} has no legacy parameters")
    legacy, expressions = _MIXING[operation]

    def given(name: str) -> bool:
        return params.get(name) is not None

    conditional_operator = None
    if "ConditionalOperator" in legacy:
        conditional_operator = _conditional_operator(params.get("ConditionalOperator"))

    used_expressions = [name for name in expressions if given(name)]
    if used_expressions:
        used_legacy = [
            name
            for name in legacy
            if given(name) and (name != "KeyConditions" or given("KeyConditionExpression"))
        ]
        if used_legacy:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same "
                f"request: Non-expression parameters: {{{', '.join(used_legacy)}}} "
                f"Expression parameters: {{{', '.join(used_expressions)}}}"
            )
    if given("ExpressionAttributeNames") and not used_expressions:
        raise ValidationException(
            "ExpressionAttributeNames can only be specified when using expressions"
        )
    value_expressions = [name for name in expressions if name != "ProjectionExpression"]
    if (
        operation not in _NO_VALUES_MEMBER
        and given("ExpressionAttributeValues")
        and not any(given(name) for name in value_expressions)
    ):
        verb = "are" if len(value_expressions) > 1 else "is"
        raise ValidationException(
            "ExpressionAttributeValues can only be specified when using expressions: "
            f"{' and '.join(value_expressions)} {verb} null"
        )
    if conditional_operator is not None:
        conditions = params.get(_CONDITION_MAPS[operation])
        _check_condition_count(
            conditional_operator, len(conditions) if isinstance(conditions, Mapping) else 0
        )


# ------------------------------------------------------------------------ conditions


class _Refs:
    """Hands out the ``:vN`` placeholders of one translated parameter."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, value: AttributeValue) -> ValueRef:
        ref = ValueRef(f":v{self.count}", value)
        self.count += 1
        return ref


def _values(raw: object, member: str) -> list[AttributeValue]:
    return [
        validate_value(value, path=f"{member}[{index}]")
        for index, value in enumerate(_expect_list(raw, member))
    ]


def _check_arguments(op: str, values: Sequence[AttributeValue]) -> None:
    """Check the values of one ComparisonOperator the way DynamoDB does, in its order."""
    count, at_least = _ARITY[op]
    if len(values) < count or (not at_least and len(values) != count):
        raise ValidationException(
            f"{_INVALID}Invalid number of argument(s) for the {op} ComparisonOperator"
        )
    if not values:
        return
    first = av_type(values[0])
    if any(av_type(value) != first for value in values):
        raise ValidationException(
            f"{_INVALID}AttributeValues inside AttributeValueList must be of same type"
        )
    if first not in _VALUE_TYPES[op]:
        raise ValidationException(
            f"{_INVALID}ComparisonOperator {op} is not valid for {first} AttributeValue type"
        )
    if op == "BETWEEN":
        order = compare_scalar(values[0], values[1])
        if order is not None and order > 0:
            raise ValidationException(
                "The BETWEEN condition was provided a range where the lower bound is greater "
                "than the upper bound"
            )


def _leaf(name: str, op: str, values: Sequence[AttributeValue], refs: _Refs) -> Condition:
    """Build the AST of one validated legacy condition."""
    path = PathExpr.of(name)
    if op in _COMPARATORS:
        return Comparison(_COMPARATORS[op], path, refs(values[0]))
    if op == "NULL":
        return FunctionCondition("attribute_not_exists", (path,))
    if op == "NOT_NULL":
        return FunctionCondition("attribute_exists", (path,))
    if op == "BETWEEN":
        return Between(path, refs(values[0]), refs(values[1]))
    if op == "IN":
        return In(path, tuple(refs(value) for value in values))
    if op == "BEGINS_WITH":
        return FunctionCondition("begins_with", (path, refs(values[0])))
    contains = FunctionCondition("contains", (path, refs(values[0])))
    if op == "CONTAINS":
        return contains
    # NOT_CONTAINS is false, not true, for a missing attribute.
    return And(FunctionCondition("attribute_exists", (path,)), Not(contains))


def _combine(leaves: Sequence[Condition], conditional_operator: str | None) -> Condition:
    joined = leaves[0]
    for leaf in leaves[1:]:
        joined = Or(joined, leaf) if conditional_operator == "OR" else And(joined, leaf)
    return joined


def _operators(conditions: Mapping[str, Any], member: str, *, required: bool) -> dict[str, Any]:
    """Check every condition's shape and ComparisonOperator enum (all errors at once)."""
    errors: list[str] = []
    shapes: dict[str, Any] = {}
    for name, spec in conditions.items():
        body = _expect_map(spec, f"{member}.{name}")
        shapes[name] = body
        op = body.get("ComparisonOperator")
        where = f"{member}.{name}.member.comparisonOperator"
        if op is None:
            if required:
                errors.append(_enum_error(None, where, COMPARISON_OPERATORS))
        elif _expect_str(op, where) not in COMPARISON_OPERATORS:
            errors.append(_enum_error(op, where, COMPARISON_OPERATORS))
    if errors:
        raise _shape_errors(errors[:10])
    return shapes


def _filter_leaves(
    conditions: Mapping[str, Any], member: str, refs: _Refs
) -> list[tuple[str, str, list[AttributeValue], Condition]]:
    shapes = _operators(conditions, member, required=True)
    out = []
    for name, body in shapes.items():
        op = body["ComparisonOperator"]
        raw = body.get("AttributeValueList")
        values = [] if raw is None else _values(raw, f"{member}.{name}.AttributeValueList")
        _check_arguments(op, values)
        out.append((name, op, values, _leaf(name, op, values, refs)))
    return out


def condition_from_filter(
    filter: Mapping[str, Any] | None,
    conditional_operator: str | None,
    *,
    kind: str,
) -> Condition | None:
    """Translate a QueryFilter or ScanFilter into a condition.

    Args:
        filter: The filter map (attribute name to ``{ComparisonOperator,
            AttributeValueList}``), or None when the request has none.
        conditional_operator: ``AND`` (the default when None) or ``OR``.
        kind: ``"QueryFilter"`` or ``"ScanFilter"``, used in messages.

    Returns:
        The condition, or None for a missing or empty filter (which matches every item).

    Raises:
        SerializationException: A member has the wrong JSON type.
        ValidationException: ``1 validation error detected: Value 'eq' at
            'scanFilter.a.member.comparisonOperator' failed to satisfy constraint: ...``,
            ``One or more parameter values were invalid: Invalid number of argument(s) for the
            EQ ComparisonOperator``, ``... AttributeValues inside AttributeValueList must be of
            same type``, ``... ComparisonOperator LT is not valid for SS AttributeValue
            type``, ``The BETWEEN condition was provided a range where the lower bound is
            greater than the upper bound``, an invalid AttributeValue, or the
            ConditionalOperator rules (see :func:`check_mixing`).
    """
    operator = _conditional_operator(conditional_operator)
    conditions = {} if filter is None else _expect_map(filter, kind)
    leaves = _filter_leaves(conditions, _lower_first(kind), _Refs())
    _check_condition_count(operator, len(leaves))
    if not leaves:
        return None
    return _combine([leaf for *_, leaf in leaves], operator)


def condition_from_expected(
    expected: Mapping[str, Any] | None, conditional_operator: str | None
) -> Condition | None:
    """Translate the Expected parameter of PutItem / UpdateItem / DeleteItem.

    Each entry is either ``{ComparisonOperator, AttributeValueList | Value}`` (as in a
    filter) or the older ``{Value, Exists}`` form: ``Value`` alone or with ``Exists: true``
    means ``a = Value``, ``Exists: false`` alone means ``attribute_not_exists(a)``.

    Args:
        expected: The Expected map, or None when the request has none.
        conditional_operator: ``AND`` (the default when None) or ``OR``.

    Returns:
        The condition, or None for a missing or empty Expected (no condition).

    Raises:
        SerializationException: A member has the wrong JSON type.
        ValidationException: The filter messages of :func:`condition_from_filter`, plus
            ``One or more parameter values were invalid: Value must be provided when Exists
            is true for Attribute: a`` (``... Exists is null ...``), ``... Value cannot be
            used when Exists is false for Attribute: a``, ``... Exists and
            ComparisonOperator cannot be used together for Attribute: a``, ``... Value and
            AttributeValueList cannot be used together for Attribute: a``, ``...
            AttributeValueList can only be used with a ComparisonOperator for Attribute:
            a`` and ``... Value or AttributeValueList must be used with ComparisonOperator:
            EQ for Attribute: a``.
    """
    operator = _conditional_operator(conditional_operator)
    conditions = {} if expected is None else _expect_map(expected, "Expected")
    shapes = _operators(conditions, "expected", required=False)
    refs = _Refs()
    leaves = [_expected_leaf(name, body, refs) for name, body in shapes.items()]
    _check_condition_count(operator, len(leaves))
    if not leaves:
        return None
    return _combine(leaves, operator)


def _expected_leaf(name: str, body: Mapping[str, Any], refs: _Refs) -> Condition:
    member = f"Expected.{name}"
    raw_list = body.get("AttributeValueList")
    raw_value = body.get("Value")
    exists = body.get("Exists")
    if exists is not None and not isinstance(exists, bool):
        raise SerializationException(f"Expected a boolean ({member}.Exists)")
    op = body.get("ComparisonOperator")
    if raw_list is not None and raw_value is not None:
        raise ValidationException(
            f"{_INVALID}Value and AttributeValueList cannot be used together for Attribute: {name}"
        )
    if op is not None:
        if exists is not None:
            raise ValidationException(
                f"{_INVALID}Exists and ComparisonOperator cannot be used together for "
                f"Attribute: {name}"
            )
        if op not in ("NULL", "NOT_NULL") and raw_list is None and raw_value is None:
            raise ValidationException(
                f"{_INVALID}Value or AttributeValueList must be used with ComparisonOperator: "
                f"{op} for Attribute: {name}"
            )
        if raw_list is not None:
            values = _values(raw_list, f"{member}.AttributeValueList")
        elif raw_value is not None:
            values = [validate_value(raw_value, path=f"{member}.Value")]
        else:
            values = []
        _check_arguments(op, values)
        return _leaf(name, op, values, refs)
    if raw_list is not None:
        raise ValidationException(
            f"{_INVALID}AttributeValueList can only be used with a ComparisonOperator for "
            f"Attribute: {name}"
        )
    if exists is None or exists:
        if raw_value is None:
            shown = "null" if exists is None else "true"
            raise ValidationException(
                f"{_INVALID}Value must be provided when Exists is {shown} for Attribute: {name}"
            )
        value = validate_value(raw_value, path=f"{member}.Value")
        return Comparison("=", PathExpr.of(name), refs(value))
    if raw_value is not None:
        raise ValidationException(
            f"{_INVALID}Value cannot be used when Exists is false for Attribute: {name}"
        )
    return FunctionCondition("attribute_not_exists", (PathExpr.of(name),))


def check_query_filter_keys(
    query_filter: Mapping[str, Any] | None, key_names: Sequence[str]
) -> None:
    """Reject a QueryFilter on a key attribute of the table or index being queried.

    Args:
        query_filter: The QueryFilter map, or None.
        key_names: The queried key schema's attribute names, partition key first.

    Raises:
        ValidationException: ``QueryFilter can only contain non-primary key attributes:
            Primary key attribute: pk``.
    """
    if not query_filter:
        return
    for key in key_names:
        if key in query_filter:
            raise ValidationException(
                "QueryFilter can only contain non-primary key attributes: "
                f"Primary key attribute: {key}"
            )


# ----------------------------------------------------------------------- key conditions


def key_condition_from_legacy(key_conditions: Mapping[str, Any]) -> KeyCondition:
    """Translate Query's KeyConditions into the KeyCondition a KeyConditionExpression gives.

    The result's :meth:`KeyCondition.bind` then applies the key-schema rules (``Query
    condition missed key schema element: pk``, ``Query key condition not supported`` for a
    partition key operator other than EQ).

    Args:
        key_conditions: The KeyConditions map (attribute name to ``{ComparisonOperator,
            AttributeValueList}``).

    Returns:
        The key condition; ``predicates`` use the KeyConditionExpression operators
        ``= < <= > >= BETWEEN begins_with``.

    Raises:
        SerializationException: A member has the wrong JSON type.
        ValidationException: The per-condition messages of :func:`condition_from_filter`,
            ``Conditions can be of length 1 or 2 only``, or ``Attempted conditional
            constraint is not an indexable operation`` for NE, IN, NULL, NOT_NULL, CONTAINS
            and NOT_CONTAINS.
    """
    conditions = _expect_map(key_conditions, "KeyConditions")
    leaves = _filter_leaves(conditions, "keyConditions", _Refs())
    if len(leaves) not in (1, 2):
        raise ValidationException("Conditions can be of length 1 or 2 only")
    predicates = []
    for name, op, values, _ in leaves:
        if op not in _KEY_OPERATORS:
            raise ValidationException(
                "Attempted conditional constraint is not an indexable operation"
            )
        predicates.append(KeyPredicate(name, _KEY_OPERATORS[op], tuple(values)))
    return KeyCondition(_combine([leaf for *_, leaf in leaves], "AND"), tuple(predicates))


# --------------------------------------------------------------------- AttributeUpdates


def plan_from_attribute_updates(updates: Mapping[str, Any]) -> UpdatePlan:
    """Translate UpdateItem's AttributeUpdates into an update plan.

    ``PUT`` (the default Action) sets the attribute. ``DELETE`` without a Value removes the
    attribute; with a set Value it removes those elements (an emptied set removes the
    attribute; a missing attribute is left alone). ``ADD`` adds a number (a missing
    attribute counts as 0), unions a set, or appends a list (``list_append`` onto the
    existing list, or onto an empty one when the attribute is missing).

    The plan works with :func:`apply_update`, ``updated_paths`` and
    ``check_key_attributes`` (``Cannot update attribute pk. This attribute is part of the
    key``). Apply it with :func:`apply_attribute_updates` to get DynamoDB's legacy wording
    for type mismatches.

    Args:
        updates: The AttributeUpdates map (attribute name to ``{Action, Value}``).

    Returns:
        The plan; its sections come in the order SET, REMOVE, ADD, DELETE.

    Raises:
        SerializationException: A member has the wrong JSON type.
        ValidationException: ``1 validation error detected: Value 'X' at
            'attributeUpdates.a.member.action' failed to satisfy constraint: Member must
            satisfy enum value set: [ADD, PUT, DELETE]``, an invalid AttributeValue, ``One or
            more parameter values were invalid: Only DELETE action is allowed when no
            attribute value is specified``, ``... DELETE action with value is not supported
            for the type S`` or ``... ADD action is not supported for the type S``.
    """
    entries = _expect_map(updates, "AttributeUpdates")
    errors: list[str] = []
    bodies: dict[str, tuple[str, Any]] = {}
    for name, spec in entries.items():
        body = _expect_map(spec, f"AttributeUpdates.{name}")
        raw_action = body.get("Action")
        action = "PUT" if raw_action is None else _expect_str(raw_action, f"{name}.Action")
        if action not in _ACTIONS:
            errors.append(_enum_error(action, f"attributeUpdates.{name}.member.action", _ACTIONS))
        bodies[name] = (action, body.get("Value"))
    if errors:
        raise _shape_errors(errors[:10])

    refs = _Refs()
    sections: dict[str, list[UpdateAction]] = {"SET": [], "REMOVE": [], "ADD": [], "DELETE": []}
    for name, (action, raw_value) in bodies.items():
        path = PathExpr.of(name)
        value = (
            None
            if raw_value is None
            else validate_value(raw_value, path=f"AttributeUpdates.{name}.Value")
        )
        if value is None:
            if action != "DELETE":
                raise ValidationException(
                    f"{_INVALID}Only DELETE action is allowed when no attribute value is specified"
                )
            sections["REMOVE"].append(RemoveAction(path))
            continue
        kind = av_type(value)
        if action == "PUT":
            sections["SET"].append(SetAction(path, refs(value)))
        elif action == "DELETE":
            if kind not in SET_TYPES:
                raise ValidationException(
                    f"{_INVALID}DELETE action with value is not supported for the type {kind}"
                )
            sections["DELETE"].append(DeleteAction(path, refs(value)))
        elif kind == "L":
            base = Call("if_not_exists", (path, refs({"L": []})))
            sections["SET"].append(SetAction(path, Call("list_append", (base, refs(value)))))
        elif kind == "N" or kind in SET_TYPES:
            sections["ADD"].append(AddAction(path, refs(value)))
        else:
            raise ValidationException(f"{_INVALID}ADD action is not supported for the type {kind}")
    return UpdatePlan(
        tuple(UpdateSection(keyword, tuple(acts)) for keyword, acts in sections.items() if acts)
    )


def apply_attribute_updates(plan: UpdatePlan, item: Mapping[str, AttributeValue]) -> Item:
    """Apply a plan from :func:`plan_from_attribute_updates` with DynamoDB's legacy wording.

    This is :func:`apply_update`, except that an ADD or DELETE meeting an attribute of
    another type reports ``Type mismatch for attribute to update`` (the expression wording
    is ``An operand in the update expression has an incorrect data type``).

    Raises:
        ValidationException: As :func:`apply_update`, with the legacy type-mismatch message.
    """
    try:
        return apply_update(plan, item)
    except ValidationException as exc:
        if exc.message == "An operand in the update expression has an incorrect data type":
            raise ValidationException(LEGACY_TYPE_MISMATCH) from None
        raise


# ---------------------------------------------------------------------- AttributesToGet


def projection_from_attributes_to_get(names: Sequence[str]) -> tuple[Path, ...]:
    """Translate AttributesToGet into projection paths (top-level attributes only).

    Args:
        names: The attribute names as sent.

    Returns:
        One single-element path per name, in the order given.

    Raises:
        SerializationException: ``names`` is not a list of strings.
        ValidationException: ``1 validation error detected: Value '[]' at 'attributesToGet'
            failed to satisfy constraint: Member must have length greater than or equal to
            1`` or ``One or more parameter values were invalid: Duplicate value in attribute
            name: a``.
    """
    given = [
        _expect_str(name, "AttributesToGet") for name in _expect_list(names, "AttributesToGet")
    ]
    if not given:
        raise _shape_errors(
            [
                "Value '[]' at 'attributesToGet' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            ]
        )
    seen: set[str] = set()
    for name in given:
        if name in seen:
            raise ValidationException(f"{_INVALID}Duplicate value in attribute name: {name}")
        seen.add(name)
    return tuple((name,) for name in given)
