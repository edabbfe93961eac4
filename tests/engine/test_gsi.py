"""UpdateTable GlobalSecondaryIndexUpdates: create with backfill, update, delete."""

from __future__ import annotations

from typing import Any

import pytest

import streamkit
from streamkit.backoff import Backoff
from streamkit.engine import gsi
from streamkit.errors import (
    LimitExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from tests.conftest import key_schema

T = "users"
CREATE = {
    "Create": {
        "IndexName": "by_city",
        "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
}
CITY = [{"AttributeName": "city", "AttributeType": "S"}]


async def _by_city(db: streamkit.Engine, city: str) -> int:
    out = await db.query(
        TableName=T,
        IndexName="by_city",
        KeyConditionExpression="city = :c",
        ExpressionAttributeValues={":c": {"S": city}},
        Select="COUNT",
    )
    return int(out["Count"])


async def _index(db: streamkit.Engine) -> dict[str, Any]:
    table = (await db.describe_table(TableName=T))["Table"]
    return dict(table["GlobalSecondaryIndexes"][0])


@pytest.fixture
async def db(memory_engine: streamkit.Engine, monkeypatch: pytest.MonkeyPatch) -> streamkit.Engine:
    monkeypatch.setattr(gsi, "BACKFILL_CHUNK", 7)  # several steps for a small table
    await memory_engine.create_table(TableName=T, **key_schema())
    for i in range(20):
        await memory_engine.put_item(
            TableName=T, Item={"pk": {"S": f"u{i}"}, "city": {"S": "oslo" if i % 2 else "rome"}}
        )
    await memory_engine.put_item(TableName=T, Item={"pk": {"S": "bad"}, "city": {"N": "1"}})
    return memory_engine


async def test_create_backfills_then_activates(db: streamkit.Engine) -> None:
    out = await db.update_table(
        TableName=T, AttributeDefinitions=CITY, GlobalSecondaryIndexUpdates=[CREATE]
    )
    gsi_desc = out["TableDescription"]["GlobalSecondaryIndexes"][0]
    assert gsi_desc["IndexStatus"] == "CREATING"
    assert gsi_desc["Backfilling"] is True
    with pytest.raises(ValidationException, match="Cannot read from backfilling"):
        await _by_city(db, "oslo")
    # writes during the backfill are indexed too
    await db.put_item(TableName=T, Item={"pk": {"S": "new"}, "city": {"S": "oslo"}})
    await db.delete_item(TableName=T, Key={"pk": {"S": "u1"}})
    steps = 0
    while (await _index(db))["IndexStatus"] == "CREATING":  # each describe is one bounded step
        steps += 1
        assert steps < 20
    assert steps >= 3
    assert "Backfilling" not in await _index(db)
    assert await _by_city(db, "oslo") == 10  # 10 odd users - u1 + new
    assert await _by_city(db, "rome") == 10


async def test_update_and_delete(db: streamkit.Engine) -> None:
    await db.update_table(
        TableName=T, AttributeDefinitions=CITY, GlobalSecondaryIndexUpdates=[CREATE]
    )
    while (await _index(db))["IndexStatus"] == "CREATING":
        pass
    with pytest.raises(ResourceNotFoundException, match="Index: nope not found"):
        await db.update_table(
            TableName=T, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}]
        )
    await db.update_table(
        TableName=T, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_city"}}]
    )
    table = (await db.describe_table(TableName=T))["Table"]
    assert "GlobalSecondaryIndexes" not in table
    assert [d["AttributeName"] for d in table["AttributeDefinitions"]] == ["pk"]
    with pytest.raises(ValidationException, match="does not have the specified index"):
        await _by_city(db, "oslo")


async def test_create_rules(db: streamkit.Engine) -> None:
    with pytest.raises(ValidationException, match="not defined in AttributeDefinitions"):
        await db.update_table(TableName=T, GlobalSecondaryIndexUpdates=[CREATE])
    second = {"Create": {**CREATE["Create"], "IndexName": "other"}}
    db.retry_policy = Backoff(max_attempts=1)  # LimitExceededException is retried, as botocore
    with pytest.raises(LimitExceededException, match="Only 1 online index"):
        await db.update_table(
            TableName=T, AttributeDefinitions=CITY, GlobalSecondaryIndexUpdates=[CREATE, second]
        )
    with pytest.raises(ValidationException, match="exactly one of Create, Update or Delete"):
        await db.update_table(TableName=T, GlobalSecondaryIndexUpdates=[{"Nope": {}}])


async def test_index_named_ttl_with_ttl_enabled(memory_engine: streamkit.Engine) -> None:
    """An index called "ttl" and the TTL attribute's own SQLite index do not collide."""
    await memory_engine.create_table(
        TableName="sessions",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "user", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ttl",
                "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    await memory_engine.update_time_to_live(
        TableName="sessions",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
    )
    await memory_engine.put_item(
        TableName="sessions",
        Item={"pk": {"S": "s1"}, "user": {"S": "u1"}, "expires": {"N": "1"}},
    )
    out = await memory_engine.query(
        TableName="sessions",
        IndexName="ttl",
        KeyConditionExpression="#u = :u",
        ExpressionAttributeNames={"#u": "user"},
        ExpressionAttributeValues={":u": {"S": "u1"}},
    )
    assert out["Count"] == 1


async def test_redefining_an_attribute_type_is_refused(db: streamkit.Engine) -> None:
    await db.update_table(
        TableName=T, AttributeDefinitions=CITY, GlobalSecondaryIndexUpdates=[CREATE]
    )
    other = {"Create": {**CREATE["Create"], "IndexName": "by_city_n"}}
    with pytest.raises(ValidationException, match="Cannot change the type of attribute city"):
        await db.update_table(
            TableName=T,
            AttributeDefinitions=[{"AttributeName": "city", "AttributeType": "N"}],
            GlobalSecondaryIndexUpdates=[other],
        )
