"""PartiQL over HTTP: boto3's execute_statement family and the aws CLI, on ``streamkit serve``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import key_schema
from tests.server.serving import aws_cli, start_serve, stop

T = "songs"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    client.create_table(TableName=T, **key_schema("pk", "sk", range_kind="N"))
    return client


def test_boto3_statements(client: Any) -> None:
    client.execute_statement(
        Statement=f"INSERT INTO \"{T}\" VALUE {{'pk': 'a', 'sk': 1, 'b': ?}}",
        Parameters=[{"B": b"\x00\x01"}],
    )
    for sk in range(2, 6):
        client.execute_statement(
            Statement=f"INSERT INTO \"{T}\" VALUE {{'pk': ?, 'sk': ?}}",
            Parameters=[{"S": "a"}, {"N": str(sk)}],
        )
    with pytest.raises(ClientError) as duplicate:
        client.execute_statement(Statement=f"INSERT INTO \"{T}\" VALUE {{'pk': 'a', 'sk': 1}}")
    assert duplicate.value.response["Error"]["Code"] == "DuplicateItemException"
    got = client.execute_statement(
        Statement=f"SELECT * FROM \"{T}\" WHERE pk = 'a' AND sk = 1",
        ReturnConsumedCapacity="TOTAL",
    )
    assert got["Items"][0]["b"] == {"B": b"\x00\x01"}
    assert got["ConsumedCapacity"]["CapacityUnits"] == 0.5
    seen = 0
    token: str | None = None
    while True:
        extra: dict[str, str] = {"NextToken": token} if token else {}
        page = client.execute_statement(
            Statement=f"SELECT * FROM \"{T}\" WHERE pk = 'a'", Limit=2, **extra
        )
        seen += len(page["Items"])
        token = page.get("NextToken")
        if not token:
            break
    assert seen == 5
    updated = client.execute_statement(
        Statement=f"UPDATE \"{T}\" SET n = 1 WHERE pk = 'a' AND sk = 2 RETURNING ALL NEW *"
    )
    assert updated["Items"][0]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as malformed:
        client.execute_statement(Statement="SELEC * FROM x")
    assert malformed.value.response["Error"]["Code"] == "ValidationException"
    assert "Statement wasn't well formed" in malformed.value.response["Error"]["Message"]


def test_boto3_batch_and_transaction(client: Any) -> None:
    out = client.batch_execute_statement(
        Statements=[
            {"Statement": f"INSERT INTO \"{T}\" VALUE {{'pk': 'b', 'sk': 1}}"},
            {"Statement": f"INSERT INTO \"{T}\" VALUE {{'pk': 'b', 'sk': 1}}"},
        ]
    )
    assert out["Responses"][1]["Error"]["Code"] == "DuplicateItem"
    with pytest.raises(ClientError) as cancelled:
        client.execute_transaction(
            TransactStatements=[
                {"Statement": f"UPDATE \"{T}\" SET n = 5 WHERE pk = 'b' AND sk = 1"},
                {"Statement": f"INSERT INTO \"{T}\" VALUE {{'pk': 'a', 'sk': 1}}"},
            ],
            ClientRequestToken="tok-1",
        )
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "DuplicateItem"]
    out = client.execute_transaction(
        TransactStatements=[
            {"Statement": f"SELECT * FROM \"{T}\" WHERE pk = 'b' AND sk = 1"},
        ]
    )
    assert "n" not in out["Responses"][0]["Item"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli_execute_statement(endpoint: str, client: Any) -> None:
    aws = aws_cli(endpoint)

    aws("execute-statement", "--statement", f"INSERT INTO \"{T}\" VALUE {{'pk': 'cli', 'sk': 7}}")
    got = aws(
        "execute-statement",
        "--statement",
        f'SELECT sk FROM "{T}" WHERE pk = ?',
        "--parameters",
        '[{"S": "cli"}]',
    )
    assert got["Items"] == [{"sk": {"N": "7"}}]
