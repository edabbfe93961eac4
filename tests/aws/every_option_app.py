"""An app whose mappings use every option, for ``streamkit template`` and the Lambda handler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamkit

app = streamkit.App()

#: the failure records the ``audit`` mapping's callable destination received
failures: list[dict[str, Any]] = []


def keep_failure(record: dict[str, Any]) -> None:
    failures.append(record)


@app.on_stream(
    "orders",
    name="audit",
    batch_size=25,
    maximum_batching_window_in_seconds=5,
    starting_position="TRIM_HORIZON",
    maximum_retry_attempts=2,
    maximum_record_age_in_seconds=3600,
    bisect_batch_on_function_error=True,
    on_failure=keep_failure,
    parallelization_factor=4,
    function_response_types=["ReportBatchItemFailures"],
    filter_criteria={
        "Filters": [
            {"Pattern": '{"eventName": ["INSERT", "MODIFY"]}'},
            {"Pattern": {"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 100]}]}}}}},
        ]
    },
    enabled=False,
    timeout=2.5,
    deserialize=True,
)
def audit(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Report the records whose new image says ``bad`` as failed."""
    failed = [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
        for r in event["Records"]
        if r["dynamodb"].get("NewImage", {}).get("bad")
    ]
    return {"batchItemFailures": failed}


@app.on_stream(
    "order-lines",
    name="Totals.per_window",
    starting_position="LATEST",
    tumbling_window_in_seconds=60,
    on_failure=Path("failed.jsonl"),
)
async def totals(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count the records of each window in its state."""
    state = dict(event["state"])
    state["count"] = state.get("count", 0) + len(event["Records"])
    return {"state": state}


@app.on_stream("orders", name="plain")
async def plain(event: dict[str, Any], context: Any) -> None:
    """Every option left at its default."""
