"""`streamkit run`, `replay` and `streams` on a real data folder, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

import streamkit
from streamkit.cli import main

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

APP = textwrap.dedent(
    """
    import json, os, time
    import streamkit

    app = streamkit.App()
    OUT = os.environ["STREAMKIT_TEST_OUT"]
    HANG_ON = os.environ.get("STREAMKIT_TEST_HANG_ON")

    @app.on_stream("orders", name="record", starting_position="TRIM_HORIZON", batch_size=3)
    def record(event, context):
        for r in event["Records"]:
            value = r["dynamodb"]["NewImage"]["n"]["N"]
            if value == HANG_ON:
                open(OUT + ".hanging", "w").close()  # the test waits for this
                time.sleep(3600)  # the process is killed in here
            with open(OUT, "a") as out:
                out.write(json.dumps([r["dynamodb"]["Keys"]["pk"]["S"], int(value)]) + "\\n")
    """
)


def _seed(data: Path, count: int) -> None:
    async def seed() -> None:
        async with streamkit.open_engine(data / "us-east-1.sqlite3", stream_shards=2) as db:
            await db.create_table(TableName="orders", **TABLE)
            for n in range(count):
                await db.put_item(
                    TableName="orders", Item={"pk": {"S": f"k{n % 3}"}, "n": {"N": str(n)}}
                )

    anyio.run(seed)


def _start_run(tmp_path: Path, out: Path, hang_on: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "STREAMKIT_TEST_OUT": str(out),
    }
    if hang_on is not None:
        env["STREAMKIT_TEST_HANG_ON"] = str(hang_on)
    command = ["run", "crashapp:app", "--data", str(tmp_path / "data")]
    with (tmp_path / "run.log").open("ab") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen(
            [sys.executable, "-m", "streamkit", *command], env=env, stdout=log, stderr=log
        )


def _wait_lines(out: Path, count: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds  # a real process: bounded wait on its output file
    while time.monotonic() < deadline:
        if out.exists() and len(set(out.read_text().splitlines())) >= count:
            return  # distinct records: redelivered ones count once
        if proc.poll() is not None:
            raise AssertionError(f"streamkit run exited with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} records processed in {seconds}s")


def test_kill_mid_batch_then_restart_loses_nothing(tmp_path: Path) -> None:
    (tmp_path / "crashapp.py").write_text(APP)
    data = tmp_path / "data"
    _seed(data, 12)
    out = tmp_path / "out.jsonl"
    first = _start_run(tmp_path, out, hang_on=7)
    try:
        _wait_lines(out, 3, first)
        hanging = Path(f"{out}.hanging")
        deadline = time.monotonic() + 30  # a real process: bounded wait for the hanging record
        while not hanging.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert hanging.exists(), "the run never reached the hanging record"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = _start_run(tmp_path, out, hang_on=None)
    try:
        _wait_lines(out, 12, second)
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(20) == 0
    seen = [tuple(json.loads(line)) for line in out.read_text().splitlines()]
    assert {n for _, n in seen} == set(range(12))  # nothing skipped (repeats allowed)
    for key in ("k0", "k1", "k2"):
        values = [n for k, n in seen if k == key]
        first_seen = sorted(set(values), key=values.index)
        assert first_seen == sorted(first_seen)  # per-key order of first deliveries


def test_streams_commands_and_file_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crashapp.py").write_text(APP)
    data = tmp_path / "data"
    _seed(data, 5)
    where = ["--data", str(data)]
    capsys.readouterr()  # drop the seeding's log lines
    assert main(["streams", "list", "--table-name", "orders", *where]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed["Streams"]) == 1
    assert main(["streams", "describe", "--table-name", "orders", *where]) == 0
    assert len(json.loads(capsys.readouterr().out)["StreamDescription"]["Shards"]) == 2
    assert (
        main(
            [
                "streams",
                "tail",
                "--table-name",
                "orders",
                "--from-start",
                "--max-records",
                "5",
                *where,
            ]
        )
        == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 5
    export = tmp_path / "export.jsonl"
    assert main(["streams", "export", "--table-name", "orders", "--out", str(export), *where]) == 0
    assert len(export.read_text().splitlines()) == 5
    out = tmp_path / "replayed.jsonl"
    os.environ["STREAMKIT_TEST_OUT"] = str(out)
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["replay", "crashapp:app", "--file", str(export)]) == 0
        assert sorted(json.loads(line)[1] for line in out.read_text().splitlines()) == list(
            range(5)
        )
        assert main(["replay", "crashapp:app", "--table-name", "orders", *where]) == 0
        assert len(out.read_text().splitlines()) == 10
        assert main(["replay", "crashapp:app", "--mapping", "nope", *where]) == 2
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("crashapp", None)
        del os.environ["STREAMKIT_TEST_OUT"]


def test_streams_list_and_describe_follow_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _seed(data, 1)
    capsys.readouterr()
    where = ["--data", str(data), "--output", "table"]
    assert main(["streams", "list", *where]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("+")  # a table, not the JSON it always printed
    assert "| StreamArn " in listed.splitlines()[1]  # a grid, one row per stream
    assert main(["streams", "describe", "--table-name", "orders", *where]) == 0
    assert "| ShardId " in capsys.readouterr().out.splitlines()[1]  # a grid of the shards
