"""CreateTable, DescribeTable, ListTables, UpdateTable, DeleteTable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import streamkit
from streamkit.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from tests.conftest import key_schema


def _create(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"TableName": "orders", **key_schema("pk", "sk")}
    params.update(overrides)
    return params


class TestCreateTable:
    async def test_creates_and_describes(self, engine: streamkit.Engine) -> None:
        created = await engine.create_table(**_create())
        desc = created["TableDescription"]
        assert desc["TableStatus"] == "CREATING"
        assert desc["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
        assert desc["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        table = (await engine.describe_table(TableName="orders"))["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["ItemCount"] == 0
        assert table["TableSizeBytes"] == 0
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["TableId"] == desc["TableId"]
        assert "StreamSpecification" not in table

    async def test_existing_table_is_in_use(self, engine: streamkit.Engine) -> None:
        await engine.create_table(**_create())
        with pytest.raises(ResourceInUseException, match="Table already exists: orders"):
            await engine.create_table(**_create())

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"TableName": "ab"}, "have length greater than or equal to 3"),
            ({"TableName": "a" * 256}, "have length less than or equal to 255"),
            ({"TableName": "bad name"}, "regular expression pattern"),
            (
                {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
                "Some index key attributes are not defined in AttributeDefinitions",
            ),
            (
                {
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "extra", "AttributeType": "S"},
                    ]
                },
                "Number of attributes in KeySchema does not exactly match",
            ),
            (
                {"KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}]},
                "The first KeySchemaElement is not a HASH key type",
            ),
            (
                {"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "BOOL"}]},
                "satisfy enum value set: [B, N, S]",
            ),
            (
                {"BillingMode": "PROVISIONED"},
                "must both be specified when BillingMode is PROVISIONED",
            ),
            (
                {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
                "can be specified when BillingMode is PAY_PER_REQUEST",
            ),
            (
                {"StreamSpecification": {"StreamEnabled": True}},
                "Stream view type must be specified",
            ),
        ],
    )
    async def test_invalid_definitions(
        self, engine: streamkit.Engine, overrides: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValidationException) as exc:
            await engine.create_table(**_create(**overrides))
        assert message in exc.value.message
        assert (await engine.list_tables())["TableNames"] == []

    async def test_unknown_parameter(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match='Unknown parameter in input: "Bogus"'):
            await engine.create_table(**_create(Bogus=1))

    async def test_wrong_json_type(self, engine: streamkit.Engine) -> None:
        with pytest.raises(SerializationException):
            await engine.create_table(**_create(TableName=5))

    async def test_provisioned_and_indexes(self, engine: streamkit.Engine) -> None:
        params = _create(
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "lsk", "AttributeType": "N"},
                {"AttributeName": "gpk", "AttributeType": "S"},
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "by_lsk",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "lsk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_gpk",
                    "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
                }
            ],
        )
        await engine.create_table(**params)
        table = (await engine.describe_table(TableName="orders"))["Table"]
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
        assert table["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        gsi = table["GlobalSecondaryIndexes"][0]
        assert gsi["IndexStatus"] == "ACTIVE"
        assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
        assert gsi["IndexArn"].endswith("table/orders/index/by_gpk")

    async def test_lsi_needs_range_key(self, engine: streamkit.Engine) -> None:
        params = {
            "TableName": "t1x",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "l", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "LocalSecondaryIndexes": [
                {
                    "IndexName": "idx",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "l", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        }
        with pytest.raises(ValidationException, match="does not have a range key"):
            await engine.create_table(**params)

    async def test_stream_specification_is_stored(self, engine: streamkit.Engine) -> None:
        created = await engine.create_table(
            **_create(StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        )
        desc = created["TableDescription"]
        assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        assert desc["LatestStreamArn"] == f"{desc['TableArn']}/stream/{desc['LatestStreamLabel']}"


class TestListTables:
    async def test_pages_in_order(self, engine: streamkit.Engine) -> None:
        for name in ("ccc", "aaa", "bbb"):
            await engine.create_table(TableName=name, **key_schema())
        first = await engine.list_tables(Limit=2)
        assert first == {"TableNames": ["aaa", "bbb"], "LastEvaluatedTableName": "bbb"}
        second = await engine.list_tables(ExclusiveStartTableName="bbb", Limit=2)
        assert second == {"TableNames": ["ccc"]}

    @pytest.mark.parametrize("limit", [0, 101])
    async def test_limit_range(self, engine: streamkit.Engine, limit: int) -> None:
        with pytest.raises(ValidationException, match="failed to satisfy constraint"):
            await engine.list_tables(Limit=limit)


class TestUpdateTable:
    async def test_billing_and_protection(self, engine: streamkit.Engine) -> None:
        await engine.create_table(**_create())
        out = await engine.update_table(
            TableName="orders",
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 2},
            DeletionProtectionEnabled=True,
        )
        assert out["TableDescription"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
        with pytest.raises(ValidationException, match="protected against deletion"):
            await engine.delete_table(TableName="orders")

    async def test_stream_enable_twice(self, engine: streamkit.Engine) -> None:
        await engine.create_table(**_create())
        spec = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        await engine.update_table(TableName="orders", StreamSpecification=spec)
        with pytest.raises(ValidationException, match="Table already has an enabled stream"):
            await engine.update_table(TableName="orders", StreamSpecification=spec)
        await engine.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        table = (await engine.describe_table(TableName="orders"))["Table"]
        assert "StreamSpecification" not in table
        assert "LatestStreamArn" in table
        with pytest.raises(ValidationException, match="Table has no stream to disable"):
            await engine.update_table(
                TableName="orders", StreamSpecification={"StreamEnabled": False}
            )

    async def test_nothing_to_update(self, engine: streamkit.Engine) -> None:
        await engine.create_table(**_create())
        with pytest.raises(ValidationException, match="At least one of"):
            await engine.update_table(TableName="orders")

    async def test_missing_table(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ResourceNotFoundException):
            await engine.update_table(TableName="nope", DeletionProtectionEnabled=True)


class TestDeleteTable:
    async def test_delete_removes_items(self, engine: streamkit.Engine) -> None:
        await engine.create_table(**_create())
        await engine.put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
        out = await engine.delete_table(TableName="orders")
        assert out["TableDescription"]["TableStatus"] == "DELETING"
        assert out["TableDescription"]["ItemCount"] == 1
        with pytest.raises(ResourceNotFoundException, match="Table: orders not found"):
            await engine.describe_table(TableName="orders")
        with pytest.raises(ResourceNotFoundException):
            await engine.get_item(TableName="orders", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
        await engine.create_table(**_create())
        assert (await engine.describe_table(TableName="orders"))["Table"]["ItemCount"] == 0


async def test_tables_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with streamkit.open_engine(path) as db:
        await db.create_table(TableName="keep", **key_schema())
        await db.put_item(TableName="keep", Item={"pk": {"S": "x"}, "v": {"N": "1"}})
    async with streamkit.open_engine(path) as db:
        assert (await db.list_tables())["TableNames"] == ["keep"]
        got = await db.get_item(TableName="keep", Key={"pk": {"S": "x"}})
        assert got["Item"] == {"pk": {"S": "x"}, "v": {"N": "1"}}


async def test_delete_table_describes_only_what_dynamodb_returns(
    memory_engine: streamkit.Engine,
) -> None:
    await memory_engine.create_table(
        TableName="gone",
        **key_schema("pk", "sk"),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    await memory_engine.put_item(TableName="gone", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    described = (await memory_engine.delete_table(TableName="gone"))["TableDescription"]
    assert set(described) == {
        "TableName",
        "TableStatus",
        "ProvisionedThroughput",
        "TableSizeBytes",
        "ItemCount",
        "TableArn",
        "TableId",
        "BillingModeSummary",
        "DeletionProtectionEnabled",
    }
    assert (described["TableStatus"], described["ItemCount"]) == ("DELETING", 1)
