"""On-demand backups end to end: boto3, the aws CLI and ``streamkit backup`` against a real
``streamkit serve`` keeping its data (and its backup files) on disk."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.cli.helpers import run, run_json
from tests.server.serving import aws_cli, start_serve, stop
from tests.server.test_boto3 import session_kwargs


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("served")
    process, url, _ = start_serve("--data", str(data))
    yield url, data
    assert stop(process) == 0


@pytest.fixture
def client(served: tuple[str, Path]) -> Any:
    return boto3.client("dynamodb", **session_kwargs(served[0]))


def _create(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for i in range(30):
        client.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "g": {"S": f"g{i % 3}"}})


def test_boto3_round_trip(client: Any, served: tuple[str, Path]) -> None:
    _create(client, "boto_src")
    details = client.create_backup(TableName="boto_src", BackupName="b.one_1")["BackupDetails"]
    assert isinstance(details["BackupCreationDateTime"], datetime)
    arn = details["BackupArn"]
    backup_id = arn.rsplit("/", 1)[1]
    assert (served[1] / "backups" / f"{backup_id}.sqlite3").is_file()
    client.put_item(TableName="boto_src", Item={"pk": {"S": "after"}})

    described = client.describe_backup(BackupArn=arn)["BackupDescription"]
    assert described["BackupDetails"]["BackupStatus"] == "AVAILABLE"
    assert described["SourceTableDetails"]["ItemCount"] == 30
    assert described["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"][0]["IndexName"] == (
        "by_g"
    )
    created = details["BackupCreationDateTime"]
    listed = client.list_backups(
        TableName="boto_src",
        TimeRangeLowerBound=created - timedelta(seconds=1),
        TimeRangeUpperBound=created + timedelta(seconds=1),
    )
    assert [b["BackupArn"] for b in listed["BackupSummaries"]] == [arn]
    assert client.list_backups(TableName="boto_src", BackupType="SYSTEM")["BackupSummaries"] == []
    paginator = client.get_paginator("list_backups")
    arns = [
        b["BackupArn"]
        for page in paginator.paginate(BackupType="ALL")
        for b in page["BackupSummaries"]
    ]
    assert arn in arns

    restored = client.restore_table_from_backup(TargetTableName="boto_dst", BackupArn=arn)
    table = restored["TableDescription"]
    assert table["TableStatus"] == "CREATING"
    assert table["RestoreSummary"]["RestoreInProgress"] is True
    assert isinstance(table["RestoreSummary"]["RestoreDateTime"], datetime)
    client.get_waiter("table_exists").wait(
        TableName="boto_dst", WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    now = client.describe_table(TableName="boto_dst")["Table"]
    assert now["TableStatus"] == "ACTIVE"
    assert now["ItemCount"] == 30
    assert now["RestoreSummary"]["SourceBackupArn"] == arn
    got = client.query(
        TableName="boto_dst",
        IndexName="by_g",
        KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "g1"}},
    )
    assert got["Count"] == 10
    assert "Item" not in client.get_item(TableName="boto_dst", Key={"pk": {"S": "after"}})

    deleted = client.delete_backup(BackupArn=arn)["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert not (served[1] / "backups" / f"{backup_id}.sqlite3").exists()


def test_boto3_errors(client: Any) -> None:
    _create(client, "boto_err")
    arn = client.create_backup(TableName="boto_err", BackupName="errs")["BackupDetails"][
        "BackupArn"
    ]

    def code(call: Any, **kwargs: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        error = caught.value.response["Error"]
        return error["Code"], error["Message"]

    assert code(client.create_backup, TableName="boto_none", BackupName="x1x") == (
        "TableNotFoundException",
        "Table not found: boto_none",
    )
    missing = arn[:-8] + "00000000"
    assert code(client.describe_backup, BackupArn=missing) == (
        "BackupNotFoundException",
        f"Backup not found: {missing}",
    )
    assert code(client.delete_backup, BackupArn=missing)[0] == "BackupNotFoundException"
    assert code(client.restore_table_from_backup, TargetTableName="boto_err", BackupArn=arn) == (
        "TableAlreadyExistsException",
        "Table already exists: boto_err",
    )
    assert code(client.create_backup, TableName="boto_err", BackupName="bad name")[0] == (
        "ValidationException"
    )
    assert code(client.list_backups, BackupType="NEITHER")[0] == "ValidationException"
    restored = code(client.restore_table_from_backup, TargetTableName="boto_x", BackupArn=missing)
    assert restored[0] == "BackupNotFoundException"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli(client: Any, served: tuple[str, Path]) -> None:
    _create(client, "cli_src")
    aws = aws_cli(served[0])
    arn = aws("create-backup", "--table-name", "cli_src", "--backup-name", "cli-bk")[
        "BackupDetails"
    ]["BackupArn"]
    assert (
        aws("describe-backup", "--backup-arn", arn)["BackupDescription"]["BackupDetails"][
            "BackupName"
        ]
        == "cli-bk"
    )
    listed = aws("list-backups", "--table-name", "cli_src")["BackupSummaries"]
    assert [b["BackupArn"] for b in listed] == [arn]
    restored = aws(
        "restore-table-from-backup", "--target-table-name", "cli_dst", "--backup-arn", arn
    )
    assert restored["TableDescription"]["RestoreSummary"]["SourceBackupArn"] == arn
    failed = aws(
        "restore-table-from-backup",
        "--target-table-name",
        "cli_dst",
        "--backup-arn",
        arn,
        check=False,
    )
    assert failed.returncode != 0
    assert "TableAlreadyExistsException" in failed.stderr
    assert (
        aws("delete-backup", "--backup-arn", arn)["BackupDescription"]["BackupDetails"][
            "BackupStatus"
        ]
        == "DELETED"
    )
    gone = aws("describe-backup", "--backup-arn", arn, check=False)
    assert "BackupNotFoundException" in gone.stderr
    errors = [
        (("create-backup", "--table-name", "cli_none", "--backup-name", "bk1"),
         "TableNotFoundException"),
        (("create-backup", "--table-name", "cli_src", "--backup-name", "no spaces"),
         "ValidationException"),
        (("delete-backup", "--backup-arn", arn), "BackupNotFoundException"),
        (("restore-table-from-backup", "--target-table-name", "cli_x", "--backup-arn", arn),
         "BackupNotFoundException"),
        (("list-backups", "--backup-type", "NEITHER"), "ValidationException"),
    ]  # fmt: skip
    for args, code in errors:
        failed = aws(*args, check=False)
        assert failed.returncode != 0, args
        assert code in failed.stderr, (args, failed.stderr)


@pytest.mark.parametrize("remote", [False, True])
def test_streamkit_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: tuple[str, Path], remote: bool
) -> None:
    where = ["--endpoint-url", served[0]] if remote else ["--data", str(tmp_path / "data")]
    table = f"sk_src_{int(remote)}"
    code, _, err = run(
        capsys, "tables", "create", "--table-name", table, "--hash-key", "pk:S", *where
    )
    assert code == 0, err
    assert run(capsys, "put", "--table-name", table, "--item", '{"pk": {"S": "a"}}', *where)[0] == 0
    created = run_json(capsys, "backup", "create", table, "--name", "clibk", *where)
    arn = created["BackupDetails"]["BackupArn"]
    listed = run_json(capsys, "backup", "list", "--table", table, *where)
    assert [b["BackupArn"] for b in listed["BackupSummaries"]] == [arn]
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = run_json(capsys, "backup", "list", "--table", table, "--since", since, *where)
    assert later["BackupSummaries"] == []
    described = run_json(capsys, "backup", "describe", arn, *where)
    assert described["BackupDescription"]["SourceTableDetails"]["ItemCount"] == 1
    restored = run_json(capsys, "backup", "restore", arn, f"{table}_copy", *where)
    assert restored["TableDescription"]["ItemCount"] == 1
    code, out, err = run(capsys, "backup", "restore", arn, f"{table}_copy", *where)
    assert (code, out) == (1, "")
    assert "TableAlreadyExistsException" in err
    assert run_json(capsys, "backup", "delete", arn, *where)["BackupDescription"]
    code, _, err = run(capsys, "backup", "describe", arn, *where)
    assert code == 1
    assert "BackupNotFoundException" in err
