"""`streamkit mappings list|status|reset` on a database a real runtime wrote checkpoints to."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.testing import ManualClock, open_harness
from tests.cli.helpers import run, run_json

APP = textwrap.dedent(
    """
    import pathlib
    import streamkit

    app = streamkit.App()
    SEEN = []
    FAILED = pathlib.Path(__file__).parent / "failed.jsonl"

    @app.on_stream("orders", name="count", starting_position="TRIM_HORIZON", on_failure=FAILED)
    def count(event, context):
        SEEN.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])
    """
)
TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
}


@pytest.fixture
def app_module(tmp_path: Path) -> Iterator[Any]:
    (tmp_path / "mapapp.py").write_text(APP)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("mapapp")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mapapp", None)


def _db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "us-east-1.sqlite3"


async def _process(app: Any, db: Path, keys: list[str], *, create: bool = False) -> None:
    async with open_harness(app, path=db, stream_shards=2) as h:
        if create:
            await h.engine.create_table(TableName="orders", **TABLE)
        for key in keys:
            await h.engine.put_item(TableName="orders", Item={"pk": {"S": key}})
        await h.drain()


async def _write_only(db: Path, keys: list[str]) -> None:
    async with streamkit.open_engine(db, stream_shards=2, clock=ManualClock()) as engine:
        for key in keys:
            await engine.put_item(TableName="orders", Item={"pk": {"S": key}})


@pytest.fixture
def behind(app_module: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Six records processed, three written after the mapping stopped."""
    _db(tmp_path).parent.mkdir()
    anyio.run(
        lambda: _process(app_module.app, _db(tmp_path), [f"a{n}" for n in range(6)], create=True)
    )
    anyio.run(_write_only, _db(tmp_path), ["b0", "b1", "b2"])
    app_module.SEEN.clear()
    capsys.readouterr()  # the runtime's log lines
    return ["--data", str(tmp_path / "data")]


def test_list_and_status_show_lag_and_state(
    capsys: pytest.CaptureFixture[str], behind: list[str], app_module: Any
) -> None:
    (listed,) = run_json(capsys, "mappings", "list", *behind)["Mappings"]
    assert listed == {
        "Mapping": "count",
        "Table": "orders",
        "State": "Behind",
        "ShardCount": 2,
        "Lag": 3,
        "FailedBatches": None,
    }
    app_module.FAILED.write_text('{"requestContext": {}}\n{"requestContext": {}}\n')
    status = run_json(capsys, "mappings", "status", "count", "--app", "mapapp:app", *behind)
    assert status["FailedBatches"] == 2
    assert sum(s["Lag"] for s in status["Shards"]) == 3
    assert all(s["Checkpoint"] is None or s["Checkpoint"].isdigit() for s in status["Shards"])
    code, out, _ = run(capsys, "mappings", "status", "count", "--output", "table", *behind)
    assert code == 0
    assert "ShardId" in out.splitlines()[1]
    assert "State: Behind" in out


def test_reset_latest_then_trim_horizon_is_what_the_runner_does(
    capsys: pytest.CaptureFixture[str], behind: list[str], app_module: Any, tmp_path: Path
) -> None:
    latest = run_json(capsys, "mappings", "reset", "count", "--to", "LATEST", *behind)
    assert (latest["Lag"], latest["State"]) == (0, "CaughtUp")
    anyio.run(lambda: _process(app_module.app, _db(tmp_path), ["c0"]))
    capsys.readouterr()
    assert app_module.SEEN == ["c0"]  # b0..b2 skipped
    app_module.SEEN.clear()
    again = run_json(capsys, "mappings", "reset", "count", "--to", "TRIM_HORIZON", *behind)
    assert again["Lag"] == 10
    anyio.run(lambda: _process(app_module.app, _db(tmp_path), []))
    capsys.readouterr()
    assert sorted(app_module.SEEN) == sorted([f"a{n}" for n in range(6)] + ["b0", "b1", "b2", "c0"])


def test_unknown_mapping_and_endpoint_url(
    capsys: pytest.CaptureFixture[str], behind: list[str]
) -> None:
    code, _, err = run(capsys, "mappings", "status", "nope", *behind)
    assert (code, err) == (
        1,
        "streamkit: no mapping nope in this database (it has never run here)\n",
    )
    code, _, err = run(capsys, "mappings", "list", "--endpoint-url", "http://127.0.0.1:1")
    assert code == 2
    assert "--endpoint-url cannot reach them" in err
    code, _, err = run(capsys, "mappings", "list", "--data", str(Path(behind[1]) / "none"))
    assert code == 1
    assert err.startswith("streamkit: no data in ")


def test_a_never_run_mapping_is_listed_from_the_app(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, app_module: Any
) -> None:
    _db(tmp_path).parent.mkdir()
    anyio.run(_create_only, _db(tmp_path))
    capsys.readouterr()
    where = ["--data", str(tmp_path / "data")]
    (listed,) = run_json(capsys, "mappings", "list", "--app", "mapapp:app", *where)["Mappings"]
    assert (listed["State"], listed["Lag"], listed["FailedBatches"]) == ("NotStarted", 1, 0)


async def _create_only(db: Path) -> None:
    async with streamkit.open_engine(db, stream_shards=1, clock=ManualClock()) as engine:
        await engine.create_table(TableName="orders", **TABLE)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "x"}})


def test_json_is_plain(capsys: pytest.CaptureFixture[str], behind: list[str]) -> None:
    code, out, _ = run(capsys, "mappings", "list", *behind)
    assert code == 0
    assert json.loads(out)["Mappings"][0]["Mapping"] == "count"


def test_reset_is_refused_while_streamkit_run_owns_the_folder(
    capsys: pytest.CaptureFixture[str], behind: list[str], tmp_path: Path
) -> None:
    import os
    import subprocess

    from tests.server.serving import ROOT

    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "run", "mapapp:app", *behind],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert "streamkit running" in process.stdout.readline()
        code, _, err = run(capsys, "mappings", "reset", "count", "--to", "LATEST", *behind)
        assert code == 1
        assert err.count("\n") == 1
        assert "run" in err  # names the owner
        status = run_json(capsys, "mappings", "status", "count", *behind)  # reads beside it
        assert status["Mapping"] == "count"
    finally:
        process.terminate()
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()
