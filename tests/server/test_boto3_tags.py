"""Tags, resource policies, DescribeEndpoints and DescribeLimits over HTTP: boto3 and the aws CLI
against a real ``streamkit serve``."""

from __future__ import annotations

import os
import shutil
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError

from tests.server.serving import aws_cli
from tests.server.test_boto3 import client, endpoint, session_kwargs, table_name

__all__ = ["client", "endpoint", "table_name"]  # the fixtures, shared with test_boto3

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem"}]}'


def _arn(client: Any, table: str) -> str:
    arn: str = client.describe_table(TableName=table)["Table"]["TableArn"]
    return arn


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_tags_with_boto3(client: Any, table_name: str) -> None:
    arn = _arn(client, table_name)
    assert client.list_tags_of_resource(ResourceArn=arn)["Tags"] == []
    reply = client.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "orders"}])
    assert set(reply) == {"ResponseMetadata"}
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": ""}])
    assert client.list_tags_of_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "orders"},
        {"Key": "env", "Value": ""},
    ]
    client.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"])
    assert client.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": ""}]


def test_tag_replies_have_no_body(endpoint: str, client: Any, table_name: str) -> None:
    arn = _arn(client, table_name)
    for target, body in (
        ("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]}),
    ):
        request = urllib.request.Request(
            endpoint,
            data=orjson.dumps(body),
            headers={
                "X-Amz-Target": f"DynamoDB_20120810.{target}",
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.read() == b""
            assert response.headers["x-amz-crc32"] == "0"


def test_tag_errors_with_boto3(client: Any, table_name: str) -> None:
    arn = _arn(client, table_name)
    with pytest.raises(ClientError) as err:
        client.list_tags_of_resource(ResourceArn=arn + "_gone")
    assert _error(err) == (
        "ResourceNotFoundException",
        f"Requested resource not found: ResourceArn: {arn}_gone not found",
    )
    with pytest.raises(ClientError) as err:
        client.tag_resource(ResourceArn=arn, Tags=[{"Key": "aws:x", "Value": "v"}])
    assert _error(err) == (
        "ValidationException",
        "Tag Key cannot be prefixed with aws:, Key: aws:x",
    )
    with pytest.raises(ClientError) as err:
        client.tag_resource(ResourceArn=table_name, Tags=[{"Key": "k", "Value": "v"}])
    assert _error(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        client.list_tags_of_resource(ResourceArn=arn.replace("000000000000", "123456789012"))
    assert _error(err)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as err:
        client.untag_resource(ResourceArn=arn + "_gone", TagKeys=["k"])
    assert _error(err)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        client.tag_resource(ResourceArn=arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert _error(err)[0] == "ValidationException"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    with pytest.raises(ClientError) as err:
        client.tag_resource(ResourceArn=arn, Tags=many)
    assert _error(err)[1] == "Number of Tags exceed the current limit for the provided ResourceArn"


def test_tags_given_at_creation(client: Any) -> None:
    name = f"tagged_{os.getpid()}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "owner", "Value": "me"}],
    )
    paginator = (
        client.get_paginator("list_tags_of_resource")
        if client.can_paginate("list_tags_of_resource")
        else None
    )
    arn = _arn(client, name)
    tags = (
        [t for page in paginator.paginate(ResourceArn=arn) for t in page["Tags"]]
        if paginator
        else client.list_tags_of_resource(ResourceArn=arn)["Tags"]
    )
    assert tags == [{"Key": "owner", "Value": "me"}]
    client.delete_table(TableName=name)


def test_policies_with_boto3(client: Any, table_name: str) -> None:
    arn = _arn(client, table_name)
    with pytest.raises(ClientError) as err:
        client.get_resource_policy(ResourceArn=arn)
    assert _error(err) == (
        "PolicyNotFoundException",
        f"Resource-based policy not found for the provided ResourceArn: {arn}",
    )
    revision = client.put_resource_policy(ResourceArn=arn, Policy=POLICY)["RevisionId"]
    got = client.get_resource_policy(ResourceArn=arn)
    assert (got["Policy"], got["RevisionId"]) == (POLICY, revision)
    with pytest.raises(ClientError) as err:
        client.put_resource_policy(ResourceArn=arn, Policy=POLICY, ExpectedRevisionId="NO_POLICY")
    assert _error(err)[0] == "PolicyNotFoundException"
    assert client.delete_resource_policy(ResourceArn=arn)["RevisionId"] == revision
    assert "RevisionId" not in client.delete_resource_policy(ResourceArn=arn)
    with pytest.raises(ClientError) as err:
        client.put_resource_policy(ResourceArn=arn, Policy="not json")
    assert _error(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        client.delete_resource_policy(ResourceArn=arn + "_gone")
    assert _error(err)[0] == "ResourceNotFoundException"


def test_describe_endpoints_answers_the_servers_address(endpoint: str, client: Any) -> None:
    endpoints = client.describe_endpoints()["Endpoints"]
    assert endpoints == [{"Address": urlsplit(endpoint).netloc, "CachePeriodInMinutes": 1440}]
    # the address works for a client of its own (DynamoDB's answer has no scheme)
    again = boto3.client(
        "dynamodb",
        **{**session_kwargs(endpoint), "endpoint_url": f"http://{endpoints[0]['Address']}"},
    )
    assert again.describe_limits()["TableMaxWriteCapacityUnits"] == 40000


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli(endpoint: str, client: Any, table_name: str) -> None:
    aws = data = aws_cli(endpoint)

    arn = _arn(client, table_name)
    assert (
        data("tag-resource", "--resource-arn", arn, "--tags", "Key=team,Value=a", "Key=x,Value=")
        == {}
    )
    listed = data("list-tags-of-resource", "--resource-arn", arn)
    assert listed["Tags"] == [{"Key": "team", "Value": "a"}, {"Key": "x", "Value": ""}]
    assert data("untag-resource", "--resource-arn", arn, "--tag-keys", "x") == {}
    assert data("list-tags-of-resource", "--resource-arn", arn)["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    failed = aws("list-tags-of-resource", "--resource-arn", arn + "_gone", check=False)
    assert failed.returncode != 0
    assert "ResourceNotFoundException" in failed.stderr
    revision = data("put-resource-policy", "--resource-arn", arn, "--policy", POLICY)["RevisionId"]
    assert data("get-resource-policy", "--resource-arn", arn)["RevisionId"] == revision
    assert data("delete-resource-policy", "--resource-arn", arn)["RevisionId"] == revision
    failed = aws("get-resource-policy", "--resource-arn", arn, check=False)
    assert failed.returncode != 0
    assert "PolicyNotFoundException" in failed.stderr
    errors = [
        (("tag-resource", "--resource-arn", arn, "--tags", "Key=aws:x,Value=v"),
         "ValidationException"),
        (("untag-resource", "--resource-arn", arn + "_gone", "--tag-keys", "x"),
         "ResourceNotFoundException"),
        (("put-resource-policy", "--resource-arn", arn, "--policy", "not json"),
         "ValidationException"),
        (("delete-resource-policy", "--resource-arn", arn + "_gone"),
         "ResourceNotFoundException"),
    ]  # fmt: skip
    for args, code in errors:
        failed = aws(*args, check=False)
        assert failed.returncode != 0, args
        assert code in failed.stderr, (args, failed.stderr)
    assert data("describe-limits")["AccountMaxReadCapacityUnits"] == 80000
    assert data("describe-endpoints")["Endpoints"][0]["Address"] == urlsplit(endpoint).netloc
