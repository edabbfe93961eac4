"""``streamkit serve`` serves every region of its data directory on one port: boto3 picks the
region by its SigV4 scope, each region opens on its first request, runs the app's handlers on
its own tables, and keeps its data in ``<dir>/<region>.sqlite3`` (the files open_regions uses).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio
import boto3
import orjson

import streamkit
from tests.server.serving import start_serve, stop
from tests.server.test_boto3 import session_kwargs

REGIONS = ["us-east-1", "eu-west-1"]


def _create(client: Any) -> None:
    client.create_table(
        TableName="served",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )


def test_two_regions_on_one_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "served.jsonl"
    os.environ["STREAMKIT_SERVED_LOG"] = str(log)
    try:
        process, url, _ = start_serve("--data", str(data), "--app", "tests.server.served_app:app")
    finally:
        del os.environ["STREAMKIT_SERVED_LOG"]
    try:
        assert sorted(p.name for p in data.glob("*.sqlite3")) == ["us-east-1.sqlite3"]
        east, west = (boto3.client("dynamodb", **session_kwargs(url, r)) for r in REGIONS)
        _create(east)
        assert west.list_tables()["TableNames"] == []  # opened now, on its first request
        assert sorted(p.name for p in data.glob("*.sqlite3")) == [
            "eu-west-1.sqlite3",
            "us-east-1.sqlite3",
        ]
        _create(west)
        east.put_item(TableName="served", Item={"pk": {"S": "east"}})
        west.put_item(TableName="served", Item={"pk": {"S": "west"}})
        assert [i["pk"]["S"] for i in east.scan(TableName="served")["Items"]] == ["east"]
        assert [i["pk"]["S"] for i in west.scan(TableName="served")["Items"]] == ["west"]
        arn = west.describe_table(TableName="served")["Table"]["TableArn"]
        assert arn.startswith("arn:aws:dynamodb:eu-west-1:")
        deadline = time.monotonic() + 20  # a real server: bounded wait for its handlers
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.02)
    finally:
        assert stop(process) == 0
    # the app's handler ran in each region, on that region's write
    events = sorted(
        (name, keys["pk"]["S"])
        for name, keys in (orjson.loads(line) for line in log.read_text().splitlines())
    )
    assert events == [("INSERT", "east"), ("INSERT", "west")]

    async def reopen() -> dict[str, list[str]]:
        async with streamkit.open_regions(data, regions=REGIONS) as group:
            return {
                region: [
                    item["pk"]["S"] for item in (await engine.scan(TableName="served"))["Items"]
                ]
                for region, engine in group.items()
            }

    assert anyio.run(reopen) == {"us-east-1": ["east"], "eu-west-1": ["west"]}
