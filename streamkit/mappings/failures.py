"""The on-failure invocation record Lambda sends for discarded stream records, and its delivery.

The record has the layout Lambda sends to an SQS queue or SNS topic (no stream data: consumers
re-read the stream by sequence number). Destinations are a sync or async callable receiving the
dict, or a ``pathlib.Path`` of a JSON Lines file that gets one line per record.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import anyio
import anyio.to_thread
import orjson

from streamkit.mappings.config import FailureDestination
from streamkit.mappings.invoke import EXECUTED_VERSION, is_async_callable

__all__ = [
    "FailureCondition",
    "build_failure_record",
    "iso_millis",
    "iso_seconds",
    "send_failure",
]


class FailureCondition(StrEnum):
    """Why records were discarded: ``requestContext.condition`` of the failure record."""

    RetryAttemptsExhausted = "RetryAttemptsExhausted"
    RecordAgeExceeded = "RecordAgeExceeded"


def iso_millis(epoch: float) -> str:
    """Return ``2025-03-02T10:15:42.318Z`` (UTC, milliseconds) for epoch seconds."""
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_seconds(epoch: float) -> str:
    """Return ``2025-03-02T10:14:58Z`` (UTC, whole seconds, truncated) for epoch seconds."""
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_failure_record(
    records: Sequence[Mapping[str, Any]],
    *,
    request_id: str,
    function_arn: str,
    condition: FailureCondition,
    invoke_count: int,
    function_error: str | None,
    shard_id: str,
    stream_arn: str,
    now: float,
) -> dict[str, Any]:
    """Return Lambda's on-failure record for the discarded ``records`` (in sequence order).

    Args:
        records: Lambda-shaped stream records, at least one.
        request_id: The request id of the last invocation.
        function_arn: ``arn:aws:lambda:<region>:<account>:function:<name>``.
        condition: Why they were discarded.
        invoke_count: Invocations made for these records (``approximateInvokeCount``).
        function_error: ``"Unhandled"`` when the function threw or timed out; ``None`` when it
            returned a (partial or invalid) response.
        shard_id: The shard the records came from.
        stream_arn: The stream's ARN.
        now: The current clock time (epoch seconds), for ``timestamp``.
    """
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": str(condition),
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": EXECUTED_VERSION,
            "functionError": function_error,
        },
        "version": "1.0",
        "timestamp": iso_millis(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso_seconds(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": iso_seconds(last["ApproximateCreationDateTime"]),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


async def send_failure(destination: FailureDestination, record: Mapping[str, Any]) -> None:
    """Deliver one failure record: call the callable (sync ones in a worker thread) or append
    one JSON line to the file (created if missing).

    Raises:
        Exception: Whatever the callable raised, or ``OSError`` from writing the file.
    """
    if isinstance(destination, pathlib.Path):
        line = orjson.dumps(record) + b"\n"
        async with await anyio.Path(destination).open("ab") as file:
            await file.write(line)
        return
    payload = dict(record)
    if is_async_callable(destination):
        await destination(payload)  # type: ignore[misc]
        return
    result = await anyio.to_thread.run_sync(destination, payload)
    if result is not None and hasattr(result, "__await__"):
        await result
