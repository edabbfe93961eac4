"""``streamkit.aws.lambda_handler``: on Lambda a handler sees what it sees locally.

The Lambda events here are the AWS shape made from a real engine's GetRecords (``lambda_record``
and ``base64_binaries``, then a JSON round trip, as Lambda's service sends them), and are checked
against what the local runtime handed the same handler for the same records.
"""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import pytest

import streamkit
from streamkit.aws import handle, lambda_handler
from streamkit.errors import ConfigurationError
from streamkit.mappings.config import Handler
from streamkit.mappings.invoke import interpret_response
from streamkit.streams import base64_binaries, lambda_record
from streamkit.testing import Harness, LambdaContext, ManualClock, make_event, make_stream_record

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


def _is_bad(record: dict[str, Any]) -> bool:
    """The handler's rule: a new image with ``bad`` true fails (typed or plain)."""
    flag = record["dynamodb"].get("NewImage", {}).get("bad")
    return flag is True or flag == {"BOOL": True}


def _app(calls: list[tuple[dict[str, Any], Any]], *, is_async: bool, **options: Any) -> Any:
    app = streamkit.App()

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append((copy.deepcopy(event), context))
        failed = [r["dynamodb"]["SequenceNumber"] for r in event["Records"] if _is_bad(r)]
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}

    async def audit_async(event: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return answer(event, context)

    def audit_sync(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return answer(event, context)

    audit: Handler = audit_async if is_async else audit_sync
    app.on_stream(
        "orders",
        name="audit",
        starting_position="TRIM_HORIZON",
        function_response_types=["ReportBatchItemFailures"],
        maximum_retry_attempts=0,
        **options,
    )(audit)
    return app


async def _write(db: streamkit.Engine) -> None:
    await db.create_table(TableName="orders", **TABLE)
    items = [
        {"pk": {"S": "o1"}, "total": {"N": "30.50"}, "blob": {"B": b"\x00\xffraw"}},
        {
            "pk": {"S": "o2"},
            "bad": {"BOOL": True},
            "tags": {"SS": ["b", "a"]},
            "sizes": {"NS": ["1", "2.5"]},
            "chunks": {"BS": [b"x", b"\x01"]},
            "lines": {"L": [{"M": {"sku": {"S": "s1"}, "n": {"N": "2"}}}, {"NULL": True}]},
        },
        {"pk": {"S": "o3"}, "total": {"N": "1"}},
    ]
    for item in items:
        await db.put_item(TableName="orders", Item=item)
    await db.update_item(
        TableName="orders",
        Key={"pk": {"S": "o1"}},
        UpdateExpression="SET bad = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    await db.delete_item(TableName="orders", Key={"pk": {"S": "o3"}})


async def _aws_event(db: streamkit.Engine) -> dict[str, Any]:
    """The event Lambda sends for the table's records: GetRecords, shaped, through JSON."""
    arn = (await db.describe_table(TableName="orders"))["Table"]["LatestStreamArn"]
    shards = (await db.streams.describe_stream(StreamArn=arn))["StreamDescription"]["Shards"]
    records: list[dict[str, Any]] = []
    for shard in shards:
        iterator = (
            await db.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
        )["ShardIterator"]
        page = await db.streams.get_records(ShardIterator=iterator)
        records.extend(base64_binaries(lambda_record(r, arn)) for r in page["Records"])
    event: dict[str, Any] = json.loads(json.dumps({"Records": records}))
    return event


def _context() -> LambdaContext:
    return LambdaContext(clock=streamkit.SystemClock(), timeout=3, function_name="audit")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("deserialize", [False, True], ids=["json", "deserialized"])
async def test_same_event_and_batch_item_failures_as_the_local_runtime(
    is_async: bool, deserialize: bool
) -> None:
    local: list[tuple[dict[str, Any], Any]] = []
    on_lambda: list[tuple[dict[str, Any], Any]] = []
    clock = ManualClock()
    async with streamkit.open_engine(None, clock=clock, stream_shards=1) as db:
        await _write(db)  # every record is there before the mapping starts: one batch
        aws_event = await _aws_event(db)
        app = _app(local, is_async=is_async, deserialize=deserialize)
        async with streamkit.open_runtime(db, app) as runtime:
            await Harness(db, runtime, clock).drain()

    entry = lambda_handler(_app(on_lambda, is_async=is_async, deserialize=deserialize), "audit")
    context = _context()
    response = await asyncio.to_thread(entry, aws_event, context)

    assert len(local) == 1  # the whole batch in one invocation, no retry (0 attempts)
    assert len(on_lambda) == 1
    local_event, local_context = local[0]
    lambda_event, lambda_context = on_lambda[0]
    assert lambda_event == local_event
    assert lambda_context is context
    assert [r["eventName"] for r in lambda_event["Records"]] == [
        "INSERT", "INSERT", "INSERT", "MODIFY", "REMOVE"
    ]  # fmt: skip
    if deserialize:
        first = lambda_event["Records"][0]["dynamodb"]["NewImage"]
        assert first == {"pk": "o1", "total": Decimal("30.50"), "blob": b"\x00\xffraw"}
    else:
        first = lambda_event["Records"][0]["dynamodb"]["NewImage"]
        assert first["blob"] == {"B": "AP9yYXc="}  # base64 text, as Lambda's JSON carries it
    seqs = [r["dynamodb"]["SequenceNumber"] for r in aws_event["Records"]]
    assert response == {
        "batchItemFailures": [{"itemIdentifier": seqs[1]}, {"itemIdentifier": seqs[3]}]
    }
    verdict = interpret_response(response, seqs, report_batch_item_failures=True)
    assert verdict.failed_index == 1  # Lambda retries from o2's INSERT on, as locally
    # the context has the attributes of the local one (the real runtime's names)
    assert {a for a in vars(local_context) if not a.startswith("_")} <= set(dir(lambda_context))


async def test_a_tumbling_window_event_keeps_its_fields_and_returns_the_state() -> None:
    calls: list[dict[str, Any]] = []
    app = streamkit.App()

    @app.on_stream("orders", name="totals", tumbling_window_in_seconds=60, deserialize=True)
    async def totals(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        total = sum(r["dynamodb"]["NewImage"]["total"] for r in event["Records"])
        return {"state": {"total": event["state"].get("total", 0) + total}}

    record = make_stream_record(keys={"pk": "o1"}, new_image={"total": 5}, table="orders")
    event = json.loads(
        json.dumps(make_event([record], window=(1_700_000_040, 1_700_000_100), state={"total": 2}))
    )
    response = await asyncio.to_thread(lambda_handler(app), event, _context())

    assert response == {"state": {"total": Decimal("7")}}
    (seen,) = calls
    assert {k: v for k, v in seen.items() if k != "Records"} == {
        k: v for k, v in event.items() if k != "Records"
    }
    assert seen["window"] == {"start": "2023-11-14T22:14:00Z", "end": "2023-11-14T22:15:00Z"}
    assert seen["Records"][0]["dynamodb"]["NewImage"] == {"pk": "o1", "total": Decimal("5")}


def test_handle_reads_the_app_and_mapping_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.aws import every_option_app

    monkeypatch.setenv("STREAMKIT_APP", "tests.aws.every_option_app:app")
    monkeypatch.setenv("STREAMKIT_MAPPING", "audit")
    good = make_stream_record(keys={"pk": "o1"}, new_image={"total": 200}, table="orders")
    bad = make_stream_record(
        keys={"pk": "o2"}, new_image={"total": 300, "bad": True}, table="orders"
    )
    response = handle(make_event([good, bad]), _context())
    assert response == {
        "batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]
    }
    assert every_option_app.failures == []  # on_failure is the event-source mapping's business


def test_handle_without_an_app_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMKIT_APP", raising=False)
    with pytest.raises(ConfigurationError, match="STREAMKIT_APP is not set"):
        handle({"Records": []}, _context())
    monkeypatch.setenv("STREAMKIT_APP", "tests.aws.no_such_module:app")
    with pytest.raises(ConfigurationError, match="cannot import"):
        handle({"Records": []}, _context())


def test_the_mapping_must_be_known_or_the_only_one() -> None:
    from tests.aws.every_option_app import app

    with pytest.raises(ConfigurationError, match="3 mappings"):
        lambda_handler(app)
    with pytest.raises(ConfigurationError, match="no mapping named 'nope'"):
        lambda_handler(app, "nope")
    with pytest.raises(ConfigurationError, match="takes an App"):
        lambda_handler("app")  # type: ignore[arg-type]


def test_an_async_handler_keeps_its_loop_across_invocations() -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    app = streamkit.App()

    @app.on_stream("orders", name="loop")
    async def loop(event: dict[str, Any], context: Any) -> None:
        loops.append(asyncio.get_running_loop())

    entry = lambda_handler(app)
    assert entry({"Records": []}, _context()) is None
    assert entry({"Records": []}, _context()) is None
    assert loops[0] is loops[1]


def test_a_sync_wrapper_returning_an_awaitable_is_awaited() -> None:
    app = streamkit.App()

    async def inner(event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": []}

    @app.on_stream("orders", name="wrapped")
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        return inner(event)

    assert lambda_handler(app)({"Records": []}, _context()) == {"batchItemFailures": []}


async def test_an_async_handler_called_inside_a_running_loop_is_refused() -> None:
    app = streamkit.App()

    @app.on_stream("orders", name="inside")
    async def inside(event: dict[str, Any], context: Any) -> None:
        return None

    coroutine_made: list[object] = []
    entry = lambda_handler(app)
    with pytest.raises(ConfigurationError, match=r"asyncio\.to_thread"):
        coroutine_made.append(entry({"Records": []}, _context()))
