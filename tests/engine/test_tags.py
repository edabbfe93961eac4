"""TagResource, UntagResource, ListTagsOfResource, resource policies, DescribeEndpoints/Limits."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings, strategies as st

import streamkit
from streamkit.engine.tags import MAX_TAGS, check_tags
from streamkit.errors import (
    AccessDeniedException,
    DynamoDBError,
    PolicyNotFoundException,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from streamkit.testing import ManualClock
from tests.conftest import key_schema

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*"}]}'


async def _orders(engine: streamkit.Engine, **extra: Any) -> str:
    created = await engine.create_table(TableName="orders", **key_schema(), **extra)
    arn: str = created["TableDescription"]["TableArn"]
    return arn


def _tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs]


class TestTags:
    async def test_create_tag_untag_list(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine, Tags=_tags(("team", "a")))
        assert await engine.list_tags_of_resource(ResourceArn=arn) == {"Tags": _tags(("team", "a"))}
        assert (
            await engine.tag_resource(ResourceArn=arn, Tags=_tags(("env", ""), ("team", "b"))) == {}
        )
        listed = await engine.list_tags_of_resource(ResourceArn=arn)
        assert listed == {"Tags": _tags(("team", "b"), ("env", ""))}
        assert await engine.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"]) == {}
        assert await engine.list_tags_of_resource(ResourceArn=arn) == {"Tags": _tags(("env", ""))}

    async def test_tags_persist_across_restarts(self, tmp_path: Path) -> None:
        path = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(path) as db:
            arn = await _orders(db, Tags=_tags(("a", "1")))
            await db.tag_resource(ResourceArn=arn, Tags=_tags(("b", "2")))
        async with streamkit.open_engine(path) as db:
            assert (await db.list_tags_of_resource(ResourceArn=arn))["Tags"] == _tags(
                ("a", "1"), ("b", "2")
            )

    async def test_deleted_table_loses_its_tags(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine, Tags=_tags(("a", "1")))
        await engine.delete_table(TableName="orders")
        with pytest.raises(ResourceNotFoundException, match=r"ResourceArn: .* not found"):
            await engine.list_tags_of_resource(ResourceArn=arn)
        await _orders(engine)
        assert await engine.list_tags_of_resource(ResourceArn=arn) == {"Tags": []}

    async def test_concurrent_tag_calls_all_land(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine)

        async def tag(i: int) -> None:
            await engine.tag_resource(ResourceArn=arn, Tags=_tags((f"k{i}", "v")))

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(tag, i)
        assert len((await engine.list_tags_of_resource(ResourceArn=arn))["Tags"]) == 20

    async def test_fifty_tags_and_no_more(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine)
        await engine.tag_resource(
            ResourceArn=arn, Tags=_tags(*((f"k{i:02}", "v") for i in range(50)))
        )
        # changing values at the limit is fine; one key more is not, and nothing is applied
        await engine.tag_resource(ResourceArn=arn, Tags=_tags(("k00", "new")))
        with pytest.raises(ValidationException, match="Number of Tags exceed the current limit"):
            await engine.tag_resource(ResourceArn=arn, Tags=_tags(("k01", "x"), ("k50", "v")))
        tags = {
            t["Key"]: t["Value"]
            for t in (await engine.list_tags_of_resource(ResourceArn=arn))["Tags"]
        }
        assert len(tags) == MAX_TAGS
        assert tags["k00"] == "new"
        assert tags["k01"] == "v"
        with pytest.raises(ValidationException, match="Number of Tags exceed"):
            await engine.untag_resource(ResourceArn=arn, TagKeys=[f"x{i}" for i in range(51)])

    async def test_paging(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine, Tags=_tags(*((f"k{i}", "v") for i in range(7))))
        engine.tags_page_size = 3
        keys: list[str] = []
        params: dict[str, Any] = {"ResourceArn": arn}
        pages = 0
        while True:
            page = await engine.list_tags_of_resource(**params)
            pages += 1
            keys += [t["Key"] for t in page["Tags"]]
            if "NextToken" not in page:
                break
            params["NextToken"] = page["NextToken"]
        assert keys == [f"k{i}" for i in range(7)]
        assert pages == 3
        with pytest.raises(ValidationException, match="NextToken"):
            await engine.list_tags_of_resource(ResourceArn=arn, NextToken="!!")

    @pytest.mark.parametrize(
        ("tags", "message"),
        [
            ([], "Atleast one Tag needs to be provided as Input."),
            (_tags(("", "v")), "The Tag Key provided is invalid, Key: $"),
            (_tags(("k" * 129, "v")), "The Tag Key provided is invalid, Key: k+$"),
            (_tags(("k", "v" * 257)), "The Tag Value provided is invalid, Value: v+$"),
            (_tags(("bad#char", "v")), "The Tag Key provided is invalid, Key: bad#char"),
            (_tags(("k", "100%")), "The Tag Value provided is invalid, Value: 100%"),
            (_tags(("k", "🔑")), "The Tag Value provided is invalid"),
            (_tags(("aws:x", "v")), "Tag Key cannot be prefixed with aws:, Key: aws:x"),
            (_tags(("AWS:x", "v")), "Tag Key cannot be prefixed with aws:, Key: AWS:x"),
            (_tags(("d", "1"), ("d", "2")), "Duplicate Tag Key found d"),
            ([{"Key": "k"}], "The Tag Value provided is invalid, Value: null"),
            ([{"Value": "v"}], "The Tag Key provided is invalid, Key: null"),
            (_tags(*((f"k{i}", "v") for i in range(51))), "Number of Tags exceed"),
        ],
    )
    async def test_invalid_tags(
        self, engine: streamkit.Engine, tags: list[dict[str, str]], message: str
    ) -> None:
        arn = await _orders(engine)
        with pytest.raises(ValidationException, match=message):
            await engine.tag_resource(
                ResourceArn=arn, Tags=[*_tags(("good", "1")), *tags] if tags else []
            )
        assert (await engine.list_tags_of_resource(ResourceArn=arn))["Tags"] == []

    async def test_allowed_characters(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine)
        tags = _tags(("sp ace", "a b+c-d=e.f_g:h/i@j"), ("ключ", "café 表"), ("x" * 128, "y" * 256))
        await engine.tag_resource(ResourceArn=arn, Tags=tags)
        assert (await engine.list_tags_of_resource(ResourceArn=arn))["Tags"] == tags
        await engine.tag_resource(ResourceArn=arn, Tags=_tags(("myaws:x", "aws:ok")))

    async def test_untag_rules(self, engine: streamkit.Engine) -> None:
        arn = await _orders(engine)
        with pytest.raises(ValidationException, match="Atleast one Tag Key"):
            await engine.untag_resource(ResourceArn=arn, TagKeys=[])
        with pytest.raises(ValidationException, match="prefixed with aws:"):
            await engine.untag_resource(ResourceArn=arn, TagKeys=["aws:foo"])
        with pytest.raises(ValidationException, match="Value null at 'tagKeys'"):
            await engine.untag_resource(ResourceArn=arn)  # type: ignore[call-arg]
        with pytest.raises(ValidationException, match="Value null at 'tags'"):
            await engine.tag_resource(ResourceArn=arn)  # type: ignore[call-arg]

    async def test_create_table_checks_its_tags(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="prefixed with aws:"):
            await _orders(engine, Tags=_tags(("aws:x", "1")))
        with pytest.raises(ValidationException, match="Number of Tags exceed"):
            await _orders(engine, Tags=_tags(*((str(i), "v") for i in range(100))))
        assert (await engine.list_tables())["TableNames"] == []

    @pytest.mark.parametrize(
        ("arn", "error", "message"),
        [
            ("orders", ValidationException, "ARNs must start with 'arn:': orders"),
            ("", ValidationException, "ARNs must start with 'arn:'"),
            ("arn:aws:s3:::bucket", ValidationException, "Invalid TableArn: Invalid ResourceArn"),
            ("a:b:c:d:e:f/g", ValidationException, "ARNs must start with 'arn:'"),
            (ARN.replace("us-east-1", "eu-west-1"), ValidationException, "Invalid TableArn"),
            (ARN.replace("arn:aws:", "arn:aws-cn:"), ValidationException, "Invalid TableArn"),
            (ARN.replace("000000000000", "123456789012"), AccessDeniedException, "not authorized"),
            (ARN + "/index/by_x", ValidationException, "only table or stream is accepted"),
            (ARN + "/stream/2026-01-01T00:00:00.000", ValidationException, "Invalid TableArn"),
            (ARN + "/backup/01234", ValidationException, "not a DynamoDB resource arn"),
            (ARN[:-6] + "ab", ValidationException, "Invalid TableArn"),
            (ARN + "x", ResourceNotFoundException, f"ResourceArn: {ARN}x not found"),
        ],
    )
    async def test_wrong_arns(
        self, engine: streamkit.Engine, arn: str, error: type[Exception], message: str
    ) -> None:
        await _orders(engine)
        for call in (
            engine.list_tags_of_resource(ResourceArn=arn),
            engine.tag_resource(ResourceArn=arn, Tags=_tags(("k", "v"))),
            engine.untag_resource(ResourceArn=arn, TagKeys=["k"]),
        ):
            with pytest.raises(error, match=message):
                await call

    async def test_missing_arn_and_wrong_types(self, engine: streamkit.Engine) -> None:
        with pytest.raises(ValidationException, match="Invalid TableArn"):
            await engine.list_tags_of_resource()  # type: ignore[call-arg]
        with pytest.raises(SerializationException):
            await engine.tag_resource(ResourceArn=ARN, Tags="k=v")
        with pytest.raises(ValidationException, match="Unknown parameter"):
            await engine.list_tags_of_resource(ResourceArn=ARN, Bogus=1)  # type: ignore[call-arg]


_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)


@given(
    st.lists(
        st.one_of(
            st.fixed_dictionaries({"Key": _TEXT, "Value": _TEXT}),
            st.dictionaries(
                st.sampled_from(["Key", "Value", "X"]), st.one_of(_TEXT, st.none(), st.integers())
            ),
            _TEXT,
            st.none(),
        ),
        max_size=60,
    )
)
def test_tag_validation_never_crashes(tags: list[Any]) -> None:
    """Any TagList is accepted whole or refused with a DynamoDB error, and what is accepted
    follows the documented rules."""
    try:
        pairs = check_tags(tags)
    except (ValidationException, SerializationException):
        return
    assert 1 <= len(pairs) <= MAX_TAGS
    for key, value in pairs:
        assert 1 <= len(key) <= 128
        assert len(value) <= 256
        assert not key.lower().startswith("aws:")
        assert not any(c in key + value for c in "#%,;!?*&|<>\"'\\")


_ARNS = st.one_of(
    _TEXT,
    st.builds(lambda tail: ARN + tail, _TEXT),
    st.builds(lambda head: head + ":table/orders", _TEXT),
)


@settings(max_examples=50)
@given(arn=_ARNS, body=st.one_of(_TEXT, st.lists(_TEXT, max_size=3), st.none()))
async def test_garbage_gets_dynamodb_errors(
    memory_engine: streamkit.Engine, arn: str, body: Any
) -> None:
    """Whatever the ARN, tags or policy, the answer is a result or a DynamoDB error."""
    if not (await memory_engine.list_tables())["TableNames"]:
        await _orders(memory_engine)
    calls = [
        memory_engine.list_tags_of_resource(ResourceArn=arn),
        memory_engine.tag_resource(ResourceArn=arn, Tags=body),
        memory_engine.untag_resource(ResourceArn=arn, TagKeys=body),
        memory_engine.get_resource_policy(ResourceArn=arn),
        memory_engine.put_resource_policy(ResourceArn=arn, Policy=body),
        memory_engine.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=body),
    ]
    for call in calls:
        with contextlib.suppress(DynamoDBError):
            await call


class TestPolicies:
    async def test_put_get_delete(self, engine: streamkit.Engine, clock: ManualClock) -> None:
        arn = await _orders(engine)
        with pytest.raises(PolicyNotFoundException, match=f"for the provided ResourceArn: {arn}$"):
            await engine.get_resource_policy(ResourceArn=arn)
        assert await engine.delete_resource_policy(ResourceArn=arn) == {}
        first = (await engine.put_resource_policy(ResourceArn=arn, Policy=POLICY))["RevisionId"]
        assert first == str(int(clock.now() * 1000))
        assert await engine.get_resource_policy(ResourceArn=arn) == {
            "Policy": POLICY,
            "RevisionId": first,
        }
        # the same document, spaced differently: nothing changes
        same = POLICY.replace(" ", "")
        assert (await engine.put_resource_policy(ResourceArn=arn, Policy=same))[
            "RevisionId"
        ] == first
        clock.advance(1)
        other = POLICY.replace("dynamodb:*", "dynamodb:GetItem")
        second = (
            await engine.put_resource_policy(
                ResourceArn=arn, Policy=other, ExpectedRevisionId=first
            )
        )["RevisionId"]
        assert int(second) > int(first)
        with pytest.raises(
            PolicyNotFoundException,
            match=f"revision id {first}, but .* orders has revision id {second}",
        ):
            await engine.put_resource_policy(
                ResourceArn=arn, Policy=POLICY, ExpectedRevisionId=first
            )
        with pytest.raises(PolicyNotFoundException, match="expecting none to be present"):
            await engine.put_resource_policy(
                ResourceArn=arn, Policy=POLICY, ExpectedRevisionId="NO_POLICY"
            )
        with pytest.raises(PolicyNotFoundException, match="revision id unknown"):
            await engine.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId="unknown")
        assert await engine.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=second) == {
            "RevisionId": second
        }
        with pytest.raises(PolicyNotFoundException):
            await engine.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=second)
        assert (
            await engine.put_resource_policy(
                ResourceArn=arn, Policy=POLICY, ExpectedRevisionId="NO_POLICY"
            )
        )["RevisionId"]

    async def test_create_table_policy_and_stream_slot(self, tmp_path: Path) -> None:
        path = tmp_path / "db.sqlite3"
        async with streamkit.open_engine(path) as db:
            stream = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
            await _orders(db, ResourcePolicy=POLICY, StreamSpecification=stream)
            stream_arn = (await db.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]
            with pytest.raises(PolicyNotFoundException):
                await db.get_resource_policy(ResourceArn=stream_arn)
            await db.put_resource_policy(ResourceArn=stream_arn, Policy="{}")
        async with streamkit.open_engine(path) as db:  # both persist, each in its own slot
            assert (await db.get_resource_policy(ResourceArn=ARN))["Policy"] == POLICY
            assert (await db.get_resource_policy(ResourceArn=stream_arn))["Policy"] == "{}"
            with pytest.raises(
                ResourceNotFoundException,
                match=r"Stream: 2000-01-01T00:00:00\.000 not found for Table: orders",
            ):
                await db.get_resource_policy(ResourceArn=ARN + "/stream/2000-01-01T00:00:00.000")

    @pytest.mark.parametrize(
        ("arn", "error", "message"),
        [
            ("orders", ValidationException, "ARNs must start with 'arn:': orders"),
            (ARN.replace("000000000000", "123456789012"), ValidationException, "resource owner"),
            (ARN.replace("us-east-1", "eu-west-1"), ValidationException, "Invalid resource Arn"),
            (ARN + "/index/g", ValidationException, "only table or stream is accepted"),
            (ARN + "/backup/0170", ValidationException, "not a DynamoDB resource arn"),
            (ARN + "x", ResourceNotFoundException, "Table: ordersx not found"),
        ],
    )
    async def test_wrong_arns(
        self, engine: streamkit.Engine, arn: str, error: type[Exception], message: str
    ) -> None:
        await _orders(engine)
        for call in (
            engine.get_resource_policy(ResourceArn=arn),
            engine.put_resource_policy(ResourceArn=arn, Policy=POLICY),
            engine.delete_resource_policy(ResourceArn=arn),
        ):
            with pytest.raises(error, match=message):
                await call

    @pytest.mark.parametrize(
        ("policy", "message"),
        [
            ("", "invalid Json"),
            ("[]", "invalid Json"),
            ("{", "invalid Json"),
            ("null", "appears not to be a policy"),
            ('{"a": "' + "x" * 20480 + '"}', "larger than 20480 bytes"),
        ],
    )
    async def test_invalid_documents(
        self, engine: streamkit.Engine, policy: str, message: str
    ) -> None:
        arn = await _orders(engine)
        with pytest.raises(ValidationException, match=message):
            await engine.put_resource_policy(ResourceArn=arn, Policy=policy)
        with pytest.raises(ValidationException, match="Value null at 'policy'"):
            await engine.put_resource_policy(ResourceArn=arn)  # type: ignore[call-arg]


async def test_describe_endpoints_and_limits(engine: streamkit.Engine) -> None:
    assert await engine.describe_endpoints() == {
        "Endpoints": [{"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]
    }
    assert await engine.describe_limits() == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }
    with pytest.raises(ValidationException, match="Unknown parameter"):
        await engine.describe_limits(X=1)  # type: ignore[call-arg]


async def test_an_update_table_queued_beside_tag_resource_keeps_the_tags(
    engine: streamkit.Engine,
) -> None:
    arn = await _orders(engine)
    async with anyio.create_task_group() as tg:  # one group commit: the tag lands first
        tg.start_soon(lambda: engine.tag_resource(ResourceArn=arn, Tags=_tags(("team", "a"))))
        tg.start_soon(
            lambda: engine.update_table(TableName="orders", DeletionProtectionEnabled=True)
        )
    assert (await engine.list_tags_of_resource(ResourceArn=arn))["Tags"] == _tags(("team", "a"))
    table = (await engine.describe_table(TableName="orders"))["Table"]
    assert table["DeletionProtectionEnabled"] is True
