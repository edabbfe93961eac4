"""The app each worker process of tests/remote/test_workers.py runs: its table comes from
``REMOTE_APP_TABLE``; each batch is appended to the file ``REMOTE_APP_OUT`` (one per worker) as
lines ``<monotonic ns> <key> <version> <shard id>``, in one write (a SIGKILL cuts no line in
two). The shard id is the one the runtime binds to its log context while it invokes the handler
(structlog's context variables, copied into a sync handler's thread)."""

from __future__ import annotations

import os
import time
from typing import Any

import structlog

import streamkit

app = streamkit.App()


@app.on_stream(
    os.environ.get("REMOTE_APP_TABLE", "remote"),
    name="work",
    batch_size=10,
    starting_position="TRIM_HORIZON",
)
def work(event: dict[str, Any], context: Any) -> None:
    now = time.monotonic_ns()  # one clock for every process of the machine
    shard = structlog.contextvars.get_contextvars()["shard_id"]
    lines = "".join(
        f"{now} {r['dynamodb']['Keys']['pk']['S']} {r['dynamodb']['NewImage']['v']['N']} {shard}\n"
        for r in event["Records"]
    )
    with open(os.environ["REMOTE_APP_OUT"], "a") as out:
        out.write(lines)
