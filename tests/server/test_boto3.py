"""Real clients against a real ``streamkit serve`` subprocess on a loopback port."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from boto3.dynamodb.conditions import Key
from botocore.config import Config
from botocore.exceptions import ClientError

import streamkit
from tests.server.serving import aws_cli, start_serve, stop

_tables = itertools.count()


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    yield url
    assert stop(process) == 0


def session_kwargs(endpoint: str, region: str = "us-east-1") -> dict[str, object]:
    return {
        "endpoint_url": endpoint,
        "region_name": region,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "config": Config(retries={"max_attempts": 1}),
    }


@pytest.fixture
def client(endpoint: str) -> Any:
    return boto3.client("dynamodb", **session_kwargs(endpoint))


@pytest.fixture
def table_name(client: Any) -> str:
    name = f"t{next(_tables)}_{os.getpid()}"
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    return name


def needs(operation: str) -> None:
    if operation not in streamkit.Engine.OPERATIONS:
        pytest.skip(f"the engine does not implement {operation} yet")


def test_put_get_and_headers(client: Any, table_name: str) -> None:
    client.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    reply = client.get_item(TableName=table_name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert reply["Item"] == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-crc32"].isdigit()  # boto3 checked it, or it would have raised
    assert len(reply["ResponseMetadata"]["RequestId"]) == 52


def test_binary_round_trip(client: Any, table_name: str) -> None:
    blob = bytes(range(256))
    item = {"pk": {"S": "b"}, "sk": {"N": "0"}, "b": {"B": blob}, "bs": {"BS": [b"\x00", b"\xff"]}}
    client.put_item(TableName=table_name, Item=item)
    got = client.get_item(TableName=table_name, Key={"pk": {"S": "b"}, "sk": {"N": "0"}})["Item"]
    assert got["b"] == {"B": blob}
    assert sorted(got["bs"]["BS"]) == [b"\x00", b"\xff"]
    # A Query page mixes items stored as JSON (sent as stored) with binary ones (re-encoded).
    plain = {"pk": {"S": "b"}, "sk": {"N": "1"}, "s": {"S": '\u00e9\n"'}}
    client.put_item(TableName=table_name, Item=plain)
    reply = client.query(
        TableName=table_name,
        KeyConditionExpression="pk = :b",
        ExpressionAttributeValues={":b": {"S": "b"}},
    )
    assert [i["sk"]["N"] for i in reply["Items"]] == ["0", "1"]
    assert reply["Items"][0]["b"] == {"B": blob}
    assert reply["Items"][1] == plain


def test_resource_with_native_values(endpoint: str, table_name: str) -> None:
    table = boto3.resource("dynamodb", **session_kwargs(endpoint)).Table(table_name)
    table.put_item(Item={"pk": "r", "sk": 1, "tags": {"x", "y"}, "n": Decimal("1.5")})
    item = table.get_item(Key={"pk": "r", "sk": 1})["Item"]
    assert item == {"pk": "r", "sk": 1, "tags": {"x", "y"}, "n": Decimal("1.5")}
    table.update_item(
        Key={"pk": "r", "sk": 1},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": 1},
    )
    assert table.get_item(Key={"pk": "r", "sk": 1})["Item"]["n"] == Decimal("2.5")


def test_query_and_scan_paginators(client: Any, endpoint: str, table_name: str) -> None:
    needs("Query")
    needs("Scan")
    for sk in range(25):
        client.put_item(TableName=table_name, Item={"pk": {"S": "q"}, "sk": {"N": str(sk)}})
    client.put_item(TableName=table_name, Item={"pk": {"S": "other"}, "sk": {"N": "0"}})
    pages = list(
        client.get_paginator("query").paginate(
            TableName=table_name,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "q"}},
            PaginationConfig={"PageSize": 10},
        )
    )
    assert [p["Count"] for p in pages][:3] == [10, 10, 5]
    keys = [int(i["sk"]["N"]) for p in pages for i in p["Items"]]
    assert keys == list(range(25))
    scanned = [
        i
        for p in client.get_paginator("scan").paginate(
            TableName=table_name, PaginationConfig={"PageSize": 7}
        )
        for i in p["Items"]
    ]
    assert len(scanned) == 26
    table = boto3.resource("dynamodb", **session_kwargs(endpoint)).Table(table_name)
    reply = table.query(KeyConditionExpression=Key("pk").eq("q") & Key("sk").between(3, 5))
    assert [i["sk"] for i in reply["Items"]] == [3, 4, 5]


def test_batch_write_and_get(client: Any, table_name: str) -> None:
    needs("BatchWriteItem")
    needs("BatchGetItem")
    client.batch_write_item(
        RequestItems={
            table_name: [
                {"PutRequest": {"Item": {"pk": {"S": "w"}, "sk": {"N": str(i)}}}} for i in range(25)
            ]
        }
    )
    keys = [{"pk": {"S": "w"}, "sk": {"N": str(i)}} for i in range(10)]
    got = client.batch_get_item(RequestItems={table_name: {"Keys": keys}})
    assert len(got["Responses"][table_name]) == 10


class TestErrorsAsBoto3Sees:
    def test_conditional_check_failed(self, client: Any, table_name: str) -> None:
        client.put_item(TableName=table_name, Item={"pk": {"S": "c"}, "sk": {"N": "1"}})
        with pytest.raises(client.exceptions.ConditionalCheckFailedException) as err:
            client.put_item(
                TableName=table_name,
                Item={"pk": {"S": "c"}, "sk": {"N": "1"}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    def test_resource_not_found(self, client: Any) -> None:
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_table(TableName="no-such-table")

    def test_resource_in_use(self, client: Any, table_name: str) -> None:
        with pytest.raises(client.exceptions.ResourceInUseException):
            client.create_table(
                TableName=table_name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )

    def test_validation(self, client: Any, table_name: str) -> None:
        with pytest.raises(ClientError) as err:
            client.get_item(TableName=table_name, Key={"pk": {"S": "only-half"}})
        assert err.value.response["Error"]["Code"] == "ValidationException"

    def test_transaction_cancelled_carries_reasons(self, client: Any, table_name: str) -> None:
        needs("TransactWriteItems")
        client.put_item(TableName=table_name, Item={"pk": {"S": "tx"}, "sk": {"N": "1"}})
        with pytest.raises(client.exceptions.TransactionCanceledException) as err:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table_name,
                            "Item": {"pk": {"S": "tx"}, "sk": {"N": "1"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
        reasons = err.value.response["CancellationReasons"]
        assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed"]

    def test_unimplemented_operation_is_a_client_error(self, endpoint: str) -> None:
        client = boto3.client("dynamodb", **session_kwargs(endpoint))
        with pytest.raises(ClientError) as err:
            client.describe_contributor_insights(TableName="t")
        assert err.value.response["Error"]["Code"] == "UnknownOperationException"


def test_streams_end_to_end(endpoint: str) -> None:
    """A write read back through the dynamodbstreams client, as a Lambda poller would."""
    client = boto3.client("dynamodb", **session_kwargs(endpoint))
    streams = boto3.client("dynamodbstreams", **session_kwargs(endpoint))
    created = client.create_table(
        TableName="streamed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = created["TableDescription"]["LatestStreamArn"]
    client.put_item(TableName="streamed", Item={"pk": {"S": "a"}, "b": {"B": b"\x00\x01"}})
    client.put_item(TableName="streamed", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    assert any(s["StreamArn"] == arn for s in streams.list_streams(TableName="streamed")["Streams"])
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\x01"}
    assert records[1]["dynamodb"]["OldImage"]["b"] == {"B": b"\x00\x01"}
    assert records[1]["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "v": {"N": "2"}}


def test_regions_are_isolated(endpoint: str, table_name: str) -> None:
    other = boto3.client("dynamodb", **session_kwargs(endpoint, region="eu-west-1"))
    assert table_name not in other.list_tables()["TableNames"]
    home = boto3.client("dynamodb", **session_kwargs(endpoint))
    assert table_name in home.list_tables()["TableNames"]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli(endpoint: str, table_name: str) -> None:
    aws = aws_cli(endpoint)

    aws("put-item", "--table-name", table_name, "--item", '{"pk": {"S": "cli"}, "sk": {"N": "7"}}')
    got = aws(
        "get-item", "--table-name", table_name, "--key", '{"pk": {"S": "cli"}, "sk": {"N": "7"}}'
    )
    assert got["Item"]["sk"] == {"N": "7"}
    assert table_name in aws("list-tables")["TableNames"]


class TestAuthOn:
    def test_signatures_are_verified(self, tmp_path: Path) -> None:
        process, url, _ = start_serve("--memory", "--auth", "AKIDGOOD:goodsecret")
        try:
            good = boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="AKIDGOOD",
                aws_secret_access_key="goodsecret",
            )
            assert good.list_tables()["TableNames"] == []
            forged = boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="AKIDGOOD",
                aws_secret_access_key="guess",
                config=Config(retries={"max_attempts": 1}),
            )
            with pytest.raises(ClientError) as err:
                forged.list_tables()
            assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
            stranger = boto3.client(
                "dynamodb",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="AKIDWHO",
                aws_secret_access_key="x",
                config=Config(retries={"max_attempts": 1}),
            )
            with pytest.raises(ClientError) as err:
                stranger.list_tables()
            assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
        finally:
            assert stop(process) == 0


def test_starts_fast_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process, url, started = start_serve("--data", str(tmp_path / "data"))
    try:
        client = boto3.client("dynamodb", **session_kwargs(url))
        client.list_tables()
        ready = time.perf_counter() - started
    finally:
        code = stop(process, signal.SIGINT)
    assert code == 0
    assert (tmp_path / "data" / "us-east-1.sqlite3").exists()
    assert ready < 3.0  # the goal is < 0.5 s; bound loosely so a loaded CI box does not flake


def test_served_app_handlers_fire_on_boto3_writes(tmp_path: Path) -> None:
    """`serve --app`: a write made with boto3 reaches the app's handler in the server."""
    log = tmp_path / "served.jsonl"
    os.environ["STREAMKIT_SERVED_LOG"] = str(log)
    try:
        process, url, _ = start_serve("--memory", "--app", "tests.server.served_app:app")
    finally:
        del os.environ["STREAMKIT_SERVED_LOG"]
    try:
        client = boto3.client("dynamodb", **session_kwargs(url))
        client.create_table(
            TableName="served",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )
        client.put_item(TableName="served", Item={"pk": {"S": "hello"}})
        client.delete_item(TableName="served", Key={"pk": {"S": "hello"}})
        deadline = time.monotonic() + 20  # a real server: bounded wait for its handler
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.02)
    finally:
        assert stop(process) == 0
    events = [tuple(orjson.loads(line)) for line in log.read_text().splitlines()]
    assert events == [("INSERT", {"pk": {"S": "hello"}}), ("REMOVE", {"pk": {"S": "hello"}})]


def test_gzip_request_bodies_from_boto3(endpoint: str, table_name: str) -> None:
    import gzip

    client = boto3.client("dynamodb", **session_kwargs(endpoint))

    def compress(request: Any, **_: Any) -> None:  # before signing: the signature covers it
        request.data = gzip.compress(request.body)
        request.headers["Content-Encoding"] = "gzip"

    client.meta.events.register("before-sign.dynamodb.*", compress)
    item = {"pk": {"S": "zipped"}, "sk": {"N": "1"}, "blob": {"S": "x" * 20_000}}
    client.put_item(TableName=table_name, Item=item)
    got = client.get_item(TableName=table_name, Key={"pk": {"S": "zipped"}, "sk": {"N": "1"}})
    assert got["Item"] == item


def test_multi_attribute_gsi_over_http(client: Any, endpoint: str) -> None:
    name = f"multi{os.getpid()}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "org", "AttributeType": "S"},
            {"AttributeName": "team", "AttributeType": "S"},
            {"AttributeName": "level", "AttributeType": "N"},
            {"AttributeName": "badge", "AttributeType": "B"},
        ],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_team",
                "KeySchema": [
                    {"AttributeName": "org", "KeyType": "HASH"},
                    {"AttributeName": "team", "KeyType": "HASH"},
                    {"AttributeName": "level", "KeyType": "RANGE"},
                    {"AttributeName": "badge", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    table = boto3.resource("dynamodb", **session_kwargs(endpoint)).Table(name)
    for i, level in enumerate([3, 1, 2, 1]):
        table.put_item(
            Item={"id": f"u{i}", "org": "acme", "team": "core", "level": level, "badge": bytes([i])}
        )
    described = client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]
    assert [k["KeyType"] for k in described["KeySchema"]] == ["HASH", "HASH", "RANGE", "RANGE"]
    pages = client.get_paginator("query").paginate(
        TableName=name,
        IndexName="by_team",
        KeyConditionExpression="org = :o AND team = :t AND #l <= :l",
        ExpressionAttributeNames={"#l": "level"},
        ExpressionAttributeValues={":o": {"S": "acme"}, ":t": {"S": "core"}, ":l": {"N": "2"}},
        PaginationConfig={"PageSize": 1},
    )
    ids = [item["id"]["S"] for page in pages for item in page["Items"]]
    assert ids == ["u1", "u3", "u2"]  # level 1 (badge 1, badge 3), then level 2
    with pytest.raises(ClientError, match="missed key schema element: team"):
        table.query(IndexName="by_team", KeyConditionExpression=Key("org").eq("acme"))
