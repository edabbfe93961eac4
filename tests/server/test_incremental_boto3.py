"""Incremental exports and exports at a past time through a real ``streamkit serve`` with boto3.

The table's history is written beforehand by an engine on a manual clock set two hours back,
so the server (on the real clock) has a PITR window long enough for a 15-minute period.
"""

from __future__ import annotations

import datetime
import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import boto3
import orjson
import pytest
from botocore.exceptions import ClientError

import streamkit
from streamkit.testing import ManualClock
from tests.server.serving import start_serve, stop
from tests.server.test_boto3 import session_kwargs

HOUR = 3600.0
START = time.time() - 2 * HOUR  # when the history begins (PITR on)


def _utc(at: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(at, datetime.UTC)


async def _write_history(data: Path) -> None:
    clock = ManualClock(START)
    async with streamkit.open_engine(data / "us-east-1.sqlite3", clock=clock) as db:
        await db.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await db.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
        await db.put_item(TableName="orders", Item={"pk": {"S": "gone"}, "v": {"N": "1"}})
        await db.update_continuous_backups(
            TableName="orders",
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
        clock.advance(10 * 60)  # START + 10 min: changes
        await db.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
        await db.put_item(TableName="orders", Item={"pk": {"S": "new"}, "b": {"B": b"\x01"}})
        await db.delete_item(TableName="orders", Key={"pk": {"S": "gone"}})
        clock.advance(60 * 60)  # START + 70 min: after the period exported below
        await db.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "3"}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    data = tmp_path_factory.mktemp("data")
    s3_dir = tmp_path_factory.mktemp("buckets")
    anyio.run(_write_history, data)
    process, url, _ = start_serve("--data", str(data), "--s3-dir", str(s3_dir))
    try:
        yield boto3.client("dynamodb", **session_kwargs(url)), s3_dir
    finally:
        assert stop(process) == 0


def _wait(client: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        desc: dict[str, Any] = client.describe_export(ExportArn=arn)["ExportDescription"]
        if desc["ExportStatus"] != "IN_PROGRESS" or time.monotonic() > deadline:
            assert desc["ExportStatus"] == "COMPLETED", desc
            return desc
        time.sleep(0.05)


def _lines(s3_dir: Path, desc: dict[str, Any]) -> list[Any]:
    bucket = s3_dir / desc["S3Bucket"]
    folder = bucket / desc["ExportManifest"].rsplit("/", 1)[0]
    out: list[Any] = []
    for entry in (folder / "manifest-files.json").read_bytes().splitlines():
        data = gzip.decompress((bucket / orjson.loads(entry)["dataFileS3Key"]).read_bytes())
        out += [orjson.loads(line) for line in data.splitlines()]
    return out


def test_incremental_export_with_boto3(server: tuple[Any, Path]) -> None:
    client, s3_dir = server
    arn = client.describe_table(TableName="orders")["Table"]["TableArn"]
    spec = {
        "ExportFromTime": _utc(START + 5 * 60),
        "ExportToTime": _utc(START + 35 * 60),
        "ExportViewType": "NEW_AND_OLD_IMAGES",
    }
    started = client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="cdc", ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification=spec,
    )["ExportDescription"]  # fmt: skip
    assert started["ExportType"] == "INCREMENTAL_EXPORT"
    assert started["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"
    assert started["IncrementalExportSpecification"]["ExportFromTime"] == spec["ExportFromTime"]
    desc = _wait(client, started["ExportArn"])
    lines = {line["Keys"]["pk"]["S"]: line for line in _lines(s3_dir, desc)}
    assert set(lines) == {"a", "new", "gone"}
    assert lines["a"]["OldImage"]["v"] == {"N": "1"}
    assert lines["a"]["NewImage"]["v"] == {"N": "2"}
    assert "OldImage" not in lines["new"]
    assert lines["new"]["NewImage"]["b"] == {"B": "AQ=="}
    assert "NewImage" not in lines["gone"]
    assert lines["gone"]["OldImage"]["v"] == {"N": "1"}
    micros = int(lines["a"]["Metadata"]["WriteTimestampMicros"]["N"])
    assert micros == round((START + 10 * 60) * 1e6)
    summaries = client.list_exports(TableArn=arn)["ExportSummaries"]
    assert {"ExportArn": desc["ExportArn"], "ExportStatus": "COMPLETED",
            "ExportType": "INCREMENTAL_EXPORT"} in summaries  # fmt: skip


def test_full_export_at_a_past_time_with_boto3(server: tuple[Any, Path]) -> None:
    client, s3_dir = server
    arn = client.describe_table(TableName="orders")["Table"]["TableArn"]
    started = client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="past", ExportTime=_utc(START + 30 * 60)
    )["ExportDescription"]
    assert started["ExportTime"] == _utc(START + 30 * 60)
    desc = _wait(client, started["ExportArn"])
    items = sorted((line["Item"] for line in _lines(s3_dir, desc)), key=lambda i: i["pk"]["S"])
    assert [i["pk"]["S"] for i in items] == ["a", "new"]
    assert items[0]["v"] == {"N": "2"}  # not the later 3


def test_errors_with_boto3(server: tuple[Any, Path]) -> None:
    client, _ = server
    arn = client.describe_table(TableName="orders")["Table"]["TableArn"]

    def incremental(**spec: Any) -> None:
        client.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="errs", ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification=spec,
        )  # fmt: skip

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ExportFromTime": _utc(START + 600), "ExportToTime": _utc(START + 900)},
         "ValidationException", "at least 15 minutes"),
        ({"ExportFromTime": _utc(START + 600), "ExportToTime": _utc(START + 600 + 25 * HOUR)},
         "InvalidExportTimeException", "future"),
        ({"ExportFromTime": _utc(START - HOUR), "ExportToTime": _utc(START)},
         "InvalidExportTimeException", "point in time recovery window"),
        ({"ExportToTime": _utc(START + HOUR)}, "ValidationException", "ExportFromTime"),
    ]  # fmt: skip
    for spec, code, message in cases:
        with pytest.raises(ClientError) as caught:
            incremental(**spec)
        assert caught.value.response["Error"]["Code"] == code
        assert message in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        client.export_table_to_point_in_time(
            TableArn=arn, S3Bucket="errs", ExportTime=_utc(START - HOUR)
        )
    assert caught.value.response["Error"]["Code"] == "InvalidExportTimeException"
    bare = client.create_table(
        TableName="nopitr",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    with pytest.raises(ClientError) as caught:
        client.export_table_to_point_in_time(
            TableArn=bare, S3Bucket="errs", ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={"ExportFromTime": _utc(START + 600)},
        )  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
