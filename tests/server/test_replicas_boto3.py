"""Global tables' control plane over HTTP: boto3 against a real ``streamkit serve``, two
regions told apart by the SigV4 scope (us-east-1 and eu-west-1), the data on disk.

Replication itself (the items reaching the other region, the replica turning ACTIVE) runs in
the server too, so a replica's status may move from CREATING to ACTIVE between two calls; these
tests check the control plane (tests/server/test_global_tables.py the replication)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.server.serving import start_serve, stop
from tests.server.test_boto3 import session_kwargs

US, EU = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("served")
    process, url, _ = start_serve("--data", str(data))
    yield url, data
    assert stop(process) == 0


def _client(served: tuple[str, Path], region: str) -> Any:
    return boto3.client("dynamodb", **session_kwargs(served[0], region))


def _create(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_replica_in_the_other_region(served: tuple[str, Path]) -> None:
    us, eu = _client(served, US), _client(served, EU)
    _create(us, "orders")
    answer = us.update_table(TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": EU}}])[
        "TableDescription"
    ]
    assert answer["GlobalTableVersion"] == "2019.11.21"
    assert {r["RegionName"]: r["ReplicaStatus"] for r in answer["Replicas"]} == {
        US: "ACTIVE",
        EU: "CREATING",
    }
    assert "orders" in eu.list_tables()["TableNames"]
    theirs = eu.describe_table(TableName="orders")["Table"]
    assert theirs["TableArn"].startswith(f"arn:aws:dynamodb:{EU}:")
    assert theirs["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ours = us.describe_table(TableName="orders")["Table"]["Replicas"]
    for replicas in (theirs["Replicas"], ours):  # the same replicas, each CREATING or ACTIVE
        assert [r["RegionName"] for r in replicas] == [EU, US]
        assert {r["ReplicaStatus"] for r in replicas} <= {"CREATING", "ACTIVE"}
    with pytest.raises(ClientError) as caught:
        us.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
    assert _error(caught) == (
        "ValidationException",
        "One or more parameter values were invalid: Disabling Stream is not allowed for a "
        "Global Table replica.",
    )
    # an index added in one region appears in both
    us.update_table(
        TableName="orders",
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by_g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    for client in (us, eu):
        indexes = client.describe_table(TableName="orders")["Table"]["GlobalSecondaryIndexes"]
        assert [i["IndexName"] for i in indexes] == ["by_g"]
    us.update_table(TableName="orders", ReplicaUpdates=[{"Delete": {"RegionName": EU}}])
    assert "orders" not in eu.list_tables()["TableNames"]
    mine = us.describe_table(TableName="orders")["Table"]
    assert "Replicas" not in mine
    assert mine["StreamSpecification"]["StreamEnabled"] is True


def test_refusals(served: tuple[str, Path]) -> None:
    us = _client(served, US)
    _create(us, "alone")
    with pytest.raises(ClientError) as caught:
        us.update_table(TableName="alone", ReplicaUpdates=[{"Create": {"RegionName": US}}])
    assert _error(caught) == (
        "ValidationException",
        "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, "
        "DeleteTable, or UpdateTable as required.",
    )
    with pytest.raises(ClientError) as caught:
        us.update_table(
            TableName="alone",
            ReplicaUpdates=[{"Create": {"RegionName": EU}}],
            MultiRegionConsistency="STRONG",
        )
    assert _error(caught)[0] == "ValidationException"
    assert "replicas" not in str(us.describe_table(TableName="alone")["Table"]).lower()


def test_the_legacy_calls(served: tuple[str, Path]) -> None:
    us = _client(served, US)
    with pytest.raises(ClientError) as caught:
        us.create_global_table(GlobalTableName="legacy", ReplicationGroup=[{"RegionName": EU}])
    assert _error(caught) == (
        "ValidationException",
        "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 "
        "is not supported. We recommend using DynamoDB global tables version 2019.11.21, "
        "instead of version 2017.11.29 (Legacy).",
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        ("describe_global_table", {}),
        ("describe_global_table_settings", {}),
        ("update_global_table", {"ReplicaUpdates": [{"Create": {"RegionName": EU}}]}),
        ("update_global_table_settings", {"GlobalTableBillingMode": "PAY_PER_REQUEST"}),
    ]
    for operation, extra in calls:
        with pytest.raises(ClientError) as caught:
            getattr(us, operation)(GlobalTableName="legacy", **extra)
        assert _error(caught) == (
            "GlobalTableNotFoundException",
            "Global table with name 'legacy' does not exist.",
        )
    assert us.list_global_tables()["GlobalTables"] == []
