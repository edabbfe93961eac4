"""Point-in-time recovery over HTTP: boto3 against the server's own HTTP code in process, on
a manual clock (restore times apart without sleeping), and the aws CLI against
``streamkit serve``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from streamkit.server import open_sync_endpoint
from streamkit.testing import ManualClock, SyncHarness
from tests.conftest import key_schema
from tests.server.serving import aws_cli
from tests.server.test_boto3 import client, endpoint, session_kwargs, table_name

__all__ = ["client", "endpoint", "table_name"]  # the fixtures, shared with test_boto3

ENABLE = {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7}


def _code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


@pytest.fixture
def served() -> Iterator[tuple[SyncHarness, Any]]:
    """An engine on a manual clock served over HTTP on loopback by the server's own code (the
    loop in a background thread), and a boto3 client of it."""
    with open_sync_endpoint(clock=ManualClock()) as h:
        assert h.url is not None
        yield h, boto3.client("dynamodb", **session_kwargs(h.url))


def test_boto3_point_in_time_recovery(served: tuple[SyncHarness, Any]) -> None:
    h, client = served
    table_name = "orders"
    client.create_table(TableName=table_name, **key_schema("pk", "sk", range_kind="N"))
    off = client.describe_continuous_backups(TableName=table_name)
    assert off["ContinuousBackupsDescription"] == {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
    }
    client.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    on = client.update_continuous_backups(
        TableName=table_name, PointInTimeRecoverySpecification=ENABLE
    )["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert on["PointInTimeRecoveryStatus"] == "ENABLED"
    assert on["RecoveryPeriodInDays"] == 7
    assert isinstance(on["EarliestRestorableDateTime"], datetime)  # a timestamp on the wire
    h.advance(1.1)  # the server's clock: restore times a second apart, without sleeping
    middle = datetime.fromtimestamp(h.clock.now(), UTC)
    h.advance(1.1)
    client.put_item(TableName=table_name, Item={"pk": {"S": "b"}, "sk": {"N": "2"}})
    client.delete_item(TableName=table_name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})

    out = client.restore_table_to_point_in_time(
        SourceTableName=table_name, TargetTableName=f"{table_name}_then", RestoreDateTime=middle
    )["TableDescription"]
    assert out["RestoreSummary"]["RestoreInProgress"] is False
    assert out["RestoreSummary"]["SourceTableArn"].endswith(f":table/{table_name}")
    then = client.scan(TableName=f"{table_name}_then")["Items"]
    assert then == [{"pk": {"S": "a"}, "sk": {"N": "1"}}]
    client.restore_table_to_point_in_time(
        SourceTableArn=f"arn:aws:dynamodb:us-east-1:000000000000:table/{table_name}",
        TargetTableName=f"{table_name}_now",
        UseLatestRestorableTime=True,
    )
    now = client.scan(TableName=f"{table_name}_now")["Items"]
    assert now == [{"pk": {"S": "b"}, "sk": {"N": "2"}}]

    with pytest.raises(ClientError) as info:
        client.restore_table_to_point_in_time(
            SourceTableName=table_name,
            TargetTableName=f"{table_name}_now",
            UseLatestRestorableTime=True,
        )
    assert _code(info) == "TableAlreadyExistsException"
    with pytest.raises(ClientError) as info:
        client.restore_table_to_point_in_time(
            SourceTableName=table_name,
            TargetTableName=f"{table_name}_early",
            RestoreDateTime=middle - timedelta(days=1),
        )
    assert _code(info) == "InvalidRestoreTimeException"
    with pytest.raises(ClientError) as info:
        client.restore_table_to_point_in_time(
            SourceTableName=f"{table_name}_now",
            TargetTableName=f"{table_name}_x",
            UseLatestRestorableTime=True,
        )
    assert _code(info) == "PointInTimeRecoveryUnavailableException"
    with pytest.raises(ClientError) as info:
        client.restore_table_to_point_in_time(
            SourceTableName="missing_table",
            TargetTableName=f"{table_name}_x",
            UseLatestRestorableTime=True,
        )
    assert _code(info) == "TableNotFoundException"
    with pytest.raises(ClientError) as info:
        client.describe_continuous_backups(TableName="missing_table")
    assert _code(info) == "TableNotFoundException"
    with pytest.raises(ClientError) as info:
        client.update_continuous_backups(
            TableName=table_name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": 36,
            },
        )
    assert _code(info) == "ValidationException"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli_point_in_time_recovery(endpoint: str, table_name: str) -> None:
    aws = aws_cli(endpoint)
    aws("put-item", "--table-name", table_name, "--item", '{"pk": {"S": "cli"}, "sk": {"N": "7"}}')
    on = aws(
        "update-continuous-backups",
        "--table-name",
        table_name,
        "--point-in-time-recovery-specification",
        "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=3",
    )
    assert (
        on["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"]
        == 3
    )
    described = aws("describe-continuous-backups", "--table-name", table_name)
    window = described["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert window["PointInTimeRecoveryStatus"] == "ENABLED"
    aws(
        "restore-table-to-point-in-time",
        "--source-table-name",
        table_name,
        "--target-table-name",
        f"{table_name}_cli",
        "--use-latest-restorable-time",
    )
    items = aws("scan", "--table-name", f"{table_name}_cli")["Items"]
    assert items == [{"pk": {"S": "cli"}, "sk": {"N": "7"}}]
    failed = aws(
        "restore-table-to-point-in-time",
        "--source-table-name",
        table_name,
        "--target-table-name",
        f"{table_name}_cli",
        "--use-latest-restorable-time",
        check=False,
    )
    assert failed.returncode != 0
    assert "TableAlreadyExistsException" in failed.stderr
    errors = [
        (("describe-continuous-backups", "--table-name", "missing_table"),
         "TableNotFoundException"),
        (("update-continuous-backups", "--table-name", table_name,
          "--point-in-time-recovery-specification",
          "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=36"), "ValidationException"),
        (("restore-table-to-point-in-time", "--source-table-name", f"{table_name}_cli",
          "--target-table-name", "x_y", "--use-latest-restorable-time"),
         "PointInTimeRecoveryUnavailableException"),
        (("restore-table-to-point-in-time", "--source-table-name", table_name,
          "--target-table-name", "x_y", "--restore-date-time", "2000-01-01T00:00:00Z"),
         "InvalidRestoreTimeException"),
    ]  # fmt: skip
    for args, code in errors:
        failed = aws(*args, check=False)
        assert failed.returncode != 0, args
        assert code in failed.stderr, (args, failed.stderr)
