"""One clear line for common failures; ``--output table`` on every kind of response."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import run, run_json

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_serve_on_a_busy_port_is_one_line(
    capsys: pytest.CaptureFixture[str], busy_port: int
) -> None:
    code, out, err = run(capsys, "serve", "--memory", "--port", str(busy_port))
    assert code == 1
    assert out == ""
    assert err == (
        f"streamkit: port {busy_port} on 127.0.0.1 is already in use "
        "(stop what holds it, or pick another with --port; 0 picks a free one)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [["tables", "list"], ["ttl", "describe", "t"], ["streams", "list"], ["dump", "orders"]],
)
def test_unreachable_endpoint_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv, "--endpoint-url", "http://127.0.0.1:1")
    assert (code, out) == (1, "")
    assert err == "streamkit: cannot connect to http://127.0.0.1:1 (is the server running?)\n"


class TestTableOutput:
    @pytest.fixture
    def where(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
        where = ["--data", str(tmp_path / "data")]
        code, _, err = run(
            capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
            "--stream-specification", "StreamEnabled=true,StreamViewType=NEW_IMAGE", *where,
        )  # fmt: skip
        assert code == 0, err
        for n in range(3):
            item = f'{{"pk": "k{n}", "tags": ["a", "b"]}}'
            assert run(capsys, "put", "--table-name", "orders", "--item", item, *where)[0] == 0
        return where

    def test_tables_list_is_a_grid_of_names(
        self, capsys: pytest.CaptureFixture[str], where: list[str]
    ) -> None:
        code, out, _ = run(capsys, "tables", "list", "--output", "table", *where)
        assert code == 0
        assert out.splitlines()[1] == "| TableNames |"
        assert "| orders     |" in out

    def test_describe_shows_iso_times_in_table_output_only(
        self, capsys: pytest.CaptureFixture[str], where: list[str]
    ) -> None:
        code, out, _ = run(
            capsys, "tables", "describe", "--table-name", "orders", "--output", "table", *where
        )
        assert code == 0
        row = next(line for line in out.splitlines() if "CreationDateTime" in line)
        assert ISO.search(row), row
        wire = run_json(capsys, "tables", "describe", "--table-name", "orders", *where)
        assert isinstance(wire["Table"]["CreationDateTime"], int | float)

    def test_get_item_is_name_value_rows(
        self, capsys: pytest.CaptureFixture[str], where: list[str]
    ) -> None:
        code, out, _ = run(
            capsys, "get", "--table-name", "orders", "--key", '{"pk": "k1"}', "--output",
            "table", *where,
        )  # fmt: skip
        assert code == 0
        assert '| tags | ["a", "b"] |' in out

    def test_stream_describe_is_a_grid_of_shards(
        self, capsys: pytest.CaptureFixture[str], where: list[str]
    ) -> None:
        code, out, _ = run(
            capsys, "streams", "describe", "--table-name", "orders", "--output", "table", *where
        )
        assert code == 0
        header = out.splitlines()[1]
        assert "ShardId" in header
        assert "SequenceNumberRange" in header
        assert "StreamStatus: ENABLED" in out

    def test_tail_in_table_output_is_one_line_a_record(
        self, capsys: pytest.CaptureFixture[str], where: list[str]
    ) -> None:
        code, out, _ = run(
            capsys, "streams", "tail", "--table-name", "orders", "--from-start",
            "--max-records", "3", "--output", "table", *where,
        )  # fmt: skip
        assert code == 0
        lines = out.splitlines()
        assert len(lines) == 3
        assert all(ISO.match(line) and "INSERT" in line for line in lines)
        assert sorted(line.split("  ")[-1] for line in lines) == [
            '{"pk":"k0"}',
            '{"pk":"k1"}',
            '{"pk":"k2"}',
        ]

    def test_empty_scan(self, capsys: pytest.CaptureFixture[str], where: list[str]) -> None:
        code, out, _ = run(
            capsys, "scan", "--table-name", "orders", "--filter-expression", "pk = :x",
            "--expression-attribute-values", '{":x": "none"}', "--output", "table", *where,
        )  # fmt: skip
        assert code == 0
        assert out.startswith("(no items)\n")


def test_table_output_for_writes_and_control_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    where = ["--data", str(tmp_path / "data"), "--output", "table"]
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"pk": "a"}\n{"pk": "b"}\n')
    for argv in (
        ["tables", "create", "--table-name", "tab1", "--hash-key", "pk:S"],
        ["tables", "update", "tab1", "--stream-view-type", "NEW_IMAGE"],
        ["ttl", "enable", "tab1", "--attribute", "exp"],
        ["load", "tab1", str(lines)],
        ["put", "--table-name", "tab1", "--item", '{"pk": "c"}', "--return-values", "ALL_OLD"],
        ["streams", "list"],
    ):
        code, out, err = run(capsys, *argv, *where)
        assert code == 0, (argv, err)
        assert out.startswith("+-"), (argv, out)
        assert "{" not in out.splitlines()[1], (argv, out)  # a header row, not a JSON dump


@pytest.mark.parametrize("argv", [["tables", "list"], ["streams", "list"]])
def test_endpoint_url_without_boto3_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "boto3", None)
    code, out, err = run(capsys, *argv, "--endpoint-url", "http://127.0.0.1:1")
    assert (code, out) == (2, "")
    assert err == "streamkit: error: --endpoint-url needs boto3 (pip install boto3)\n"
