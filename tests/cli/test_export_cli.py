"""`streamkit export TABLE DIR` and `streamkit import DIR TABLE`, locally and over a server."""

from __future__ import annotations

import datetime
import gzip
import json
import time
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest

import streamkit
from streamkit.testing import ManualClock
from tests.cli.helpers import run, run_json
from tests.conftest import key_schema
from tests.server.serving import start_serve, stop
from tests.server.test_boto3 import session_kwargs


def _fill(capsys: pytest.CaptureFixture[str], where: list[str], count: int = 5) -> None:
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
        "--range-key", "sk:N", *where,
    )  # fmt: skip
    assert code == 0, err
    for i in range(count):
        item = f'{{"pk": {{"S": "p{i % 2}"}}, "sk": {{"N": "{i}"}}, "b": {{"B": "AAE="}}}}'
        assert run(capsys, "put", "--table-name", "orders", "--item", item, *where)[0] == 0
    _pitr_on(where)


def _pitr_on(where: list[str]) -> None:
    """Turn point-in-time recovery on (DynamoDB's exports need it)."""
    spec = {"PointInTimeRecoveryEnabled": True}
    if where[0] == "--endpoint-url":
        client = boto3.client("dynamodb", **session_kwargs(where[1]))
        client.update_continuous_backups(TableName="orders", PointInTimeRecoverySpecification=spec)
        return

    async def enable() -> None:
        async with streamkit.open_engine(Path(where[1]) / "us-east-1.sqlite3") as db:
            await db.update_continuous_backups(
                TableName="orders", PointInTimeRecoverySpecification=spec
            )

    anyio.run(enable)


def _scan(capsys: pytest.CaptureFixture[str], table: str, where: list[str]) -> list[Any]:
    items: list[Any] = run_json(capsys, "scan", "--table-name", table, *where)["Items"]
    return sorted(items, key=repr)


@pytest.mark.parametrize("fmt", ["DYNAMODB_JSON", "ION"])
def test_export_then_import_locally(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    where = ["--data", str(tmp_path / "data")]
    _fill(capsys, where)
    out = tmp_path / "backup"
    described = run_json(capsys, "export", "orders", str(out), "--format", fmt, *where)
    desc = described["ExportDescription"]
    assert desc["ExportStatus"] == "COMPLETED"
    assert desc["ItemCount"] == 5
    assert (out / desc["ExportManifest"]).is_file()
    code, _, err = run(capsys, "import", str(out), "copy", "--like", "orders", *where)
    assert code == 0, err
    assert "imported 5 items into copy (0 bad records)" in err
    assert _scan(capsys, "copy", where) == _scan(capsys, "orders", where)


def test_import_a_folder_of_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    where = ["--data", str(tmp_path / "data")]
    (tmp_path / "people").mkdir()
    (tmp_path / "people" / "a.csv").write_text("id|name\n1|Ann\n2|Bo\n")
    code, _, err = run(
        capsys, "import", str(tmp_path / "people"), "people", "--hash-key", "id:N",
        "--format", "CSV", "--delimiter", "|", *where,
    )  # fmt: skip
    assert code == 0, err
    assert _scan(capsys, "people", where) == [
        {"id": {"N": "1"}, "name": {"S": "Ann"}},
        {"id": {"N": "2"}, "name": {"S": "Bo"}},
    ]


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    where = ["--data", str(tmp_path / "data")]
    (tmp_path / "in").mkdir()
    code, _, err = run(capsys, "import", str(tmp_path / "in"), "t1t", *where)
    assert code != 0
    assert "--hash-key" in err
    code, _, err = run(capsys, "import", str(tmp_path / "missing"), "t1t", "--hash-key", "a:S")
    assert code != 0
    assert "no such folder" in err
    code, _, err = run(capsys, "export", "nothere", str(tmp_path / "out"), *where)
    assert code == 1
    assert "nothere" in err


def test_export_and_import_over_a_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    process, url, _ = start_serve("--memory", "--s3-dir", str(tmp_path))
    try:
        where = ["--endpoint-url", url]
        _fill(capsys, where, count=3)
        desc = run_json(capsys, "export", "orders", str(tmp_path / "bkt"), *where)
        assert desc["ExportDescription"]["ItemCount"] == 3
        # the server wrote into its --s3-dir, which is tmp_path: DIR is the same folder
        code, _, err = run(
            capsys, "import", str(tmp_path / "bkt"), "copy", "--like", "orders", *where
        )
        assert code == 0, err
        assert _scan(capsys, "copy", where) == _scan(capsys, "orders", where)
    finally:
        assert stop(process) == 0


def test_import_names_a_bucket_of_the_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --endpoint-url, a DIR that is no local folder names a bucket in the server's
    --s3-dir, for import as for export: the newest full export there is imported."""
    s3 = tmp_path / "server-s3"
    process, url, _ = start_serve("--memory", "--s3-dir", str(s3))
    monkeypatch.chdir(tmp_path)  # "bkt" is no folder here
    try:
        where = ["--endpoint-url", url]
        _fill(capsys, where, count=3)
        first = run_json(capsys, "export", "orders", "bkt", *where)["ExportDescription"]
        item = '{"pk": {"S": "x"}, "sk": {"N": "9"}}'
        assert run(capsys, "put", "--table-name", "orders", "--item", item, *where)[0] == 0
        run_json(capsys, "export", "orders", "bkt", *where, "--format", "ION")
        assert not (tmp_path / "bkt").exists()
        assert (s3 / "bkt" / first["ExportManifest"]).is_file()
        code, _, err = run(capsys, "import", "bkt", "copy", "--like", "orders", *where)
        assert code == 0, err
        assert "imported 4 items" in err  # the newest export, in ION
        assert _scan(capsys, "copy", where) == _scan(capsys, "orders", where)
        code, _, err = run(capsys, "import", "nothing", "copy2", "--like", "orders", *where)
        assert code == 1
        assert "no completed full export into its bucket 'nothing'" in err
        code, _, err = run(capsys, "tables", "describe", "--table-name", "copy2", *where)
        assert code == 1  # nothing was created
    finally:
        assert stop(process) == 0


def iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


def test_incremental_and_past_exports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--incremental --from --to`` and ``--time`` over a history written two hours back."""
    data = tmp_path / "data"
    start = time.time() - 7200

    async def history() -> None:
        clock = ManualClock(start)
        async with streamkit.open_engine(data / "us-east-1.sqlite3", clock=clock) as db:
            await db.create_table(TableName="orders", **key_schema("pk"))
            await db.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
            await db.update_continuous_backups(
                TableName="orders",
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
            clock.advance(600)
            await db.put_item(TableName="orders", Item={"pk": {"S": "a"}, "v": {"N": "2"}})
            clock.advance(3600)
            await db.put_item(TableName="orders", Item={"pk": {"S": "b"}, "v": {"N": "3"}})

    anyio.run(history)
    where = ["--data", str(data)]
    out = tmp_path / "cdc"
    desc = run_json(
        capsys, "export", "orders", str(out), "--incremental", "--from", iso(start + 60),
        "--to", iso(start + 1800), "--view", "NEW_IMAGE", *where,
    )["ExportDescription"]  # fmt: skip
    assert desc["ExportType"] == "INCREMENTAL_EXPORT"
    assert desc["ItemCount"] == 1
    (key,) = list((out / "AWSDynamoDB" / "data").iterdir())
    (line,) = gzip.decompress(key.read_bytes()).splitlines()
    assert json.loads(line)["NewImage"] == {"pk": {"S": "a"}, "v": {"N": "2"}}
    assert "OldImage" not in json.loads(line)
    # the export at a past time: the table 30 minutes in, before b was written
    past = run_json(
        capsys, "export", "orders", str(tmp_path / "past"), "--time", iso(start + 1800), *where
    )["ExportDescription"]
    assert past["ItemCount"] == 1
    # an incremental export is not imported (DynamoDB's ImportTable reads full exports only)
    folder = out / desc["ExportManifest"].rsplit("/", 1)[0]
    code, _, err = run(capsys, "import", str(folder), "copy", "--like", "orders", *where)
    assert code != 0
    assert "incremental export" in err
    code, _, err = run(capsys, "export", "orders", str(out), "--incremental", *where)
    assert code != 0
    assert "--from" in err
    code, _, err = run(
        capsys, "export", "orders", str(out), "--incremental", "--from", iso(start + 60),
        "--to", iso(start + 120), *where,
    )  # fmt: skip
    assert code != 0
    assert "15 minutes" in err
