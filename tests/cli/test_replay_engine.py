"""`streamkit replay --file` gives handlers an engine, and never retries a configuration error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import streamkit
from streamkit.cli import main
from streamkit.mappings.replay import export_stream

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}

APP = textwrap.dedent(
    """
    import streamkit

    app = streamkit.App()

    @app.on_stream("orders", name="derive", bisect_batch_on_function_error=True)
    async def derive(event, context):
        db = streamkit.current_engine()
        if "totals" not in (await db.list_tables())["TableNames"]:
            raise streamkit.errors.ConfigurationError("create the totals table first")
        for record in event["Records"]:
            await db.put_item(TableName="totals", Item=record["dynamodb"]["Keys"])
    """
)


@pytest.fixture
def export(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "replayapp.py").write_text(APP)
    path = tmp_path / "export.jsonl"

    async def make() -> None:
        async with streamkit.open_engine(None) as db:
            spec = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}
            await db.create_table(TableName="orders", **TABLE, **spec)
            for n in range(5):
                await db.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
            await export_stream(db, path, table="orders")

    anyio.run(make)
    sys.path.insert(0, str(tmp_path))
    try:
        yield path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("replayapp", None)


def test_file_replay_without_data_gets_an_in_memory_engine(tmp_path: Path, export: Path) -> None:
    """The handler finds no totals table there: a configuration error, one line, exit 1."""
    done = subprocess.run(
        [sys.executable, "-m", "streamkit", "replay", "replayapp:app", "--file", str(export)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
        capture_output=True,
        text=True,
        timeout=60,  # the old code retried and bisected with real back-off for minutes
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "streamkit: error: mapping derive failed: create the totals table first (not retried)"
    )


def test_file_replay_writes_into_the_data_folder(tmp_path: Path, export: Path) -> None:
    data = tmp_path / "data"

    async def create_totals() -> None:
        async with streamkit.open_engine(data / "us-east-1.sqlite3") as db:
            await db.create_table(TableName="totals", **TABLE)

    anyio.run(create_totals)
    assert main(["replay", "replayapp:app", "--file", str(export), "--data", str(data)]) == 0

    async def read() -> list[str]:
        async with streamkit.open_engine(data / "us-east-1.sqlite3") as db:
            items = (await db.scan(TableName="totals"))["Items"]
        return sorted(i["pk"]["S"] for i in items)

    assert anyio.run(read) == ["k0", "k1", "k2", "k3", "k4"]
