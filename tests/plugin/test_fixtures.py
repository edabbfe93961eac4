"""The pytest plugin's fixtures, used as a user would (this suite: pytest-asyncio, auto mode)."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any

import boto3
import pytest
from anyio import wait_all_tasks_blocked
from botocore.exceptions import ClientError

import streamkit
from streamkit import pytest_plugin
from streamkit.testing import ManualClock, SyncHarness

app = streamkit.App()
seen: list[str] = []


@app.on_stream("orders")
async def record(event: dict[str, Any], context: object) -> None:
    seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])


ORDERS: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


@pytest.fixture(autouse=True)
def _forget_seen() -> None:
    seen.clear()


def test_the_suite_has_the_plugin_once(pytestconfig: pytest.Config) -> None:
    manager = pytestconfig.pluginmanager
    assert manager.is_registered(pytest_plugin)
    assert [p for p in manager.get_plugins() if p is pytest_plugin] == [pytest_plugin]


async def test_engine_is_in_memory_and_fresh(streamkit_engine: Any) -> None:
    async with streamkit_engine as engine:
        assert await engine.list_tables() == {"TableNames": []}
        await engine.create_table(TableName="orders", **ORDERS)
        await engine.table("orders").put_item(Item={"pk": "o1"})
        assert (await engine.table("orders").get_item(Key={"pk": "o1"}))["Item"] == {"pk": "o1"}


@pytest.mark.streamkit_app(app)
async def test_harness_runs_the_marked_app(streamkit_harness: Any) -> None:
    async with streamkit_harness as h:
        await h.engine.create_table(TableName="orders", **ORDERS)
        for key in ("o1", "o2"):
            await h.engine.table("orders").put_item(Item={"pk": key})
        await h.drain()
        assert seen == ["o1", "o2"]
        assert h.runtime.mappings["record"].metrics().records == 2


async def test_harness_without_marker_runs_no_mapping(streamkit_harness: Any) -> None:
    async with streamkit_harness as h:
        await h.engine.create_table(TableName="orders", **ORDERS)
        await h.engine.table("orders").put_item(Item={"pk": "o1"})
        await h.drain()
        assert h.runtime.mappings == {}
    assert seen == []


@pytest.mark.streamkit_app(app, stream_shards=2)
def test_marker_keywords_are_engine_options(streamkit_sync_harness: SyncHarness) -> None:
    h = streamkit_sync_harness
    h.engine.create_table(TableName="orders", **ORDERS)
    arn = h.engine.stream_arn("orders")
    shards = h.engine.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(shards) == 2


@pytest.mark.streamkit_app(app)
def test_sync_harness_drains_and_moves_the_clock(
    streamkit_sync_harness: SyncHarness, streamkit_clock: ManualClock
) -> None:
    h = streamkit_sync_harness
    assert h.clock is streamkit_clock
    h.engine.create_table(TableName="orders", **ORDERS)
    for key in ("a", "b", "c"):
        h.engine.table("orders").put_item(Item={"pk": key})
    h.drain()
    assert seen == ["a", "b", "c"]
    before = h.clock.now()
    h.advance(30)
    assert h.clock.now() == before + 30
    assert h.call(lambda: h.runtime.mappings["record"].metrics()).records == 3


def test_advancing_the_clock_from_the_wrong_thread_fails_loudly(
    streamkit_sync_harness: SyncHarness,
) -> None:
    h = streamkit_sync_harness
    h.advance(1)
    h.portal.call(wait_all_tasks_blocked)  # the TTL sweeper sleeps on the clock again, in the
    assert h.clock.next_wake() is not None  # harness' thread
    before = h.clock.now()
    with pytest.raises(RuntimeError, match=r"use SyncHarness\.advance\(\)"):
        h.clock.advance(5)
    assert h.clock.now() == before


def put_order(order_id: str) -> None:
    """Application code: a plain boto3 client, no endpoint argument."""
    boto3.client("dynamodb").put_item(TableName="orders", Item={"pk": {"S": order_id}})


@pytest.mark.streamkit_app(app)
def test_endpoint_serves_plain_boto3_clients(streamkit_endpoint: SyncHarness) -> None:
    assert streamkit_endpoint.url is not None
    assert streamkit_endpoint.url.startswith("http://127.0.0.1:")
    for name in pytest_plugin.ENDPOINT_VARIABLES:
        assert os.environ[name] == streamkit_endpoint.url
    boto3.client("dynamodb").create_table(TableName="orders", **ORDERS)
    put_order("o9")
    streamkit_endpoint.drain()
    assert seen == ["o9"]
    got = streamkit_endpoint.engine.table("orders").get_item(Key={"pk": "o9"})
    assert got["Item"] == {"pk": "o9"}
    streams = boto3.client("dynamodbstreams")
    assert [s["TableName"] for s in streams.list_streams()["Streams"]] == ["orders"]


def test_endpoint_state_is_fresh(streamkit_endpoint: SyncHarness) -> None:
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


@pytest.mark.streamkit_app(app, regions=["us-east-1", "eu-west-1"])
async def test_harness_takes_regions_from_the_marker(streamkit_harness: Any) -> None:
    async with streamkit_harness as h:
        assert list(h.engines) == ["us-east-1", "eu-west-1"]
        for region, engine in h.engines.items():
            await engine.create_table(TableName="orders", **ORDERS)
            await engine.table("orders").put_item(Item={"pk": region})
        await h.drain()
        assert sorted(seen) == ["eu-west-1", "us-east-1"]


@pytest.mark.streamkit_app(app, regions=["us-east-1", "eu-west-1"])
def test_endpoint_serves_each_region(streamkit_endpoint: SyncHarness) -> None:
    west = boto3.client("dynamodb", region_name="eu-west-1")
    west.create_table(TableName="orders", **ORDERS)
    west.put_item(TableName="orders", Item={"pk": {"S": "w1"}})
    assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []
    streamkit_endpoint.drain()
    assert seen == ["w1"]
    got = streamkit_endpoint.engines["eu-west-1"].table("orders").get_item(Key={"pk": "w1"})
    assert got["Item"] == {"pk": "w1"}
    refused = boto3.client("dynamodb", region_name="ap-south-1")
    with pytest.raises(ClientError, match="ValidationException"):
        refused.list_tables()


def test_marker_misuse_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.streamkit_app("not an app")
        def test_it(streamkit_sync_harness):
            pass
        """
    )
    installed = entry_points(group="pytest11", name="streamkit")  # else: load it by hand
    load = () if installed else ("-p", "streamkit.pytest_plugin")
    result = pytester.runpytest(*load, "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*streamkit_app takes one streamkit.App*"])
