"""Global tables' control plane (2019.11.21): UpdateTable ReplicaUpdates, the replicas in every
region's catalog, the stream rules, what follows to every replica, DeleteTable of a replica,
and the legacy (2017.11.29) calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streamkit
from streamkit.engine.globaltables import LEGACY_NOT_SUPPORTED
from streamkit.engine.regions import ALONE
from streamkit.engine.replicas import LOCAL_REGION
from streamkit.errors import (
    GlobalTableNotFoundException,
    InternalServerError,
    ResourceNotFoundException,
    ValidationException,
)
from streamkit.streams import Regions
from streamkit.testing import ManualClock
from tests.replication_support import open_group

US, EU, AP = "us-east-1", "eu-west-1", "ap-southeast-2"
INVALID = "One or more parameter values were invalid: "


@pytest.fixture
async def group(clock: ManualClock) -> AsyncIterator[Regions]:
    async with open_group([US, EU, AP], clock) as g:
        yield g


def _gsi(name: str, attr: str) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": attr, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }


async def _create(engine: streamkit.Engine, **extra: Any) -> None:
    await engine.create_table(
        TableName="orders",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "N"},
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_l",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "l", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        GlobalSecondaryIndexes=[_gsi("by_g", "g")],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


async def _add(engine: streamkit.Engine, region: str, **body: Any) -> dict[str, Any]:
    return await engine.update_table(
        TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": region, **body}}]
    )


async def _describe(engine: streamkit.Engine, name: str = "orders") -> dict[str, Any]:
    table: dict[str, Any] = (await engine.describe_table(TableName=name))["Table"]
    return table


def _replicas(engine: streamkit.Engine, name: str = "orders") -> tuple[tuple[str, str], ...]:
    return engine._tables[name].replicas


def _shape(desc: dict[str, Any]) -> dict[str, Any]:
    """What must be the same in every replica: schema, indexes, billing, stream."""
    keep = ("AttributeDefinitions", "KeySchema", "BillingModeSummary", "StreamSpecification")
    out = {k: desc.get(k) for k in keep}
    out["BillingModeSummary"] = (desc.get("BillingModeSummary") or {}).get("BillingMode")
    out["LSI"] = [(i["IndexName"], i["KeySchema"]) for i in desc.get("LocalSecondaryIndexes", [])]
    out["GSI"] = [(i["IndexName"], i["KeySchema"]) for i in desc.get("GlobalSecondaryIndexes", [])]
    return out


class TestCreate:
    async def test_the_replica_is_made_in_the_other_region(self, group: Regions) -> None:
        """Same name, schema, indexes and billing; a NEW_AND_OLD_IMAGES stream on both sides;
        the replicas, sorted, in both catalogs (the new one CREATING)."""
        us, eu = group[US], group[EU]
        await _create(us)
        await us.update_time_to_live(
            TableName="orders",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        answer = (await _add(us, EU))["TableDescription"]
        assert answer["TableStatus"] == "UPDATING"
        assert answer["GlobalTableVersion"] == "2019.11.21"
        assert answer["Replicas"] == [
            {"RegionName": EU, "ReplicaStatus": "CREATING"},
            {"RegionName": US, "ReplicaStatus": "ACTIVE"},
        ]
        expected = ((EU, "CREATING"), (US, "ACTIVE"))
        assert _replicas(us) == _replicas(eu) == expected
        assert (await eu.list_tables())["TableNames"] == ["orders"]
        mine, theirs = await _describe(us), await _describe(eu)
        assert _shape(mine) == _shape(theirs)
        assert theirs["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        assert mine["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert theirs["TableArn"] == f"arn:aws:dynamodb:{EU}:{eu.account}:table/orders"
        assert theirs["TableId"] != mine["TableId"]
        assert theirs["Replicas"] == mine["Replicas"] == answer["Replicas"]
        assert mine["TableStatus"] == "UPDATING"  # while the replica is filled
        assert theirs["TableStatus"] == "CREATING"
        ttl = await eu.describe_time_to_live(TableName="orders")
        assert ttl["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires",
        }
        assert (await group[AP].list_tables())["TableNames"] == []  # not a replica

    async def test_replica_ready_makes_it_active_everywhere(self, group: Regions) -> None:
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        await eu.replica_ready("orders", EU)
        assert _replicas(us) == _replicas(eu) == ((EU, "ACTIVE"), (US, "ACTIVE"))
        assert (await _describe(us))["TableStatus"] == "ACTIVE"
        assert (await _describe(eu))["TableStatus"] == "ACTIVE"
        await us.replica_ready("orders", EU)  # again: nothing to do
        await us.replica_ready("orders", AP)  # not a replica (deleted meanwhile): ignored
        assert _replicas(us) == ((EU, "ACTIVE"), (US, "ACTIVE"))
        with pytest.raises(ResourceNotFoundException):
            await us.replica_ready("nothing", EU)

    async def test_a_keys_only_stream_is_kept(self, group: Regions) -> None:
        us, eu = group[US], group[EU]
        await _create(
            us, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        )
        arn = (await _describe(us))["LatestStreamArn"]
        await _add(us, EU)
        mine = await _describe(us)
        assert mine["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
        assert mine["LatestStreamArn"] == arn
        theirs = await _describe(eu)
        assert theirs["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"

    async def test_three_regions_share_one_tuple(self, group: Regions) -> None:
        us, eu, ap = group[US], group[EU], group[AP]
        await _create(us)
        await _add(us, EU)
        await eu.replica_ready("orders", EU)
        await eu.update_table(TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": AP}}])
        expected = ((AP, "CREATING"), (EU, "ACTIVE"), (US, "ACTIVE"))
        assert _replicas(us) == _replicas(eu) == _replicas(ap) == expected
        await ap.replica_ready("orders", AP)
        assert {_replicas(e) for e in (us, eu, ap)} == {
            ((AP, "ACTIVE"), (EU, "ACTIVE"), (US, "ACTIVE"))
        }

    async def test_overrides(self, group: Regions) -> None:
        """A replica's read capacity (table and index) and table class may differ."""
        us, eu = group[US], group[EU]
        await us.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {**_gsi("by_g", "g"), "ProvisionedThroughput": _throughput(3, 4)}
            ],
            ProvisionedThroughput=_throughput(5, 6),
        )
        await _add(
            us,
            EU,
            ProvisionedThroughputOverride={"ReadCapacityUnits": 9},
            GlobalSecondaryIndexes=[
                {"IndexName": "by_g", "ProvisionedThroughputOverride": {"ReadCapacityUnits": 7}}
            ],
            TableClassOverride="STANDARD_INFREQUENT_ACCESS",
            KMSMasterKeyId="alias/mine",
        )
        theirs = await _describe(eu)
        assert _units(theirs["ProvisionedThroughput"]) == (9, 6)
        assert _units(theirs["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]) == (7, 4)
        assert theirs["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
        assert _units((await _describe(us))["ProvisionedThroughput"]) == (5, 6)
        await us.update_table(
            TableName="orders",
            ReplicaUpdates=[
                {
                    "Update": {
                        "RegionName": EU,
                        "ProvisionedThroughputOverride": {"ReadCapacityUnits": 2},
                    }
                }
            ],
        )
        assert _units((await _describe(eu))["ProvisionedThroughput"]) == (2, 6)


def _throughput(read: int, write: int) -> dict[str, int]:
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def _units(throughput: dict[str, Any]) -> tuple[int, int]:
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]


class TestRefused:
    """Every refusal is DynamoDB's error (or streamkit's own, documented) and changes nothing."""

    async def _unchanged(self, group: Regions) -> None:
        us = group[US]
        assert _replicas(us) == ()
        assert "StreamSpecification" not in await _describe(us)
        assert (await group[EU].list_tables())["TableNames"] == []

    @pytest.mark.parametrize("action", ["Create", "Delete"])
    async def test_the_own_region(self, group: Regions, action: str) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException) as caught:
            await group[US].update_table(
                TableName="orders", ReplicaUpdates=[{action: {"RegionName": US}}]
            )
        assert caught.value.message == LOCAL_REGION
        await self._unchanged(group)

    async def test_an_engine_opened_alone(self, memory_engine: streamkit.Engine) -> None:
        await _create(memory_engine)
        with pytest.raises(ValidationException) as caught:
            await _add(memory_engine, EU)
        assert caught.value.message == ALONE
        assert "StreamSpecification" not in await _describe(memory_engine)

    async def test_a_region_the_group_cannot_serve(self, group: Regions) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException, match="Region sa-east-1 is not one of the regions"):
            await _add(group[US], "sa-east-1")
        await self._unchanged(group)

    async def test_a_region_holding_a_table_of_that_name(self, group: Regions) -> None:
        await _create(group[US])
        await _create(group[EU])
        with pytest.raises(ValidationException) as caught:
            await _add(group[US], EU)
        assert caught.value.message == (
            INVALID + "Failed to create a the new replica of table with name: 'orders' because "
            "one or more replicas already existed as tables."
        )
        assert _replicas(group[US]) == _replicas(group[EU]) == ()
        assert "StreamSpecification" not in await _describe(group[US])

    async def test_a_replica_twice(self, group: Regions) -> None:
        await _create(group[US])
        await _add(group[US], EU)
        with pytest.raises(ValidationException, match="already existed as tables"):
            await _add(group[US], EU)

    async def test_updating_or_deleting_a_region_that_is_no_replica(self, group: Regions) -> None:
        await _create(group[US])
        for action in ("Update", "Delete"):
            with pytest.raises(ValidationException) as caught:
                await group[US].update_table(
                    TableName="orders", ReplicaUpdates=[{action: {"RegionName": EU}}]
                )
            assert caught.value.message == (
                INVALID + f"Replica of table orders does not exist in region {EU}"
            )
        await self._unchanged(group)

    @pytest.mark.parametrize(
        ("updates", "message"),
        [
            ([], "Value [] at 'replicaUpdates' failed to satisfy constraint"),
            ("x", "Invalid type for parameter ReplicaUpdates, expected a list"),
            ([{}], "exactly one of Create, Update or Delete"),
            ([{"Create": {"RegionName": EU}, "Delete": {"RegionName": EU}}], "exactly one of"),
            ([{"Create": {}}], "Value null at 'replicaUpdates.1.member.create.regionName'"),
            (
                [{"Create": {"RegionName": EU, "Nope": 1}}],
                'Unknown parameter in ReplicaUpdates.Create: "Nope"',
            ),
            ([{"Delete": {"RegionName": EU, "KMSMasterKeyId": "k"}}], "Unknown parameter"),
            (
                [{"Create": {"RegionName": EU}}, {"Create": {"RegionName": EU}}],
                "Only one ReplicationGroupUpdate per region",
            ),
            (
                [{"Create": {"RegionName": EU, "TableClassOverride": "GOLD"}}],
                "Value 'GOLD' at 'replicaUpdates.1.member.create.tableClassOverride'",
            ),
            (
                [
                    {
                        "Create": {
                            "RegionName": EU,
                            "ProvisionedThroughputOverride": {"ReadCapacityUnits": 1},
                        }
                    }
                ],
                "ProvisionedThroughputOverride cannot be specified when BillingMode is "
                "PAY_PER_REQUEST",
            ),
            (
                [{"Create": {"RegionName": EU, "GlobalSecondaryIndexes": [{"IndexName": "nope"}]}}],
                "Global secondary index nope does not exist on table orders",
            ),
        ],
    )
    async def test_bad_shapes(self, group: Regions, updates: Any, message: str) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException, match=re.escape(message)):
            await group[US].update_table(TableName="orders", ReplicaUpdates=updates)
        await self._unchanged(group)

    async def test_combined_with_another_update(self, group: Regions) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException) as caught:
            await group[US].update_table(
                TableName="orders",
                ReplicaUpdates=[{"Create": {"RegionName": EU}}],
                DeletionProtectionEnabled=True,
            )
        assert caught.value.message == (
            INVALID + "ReplicaUpdates cannot be combined with other table updates "
            "(DeletionProtectionEnabled) in one UpdateTable call"
        )
        await self._unchanged(group)

    async def test_strong_consistency_and_witnesses(self, group: Regions) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException) as caught:
            await group[US].update_table(
                TableName="orders",
                ReplicaUpdates=[{"Create": {"RegionName": EU}}],
                MultiRegionConsistency="STRONG",
            )
        assert caught.value.message == (
            "MultiRegionConsistency STRONG is not supported by streamkit: its global tables "
            "replicate with multi-Region eventual consistency (EVENTUAL)"
        )
        with pytest.raises(ValidationException, match="GlobalTableWitnessUpdates are not"):
            await group[US].update_table(
                TableName="orders",
                GlobalTableWitnessUpdates=[{"Create": {"RegionName": AP}}],
            )
        with pytest.raises(ValidationException, match="Value 'SOMETIMES' at 'multiRegion"):
            await group[US].update_table(TableName="orders", MultiRegionConsistency="SOMETIMES")
        await self._unchanged(group)
        await group[US].update_table(
            TableName="orders",
            ReplicaUpdates=[{"Create": {"RegionName": EU}}],
            MultiRegionConsistency="EVENTUAL",
        )
        assert _replicas(group[EU]) == ((EU, "CREATING"), (US, "ACTIVE"))

    async def test_the_stream_of_a_global_table_stays(self, group: Regions) -> None:
        await _create(group[US])
        await _add(group[US], EU)
        for engine in (group[US], group[EU]):
            with pytest.raises(ValidationException) as caught:
                await engine.update_table(
                    TableName="orders", StreamSpecification={"StreamEnabled": False}
                )
            assert caught.value.message == (
                INVALID + "Disabling Stream is not allowed for a Global Table replica."
            )
            with pytest.raises(ValidationException, match="already has an enabled stream"):
                await engine.update_table(
                    TableName="orders",
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
                )
            desc = await _describe(engine)
            assert desc["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


class TestFollow:
    """While global, index, TTL, billing and write capacity changes reach every replica."""

    async def test_gsi_create_and_delete(self, group: Regions) -> None:
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        await eu.put_item(TableName="orders", Item=_item("a", h="x"))
        await eu.update_table(
            TableName="orders",
            AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": _gsi("by_h", "h")}],
        )
        for engine in (us, eu):
            desc = await _describe(engine)
            names = [i["IndexName"] for i in desc["GlobalSecondaryIndexes"]]
            assert names == ["by_g", "by_h"]
        while (await _describe(eu))["GlobalSecondaryIndexes"][1]["IndexStatus"] != "ACTIVE":
            pass  # DescribeTable drives the back-fill
        hits = await eu.query(
            TableName="orders",
            IndexName="by_h",
            KeyConditionExpression="h = :h",
            ExpressionAttributeValues={":h": {"S": "x"}},
        )
        assert hits["Count"] == 1
        await us.update_table(
            TableName="orders", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_g"}}]
        )
        for engine in (us, eu):
            desc = await _describe(engine)
            assert [i["IndexName"] for i in desc["GlobalSecondaryIndexes"]] == ["by_h"]

    async def test_a_bad_index_change_changes_no_replica(self, group: Regions) -> None:
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        with pytest.raises(ResourceNotFoundException):
            await us.update_table(
                TableName="orders",
                GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}],
            )
        for engine in (us, eu):
            desc = await _describe(engine)
            assert [i["IndexName"] for i in desc["GlobalSecondaryIndexes"]] == ["by_g"]

    async def test_ttl(self, group: Regions, clock: ManualClock) -> None:
        us, eu, ap = group[US], group[EU], group[AP]
        await _create(us)
        await _add(us, EU)
        await _add(us, AP)
        await eu.update_time_to_live(
            TableName="orders",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        for engine in (us, eu, ap):
            ttl = await engine.describe_time_to_live(TableName="orders")
            assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
            assert engine.ttl_tables() == ["orders"]
        await us.update_time_to_live(
            TableName="orders",
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"},
        )
        for engine in (us, eu, ap):
            ttl = await engine.describe_time_to_live(TableName="orders")
            assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}

    async def test_billing_and_write_capacity(self, group: Regions) -> None:
        """Write capacity and the billing mode follow; each replica keeps its read capacity;
        tags, protection and table class stay each replica's own."""
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        await us.update_table(
            TableName="orders",
            BillingMode="PROVISIONED",
            ProvisionedThroughput=_throughput(5, 6),
            GlobalSecondaryIndexUpdates=[
                {"Update": {"IndexName": "by_g", "ProvisionedThroughput": _throughput(1, 2)}}
            ],
        )
        theirs = await _describe(eu)
        assert "BillingModeSummary" not in theirs
        assert _units(theirs["ProvisionedThroughput"]) == (5, 6)
        await eu.update_table(TableName="orders", ProvisionedThroughput=_throughput(8, 6))
        await us.update_table(TableName="orders", ProvisionedThroughput=_throughput(5, 10))
        assert _units((await _describe(eu))["ProvisionedThroughput"]) == (8, 10)
        assert _units((await _describe(us))["ProvisionedThroughput"]) == (5, 10)
        await us.update_table(TableName="orders", DeletionProtectionEnabled=True)
        assert (await _describe(eu))["DeletionProtectionEnabled"] is False
        await eu.update_table(TableName="orders", BillingMode="PAY_PER_REQUEST")
        mine = await _describe(us)
        assert mine["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def _item(pk: str, **more: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "s"}, **{k: {"S": v} for k, v in more.items()}}


class TestDelete:
    async def test_deleting_the_last_other_replica(self, group: Regions) -> None:
        """The replica and its items go; the table is regional again; the stream stays on."""
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        await eu.replica_ready("orders", EU)
        await eu.put_item(TableName="orders", Item=_item("a"))
        answer = await us.update_table(
            TableName="orders", ReplicaUpdates=[{"Delete": {"RegionName": EU}}]
        )
        assert answer["TableDescription"]["Replicas"] == [
            {"RegionName": EU, "ReplicaStatus": "DELETING"},
            {"RegionName": US, "ReplicaStatus": "ACTIVE"},
        ]
        assert (await eu.list_tables())["TableNames"] == []
        assert _replicas(us) == ()
        mine = await _describe(us)
        assert "Replicas" not in mine
        assert "GlobalTableVersion" not in mine
        assert mine["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert mine["TableStatus"] == "ACTIVE"
        await us.update_table(TableName="orders", StreamSpecification={"StreamEnabled": False})
        # the region can hold a table of that name again, its own
        await _create(eu)
        assert (await eu.scan(TableName="orders"))["Count"] == 0

    async def test_deleting_one_of_three(self, group: Regions) -> None:
        us, eu, ap = group[US], group[EU], group[AP]
        await _create(us)
        await _add(us, EU)
        await _add(us, AP)
        await ap.update_table(TableName="orders", ReplicaUpdates=[{"Delete": {"RegionName": EU}}])
        assert _replicas(us) == _replicas(ap) == ((AP, "CREATING"), (US, "ACTIVE"))
        assert "orders" not in eu._tables

    async def test_delete_table_of_a_replica_leaves_the_group(self, group: Regions) -> None:
        us, eu, ap = group[US], group[EU], group[AP]
        await _create(us)
        await _add(us, EU)
        await _add(us, AP)
        answer = await ap.delete_table(TableName="orders")
        assert "Replicas" not in answer["TableDescription"]
        assert _replicas(us) == _replicas(eu) == ((EU, "CREATING"), (US, "ACTIVE"))
        await us.delete_table(TableName="orders")  # the source table may go too
        assert _replicas(eu) == ()
        assert "Replicas" not in await _describe(eu)

    async def test_a_protected_replica_is_not_deleted(self, group: Regions) -> None:
        us, eu = group[US], group[EU]
        await _create(us)
        await _add(us, EU)
        await eu.update_table(TableName="orders", DeletionProtectionEnabled=True)
        with pytest.raises(ValidationException, match="protected against deletion"):
            await us.update_table(
                TableName="orders", ReplicaUpdates=[{"Delete": {"RegionName": EU}}]
            )
        assert _replicas(us) == _replicas(eu) == ((EU, "CREATING"), (US, "ACTIVE"))


async def test_a_regional_table_has_no_replicas(group: Regions) -> None:
    await _create(group[US])
    desc = await _describe(group[US])
    assert "Replicas" not in desc
    assert "GlobalTableVersion" not in desc
    created = await group[US].create_table(TableName="other", **_simple())
    assert "Replicas" not in created["TableDescription"]


def _simple() -> dict[str, Any]:
    return {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


async def test_the_catalogs_survive_a_reopen(tmp_path: Path, clock: ManualClock) -> None:
    async with streamkit.open_regions(tmp_path, regions=[US, EU], clock=clock) as group:
        await _create(group[US])
        await _add(group[US], EU)
        await group[EU].update_time_to_live(
            TableName="orders",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
    async with streamkit.open_regions(tmp_path, regions=[US, EU], clock=clock) as group:
        for engine in group.engines.values():
            assert _replicas(engine) == ((EU, "CREATING"), (US, "ACTIVE"))
            desc = await _describe(engine)
            assert desc["GlobalTableVersion"] == "2019.11.21"
            assert engine.ttl_tables() == ["orders"]
        await group[EU].replica_ready("orders", EU)
    async with streamkit.open_regions(tmp_path, regions=[US, EU], clock=clock) as group:
        for engine in group.engines.values():
            assert _replicas(engine) == ((EU, "ACTIVE"), (US, "ACTIVE"))


class TestLegacy:
    """The 2017.11.29 calls answer as today's DynamoDB does, global tables or not."""

    async def test_create_global_table(self, group: Regions) -> None:
        await _create(group[US])
        with pytest.raises(ValidationException) as caught:
            await group[US].create_global_table(
                GlobalTableName="orders", ReplicationGroup=[{"RegionName": EU}]
            )
        assert caught.value.message == INVALID + LEGACY_NOT_SUPPORTED
        with pytest.raises(ValidationException, match="Value null at 'replicationGroup'"):
            await group[US].create_global_table(GlobalTableName="orders")

    @pytest.mark.parametrize(
        ("operation", "extra"),
        [
            ("describe_global_table", {}),
            ("describe_global_table_settings", {}),
            ("update_global_table", {"ReplicaUpdates": [{"Create": {"RegionName": EU}}]}),
            ("update_global_table_settings", {"GlobalTableBillingMode": "PAY_PER_REQUEST"}),
        ],
    )
    async def test_the_others_find_no_global_table(
        self, group: Regions, operation: str, extra: dict[str, Any]
    ) -> None:
        await _create(group[US])
        await _add(group[US], EU)  # a 2019.11.21 global table is no legacy one
        with pytest.raises(GlobalTableNotFoundException) as caught:
            await getattr(group[US], operation)(GlobalTableName="orders", **extra)
        assert caught.value.message == "Global table with name 'orders' does not exist."
        assert caught.value.code == "GlobalTableNotFoundException"
        with pytest.raises(ValidationException, match="Value null at 'globalTableName'"):
            await getattr(group[US], operation)(**extra)

    async def test_list_global_tables(self, group: Regions) -> None:
        await _create(group[US])
        await _add(group[US], EU)
        assert await group[US].list_global_tables() == {"GlobalTables": []}
        assert await group[US].list_global_tables(RegionName=EU, Limit=5) == {"GlobalTables": []}
        with pytest.raises(ValidationException, match="Unknown parameter"):
            await group[US].list_global_tables(Nope=1)


async def test_a_restored_copy_of_a_global_table_is_regional(group: Regions) -> None:
    us = group[US]
    await _create(us)
    await _add(us, EU)
    arn = (await us.create_backup(TableName="orders", BackupName="before"))["BackupDetails"][
        "BackupArn"
    ]
    await us.restore_table_from_backup(TargetTableName="copy", BackupArn=arn)
    desc = await _describe(us, "copy")
    assert "Replicas" not in desc
    assert _replicas(us, "copy") == ()


async def test_delete_table_of_a_replica_opened_alone_changes_nothing(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A region's file opened on its own (open_engine, a CLI command) cannot take its replica
    out of the other regions' catalogs: DeleteTable refuses before dropping anything."""
    async with open_group([US, EU], clock, tmp_path) as group:
        await _create(group[US])
        await _add(group[US], EU)
        await group[US].put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"S": "1"}})
    async with streamkit.open_engine(tmp_path / f"{US}.sqlite3", region=US, clock=clock) as us:
        with pytest.raises(ValidationException) as caught:
            await us.delete_table(TableName="orders")
        assert caught.value.message == ALONE
        assert (await us.scan(TableName="orders"))["Count"] == 1
    async with open_group([US, EU], clock, tmp_path) as group:
        for engine in group.engines.values():
            assert _replicas(engine) == ((EU, "CREATING"), (US, "ACTIVE"))


# -- all or nothing ---------------------------------------------------------------------------

#: the engine steps a ReplicaUpdates request takes (each one write), where faults are injected
_STEPS = ("_create_table_spec", "_save_table_update", "_drop_table")


class _Faults:
    """Counts the engine steps of every region; at step ``at`` it raises (``cancel`` None) or
    cancels ``cancel`` (then waits for the cancellation) before the step runs."""

    def __init__(self, group: Regions, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at = 0
        self.count = 0
        self.cancel: anyio.CancelScope | None = None
        for region in (US, EU, AP):
            for name in _STEPS:
                monkeypatch.setattr(group[region], name, self._wrap(getattr(group[region], name)))

    def _wrap(self, step: Any) -> Any:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.count == self.at:
                if self.cancel is None:
                    raise InternalServerError("injected failure")
                self.cancel.cancel()
                await anyio.lowlevel.checkpoint()  # the cancellation lands here
            return await step(*args, **kwargs)

        return wrapped


async def _snapshot(group: Regions) -> dict[str, Any]:
    """Everything a ReplicaUpdates request may change: every region's table specs (catalog
    entries: replicas, stream, class, id) and items."""
    out: dict[str, Any] = {}
    for region in (US, EU, AP):
        engine = group[region]
        out[region] = {
            name: (spec, (await engine.scan(TableName=name))["Items"])
            for name, spec in sorted(engine._tables.items())
        }
    return out


class TestAllOrNothing:
    """A ReplicaUpdates request that fails half-way (a region's engine refuses a step, or the
    call is cancelled) changes nothing: DynamoDB accepts or refuses it whole (its errors come
    before any replica exists); later failures show as a replica's status, never as half a
    request. Deleted replicas' tables are dropped last, once nothing else can fail."""

    async def _regional(self, group: Regions) -> None:
        await _create(group[US])
        await group[US].put_item(TableName="orders", Item=_item("a", g="x"))

    async def _two_regions(self, group: Regions) -> None:
        await self._regional(group)
        await _add(group[US], EU)
        await group[EU].replica_ready("orders", EU)

    async def test_the_second_create_fails(
        self, group: Regions, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await self._regional(group)
        before = await _snapshot(group)
        refuse = InternalServerError("the region refuses")

        async def refused(*args: Any, **kwargs: Any) -> Any:
            raise refuse

        monkeypatch.setattr(group[AP], "_create_table_spec", refused)
        with pytest.raises(InternalServerError) as caught:
            await group[US].update_table(
                TableName="orders",
                ReplicaUpdates=[{"Create": {"RegionName": EU}}, {"Create": {"RegionName": AP}}],
            )
        assert caught.value is refuse
        assert await _snapshot(group) == before
        assert "StreamSpecification" not in await _describe(group[US])

    async def test_an_update_beside_a_failed_create_is_undone(
        self, group: Regions, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await self._two_regions(group)
        before = await _snapshot(group)

        async def refused(*args: Any, **kwargs: Any) -> Any:
            raise InternalServerError("the region refuses")

        monkeypatch.setattr(group[AP], "_create_table_spec", refused)
        with pytest.raises(InternalServerError):
            await group[US].update_table(
                TableName="orders",
                ReplicaUpdates=[
                    {
                        "Update": {
                            "RegionName": EU,
                            "TableClassOverride": "STANDARD_INFREQUENT_ACCESS",
                        }
                    },
                    {"Create": {"RegionName": AP}},
                ],
            )
        assert await _snapshot(group) == before

    @pytest.mark.parametrize("cancelled", [False, True], ids=["fails", "cancelled"])
    @pytest.mark.parametrize(
        ("start", "updates"),
        [
            ("regional", [("Create", EU), ("Create", AP)]),
            ("two", [("Update", EU), ("Create", AP)]),
            ("two", [("Create", AP), ("Delete", EU)]),
            ("two", [("Delete", EU)]),
        ],
        ids=["two-creates", "update-create", "create-delete", "delete"],
    )
    async def test_every_step(
        self,
        clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        cancelled: bool,
        start: str,
        updates: list[tuple[str, str]],
    ) -> None:
        """A fault (or a cancellation) at each step in turn: the request has either changed
        nothing or (once its drops began) done everything but the drops still due, and a
        deleted replica's table left is a regional table."""
        request = [
            {
                action: {
                    "RegionName": region,
                    **({"TableClassOverride": "STANDARD"} if action == "Update" else {}),
                }
            }
            for action, region in updates
        ]
        deleted = [region for action, region in updates if action == "Delete"]
        at = 0
        while True:
            at += 1
            async with open_group([US, EU, AP], clock, tmp_path / str(at)) as group:
                await (self._regional if start == "regional" else self._two_regions)(group)
                before = await _snapshot(group)
                faults = _Faults(group, monkeypatch)
                faults.at = at
                failed = False
                with anyio.CancelScope() as scope:
                    faults.cancel = scope if cancelled else None
                    try:
                        await group[US].update_table(TableName="orders", ReplicaUpdates=request)
                    except InternalServerError:
                        failed = True
                failed = failed or scope.cancelled_caught
                after = await _snapshot(group)
                monkeypatch.undo()
                if faults.count < at:  # no step failed: the request is done
                    assert not failed
                    break
                assert failed, at
                if after == before:
                    continue
                # only drops were still due: everything else is done and stays done
                left = [r for r in deleted if "orders" in group[r]._tables]
                assert left, (at, "a changed state with nothing left to drop")
                for region in left:
                    assert group[region]._tables["orders"].replicas == ()
                assert US not in left
                assert all(region not in dict(_replicas(group[US])) for region in deleted)
        assert at > 2  # the request had steps to fail at
