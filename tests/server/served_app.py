"""An app served by `streamkit serve --app tests.server.served_app:app` in the boto3 tests."""

from __future__ import annotations

import json
import os
from typing import Any

import streamkit

app = streamkit.App()


@app.on_stream("served", name="served_log", starting_position="TRIM_HORIZON")
def log_keys(event: dict[str, Any], context: Any) -> None:
    """Append each record's key and event name to the file named by STREAMKIT_SERVED_LOG."""
    with open(os.environ["STREAMKIT_SERVED_LOG"], "a") as out:
        for record in event["Records"]:
            out.write(json.dumps([record["eventName"], record["dynamodb"]["Keys"]]) + "\n")
