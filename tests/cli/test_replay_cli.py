"""`streamkit replay --dry-run` and `replay --into TABLE` on a real data folder."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.testing import ManualClock
from tests.cli.helpers import run, run_json

APP = textwrap.dedent(
    """
    import os
    import streamkit

    app = streamkit.App()

    @app.on_stream(
        "orders", name="audit", starting_position="TRIM_HORIZON", batch_size=2,
        filter_criteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
    )
    def audit(event, context):
        with open(os.environ["REPLAY_TEST_OUT"], "a") as out:
            out.write("called\\n")
    """
)


def _table(view: str) -> dict[str, Any]:
    return {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": view},
    }


async def _seed(db: Path, view: str) -> None:
    async with streamkit.open_engine(db, stream_shards=2, clock=ManualClock()) as engine:
        await engine.create_table(TableName="orders", **_table(view))
        for n in range(7):
            item = {"pk": {"S": f"k{n}"}, "n": {"N": str(n)}, "b": {"B": bytes([n])}}
            await engine.put_item(TableName="orders", Item=item)
        await engine.put_item(TableName="orders", Item={"pk": {"S": "k1"}, "n": {"N": "100"}})
        await engine.delete_item(TableName="orders", Key={"pk": {"S": "k2"}})


@pytest.fixture
def seeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    (tmp_path / "cli_replay_app.py").write_text(APP)
    monkeypatch.setenv("REPLAY_TEST_OUT", str(tmp_path / "called.txt"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_replay_app", raising=False)  # another test's copy
    (tmp_path / "data").mkdir()
    anyio.run(_seed, tmp_path / "data" / "us-east-1.sqlite3", "NEW_AND_OLD_IMAGES")
    capsys.readouterr()
    yield ["--data", str(tmp_path / "data")]
    sys.modules.pop("cli_replay_app", None)


def _items(capsys: pytest.CaptureFixture[str], table: str, where: list[str]) -> list[Any]:
    scanned = run_json(capsys, "scan", "--table-name", table, *where)["Items"]
    return sorted(scanned, key=lambda i: i["pk"]["S"])


def test_dry_run_counts_with_the_mappings_filter_and_runs_no_handler(
    capsys: pytest.CaptureFixture[str], seeded: list[str], tmp_path: Path
) -> None:
    summary = run_json(capsys, "replay", "cli_replay_app:app", "--dry-run", *seeded)
    assert summary["DryRun"] is True
    assert summary["Records"] == 9
    assert len(summary["Shards"]) == 2
    assert sum(s["Filtered"] for s in summary["Shards"]) == 2  # the MODIFY and the REMOVE
    assert sum(s["WouldDeliver"] for s in summary["Shards"]) == 7
    assert summary["Batches"] == sum(s["Batches"] for s in summary["Shards"]) >= 4  # 2 a batch
    assert not (tmp_path / "called.txt").exists()
    code, out, _ = run(
        capsys, "replay", "--dry-run", "--table-name", "orders", "--output", "table", *seeded
    )
    assert code == 0
    assert "WouldDeliver" in out.splitlines()[1]
    assert "Records: 9" in out


def test_into_a_scratch_table_rebuilds_the_source(
    capsys: pytest.CaptureFixture[str], seeded: list[str]
) -> None:
    code, out, err = run(capsys, "replay", "--table-name", "orders", "--into", "scratch", *seeded)
    assert code == 0, err
    assert "created table scratch with the keys of orders" in err
    assert json.loads(out)["Records"] == 9
    source = _items(capsys, "orders", seeded)
    assert [i["pk"]["S"] for i in source] == ["k0", "k1", "k3", "k4", "k5", "k6"]
    assert _items(capsys, "scratch", seeded) == source


def test_into_from_an_exported_file(
    capsys: pytest.CaptureFixture[str], seeded: list[str], tmp_path: Path
) -> None:
    export = tmp_path / "export.jsonl"
    assert run(capsys, "streams", "export", "--table-name", "orders", "--out", str(export),
               *seeded)[0] == 0  # fmt: skip
    code, _, err = run(capsys, "replay", "--file", str(export), "--into", "copy", *seeded)
    assert code == 1
    assert err == "streamkit: Table copy not found.\n"
    run(capsys, "tables", "create", "--table-name", "copy", "--hash-key", "pk:S", *seeded)
    code, _, err = run(capsys, "replay", "--file", str(export), "--into", "copy", *seeded)
    assert code == 0, err
    assert _items(capsys, "copy", seeded) == _items(capsys, "orders", seeded)


def test_into_refusals(capsys: pytest.CaptureFixture[str], seeded: list[str]) -> None:
    code, _, err = run(capsys, "replay", "--table-name", "orders", "--into", "orders", *seeded)
    assert code == 2
    assert "another table" in err
    code, _, err = run(capsys, "replay", "--table-name", "orders", *seeded)
    assert code == 2
    assert "--dry-run or --into" in err
    assert run(capsys, "replay", "--dry-run", "--into", "x", *seeded)[0] == 2


def test_into_needs_new_images(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    anyio.run(_seed, tmp_path / "data" / "us-east-1.sqlite3", "KEYS_ONLY")
    capsys.readouterr()
    where = ["--data", str(tmp_path / "data")]
    code, _, err = run(capsys, "replay", "--table-name", "orders", "--into", "s", *where)
    assert code == 1
    assert "has no new images (StreamViewType KEYS_ONLY)" in err
