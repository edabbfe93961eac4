"""Users' code type-checks against the engine's typed requests (streamkit/engine/typed.py).

mypy (``mypy.api``, strict, this checkout's settings) checks a small user program: the right
calls pass without a ``# type: ignore``, a misspelt or missing request member is an error.
The program names ``streamkit.engine.typed``, so it is this tree's streamkit that is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """\
import streamkit
from streamkit.engine.typed import PutItemRequest


async def main() -> None:
    async with streamkit.open_engine(None) as db:
        await db.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await db.put_item(TableName="orders", Item={"pk": {"S": "o1"}})
        request: PutItemRequest = {"TableName": "orders", "Item": {"pk": {"S": "o2"}}}
        await db.put_item(**request)
        page = await db.query(TableName="orders", KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": {"S": "o1"}})
        print(page["Items"])
        await db.put_item(TableName="orders", Itme={"pk": {"S": "o1"}})
        await db.get_item(Key={"pk": {"S": "o1"}})
        await db.create_table(TableName="t", VectorIndexes=[])
        await db.streams.get_records(ShardIterater="x")
        orders = db.table("orders")
        await orders.put_item(Item={"pk": "o3"}, ConditionExpression="attribute_not_exists(pk)")
        await orders.put_item(Item={"pk": "o3"}, TableName="orders")
"""


def test_right_calls_pass_and_misspelt_members_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / "user_program.py"
    program.write_text(PROGRAM)
    monkeypatch.chdir(ROOT)  # this checkout's streamkit, its [tool.mypy] settings and cache
    out, err, _ = api.run(["--no-error-summary", "--show-error-codes", str(program)])
    assert err == ""
    found = re.findall(r"user_program.py:(\d+): error: (.*)  \[([a-z-]+)\]$", out, re.MULTILINE)
    assert [(int(line), code) for line, _, code in found] == [
        (19, "call-arg"),  # Itme=
        (20, "call-arg"),  # no TableName
        (21, "call-arg"),  # VectorIndexes: boto3 has it, streamkit refuses it
        (22, "call-arg"),  # ShardIterater=
        (25, "call-arg"),  # a Table's requests have no TableName
    ], out
    messages = [message for _, message, _ in found]
    assert 'Unexpected keyword argument "Itme" for "put_item"' in messages[0]
    assert 'Missing named argument "TableName" for "get_item"' in messages[1]
    assert 'Unexpected keyword argument "VectorIndexes"' in messages[2]
    assert 'Unexpected keyword argument "ShardIterater" for "get_records"' in messages[3]
    assert 'Unexpected keyword argument "TableName" for "put_item" of "Table"' in messages[4]


CONTROL_PLANE = """\
import datetime

import streamkit
from streamkit.engine.typed import ExportTableToPointInTimeRequest


async def main(db: streamkit.Engine, arn: str) -> None:
    await db.create_backup(TableName="orders", BackupName="nightly")
    await db.list_backups(TableName="orders", BackupType="ALL", Limit=10)
    await db.update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    await db.restore_table_to_point_in_time(
        SourceTableName="orders", TargetTableName="copy", UseLatestRestorableTime=True
    )
    request: ExportTableToPointInTimeRequest = {"TableArn": arn, "S3Bucket": "bkt"}
    await db.export_table_to_point_in_time(**request)
    await db.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="bkt", ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": datetime.datetime.now()},
    )
    await db.list_exports(TableArn=arn, MaxResults=5)
    await db.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    await db.put_resource_policy(ResourceArn=arn, Policy="{}")
    await db.describe_endpoints()
    await db.describe_limits()
    await db.create_backup(TableName="orders")
    await db.restore_table_from_backup(TargetTableName="copy", BackupArn=arn, Extra=1)
    await db.export_table_to_point_in_time(TableArn=arn, S3Bucket="b", ExportTyp="FULL")
    await db.import_table(S3BucketSource={"S3Bucket": "b"}, InputFormat="ION")
    await db.untag_resource(ResourceArn=arn, Tags=["k"])
    await db.describe_limits(TableName="orders")
"""


def test_control_plane_operations_are_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backups, PITR, exports and imports, tags, policies, endpoints and limits."""
    program = tmp_path / "control_plane.py"
    program.write_text(CONTROL_PLANE)
    monkeypatch.chdir(ROOT)
    out, err, _ = api.run(["--no-error-summary", "--show-error-codes", str(program)])
    assert err == ""
    found = re.findall(r"control_plane.py:(\d+): error: (.*)  \[([a-z-]+)\]$", out, re.MULTILINE)
    assert sorted({int(line) for line, _, _ in found}) == [27, 28, 29, 30, 31, 32], out
    messages = " / ".join(message for _, message, _ in found)
    assert 'Missing named argument "BackupName" for "create_backup"' in messages
    assert 'Unexpected keyword argument "Extra" for "restore_table_from_backup"' in messages
    assert 'Unexpected keyword argument "ExportTyp"' in messages
    assert 'Missing named argument "TableCreationParameters" for "import_table"' in messages
    assert "untag_resource" in messages  # Tags= is not its member, TagKeys is missing
    assert 'Unexpected keyword argument "TableName" for "describe_limits"' in messages
