"""The app `streamkit run tests.remote.remote_app:app --endpoint-url URL` runs in the CLI test:
its table comes from ``REMOTE_APP_TABLE``, and each record's key and version are appended as a
line to the file ``REMOTE_APP_OUT``."""

from __future__ import annotations

import os
from typing import Any

import streamkit

app = streamkit.App()


@app.on_stream(
    os.environ.get("REMOTE_APP_TABLE", "remote"),
    name="lines",
    batch_size=7,
    starting_position="TRIM_HORIZON",
)
def lines(event: dict[str, Any], context: Any) -> None:
    with open(os.environ["REMOTE_APP_OUT"], "a") as out:
        for record in event["Records"]:
            body = record["dynamodb"]
            out.write(f"{body['Keys']['pk']['S']} {body['NewImage']['v']['N']}\n")
