"""The legacy global table calls (version 2017.11.29), answered as today's DynamoDB does.

New legacy global tables can no longer be created: CreateGlobalTable is refused with a
ValidationException, the describe and update calls answer GlobalTableNotFoundException for
any name (a 2019.11.21 global table too, which they do not see), and ListGlobalTables lists
none. Global tables of the current version are managed with UpdateTable's ReplicaUpdates
(engine/replicas.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from streamkit.engine.core import EngineCore
from streamkit.engine.params import Params
from streamkit.errors import GlobalTableNotFoundException, ValidationException
from streamkit.model.schema import invalid

__all__ = ["LEGACY_NOT_SUPPORTED", "GlobalTablesMixin"]

#: CreateGlobalTable's answer today (observed, see dynamodb-semantics.md 4.1).
LEGACY_NOT_SUPPORTED = (
    "DynamoDB global tables version 2017.11.29 is not supported. We recommend using DynamoDB "
    "global tables version 2019.11.21, instead of version 2017.11.29 (Legacy)."
)


def _global_table_name(p: Params) -> str:
    """Return the request's GlobalTableName, checked as DynamoDB checks a table name."""
    value = p.raw("GlobalTableName")
    if value is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'globalTableName' failed to satisfy "
            "constraint: Member must not be null"
        )
    return Params(p.operation, {"TableName": value}, {"TableName"}).table_name()


def _not_found(name: str) -> GlobalTableNotFoundException:
    return GlobalTableNotFoundException(f"Global table with name '{name}' does not exist.")


class GlobalTablesMixin(EngineCore):
    """CreateGlobalTable, DescribeGlobalTable, UpdateGlobalTable, their Settings variants and
    ListGlobalTables: the 2017.11.29 API, which no table of streamkit's belongs to."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "CreateGlobalTable": "create_global_table",
        "DescribeGlobalTable": "describe_global_table",
        "UpdateGlobalTable": "update_global_table",
        "DescribeGlobalTableSettings": "describe_global_table_settings",
        "UpdateGlobalTableSettings": "update_global_table_settings",
        "ListGlobalTables": "list_global_tables",
    }

    async def create_global_table(self, **params: Any) -> dict[str, Any]:
        """Refuse to create a legacy global table (CreateGlobalTable), as DynamoDB now does."""
        p = Params("CreateGlobalTable", params, {"GlobalTableName", "ReplicationGroup"})
        _global_table_name(p)
        if p.raw("ReplicationGroup") is None:
            raise ValidationException(
                "1 validation error detected: Value null at 'replicationGroup' failed to "
                "satisfy constraint: Member must not be null"
            )
        raise invalid(LEGACY_NOT_SUPPORTED)

    async def describe_global_table(self, **params: Any) -> dict[str, Any]:
        """Describe a legacy global table (DescribeGlobalTable): there is none."""
        p = Params("DescribeGlobalTable", params, {"GlobalTableName"})
        raise _not_found(_global_table_name(p))

    async def update_global_table(self, **params: Any) -> dict[str, Any]:
        """Add or remove a legacy global table's replicas (UpdateGlobalTable): there is none."""
        p = Params("UpdateGlobalTable", params, {"GlobalTableName", "ReplicaUpdates"})
        raise _not_found(_global_table_name(p))

    async def describe_global_table_settings(self, **params: Any) -> dict[str, Any]:
        """Describe a legacy global table's settings (DescribeGlobalTableSettings)."""
        p = Params("DescribeGlobalTableSettings", params, {"GlobalTableName"})
        raise _not_found(_global_table_name(p))

    async def update_global_table_settings(self, **params: Any) -> dict[str, Any]:
        """Change a legacy global table's settings (UpdateGlobalTableSettings)."""
        p = Params(
            "UpdateGlobalTableSettings",
            params,
            {
                "GlobalTableName",
                "GlobalTableBillingMode",
                "GlobalTableProvisionedWriteCapacityUnits",
                "GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate",
                "GlobalTableGlobalSecondaryIndexSettingsUpdate",
                "ReplicaSettingsUpdate",
            },
        )
        raise _not_found(_global_table_name(p))

    async def list_global_tables(self, **params: Any) -> dict[str, Any]:
        """List legacy global tables (ListGlobalTables): none."""
        p = Params(
            "ListGlobalTables", params, {"ExclusiveStartGlobalTableName", "Limit", "RegionName"}
        )
        p.string("ExclusiveStartGlobalTableName")
        p.string("RegionName")
        limit = p.integer("Limit")
        if limit is not None and limit < 1:
            raise ValidationException(
                f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                "constraint: Member must have value greater than or equal to 1"
            )
        return {"GlobalTables": []}
