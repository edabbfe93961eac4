"""Control plane: CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable validation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from streamkit.engine.policies import parse_policy
from streamkit.engine.tags import check_tags
from streamkit.errors import LimitExceededException, ResourceNotFoundException, ValidationException
from streamkit.model.schema import (
    STREAM_VIEW_TYPES,
    IndexSpec,
    TableSpec,
    constraint,
    invalid,
    parse_attribute_definitions,
    parse_index,
    parse_key_schema,
    parse_throughput,
)

__all__ = [
    "CREATE_TABLE_PARAMS",
    "UPDATE_TABLE_PARAMS",
    "apply_table_update",
    "build_table_spec",
    "stream_label",
]

CREATE_TABLE_PARAMS = frozenset(
    {
        "AttributeDefinitions",
        "TableName",
        "KeySchema",
        "LocalSecondaryIndexes",
        "GlobalSecondaryIndexes",
        "BillingMode",
        "ProvisionedThroughput",
        "StreamSpecification",
        "SSESpecification",
        "Tags",
        "TableClass",
        "DeletionProtectionEnabled",
        "ResourcePolicy",
        "OnDemandThroughput",
        "WarmThroughput",
    }
)
UPDATE_TABLE_PARAMS = frozenset(
    {
        "AttributeDefinitions",
        "TableName",
        "BillingMode",
        "ProvisionedThroughput",
        "GlobalSecondaryIndexUpdates",
        "StreamSpecification",
        "SSESpecification",
        "ReplicaUpdates",
        "TableClass",
        "DeletionProtectionEnabled",
        "MultiRegionConsistency",
        "GlobalTableWitnessUpdates",
        "OnDemandThroughput",
        "WarmThroughput",
    }
)
MAX_LSI = 5
MAX_GSI = 20
MAX_PROJECTED = 100


def stream_label(now: float) -> str:
    """Return a StreamLabel: the UTC time, ISO 8601 with milliseconds and no zone."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _billing(params: Mapping[str, Any]) -> tuple[str, int, int]:
    mode = params.get("BillingMode") or "PROVISIONED"
    if mode not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise constraint(
            mode, "billingMode", "satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    throughput = params.get("ProvisionedThroughput")
    if mode == "PAY_PER_REQUEST":
        if throughput is not None:
            raise invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        return mode, 0, 0
    if throughput is None:
        raise invalid(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
            "BillingMode is PROVISIONED"
        )
    read, write = parse_throughput(throughput)
    return mode, read, write


def _stream_spec(value: object) -> str | None:
    """Validate a StreamSpecification; return the view type when it enables a stream."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationException(
            "Invalid type for parameter StreamSpecification, expected a structure"
        )
    enabled = value.get("StreamEnabled")
    view = value.get("StreamViewType")
    if not isinstance(enabled, bool):
        raise ValidationException(
            "1 validation error detected: Value null at 'streamSpecification.streamEnabled' "
            "failed to satisfy constraint: Member must not be null"
        )
    if view is not None and view not in STREAM_VIEW_TYPES:
        raise constraint(
            view,
            "streamSpecification.streamViewType",
            "satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]",
        )
    if enabled and view is None:
        raise invalid("Stream view type must be specified when enabling a stream")
    if not enabled and view is not None:
        raise invalid("If stream is being disabled, then UpdateViewType must not be specified")
    return view if enabled else None


def _index_list(params: Mapping[str, Any], member: str) -> list[Mapping[str, Any]]:
    value = params.get(member)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ValidationException(
            f"Invalid type for parameter {member}, expected a list of structures"
        )
    if not value:
        raise invalid(f"List of {member} is empty")
    return value


def build_table_spec(params: Mapping[str, Any], name: str, now: float) -> TableSpec:
    """Validate CreateTable's members and return the new table's spec."""
    types = parse_attribute_definitions(params.get("AttributeDefinitions"))
    key = parse_key_schema(params.get("KeySchema"), types)
    mode, read, write = _billing(params)
    local = [
        parse_index(e, types, is_global=False, billing_mode=mode, table_key=key)
        for e in _index_list(params, "LocalSecondaryIndexes")
    ]
    global_ = [
        parse_index(e, types, is_global=True, billing_mode=mode, table_key=key)
        for e in _index_list(params, "GlobalSecondaryIndexes")
    ]
    if len(local) > MAX_LSI:
        raise invalid(f"Number of LocalSecondaryIndexes exceeds per-table limit of {MAX_LSI}")
    if len(global_) > MAX_GSI:
        raise ValidationException(
            f"One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the "
            f"per-table limit of {MAX_GSI}"
        )
    _check_indexes(key.names, types, local, global_)
    view = _stream_spec(params.get("StreamSpecification"))
    protection = params.get("DeletionProtectionEnabled", False)
    if not isinstance(protection, bool):
        raise ValidationException(
            "Invalid type for parameter DeletionProtectionEnabled, expected a boolean"
        )
    table_class = params.get("TableClass") or "STANDARD"
    if table_class not in ("STANDARD", "STANDARD_INFREQUENT_ACCESS"):
        raise constraint(
            table_class,
            "tableClass",
            "satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
        )
    tags = check_tags(params.get("Tags") or [], allow_empty=True)
    policy = params.get("ResourcePolicy")
    if policy is not None:
        if not isinstance(policy, str):
            raise ValidationException(
                "Invalid type for parameter ResourcePolicy, expected a string"
            )
        parse_policy(policy)
    return TableSpec(
        name=name,
        table_id=str(uuid.uuid4()),
        key=key,
        attribute_types=types,
        created=now,
        billing_mode=mode,
        read_capacity=read,
        write_capacity=write,
        local_indexes=tuple(local),
        global_indexes=tuple(global_),
        stream_view_type=view,
        stream_label=stream_label(now) if view else None,
        deletion_protection=protection,
        table_class=table_class,
        tags=tuple(tags),
        policies=(("", policy, str(int(now * 1000))),) if policy is not None else (),
    )


def _check_indexes(
    table_keys: tuple[str, ...],
    types: Mapping[str, str],
    local: list[IndexSpec],
    global_: list[IndexSpec],
) -> None:
    names = [i.name for i in (*local, *global_)]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise invalid(f"Duplicate index name: {duplicate}")
    projected = {a for i in (*local, *global_) for a in i.non_key_attributes}
    if len(projected) > MAX_PROJECTED:
        raise invalid(
            "The sum of distinct NonKeyAttributes across all secondary indexes exceeds the "
            f"limit of {MAX_PROJECTED}"
        )
    used = list(table_keys)
    for idx in (*local, *global_):
        used.extend(n for n in idx.key.names if n not in used)
    unused = [n for n in types if n not in used]
    if unused:
        if local or global_:
            raise invalid(
                "Some AttributeDefinitions are not used. "
                f"AttributeDefinitions: [{', '.join(types)}], "
                f"keys used: [{', '.join(used)}]"
            )
        raise invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes "
            "defined in AttributeDefinitions"
        )


def apply_table_update(spec: TableSpec, params: Mapping[str, Any], now: float) -> TableSpec:
    """Validate UpdateTable's members against the current spec and return the new spec."""
    changes: dict[str, Any] = {}
    if params.get("GlobalSecondaryIndexUpdates") is not None:
        changes.update(_gsi_updates(spec, params))
    if params.get("BillingMode") is not None or params.get("ProvisionedThroughput") is not None:
        merged = {
            "BillingMode": params.get("BillingMode") or spec.billing_mode,
            "ProvisionedThroughput": params.get("ProvisionedThroughput"),
        }
        if (
            merged["BillingMode"] == "PROVISIONED"
            and merged["ProvisionedThroughput"] is None
            and spec.billing_mode == "PROVISIONED"
        ):
            merged["ProvisionedThroughput"] = {
                "ReadCapacityUnits": spec.read_capacity,
                "WriteCapacityUnits": spec.write_capacity,
            }
        mode, read, write = _billing(merged)
        changes.update(billing_mode=mode, read_capacity=read, write_capacity=write)
    stream = params.get("StreamSpecification")
    if stream is not None:
        view = _stream_spec(stream)
        if view is not None:
            if spec.stream_view_type is not None:
                raise ValidationException(
                    f"Table already has an enabled stream: TableName: {spec.name}"
                )
            changes.update(stream_view_type=view, stream_label=stream_label(now))
        else:
            if spec.stream_view_type is None:
                raise ValidationException(f"Table has no stream to disable: TableName: {spec.name}")
            changes.update(stream_view_type=None)
    if params.get("DeletionProtectionEnabled") is not None:
        protection = params["DeletionProtectionEnabled"]
        if not isinstance(protection, bool):
            raise ValidationException(
                "Invalid type for parameter DeletionProtectionEnabled, expected a boolean"
            )
        changes["deletion_protection"] = protection
    if params.get("TableClass") is not None:
        if params["TableClass"] not in ("STANDARD", "STANDARD_INFREQUENT_ACCESS"):
            raise constraint(
                params["TableClass"],
                "tableClass",
                "satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
            )
        changes["table_class"] = params["TableClass"]
    if not changes:
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        )
    return spec.with_changes(**changes)


def _gsi_updates(spec: TableSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate GlobalSecondaryIndexUpdates; return the new attribute types and GSI list."""
    updates = _index_list(params, "GlobalSecondaryIndexUpdates")
    types = dict(spec.attribute_types)
    if params.get("AttributeDefinitions") is not None:
        for attr, kind in parse_attribute_definitions(params["AttributeDefinitions"]).items():
            if types.get(attr, kind) != kind:
                raise invalid(
                    f"Cannot change the type of attribute {attr} from {types[attr]} to {kind}"
                )
            types[attr] = kind
    indexes = {i.name: i for i in spec.global_indexes}
    structural = 0
    for update in updates:
        if len(update) != 1 or next(iter(update)) not in ("Create", "Update", "Delete"):
            raise invalid(
                "One or more parameter values were invalid: exactly one of Create, Update or "
                "Delete must be given per GlobalSecondaryIndexUpdate"
            )
        ((action, body),) = update.items()
        if not isinstance(body, Mapping):
            raise ValidationException(f"Invalid type for parameter {action}, expected a structure")
        name = body.get("IndexName")
        if action == "Create":
            structural += 1
            if spec.index(str(name)) is not None:
                raise invalid(f"Index already exists: {name}")
            created = parse_index(
                body, types, is_global=True, billing_mode=spec.billing_mode, table_key=spec.key
            )
            indexes[created.name] = replace(created, status="CREATING")
        elif action == "Delete":
            structural += 1
            if name not in indexes:
                raise ResourceNotFoundException(
                    f"Requested resource not found: Index: {name} not found"
                )
            del indexes[str(name)]
        else:
            if name not in indexes:
                raise ResourceNotFoundException(
                    f"Requested resource not found: Index: {name} not found"
                )
            read, write = parse_throughput(
                body.get("ProvisionedThroughput"),
                "globalSecondaryIndexUpdate.update.provisionedThroughput",
            )
            indexes[str(name)] = replace(
                indexes[str(name)], read_capacity=read, write_capacity=write
            )
    if structural > 1:
        raise LimitExceededException(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted "
            "simultaneously per table"
        )
    if len(indexes) > MAX_GSI:
        raise invalid(f"GlobalSecondaryIndex count exceeds the per-table limit of {MAX_GSI}")
    used = set(spec.key.names)
    for idx in (*spec.local_indexes, *indexes.values()):
        used.update(idx.key.names)
    return {
        "global_indexes": tuple(indexes.values()),
        "attribute_types": {n: t for n, t in types.items() if n in used},
    }
