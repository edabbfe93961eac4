"""The app each worker process of tests/remote/test_workers.py runs: its table comes from
``REMOTE_APP_TABLE``; each batch is appended to the file ``REMOTE_APP_OUT`` (one per worker) as
lines ``<monotonic ns> <key> <version>``, in one write (a SIGKILL cuts no line in two)."""

from __future__ import annotations

import os
import time
from typing import Any

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
    lines = "".join(
        f"{now} {r['dynamodb']['Keys']['pk']['S']} {r['dynamodb']['NewImage']['v']['N']}\n"
        for r in event["Records"]
    )
    with open(os.environ["REMOTE_APP_OUT"], "a") as out:
        out.write(lines)
