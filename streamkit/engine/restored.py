"""The spec of a table a restore creates, from a backup or from a point in time.

Both restores take the same overrides (billing mode, throughput, a subset of the indexes,
SSE and on-demand throughput accepted and ignored) and carry over neither the stream, TTL,
tags, deletion protection nor PITR, as DynamoDB restores none of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from streamkit.errors import ValidationException
from streamkit.model.schema import (
    IndexSpec,
    TableSpec,
    constraint,
    invalid,
    parse_index,
    parse_throughput,
)

__all__ = ["OVERRIDES", "restored_spec"]

#: the request members both restores take to change what the restored table is like
OVERRIDES = frozenset(
    {
        "BillingModeOverride",
        "GlobalSecondaryIndexOverride",
        "LocalSecondaryIndexOverride",
        "ProvisionedThroughputOverride",
        "OnDemandThroughputOverride",
        "SSESpecificationOverride",
    }
)


def restored_spec(
    source: TableSpec, target: str, params: Mapping[str, Any], now: float
) -> TableSpec:
    """Return the spec of the table a restore creates: the source's key, indexes (or the
    overrides' subset), billing and throughput (or the overrides); no stream, TTL, tags,
    deletion protection, PITR or replicas, as AWS restores none of them."""
    mode = params.get("BillingModeOverride") or source.billing_mode
    if mode not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise constraint(
            mode, "billingModeOverride", "satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    throughput = params.get("ProvisionedThroughputOverride")
    read, write = source.read_capacity, source.write_capacity
    if mode == "PAY_PER_REQUEST":
        if throughput is not None:
            raise invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        read = write = 0
    elif throughput is not None:
        read, write = parse_throughput(throughput, "provisionedThroughputOverride")
    elif source.billing_mode == "PAY_PER_REQUEST":
        raise invalid(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
            "BillingMode is PROVISIONED"
        )
    sse = params.get("SSESpecificationOverride")
    if sse is not None and not isinstance(sse, Mapping):
        raise ValidationException(
            "Invalid type for parameter SSESpecificationOverride, expected a structure"
        )
    local = _override(source, params, "LocalSecondaryIndexOverride", mode, is_global=False)
    global_ = _override(source, params, "GlobalSecondaryIndexOverride", mode, is_global=True)
    if mode == "PAY_PER_REQUEST":
        global_ = tuple(replace(i, read_capacity=0, write_capacity=0) for i in global_)
    elif source.billing_mode == "PAY_PER_REQUEST" and "GlobalSecondaryIndexOverride" not in params:
        global_ = tuple(replace(i, read_capacity=read, write_capacity=write) for i in global_)
    used = set(source.key.names)
    for idx in (*local, *global_):
        used.update(idx.key.names)
    return replace(
        source,
        name=target,
        table_id=str(uuid.uuid4()),
        attribute_types={n: t for n, t in source.attribute_types.items() if n in used},
        created=now,
        billing_mode=mode,
        read_capacity=read,
        write_capacity=write,
        local_indexes=local,
        global_indexes=global_,
        stream_view_type=None,
        stream_label=None,
        deletion_protection=False,
        tags=(),
        replicas=(),  # a restored table is regional, as in AWS
    )


def _override(
    source: TableSpec, params: Mapping[str, Any], member: str, mode: str, *, is_global: bool
) -> tuple[IndexSpec, ...]:
    """The indexes a restore keeps: all the source's, or the override's, which must each
    match one of the source's indexes (name, key schema, projection); only a GSI's
    throughput may differ."""
    existing = source.global_indexes if is_global else source.local_indexes
    value = params.get(member)
    if value is None:
        return existing  # a GSI still backfilling in the backup carries on backfilling
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ValidationException(
            f"Invalid type for parameter {member}, expected a list of structures"
        )
    by_name = {i.name: i for i in existing}
    kept: list[IndexSpec] = []
    for element in value:
        idx = parse_index(
            element,
            source.attribute_types,
            is_global=is_global,
            billing_mode=mode,
            table_key=source.key,
        )
        old = by_name.get(idx.name)
        if old is None or (old.key, old.projection_type, set(old.non_key_attributes)) != (
            idx.key,
            idx.projection_type,
            set(idx.non_key_attributes),
        ):
            raise invalid(
                f"{member} can only keep or leave out the source's indexes, unchanged: "
                f"{idx.name} does not match an index of the source table"
            )
        if any(k.name == idx.name for k in kept):
            raise invalid(f"Duplicate index name: {idx.name}")
        kept.append(
            replace(old, read_capacity=idx.read_capacity, write_capacity=idx.write_capacity)
        )
    return tuple(kept)
