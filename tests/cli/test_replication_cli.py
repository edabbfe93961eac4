"""``serve --replication-delay`` (durations) and ``streamkit replication`` usage, in process.
The commands against a running server are in tests/server/test_global_tables.py."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from hypothesis import given, strategies as st

import streamkit
from streamkit.cli.durations import parse_duration
from streamkit.cli.inputs import UsageError
from tests.cli.helpers import run, run_json
from tests.conftest import key_schema


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [("800ms", 0.8), ("1.5s", 1.5), ("2", 2.0), ("0", 0.0), (" 250 ms ", 0.25), (".5s", 0.5)],
    )
    def test_units(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == pytest.approx(seconds)

    @given(st.integers(min_value=0, max_value=86_400_000))
    def test_milliseconds_and_seconds_agree(self, ms: int) -> None:
        assert parse_duration(f"{ms}ms") == pytest.approx(ms / 1000)
        assert parse_duration(f"{ms / 1000}s") == pytest.approx(ms / 1000)
        assert parse_duration(str(ms / 1000)) == pytest.approx(ms / 1000)

    @given(st.text(max_size=12))
    def test_anything_else_is_a_usage_error_or_a_duration(self, text: str) -> None:
        try:
            seconds = parse_duration(text)
        except UsageError:
            return
        assert 0 <= seconds <= 86_400

    @pytest.mark.parametrize("text", ["", "ms", "-1s", "1m", "1 h", "nan", "inf", "1e3", "2d"])
    def test_refused(self, text: str) -> None:
        with pytest.raises(UsageError):
            parse_duration(text)

    def test_more_than_a_day_is_refused(self) -> None:
        with pytest.raises(UsageError, match="at most a day"):
            parse_duration("86401s")

    def test_serve_refuses_a_bad_delay(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "serve", "--memory", "--replication-delay", "soon")
        assert code == 2
        assert "expected a duration like 800ms" in err


class TestReplicationCommand:
    def test_pause_needs_the_link(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "replication", "pause", "--table", "orders")
        assert code == 2
        assert "--source" in err

    def test_status_of_an_empty_folder(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        code, _, err = run(capsys, "replication", "status", "--data", str(tmp_path))
        assert code == 1
        assert "no region files in" in err

    def test_status_data_and_endpoint_are_exclusive(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        code, _, err = run(
            capsys,
            "replication",
            "status",
            "--data",
            str(tmp_path),
            "--endpoint-url",
            "http://127.0.0.1:9",
        )
        assert code == 2
        assert "not both" in err

    def test_status_of_a_stopped_folder(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        # a global table whose links never ran: every record of each stream is behind
        async def write() -> None:
            regions = ["us-east-1", "eu-west-1"]
            async with streamkit.open_regions(tmp_path, regions=regions) as group:
                us = group["us-east-1"]
                await us.create_table(TableName="orders", **key_schema())
                await us.update_table(
                    TableName="orders", ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}]
                )
                for n in range(3):
                    await us.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
                await group["eu-west-1"].put_item(TableName="orders", Item={"pk": {"S": "eu"}})

        anyio.run(write)
        code, out, err = run(capsys, "replication", "status", "--data", str(tmp_path))
        assert code == 0, err
        assert json.loads(out) == {
            "Links": [
                {
                    "TableName": "orders",
                    "SourceRegion": "eu-west-1",
                    "TargetRegion": "us-east-1",
                    "RecordsBehind": 1,
                },
                {
                    "TableName": "orders",
                    "SourceRegion": "us-east-1",
                    "TargetRegion": "eu-west-1",
                    "RecordsBehind": 3,
                },
            ]
        }
        assert run_json(
            capsys, "replication", "status", "--data", str(tmp_path), "--output", "native"
        )
