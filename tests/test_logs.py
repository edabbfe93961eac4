"""The library logs through ``logging`` and is silent unless configured; the CLI renders logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import streamkit
from streamkit.logs import get_logger
from tests.logs import debug, events

ROOT = Path(__file__).resolve().parents[1]

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

#: Tables, items, a stream read, TTL, a mapping whose handler fails once: no logging setup.
UNCONFIGURED = textwrap.dedent(
    """
    import anyio, streamkit
    from streamkit.testing import open_harness

    app = streamkit.App()
    calls = []

    @app.on_stream("orders", starting_position="TRIM_HORIZON")
    def handler(event, context):
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("first call fails")

    async def main():
        async with open_harness(app) as h:
            await h.engine.create_table(TableName="orders", **TABLE)
            await h.engine.update_time_to_live(
                TableName="orders",
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
            )
            now = int(h.clock.now())
            for n in range(3):
                item = {"pk": {"S": f"k{n}"}, "ttl": {"N": str(now + 10)}}
                await h.engine.put_item(TableName="orders", Item=item)
            streams = h.engine.streams
            arn = (await streams.list_streams(TableName="orders"))["Streams"][0]["StreamArn"]
            shard = (await streams.describe_stream(StreamArn=arn))["StreamDescription"]
            iterator = await streams.get_shard_iterator(
                StreamArn=arn,
                ShardId=shard["Shards"][0]["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )
            await streams.get_records(ShardIterator=iterator["ShardIterator"])
            await h.drain()
            h.clock.advance(3600)
            await h.drain()
            await h.engine.delete_table(TableName="orders")
        assert calls[0] >= 1 and len(calls) >= 2, calls

    anyio.run(main)
    """
)


def test_an_unconfigured_program_prints_nothing(tmp_path: Path) -> None:
    script = tmp_path / "quiet.py"
    script.write_text(f"TABLE = {TABLE!r}\n{UNCONFIGURED}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


async def test_caplog_sees_lifecycle_events_at_debug(
    engine: streamkit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    debug(caplog)
    await engine.create_table(TableName="orders", **TABLE)
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "table_created"]
    assert record.name == "streamkit.engine.control"
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == "table_created table='orders'"
    assert events(caplog)[-1] == {"event": "table_created", "log_level": "debug", "table": "orders"}


async def test_lifecycle_events_stay_below_info(
    engine: streamkit.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await engine.create_table(TableName="orders", **TABLE)
    await engine.delete_table(TableName="orders")
    assert events(caplog) == []


def test_structlog_global_configuration_does_not_reach_the_library(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever an application does with structlog, the library's events go to ``logging``."""
    import structlog

    structlog.configure(processors=[structlog.processors.JSONRenderer()])
    debug(caplog)
    get_logger("streamkit.example").debug("thing_happened", n=1, text="50% done")
    assert capsys.readouterr() == ("", "")
    assert events(caplog) == [
        {"event": "thing_happened", "log_level": "debug", "n": 1, "text": "50% done"}
    ]
    assert caplog.records[0].getMessage() == "thing_happened n=1 text='50% done'"


def test_bound_context_variables_become_fields(caplog: pytest.LogCaptureFixture) -> None:
    from structlog.contextvars import bound_contextvars

    debug(caplog)
    with bound_contextvars(mapping="audit"):
        get_logger("streamkit.example").info("thing_happened")
    assert events(caplog) == [{"event": "thing_happened", "log_level": "info", "mapping": "audit"}]


def test_exception_carries_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        get_logger("streamkit.example").exception("it_failed")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


def test_output_is_json_lines_for_a_script() -> None:
    """The CLI's JSON rendering of a record: one object, ISO-8601 UTC timestamp."""
    from streamkit.cli.logs import formatter

    record = logging.LogRecord("streamkit.x", logging.WARNING, __file__, 1, "%s", ("m",), None)
    record.event = "batch_invoked"
    record.fields = {"batch_size": 3, "outcome": "ok"}
    line = formatter("json").format(record)
    parsed = json.loads(line)
    assert parsed.pop("timestamp").endswith("Z")
    assert parsed == {
        "level": "warning",
        "event": "batch_invoked",
        "logger": "streamkit.x",
        "batch_size": 3,
        "outcome": "ok",
    }
    assert "\n" not in line


def test_the_processors_are_made_once_when_threads_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread and the event loop may log for the first time at once: the lazily
    made processor list must not get its processors twice (to_stdlib would then run on its
    own output)."""
    import threading
    import time

    import structlog

    from streamkit import logs

    class Slow:  # widens the window between "is it made?" and making it
        def __getattr__(self, name: str) -> Any:
            time.sleep(0.05)
            return getattr(real, name)

    real = structlog.contextvars
    monkeypatch.setattr(logs, "_processors", [])
    monkeypatch.setattr(structlog, "contextvars", Slow())
    start = threading.Barrier(4)

    def make() -> None:
        start.wait()
        logs._processors_list()

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(logs._processors) == 3
