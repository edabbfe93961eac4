"""Record/event builders, deserialisation, and the Lambda-like context."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import ValidationException
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.context import LambdaContext
from streamkit.mappings.events import (
    TTL_IDENTITY,
    deserialize_event,
    deserialize_record,
    make_event,
    make_stream_record,
    stream_arn,
)
from streamkit.mappings.processor import ShardProcessor
from streamkit.testing import ManualClock

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000"


class TestMakeStreamRecord:
    def test_lambda_doc_example_shape(self) -> None:
        """The §1.11 example: same fields, types and SizeBytes (Keys 5 + images)."""
        record = make_stream_record(
            event_name="MODIFY",
            keys={"Id": 101},
            old_image={"Id": 101, "Message": "New item!"},
            new_image={"Id": 101, "Message": "This item has changed"},
            sequence_number="222",
            table="T",
            approximate_creation_date_time=1678831218,
            event_id="c4ca4238a0b923820dcc509a6f75849b",
        )
        assert record == {
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": "MODIFY",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1678831218.0,
                "Keys": {"Id": {"N": "101"}},
                "OldImage": {"Id": {"N": "101"}, "Message": {"S": "New item!"}},
                "NewImage": {"Id": {"N": "101"}, "Message": {"S": "This item has changed"}},
                "SequenceNumber": "222",
                "SizeBytes": 59,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": ARN,
        }
        assert json.loads(json.dumps(record)) == record

    def test_size_bytes_matches_the_api_example(self) -> None:
        record = make_stream_record(
            keys={"Id": 101},
            new_image={"Message": "New item!", "Id": 101},
            stream_view_type="NEW_IMAGE",
        )
        assert record["dynamodb"]["SizeBytes"] == 26

    def test_dynamodb_json_input_is_detected(self) -> None:
        plain = make_stream_record(
            keys={"pk": "a"}, new_image={"n": Decimal("1.50"), "s": {"x", "y"}}, sequence_number=1
        )
        typed = make_stream_record(
            keys={"pk": {"S": "a"}},
            new_image={"pk": {"S": "a"}, "n": {"N": "1.50"}, "s": {"SS": ["x", "y"]}},
            sequence_number=1,
        )
        assert plain == typed
        assert typed["dynamodb"]["NewImage"]["n"] == {"N": "1.5"}
        assert typed["dynamodb"]["NewImage"]["s"] == {"SS": ["x", "y"]}

    def test_typed_flag_overrides_detection(self) -> None:
        record = make_stream_record(keys={"pk": "a"}, new_image={"S": {"S": "x"}}, typed=False)
        assert record["dynamodb"]["NewImage"]["S"] == {"M": {"S": {"S": "x"}}}

    def test_binary_is_base64_text(self) -> None:
        """What Lambda delivered on AWS for {"B": b"foobar"} (LocalStack snapshot)."""
        from_bytes = make_stream_record(keys={"pk": "a"}, new_image={"binary_key": b"foobar"})
        from_json = make_stream_record(
            keys={"pk": {"S": "a"}}, new_image={"binary_key": {"B": "Zm9vYmFy"}}
        )
        from_typed_bytes = make_stream_record(
            keys={"pk": {"S": "a"}}, new_image={"binary_key": {"B": b"foobar"}}
        )
        for record in (from_bytes, from_json, from_typed_bytes):
            assert record["dynamodb"]["NewImage"]["binary_key"] == {"B": "Zm9vYmFy"}
            assert record["dynamodb"]["SizeBytes"] == from_bytes["dynamodb"]["SizeBytes"]

    def test_binary_sets_and_nested(self) -> None:
        record = make_stream_record(
            keys={"pk": "a"}, new_image={"m": {"l": [b"\x00"]}, "bs": {b"a"}}
        )
        image = record["dynamodb"]["NewImage"]
        assert image["m"] == {"M": {"l": {"L": [{"B": "AA=="}]}}}
        assert image["bs"] == {"BS": ["YQ=="]}

    def test_keys_are_added_to_images(self) -> None:
        record = make_stream_record(keys={"pk": "a"}, new_image={"x": 1})
        assert record["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "x": {"N": "1"}}

    @pytest.mark.parametrize(
        ("view", "event", "present"),
        [
            ("KEYS_ONLY", "MODIFY", set()),
            ("NEW_IMAGE", "MODIFY", {"NewImage"}),
            ("OLD_IMAGE", "MODIFY", {"OldImage"}),
            ("NEW_AND_OLD_IMAGES", "MODIFY", {"NewImage", "OldImage"}),
            ("NEW_AND_OLD_IMAGES", "INSERT", {"NewImage"}),
            ("NEW_AND_OLD_IMAGES", "REMOVE", {"OldImage"}),
            ("NEW_IMAGE", "REMOVE", set()),
            ("OLD_IMAGE", "INSERT", set()),
        ],
    )
    def test_images_follow_the_view_type(self, view: str, event: str, present: set[str]) -> None:
        images: dict[str, Any] = {}
        if event != "REMOVE":
            images["new_image"] = {"v": 2}
        if event != "INSERT":
            images["old_image"] = {"v": 1}
        record = make_stream_record(
            event_name=event, keys={"pk": "a"}, stream_view_type=view, **images
        )
        assert set(record["dynamodb"]) & {"NewImage", "OldImage"} == present

    def test_ttl_deletion(self) -> None:
        record = make_stream_record(event_name="REMOVE", ttl=True, keys={"pk": "a"})
        assert record["userIdentity"] == {
            "type": "Service",
            "principalId": "dynamodb.amazonaws.com",
        }
        assert record["userIdentity"] == TTL_IDENTITY
        assert "userIdentity" not in make_stream_record(event_name="REMOVE", keys={"pk": "a"})

    def test_defaults(self) -> None:
        first = make_stream_record(keys={"pk": "a"})
        second = make_stream_record(keys={"pk": "a"})
        assert re.fullmatch(r"[0-9]{21}", first["dynamodb"]["SequenceNumber"])
        assert int(second["dynamodb"]["SequenceNumber"]) > int(first["dynamodb"]["SequenceNumber"])
        assert re.fullmatch(r"[0-9a-f]{32}", first["eventID"])
        assert first["eventID"] != second["eventID"]
        assert first["eventSourceARN"] == stream_arn("table")
        assert first["dynamodb"]["ApproximateCreationDateTime"] == 1_700_000_000.0

    def test_creation_time_rounds_down_and_accepts_datetimes(self) -> None:
        moment = datetime(2025, 3, 2, 10, 0, 0, 900_000, tzinfo=UTC)
        record = make_stream_record(keys={"pk": "a"}, approximate_creation_date_time=moment)
        assert record["dynamodb"]["ApproximateCreationDateTime"] == float(int(moment.timestamp()))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"event_name": "UPDATE"},
            {"stream_view_type": "ALL"},
            {"event_name": "INSERT", "old_image": {"x": 1}},
            {"event_name": "REMOVE", "new_image": {"x": 1}},
            {"event_name": "INSERT", "ttl": True},
        ],
    )
    def test_invalid_arguments(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            make_stream_record(keys={"pk": "a"}, **kwargs)

    def test_floats_are_refused_like_boto3(self) -> None:
        with pytest.raises(TypeError, match="Decimal"):
            make_stream_record(keys={"pk": "a"}, new_image={"x": 1.5})

    def test_dynamodb_rules_apply(self) -> None:
        with pytest.raises(ValidationException):
            make_stream_record(keys={"pk": {"N": "not a number"}})


class TestMakeEvent:
    def test_records(self) -> None:
        record = make_stream_record(keys={"pk": "a"})
        assert make_event([record]) == {"Records": [record]}

    def test_tumbling_window_fields(self) -> None:
        record = make_stream_record(keys={"pk": "a"}, event_source_arn=ARN)
        event = make_event(
            [record],
            window=(1_740_909_600, datetime(2025, 3, 2, 10, 2, tzinfo=UTC)),
            state={"count": "41"},
            shard_id="shardId-1",
            is_final_invoke_for_window=True,
        )
        assert event == {
            "Records": [record],
            "window": {"start": "2025-03-02T10:00:00Z", "end": "2025-03-02T10:02:00Z"},
            "state": {"count": "41"},
            "shardId": "shardId-1",
            "eventSourceARN": ARN,
            "isFinalInvokeForWindow": True,
            "isWindowTerminatedEarly": False,
        }

    def test_final_window_invocation_may_be_empty(self) -> None:
        event = make_event([], window=("2025-03-02T10:00:00Z", "2025-03-02T10:02:00Z"))
        assert event["Records"] == []
        assert event["state"] == {}


class TestDeserialize:
    def test_images_become_plain_values(self) -> None:
        record = make_stream_record(
            event_name="MODIFY",
            keys={"pk": "a", "sk": 1},
            old_image={"n": 1},
            new_image={
                "n": Decimal("2.5"),
                "b": b"foobar",
                "ss": {"x"},
                "ns": {1, 2},
                "bs": {b"z"},
                "m": {"l": [None, True, "s"]},
            },
        )
        plain = deserialize_record(record)
        assert plain["dynamodb"]["Keys"] == {"pk": "a", "sk": Decimal(1)}
        assert plain["dynamodb"]["OldImage"] == {"pk": "a", "sk": 1, "n": 1}
        assert plain["dynamodb"]["NewImage"] == {
            "pk": "a",
            "sk": 1,
            "n": Decimal("2.5"),
            "b": b"foobar",
            "ss": {"x"},
            "ns": {Decimal(1), Decimal(2)},
            "bs": {b"z"},
            "m": {"l": [None, True, "s"]},
        }
        assert plain["dynamodb"]["SequenceNumber"] == record["dynamodb"]["SequenceNumber"]
        assert record["dynamodb"]["Keys"] == {"pk": {"S": "a"}, "sk": {"N": "1"}}  # untouched

    def test_event(self) -> None:
        event = make_event([make_stream_record(keys={"pk": "a"})])
        assert deserialize_event(event)["Records"][0]["dynamodb"]["Keys"] == {"pk": "a"}

    def test_not_an_attribute_value(self) -> None:
        with pytest.raises(TypeError):
            deserialize_record({"dynamodb": {"Keys": {"pk": "a"}}})


plain_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.text(max_size=5),
        st.binary(max_size=5),
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.text(min_size=1, max_size=4), plain_values, max_size=4))
def test_builder_and_deserialize_round_trip(image: dict[str, Any]) -> None:
    record = make_stream_record(keys={"pk": "k"}, new_image=image, typed=False)
    assert json.loads(json.dumps(record)) == record
    expected = {"pk": "k", **image} if "pk" not in image else image
    assert deserialize_record(record)["dynamodb"]["NewImage"] == expected


class TestLambdaContext:
    def test_attributes(self) -> None:
        clock = ManualClock(start=1_740_909_600.0)
        context = LambdaContext(
            clock=clock, timeout=3, function_name="projector", region="eu-west-1", account="1" * 12
        )
        assert context.function_name == "projector"
        assert context.function_version == "$LATEST"
        assert context.invoked_function_arn == (
            "arn:aws:lambda:eu-west-1:111111111111:function:projector"
        )
        assert context.memory_limit_in_mb == "128"
        assert re.fullmatch(r"[0-9a-f-]{36}", context.aws_request_id)
        assert context.log_group_name == "/aws/lambda/projector"
        assert re.fullmatch(r"2025/03/02/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
        assert context.client_context is None
        assert context.identity.cognito_identity_id is None

    def test_request_ids_differ(self) -> None:
        clock = ManualClock()
        ids = {
            LambdaContext(clock=clock, timeout=1, function_name="f").aws_request_id for _ in "ab"
        }
        assert len(ids) == 2

    def test_request_id_is_made_once_and_kept(self) -> None:
        """Made when first read (most invocations never read it), the same on every read;
        a given one is kept, and it can be set."""
        clock = ManualClock()
        context = LambdaContext(clock=clock, timeout=1, function_name="f")
        first = context.aws_request_id
        assert context.aws_request_id == first
        assert repr(context).endswith(f"aws_request_id={first!r})")
        given = LambdaContext(clock=clock, timeout=1, function_name="f", aws_request_id="r-1")
        assert given.aws_request_id == "r-1"
        given.aws_request_id = "r-2"
        assert given.aws_request_id == "r-2"

    def test_remaining_time_follows_the_clock(self) -> None:
        clock = ManualClock()
        context = LambdaContext(clock=clock, timeout=3.0, function_name="f")
        assert context.get_remaining_time_in_millis() == 3000
        clock.advance(1.25)
        assert context.get_remaining_time_in_millis() == 1750
        clock.advance(10)
        assert context.get_remaining_time_in_millis() == 0

    def test_started_at(self) -> None:
        clock = ManualClock(start=100.0)
        context = LambdaContext(clock=clock, timeout=5, function_name="f", started_at=98.0)
        assert context.get_remaining_time_in_millis() == 3000


async def test_invocations_of_a_shard_share_one_log_stream() -> None:
    """As in one Lambda execution environment: a fresh request id per invocation, one log
    stream for every invocation a shard processor makes."""
    contexts: list[Any] = []

    async def handler(event: dict[str, Any], context: Any) -> None:
        contexts.append(context)

    clock = ManualClock(start=1_740_909_600.0)
    config = MappingConfig(table="t", name="m", handler=handler)
    processor = ShardProcessor(
        config, stream_arn="arn", shard_id="s", clock=clock, region="us-east-1", account="1" * 12
    )
    for n in range(2):
        await processor.process([make_stream_record(keys={"pk": f"k{n}"}, sequence_number=n)])
    assert len({c.aws_request_id for c in contexts}) == 2
    assert contexts[0].log_stream_name == contexts[1].log_stream_name
    assert re.fullmatch(r"2025/03/02/\[\$LATEST\][0-9a-f]{32}", contexts[0].log_stream_name)
