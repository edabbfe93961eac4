"""The app `streamkit serve --app tests.cli.sigterm_app:app` runs in the SIGTERM tests."""

from __future__ import annotations

from typing import Any

import streamkit

app = streamkit.App()


@app.on_stream("orders", name="mirror", starting_position="TRIM_HORIZON")
async def mirror(event: dict[str, Any], context: Any) -> None:
    """Copy each new order's key into the mirror table."""
    db = streamkit.current_engine()
    for record in event["Records"]:
        if record["eventName"] == "INSERT":
            await db.put_item(TableName="mirror", Item=record["dynamodb"]["Keys"])
