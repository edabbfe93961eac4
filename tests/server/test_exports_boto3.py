"""Exports and imports through a real ``streamkit serve --s3-dir`` with boto3 and the aws CLI."""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.server.serving import aws_cli, start_serve, stop
from tests.server.test_boto3 import session_kwargs


@pytest.fixture(scope="module")
def s3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("buckets")


@pytest.fixture(scope="module")
def endpoint(s3_dir: Path) -> Iterator[str]:
    process, url, _ = start_serve("--memory", "--s3-dir", str(s3_dir))
    yield url
    assert stop(process) == 0


@pytest.fixture
def client(endpoint: str) -> Any:
    return boto3.client("dynamodb", **session_kwargs(endpoint))


def _wait(client: Any, call: str, key: str, **params: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        reply = getattr(client, call)(**params)[key]
        status = reply.get("ExportStatus") or reply.get("ImportStatus")
        if status != "IN_PROGRESS" or time.monotonic() > deadline:
            return reply  # type: ignore[no-any-return]
        time.sleep(0.05)


def _create(client: Any, name: str) -> str:
    table = client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    pitr_on(client, name)
    return str(table["TableDescription"]["TableArn"])


def pitr_on(client: Any, name: str) -> None:
    """Turn point-in-time recovery on (DynamoDB's exports need it) if the server has it."""
    try:
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "UnknownOperationException":
            raise


def test_export_and_import_with_boto3(client: Any, s3_dir: Path) -> None:
    arn = _create(client, "exported")
    item = {
        "pk": {"S": "a"},
        "n": {"N": "1.5"},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["x", "y"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"1"]},
        "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": True}]}}},
    }
    client.put_item(TableName="exported", Item=item)
    started = client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="bkt", S3Prefix="p", ExportFormat="ION"
    )["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS"
    assert started["ExportTime"].year >= 2024  # a timestamp boto3 parsed
    desc = _wait(client, "describe_export", "ExportDescription", ExportArn=started["ExportArn"])
    assert desc["ExportStatus"] == "COMPLETED"
    assert desc["ItemCount"] == 1
    folder = s3_dir / "bkt" / desc["ExportManifest"].rsplit("/", 1)[0]
    assert (folder / "manifest-summary.json").is_file()
    summaries = client.list_exports(TableArn=arn)["ExportSummaries"]
    assert [s["ExportArn"] for s in summaries] == [desc["ExportArn"]]

    imported = client.import_table(
        S3BucketSource={"S3Bucket": "bkt", "S3KeyPrefix": desc["ExportManifest"][:-21] + "data/"},
        InputFormat="ION",
        InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": "imported",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )["ImportTableDescription"]
    done = _wait(
        client, "describe_import", "ImportTableDescription", ImportArn=imported["ImportArn"]
    )
    assert done["ImportStatus"] == "COMPLETED"
    assert done["ImportedItemCount"] == 1
    assert done["ErrorCount"] == 0
    got = client.get_item(TableName="imported", Key={"pk": {"S": "a"}})["Item"]
    assert got == item
    listed = client.list_imports(TableArn=done["TableArn"])["ImportSummaryList"]
    assert listed[0]["ImportArn"] == done["ImportArn"]


def test_errors_over_the_wire(client: Any, s3_dir: Path) -> None:
    arn = _create(client, "errs")
    client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bkt", ClientToken="tok-1")
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: client.describe_export(ExportArn=arn + "/export/01234567890123-abcdef01"),
            "ExportNotFoundException",
        ),
        (
            lambda: client.export_table_to_point_in_time(TableArn=arn + "nope", S3Bucket="bkt"),
            "TableNotFoundException",
        ),
        (
            lambda: client.describe_import(ImportArn=arn + "/import/01234567890123-abcdef01"),
            "ImportNotFoundException",
        ),
        (
            lambda: client.import_table(
                S3BucketSource={"S3Bucket": "bkt"},
                InputFormat="DYNAMODB_JSON",
                TableCreationParameters={
                    "TableName": "errs",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                },
            ),
            "ResourceInUseException",
        ),
        (lambda: client.list_exports(MaxResults=26), "ValidationException"),
        (lambda: client.list_imports(PageSize=26), "ValidationException"),
        (
            lambda: client.export_table_to_point_in_time(TableArn=arn, S3Bucket="bad/bucket"),
            "ValidationException",
        ),
        (
            lambda: client.export_table_to_point_in_time(
                TableArn=arn, S3Bucket="bkt", ExportTime=datetime.now(UTC) + timedelta(hours=1)
            ),
            "InvalidExportTimeException",
        ),
        (  # the token of the export above, with another request
            lambda: client.export_table_to_point_in_time(
                TableArn=arn, S3Bucket="other", ClientToken="tok-1"
            ),
            "ExportConflictException",
        ),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == code


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli(endpoint: str, client: Any, s3_dir: Path) -> None:
    aws = aws_cli(endpoint)

    arn = _create(client, "clitable")
    client.put_item(TableName="clitable", Item={"pk": {"S": "x"}})
    started = aws("export-table-to-point-in-time", "--table-arn", arn, "--s3-bucket", "clibkt")[
        "ExportDescription"
    ]
    desc = _wait(client, "describe_export", "ExportDescription", ExportArn=started["ExportArn"])
    assert desc["ExportStatus"] == "COMPLETED"
    assert (
        aws("describe-export", "--export-arn", started["ExportArn"])["ExportDescription"][
            "ItemCount"
        ]
        == 1
    )
    assert started["ExportArn"] in [s["ExportArn"] for s in aws("list-exports")["ExportSummaries"]]
    # a hand-made gzip DynamoDB JSON source, with one bad line
    source = s3_dir / "clisrc" / "in" / "part.json.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(gzip.compress(b'{"Item":{"pk":{"S":"1"}}}\nbad\n'))
    imported = aws(
        "import-table",
        "--s3-bucket-source", "S3Bucket=clisrc,S3KeyPrefix=in/",
        "--input-format", "DYNAMODB_JSON",
        "--input-compression-type", "GZIP",
        "--table-creation-parameters",
        '{"TableName": "clicopy", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],'
        ' "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],'
        ' "BillingMode": "PAY_PER_REQUEST"}',
    )["ImportTableDescription"]  # fmt: skip
    done = _wait(
        client, "describe_import", "ImportTableDescription", ImportArn=imported["ImportArn"]
    )
    assert (done["ImportedItemCount"], done["ErrorCount"]) == (1, 1)
    assert aws("list-imports")["ImportSummaryList"]
    failed = aws(
        "describe-export", "--export-arn", arn + "/export/01234567890123-abcdef01", check=False
    )
    assert failed.returncode != 0
    assert "ExportNotFoundException" in failed.stderr
    described = aws("describe-import", "--import-arn", imported["ImportArn"])
    assert described["ImportTableDescription"]["ImportStatus"] == "COMPLETED"
    assert described["ImportTableDescription"]["ErrorCount"] == 1
    errors = [
        (("describe-import", "--import-arn", arn + "/import/01234567890123-abcdef01"),
         "ImportNotFoundException"),
        (("export-table-to-point-in-time", "--table-arn", arn + "nope", "--s3-bucket", "b1"),
         "TableNotFoundException"),
        (("list-exports", "--max-results", "26"), "ValidationException"),
        (("import-table",
          "--s3-bucket-source", "S3Bucket=clisrc",
          "--input-format", "DYNAMODB_JSON",
          "--table-creation-parameters",
          '{"TableName": "clicopy", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],'
          ' "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}'),
         "ResourceInUseException"),
    ]  # fmt: skip
    for args, code in errors:
        failed = aws(*args, check=False)
        assert failed.returncode != 0, args
        assert code in failed.stderr, (args, failed.stderr)


def test_serve_keeps_buckets_beside_its_data(tmp_path: Path) -> None:
    """Without ``--s3-dir``, ``serve --data DIR`` keeps the buckets in ``DIR/s3``, one for
    every region (S3 is not per region): an export of one region imports in another."""
    process, url, _ = start_serve("--data", str(tmp_path))
    try:
        east = boto3.client("dynamodb", **session_kwargs(url))
        west = boto3.client("dynamodb", **session_kwargs(url, region="eu-west-1"))
        arn = _create(east, "orders")
        east.put_item(TableName="orders", Item={"pk": {"S": "o1"}})
        started = east.export_table_to_point_in_time(TableArn=arn, S3Bucket="shared")
        desc = _wait(
            east, "describe_export", "ExportDescription",
            ExportArn=started["ExportDescription"]["ExportArn"],
        )  # fmt: skip
        assert desc["ExportStatus"] == "COMPLETED"
        assert (tmp_path / "s3" / "shared" / desc["ExportManifest"]).is_file()
        job = west.import_table(
            S3BucketSource={
                "S3Bucket": "shared",
                "S3KeyPrefix": desc["ExportManifest"][:-21] + "data/",
            },
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters={
                "TableName": "orders",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )["ImportTableDescription"]
        done = _wait(west, "describe_import", "ImportTableDescription", ImportArn=job["ImportArn"])
        assert (done["ImportStatus"], done["ImportedItemCount"], done["ErrorCount"]) == (
            "COMPLETED",
            1,
            0,
        )
        assert west.get_item(TableName="orders", Key={"pk": {"S": "o1"}})["Item"]
    finally:
        assert stop(process) == 0
