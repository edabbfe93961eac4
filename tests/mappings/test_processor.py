"""ShardProcessor: Lambda's event-source-mapping rules for one shard, driven by a manual clock."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from streamkit.mappings.config import MappingConfig
from streamkit.mappings.context import LambdaContext
from streamkit.mappings.filters import compile_pattern
from streamkit.mappings.processor import LAMBDA_BACKOFF, Outcome, ShardProcessor
from streamkit.testing import ManualClock
from tests.logs import debug, events

T = TypeVar("T")

ARN = "arn:aws:dynamodb:eu-west-1:111122223333:table/Orders/stream/2025-03-01T08:00:00.000"
SHARD = "shardId-00000001740909000000-1a2b3c4d"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111122223333:function:orders-consumer"
START = 1_700_000_000.0  # ManualClock's start: 2023-11-14T22:13:20Z


def seq(n: int) -> str:
    return str(10**20 + n)


def record(
    n: int,
    *,
    created: float = START,
    pk: str | None = None,
    event_name: str = "INSERT",
    new_image: dict[str, Any] | None = None,
) -> dict[str, Any]:
    keys = {"pk": {"S": pk if pk is not None else f"k{n}"}}
    return {
        "eventID": f"event-{n}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": keys,
            "NewImage": new_image if new_image is not None else {**keys, "n": {"N": str(n)}},
            "SequenceNumber": seq(n),
            "SizeBytes": 20,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": ARN,
    }


def records(*ns: int, **options: Any) -> list[dict[str, Any]]:
    return [record(n, **options) for n in ns]


def numbers(event: dict[str, Any]) -> list[int]:
    return [int(r["dynamodb"]["SequenceNumber"]) - 10**20 for r in event["Records"]]


def processor(clock: ManualClock, handler: Any, **options: Any) -> ShardProcessor:
    config = MappingConfig(name="orders-consumer", table="Orders", handler=handler, **options)
    return ShardProcessor(
        config,
        stream_arn=ARN,
        shard_id=SHARD,
        clock=clock,
        region="eu-west-1",
        account="111122223333",
    )


async def drive(clock: ManualClock, fn: Callable[[], Awaitable[T]], *, step: float = 1.0) -> T:
    """Run ``fn()`` to completion, moving the clock on whenever the work waits on it.

    The clock jumps to the next sleeper's deadline, at most ``step`` at a time, and only when a
    task sleeps on it: a task blocked on anything else (a thread) is just waited for.
    """
    box: list[T] = []

    async def run() -> None:
        box.append(await fn())

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        for _ in range(100_000):
            await anyio.wait_all_tasks_blocked()
            if box:
                break
            wake = clock.next_wake()
            if wake is None:
                await anyio.lowlevel.checkpoint()  # blocked on a thread: let it finish
                continue
            clock.advance(min(step, max(0.0, wake - clock.now())))
        else:
            raise AssertionError("the processor never finished")
    return box[0]


class Recorder:
    """An async handler that records each event and answers from a script (then ``None``)."""

    def __init__(self, clock: ManualClock, *answers: object) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.contexts: list[Any] = []

    async def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.times.append(self.clock.now())
        self.contexts.append(context)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def batches(self) -> list[list[int]]:
        return [numbers(e) for e in self.events]


class Sink:
    """An async on_failure destination collecting failure records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def __call__(self, failure: dict[str, Any]) -> None:
        self.records.append(failure)


class TestSuccess:
    async def test_batch_delivered_as_lambda_event(self, clock: ManualClock) -> None:
        handler = Recorder(clock)
        proc = processor(clock, handler)
        batch = records(1, 2, 3)
        out = await proc.process(batch)
        assert out == Outcome(checkpoint=seq(3), complete=True)
        assert handler.events == [{"Records": batch}]
        assert handler.events[0]["Records"][0] is not batch[0]  # a fresh copy
        context = handler.contexts[0]
        assert isinstance(context, LambdaContext)
        assert context.invoked_function_arn == FUNCTION_ARN
        assert context.get_remaining_time_in_millis() == 3000
        assert proc.metrics.batches == 1
        assert proc.metrics.invocations == 1
        assert proc.metrics.records == 3
        assert proc.metrics.errors == 0

    async def test_records_of_any_mapping_type_are_copied(self, clock: ManualClock) -> None:
        class Record(dict[str, Any]):
            pass

        original = record(1)
        original["dynamodb"]["ApproximateCreationDateTime"] = Decimal(int(START))
        handler = Recorder(clock)
        await processor(clock, handler).process([Record(original)])
        assert handler.events == [{"Records": [original]}]
        assert type(handler.events[0]["Records"][0]) is dict

    async def test_empty_batch_invokes_nothing(self, clock: ManualClock) -> None:
        handler = Recorder(clock)
        assert await processor(clock, handler).process([]) == Outcome(None, complete=True)
        assert handler.events == []

    async def test_sync_handler_runs_in_a_worker_thread(self, clock: ManualClock) -> None:
        seen: list[tuple[list[int], int]] = []

        def handler(event: dict[str, Any], context: Any) -> None:
            seen.append((numbers(event), threading.get_ident()))

        out = await processor(clock, handler).process(records(1, 2))
        assert out.checkpoint == seq(2)
        assert seen[0][0] == [1, 2]
        assert seen[0][1] != threading.get_ident()

    async def test_batch_size_chunks_an_oversized_batch(self, clock: ManualClock) -> None:
        handler = Recorder(clock)
        out = await processor(clock, handler, batch_size=2).process(records(1, 2, 3, 4, 5))
        assert handler.batches == [[1, 2], [3, 4], [5]]
        assert out.checkpoint == seq(5)

    async def test_iterator_age(self, clock: ManualClock) -> None:
        proc = processor(clock, Recorder(clock))
        await proc.process([record(1, created=START - 30), record(2, created=START - 12)])
        assert proc.metrics.iterator_age == 12

    async def test_iterator_age_is_the_last_records(self, clock: ManualClock) -> None:
        """Lambda's IteratorAge: the age of the batch's last record (not its newest)."""
        proc = processor(clock, Recorder(clock))
        await proc.process([record(1, created=START - 5), record(2, created=START - 20)])
        assert proc.metrics.iterator_age == 20


class TestRetries:
    async def test_retry_with_backoff_until_success(self, clock: ManualClock) -> None:
        handler = Recorder(clock, RuntimeError("1"), RuntimeError("2"), None)
        proc = processor(clock, handler)
        out = await drive(clock, lambda: proc.process(records(1, 2)))
        assert out == Outcome(checkpoint=seq(2), complete=True)
        assert handler.batches == [[1, 2]] * 3
        assert handler.times == [START, START + 1, START + 3]
        assert proc.metrics.invocations == 3
        assert proc.metrics.errors == 2
        assert proc.metrics.retries == 2
        assert proc.metrics.records == 2

    def test_backoff_schedule(self) -> None:
        assert [LAMBDA_BACKOFF.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]

    async def test_handler_edits_never_reach_a_retry(self, clock: ManualClock) -> None:
        seen: list[dict[str, Any]] = []

        async def handler(event: dict[str, Any], context: Any) -> None:
            seen.append(json.loads(json.dumps(event)))
            if len(seen) == 1:
                event["Records"][0]["dynamodb"]["NewImage"].clear()
                raise RuntimeError("after editing")

        batch = records(1)
        await drive(clock, lambda: processor(clock, handler).process(batch))
        assert seen[0] == seen[1] == {"Records": batch}

    async def test_max_retries_exhausted_sends_lambda_failure_record(
        self, clock: ManualClock
    ) -> None:
        sink = Sink()
        handler = Recorder(clock, *[ValueError("bad")] * 5)
        proc = processor(clock, handler, maximum_retry_attempts=2, on_failure=sink)
        batch = [record(1, created=START - 42.7), record(2, created=START - 2.2)]
        out = await drive(clock, lambda: proc.process(batch))
        assert out == Outcome(checkpoint=seq(2), complete=True)
        assert len(handler.events) == 3
        assert sink.records == [
            {
                "requestContext": {
                    "requestId": handler.contexts[-1].aws_request_id,
                    "functionArn": FUNCTION_ARN,
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 3,
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "version": "1.0",
                "timestamp": "2023-11-14T22:13:23.000Z",
                "DDBStreamBatchInfo": {
                    "shardId": SHARD,
                    "startSequenceNumber": seq(1),
                    "endSequenceNumber": seq(2),
                    "approximateArrivalOfFirstRecord": "2023-11-14T22:12:37Z",
                    "approximateArrivalOfLastRecord": "2023-11-14T22:13:17Z",
                    "batchSize": 2,
                    "streamArn": ARN,
                },
            }
        ]
        assert proc.metrics.records_discarded == 2
        assert proc.metrics.failures_sent == 1

    async def test_zero_retries_means_one_invocation(self, clock: ManualClock) -> None:
        sink = Sink()
        handler = Recorder(clock, RuntimeError())
        proc = processor(clock, handler, maximum_retry_attempts=0, on_failure=sink)
        assert (await proc.process(records(1))).complete
        assert len(handler.events) == 1
        assert sink.records[0]["requestContext"]["approximateInvokeCount"] == 1

    async def test_record_age_exceeded(self, clock: ManualClock) -> None:
        sink = Sink()
        handler = Recorder(clock, *[RuntimeError()] * 20)
        proc = processor(clock, handler, maximum_record_age_in_seconds=60, on_failure=sink)
        out = await drive(clock, lambda: proc.process(records(1, 2, created=START - 50)))
        assert out.complete
        # ages 50, 51, 53, 57 are retried; at 65 the batch is too old
        assert handler.times == [START, START + 1, START + 3, START + 7, START + 15]
        (failure,) = sink.records
        assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
        assert failure["requestContext"]["approximateInvokeCount"] == 5
        assert failure["responseContext"]["functionError"] == "Unhandled"
        assert failure["DDBStreamBatchInfo"]["batchSize"] == 2

    async def test_timeout_is_a_function_error(self, clock: ManualClock) -> None:
        async def handler(event: dict[str, Any], context: Any) -> None:
            await anyio.sleep_forever()

        sink = Sink()
        proc = processor(clock, handler, timeout=0.02, maximum_retry_attempts=0, on_failure=sink)
        out = await proc.process(records(1))
        assert out.complete
        assert sink.records[0]["responseContext"]["functionError"] == "Unhandled"

    async def test_no_destination_discards_and_logs(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        proc = processor(clock, Recorder(clock, RuntimeError()), maximum_retry_attempts=0)
        out = await proc.process(records(1, 2))
        logs = events(caplog)
        assert out == Outcome(seq(2), complete=True)
        (entry,) = [e for e in logs if e["event"] == "batch_discarded"]
        assert entry["log_level"] == "error"
        assert entry["error_code"] == "RetryAttemptsExhausted"
        assert proc.metrics.records_discarded == 2
        assert proc.metrics.failures_sent == 0

    async def test_failing_destination_is_logged_and_skipped(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def destination(failure: dict[str, Any]) -> None:
            raise OSError("queue unreachable")

        proc = processor(
            clock, Recorder(clock, RuntimeError()), maximum_retry_attempts=0, on_failure=destination
        )
        out = await proc.process(records(1))
        logs = events(caplog)
        assert out.complete
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "failure_destination_error"
        ]


class TestBisect:
    async def test_poison_record_is_isolated(self, clock: ManualClock) -> None:
        """Halves are retried in order; the poison lands alone in on_failure, the rest succeed."""
        successes: list[list[int]] = []
        calls: list[list[int]] = []

        async def handler(event: dict[str, Any], context: Any) -> None:
            batch = numbers(event)
            calls.append(batch)
            if 5 in batch:
                raise ValueError("poison")
            successes.append(batch)

        sink = Sink()
        proc = processor(
            clock,
            handler,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=1,
            on_failure=sink,
        )
        out = await drive(clock, lambda: proc.process(records(*range(1, 9))))
        assert out == Outcome(seq(8), complete=True)
        assert calls == [
            [1, 2, 3, 4, 5, 6, 7, 8],
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            [5, 6],
            [5],
            [5],
            [6],
            [7, 8],
        ]
        assert successes == [[1, 2, 3, 4], [6], [7, 8]]
        (failure,) = sink.records
        info = failure["DDBStreamBatchInfo"]
        assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
            1,
            seq(5),
            seq(5),
        )
        assert failure["requestContext"]["approximateInvokeCount"] == 2
        assert proc.metrics.records == 7

    async def test_bisect_with_zero_retries_still_splits(self, clock: ManualClock) -> None:
        async def handler(event: dict[str, Any], context: Any) -> None:
            if 2 in numbers(event):
                raise ValueError("poison")

        sink = Sink()
        proc = processor(
            clock,
            handler,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=0,
            on_failure=sink,
        )
        assert (await proc.process(records(1, 2, 3, 4))).complete
        assert [f["DDBStreamBatchInfo"]["startSequenceNumber"] for f in sink.records] == [seq(2)]


class TestReportBatchItemFailures:
    RBIF = ("ReportBatchItemFailures",)

    async def test_checkpoint_before_lowest_failure_then_retry(self, clock: ManualClock) -> None:
        failures = {"batchItemFailures": [{"itemIdentifier": seq(4)}, {"itemIdentifier": seq(2)}]}
        handler = Recorder(clock, failures, None)
        proc = processor(clock, handler, function_response_types=self.RBIF)
        out = await proc.process(records(1, 2, 3, 4, 5))
        assert out == Outcome(checkpoint=seq(1), complete=False)
        # the poller re-reads from after the checkpoint, newer records included
        out = await drive(clock, lambda: proc.process(records(2, 3, 4, 5, 6)))
        assert out == Outcome(checkpoint=seq(6), complete=True)
        assert handler.batches == [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]
        assert handler.times == [START, START + 1]  # the back-off carries over
        assert proc.metrics.retries == 1
        assert proc.metrics.records == 1 + 5

    async def test_failure_of_the_first_record_checkpoints_nothing(
        self, clock: ManualClock
    ) -> None:
        handler = Recorder(clock, {"batchItemFailures": [{"itemIdentifier": seq(1)}]})
        proc = processor(clock, handler, function_response_types=self.RBIF)
        assert await proc.process(records(1, 2)) == Outcome(checkpoint=None, complete=False)

    async def test_exhausted_partial_failure_sends_the_rest_with_null_error(
        self, clock: ManualClock
    ) -> None:
        sink = Sink()
        handler = Recorder(clock, {"batchItemFailures": [{"itemIdentifier": seq(3)}]})
        proc = processor(
            clock,
            handler,
            function_response_types=self.RBIF,
            maximum_retry_attempts=0,
            on_failure=sink,
        )
        out = await proc.process(records(1, 2, 3))
        assert out == Outcome(checkpoint=seq(3), complete=True)
        (failure,) = sink.records
        assert failure["responseContext"]["functionError"] is None
        assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert failure["requestContext"]["approximateInvokeCount"] == 1
        info = failure["DDBStreamBatchInfo"]
        assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
            1,
            seq(3),
            seq(3),
        )

    async def test_partial_failures_count_as_attempts(self, clock: ManualClock) -> None:
        sink = Sink()
        failing = {"batchItemFailures": [{"itemIdentifier": seq(2)}]}
        handler = Recorder(clock, failing, failing)
        proc = processor(
            clock,
            handler,
            function_response_types=self.RBIF,
            maximum_retry_attempts=1,
            on_failure=sink,
        )
        assert await proc.process(records(1, 2, 3)) == Outcome(seq(1), complete=False)
        out = await drive(clock, lambda: proc.process(records(2, 3)))
        assert out == Outcome(seq(3), complete=True)
        (failure,) = sink.records
        assert failure["requestContext"]["approximateInvokeCount"] == 2
        assert failure["DDBStreamBatchInfo"]["batchSize"] == 2

    @pytest.mark.parametrize(
        "answer",
        [
            {"batchItemFailures": [{"itemIdentifier": ""}]},
            {"batchItemFailures": [{"itemIdentifier": None}]},
            {"batchItemFailures": [{"foo": "100000000000000000001"}]},
            {"batchItemFailures": [{"itemIdentifier": "100000000000000000099"}]},
        ],
        ids=["empty", "null", "wrong-key", "unknown"],
    )
    async def test_invalid_identifier_fails_the_whole_batch(
        self, clock: ManualClock, answer: dict[str, Any]
    ) -> None:
        sink = Sink()
        handler = Recorder(clock, answer)
        proc = processor(
            clock,
            handler,
            function_response_types=self.RBIF,
            maximum_retry_attempts=0,
            on_failure=sink,
        )
        assert await proc.process(records(1, 2, 3)) == Outcome(seq(3), complete=True)
        (failure,) = sink.records
        assert failure["DDBStreamBatchInfo"]["batchSize"] == 3
        assert failure["responseContext"]["functionError"] is None

    async def test_invalid_identifier_retries_the_same_batch(self, clock: ManualClock) -> None:
        handler = Recorder(clock, {"batchItemFailures": [{"itemIdentifier": ""}]}, None)
        proc = processor(clock, handler, function_response_types=self.RBIF)
        out = await drive(clock, lambda: proc.process(records(1, 2)))
        assert out == Outcome(seq(2), complete=True)
        assert handler.batches == [[1, 2], [1, 2]]

    @pytest.mark.parametrize(
        "answer",
        [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}],
        ids=["null", "empty", "null-list", "empty-list"],
    )
    async def test_success_responses(self, clock: ManualClock, answer: object) -> None:
        proc = processor(clock, Recorder(clock, answer), function_response_types=self.RBIF)
        assert await proc.process(records(1, 2)) == Outcome(seq(2), complete=True)

    async def test_ignored_when_not_enabled(self, clock: ManualClock) -> None:
        handler = Recorder(clock, {"batchItemFailures": [{"itemIdentifier": seq(1)}]})
        assert await processor(clock, handler).process(records(1, 2)) == Outcome(seq(2), True)

    async def test_filtered_records_before_the_failure_are_done(self, clock: ManualClock) -> None:
        handler = Recorder(clock, {"batchItemFailures": [{"itemIdentifier": seq(3)}]})
        proc = processor(
            clock,
            handler,
            function_response_types=self.RBIF,
            filter_patterns=(compile_pattern('{"eventName": ["INSERT"]}'),),
        )
        batch = [record(1), record(2, event_name="REMOVE"), record(3), record(4)]
        assert await proc.process(batch) == Outcome(seq(2), complete=False)
        assert handler.batches == [[1, 3, 4]]


class TestFilters:
    async def test_filtered_out_records_are_never_delivered(self, clock: ManualClock) -> None:
        handler = Recorder(clock)
        proc = processor(
            clock, handler, filter_patterns=(compile_pattern('{"eventName": ["INSERT"]}'),)
        )
        batch = [
            record(1),
            record(2, event_name="REMOVE"),
            record(3),
            record(4, event_name="MODIFY"),
        ]
        assert await proc.process(batch) == Outcome(seq(4), complete=True)
        assert handler.batches == [[1, 3]]
        assert proc.metrics.filtered == 2

    async def test_all_filtered_invokes_nothing(self, clock: ManualClock) -> None:
        handler = Recorder(clock)
        config = MappingConfig(name="f", table="Orders", handler=handler)
        proc = ShardProcessor(
            config,
            stream_arn=ARN,
            shard_id=SHARD,
            clock=clock,
            region="eu-west-1",
            account="111122223333",
            record_filter=lambda r: False,
        )
        assert await proc.process(records(1, 2)) == Outcome(seq(2), complete=True)
        assert handler.events == []


class TestDestinations:
    async def test_json_lines_file(self, clock: ManualClock, tmp_path: Path) -> None:
        path = tmp_path / "failures.jsonl"
        handler = Recorder(clock, RuntimeError(), RuntimeError())
        proc = processor(clock, handler, maximum_retry_attempts=0, on_failure=path)
        await proc.process(records(1, 2))
        await proc.process(records(3))
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [line["DDBStreamBatchInfo"]["startSequenceNumber"] for line in lines] == [
            seq(1),
            seq(3),
        ]
        assert lines[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"

    async def test_sync_callable_runs_in_a_thread(self, clock: ManualClock) -> None:
        received: list[tuple[dict[str, Any], int]] = []

        def destination(failure: dict[str, Any]) -> None:
            received.append((failure, threading.get_ident()))

        proc = processor(
            clock, Recorder(clock, RuntimeError()), maximum_retry_attempts=0, on_failure=destination
        )
        await proc.process(records(1))
        ((failure, thread),) = received
        assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
        assert thread != threading.get_ident()


class TestDeserialize:
    async def test_images_become_native_values(self, clock: ManualClock) -> None:
        image = {
            "pk": {"S": "a"},
            "n": {"N": "1.50"},
            "b": {"B": base64.b64encode(b"hi").decode()},
            "raw": {"B": b"raw"},
            "bs": {"BS": [base64.b64encode(b"x").decode()]},
            "ns": {"NS": ["1", "2"]},
            "ss": {"SS": ["s"]},
            "m": {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}]}}},
        }
        batch = [record(1, new_image=image)]
        handler = Recorder(clock)
        await processor(clock, handler, deserialize=True).process(batch)
        body = handler.events[0]["Records"][0]["dynamodb"]
        assert body["Keys"] == {"pk": "k1"}
        assert body["NewImage"] == {
            "pk": "a",
            "n": Decimal("1.50"),
            "b": b"hi",
            "raw": b"raw",
            "bs": {b"x"},
            "ns": {Decimal(1), Decimal(2)},
            "ss": {"s"},
            "m": {"l": [True, None]},
        }
        assert batch[0]["dynamodb"]["NewImage"] is image  # the input is untouched
        assert image["n"] == {"N": "1.50"}


class TestTumblingWindows:
    # START lies in the 60 s window [22:13:00, 22:14:00); START + 45 in the next one.

    @staticmethod
    async def counter(event: dict[str, Any], context: Any) -> dict[str, Any]:
        count = int(event["state"].get("count", "0")) + len(event["Records"])
        return {"state": {"count": str(count)}}

    async def test_state_is_passed_and_the_window_closes(self, clock: ManualClock) -> None:
        events: list[dict[str, Any]] = []

        async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            events.append(event)
            return await self.counter(event, context)

        proc = processor(clock, handler, tumbling_window_in_seconds=60)
        await proc.process(records(1, 2))
        await proc.process(records(3, created=START + 10))
        out = await proc.process([record(4, created=START + 30), record(5, created=START + 45)])
        assert out == Outcome(seq(5), complete=True)
        summary = [
            (numbers(e), e["state"], e["window"]["start"], e["isFinalInvokeForWindow"])
            for e in events
        ]
        first, second = "2023-11-14T22:13:00Z", "2023-11-14T22:14:00Z"
        assert summary == [
            ([1, 2], {}, first, False),
            ([3], {"count": "2"}, first, False),
            ([4], {"count": "3"}, first, False),
            ([], {"count": "4"}, first, True),
            ([5], {}, second, False),
        ]
        assert events[0]["window"] == {"start": first, "end": second}
        assert events[0]["shardId"] == SHARD
        assert events[0]["eventSourceARN"] == ARN
        assert events[0]["isWindowTerminatedEarly"] is False

        assert await proc.tick() is False  # the clock is still inside the second window
        clock.advance(100)
        assert await proc.tick() is True
        assert events[-1]["isFinalInvokeForWindow"] is True
        assert events[-1]["state"] == {"count": "1"}
        assert events[-1]["window"]["start"] == second
        assert await proc.tick() is False  # the state was dropped with the window
        assert await proc.finish() is False

    async def test_response_without_state_is_a_failure(self, clock: ManualClock) -> None:
        handler = Recorder(clock, {}, {"state": {"ok": "1"}})
        proc = processor(clock, handler, tumbling_window_in_seconds=60)
        out = await drive(clock, lambda: proc.process(records(1)))
        assert out.complete
        assert [e["state"] for e in handler.events] == [{}, {}]
        assert proc.metrics.errors == 1
        assert await proc.finish() is True
        assert handler.events[-1]["state"] == {"ok": "1"}

    async def test_state_over_1_mb_ends_the_window_early(self, clock: ManualClock) -> None:
        events: list[dict[str, Any]] = []

        async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            events.append(event)
            if event["isFinalInvokeForWindow"]:
                return {"state": {}}
            return {"state": {"blob": "x" * (1024 * 1024)}}

        proc = processor(clock, handler, tumbling_window_in_seconds=60)
        await proc.process(records(1))
        await proc.process(records(2))
        flags = [(e["isFinalInvokeForWindow"], e["isWindowTerminatedEarly"]) for e in events]
        assert flags == [(False, False), (True, True), (False, False), (True, True)]
        assert events[2]["state"] == {}  # the same window continues with fresh state
        assert events[2]["window"] == events[0]["window"]


class TestParallelization:
    async def test_lanes_run_concurrently_and_keep_per_key_order(self, clock: ManualClock) -> None:
        in_flight = 0
        most = 0
        delivered: list[list[tuple[str, int]]] = []

        async def handler(event: dict[str, Any], context: Any) -> None:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
            delivered.append(
                [
                    (r["dynamodb"]["Keys"]["pk"]["S"], numbers({"Records": [r]})[0])
                    for r in event["Records"]
                ]
            )
            in_flight -= 1

        proc = processor(clock, handler, parallelization_factor=2)
        batch = [record(n, pk=f"key{n % 8}") for n in range(1, 33)]
        out = await proc.process(batch)
        assert out == Outcome(seq(32), complete=True)
        assert most == 2
        assert len(delivered) == 2
        seen = sorted(n for part in delivered for _, n in part)
        assert seen == list(range(1, 33))
        for part in delivered:
            assert [n for _, n in part] == sorted(n for _, n in part)
        keys_per_lane = [{k for k, _ in part} for part in delivered]
        assert not keys_per_lane[0] & keys_per_lane[1]

    async def test_checkpoint_stops_before_the_lowest_undone_record(
        self, clock: ManualClock
    ) -> None:
        async def handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
            if 3 in numbers(event):
                return {"batchItemFailures": [{"itemIdentifier": seq(3)}]}
            return None

        proc = processor(
            clock,
            handler,
            parallelization_factor=2,
            function_response_types=("ReportBatchItemFailures",),
        )
        batch = [record(n, pk=f"key{n % 8}") for n in range(1, 17)]
        assert await proc.process(batch) == Outcome(seq(2), complete=False)


class TestLogging:
    async def test_retry_and_destination_events(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        debug(caplog)
        sink = Sink()
        handler = Recorder(clock, RuntimeError("1"), RuntimeError("2"))
        proc = processor(clock, handler, maximum_retry_attempts=1, on_failure=sink)
        await drive(clock, lambda: proc.process(records(1, 2)))
        logs = events(caplog)
        by_event = {e["event"]: e for e in logs}
        retry = by_event["batch_retry"]
        assert retry["log_level"] == "debug"
        assert {k: retry[k] for k in ("mapping", "shard_id", "batch_size", "attempt")} == {
            "mapping": "orders-consumer",
            "shard_id": SHARD,
            "batch_size": 2,
            "attempt": 2,
        }
        assert retry["first_sequence_number"] == seq(1)
        assert retry["last_sequence_number"] == seq(2)
        assert retry["error_code"] == "RuntimeError"
        assert retry["retry_in"] == 1.0
        failed = by_event["batch_failed_to_destination"]
        assert failed["log_level"] == "error"
        assert failed["error_code"] == "RetryAttemptsExhausted"
        invoked = [e for e in logs if e["event"] == "batch_invoked"]
        assert [(e["log_level"], e["attempt"], e["outcome"]) for e in invoked] == [
            ("warning", 1, "error"),
            ("warning", 2, "error"),
        ]
        assert all("duration_ms" in e and e["error_code"] == "RuntimeError" for e in invoked)
        for entry in logs:
            assert "NewImage" not in repr(entry)

    async def test_one_info_line_per_invocation(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="streamkit")
        proc = processor(clock, Recorder(clock), batch_size=2)
        await proc.process(records(1, 2, 3))
        invoked = events(caplog)
        assert [(e["event"], e["log_level"]) for e in invoked] == [("batch_invoked", "info")] * 2
        assert [(e["batch_size"], e["outcome"], e["attempt"]) for e in invoked] == [
            (2, "ok", 1),
            (1, "ok", 1),
        ]
        assert invoked[0]["mapping"] == "orders-consumer"
        assert invoked[0]["shard_id"] == SHARD
        assert isinstance(invoked[0]["duration_ms"], float)
        assert invoked[0]["request_id"]

    async def test_retried_error_logs_its_traceback_once(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="streamkit")
        errors = [RuntimeError("boom") for _ in range(3)]
        proc = processor(clock, Recorder(clock, *errors), batch_size=4)
        await drive(clock, lambda: proc.process(records(1, 2)))
        invoked = [e for e in events(caplog) if e["event"] == "batch_invoked"]
        assert [(e["attempt"], e["outcome"]) for e in invoked] == [
            (1, "error"),
            (2, "error"),
            (3, "error"),
            (4, "ok"),
        ]
        assert ["exc_info" in e for e in invoked] == [True, False, False, False]
        assert caplog.text.count("Traceback (most recent call last)") == 1

    async def test_bisected_halves_do_not_repeat_the_traceback(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        def handler(event: dict[str, Any], context: object) -> None:
            if 3 in numbers(event):
                raise ValueError("poison")

        proc = processor(
            clock,
            handler,
            batch_size=4,
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=0,
            on_failure=Sink(),
        )
        await drive(clock, lambda: proc.process(records(1, 2, 3, 4)))
        failed = [e for e in events(caplog) if e.get("outcome") == "error"]
        assert [e["batch_size"] for e in failed] == [4, 2, 1]
        assert ["exc_info" in e for e in failed] == [True, False, False]

    async def test_a_new_error_gets_its_traceback(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        proc = processor(clock, Recorder(clock, RuntimeError("a"), KeyError("b")))
        await drive(clock, lambda: proc.process(records(1)))
        failed = [e for e in events(caplog) if e.get("outcome") == "error"]
        assert [(e["error_code"], "exc_info" in e) for e in failed] == [
            ("RuntimeError", True),
            ("KeyError", True),
        ]

    async def test_a_windows_final_invocation_is_logged(
        self, clock: ManualClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="streamkit")
        proc = processor(clock, TestTumblingWindows.counter, tumbling_window_in_seconds=60)
        await proc.process(records(1))
        assert await proc.finish() is True
        invoked = [e for e in events(caplog) if e["event"] == "batch_invoked"]
        assert [(e["batch_size"], e.get("final_invoke_for_window")) for e in invoked] == [
            (1, None),
            (0, True),
        ]
        assert all(e["outcome"] == "ok" for e in invoked)
