"""`streamkit tags TABLE [--add K=V ...] [--remove K ...]`, locally and over a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import run, run_json
from tests.server.serving import start_serve, stop


def _create(capsys: pytest.CaptureFixture[str], *where: str) -> None:
    code, _, err = run(
        capsys, "tables", "create", "--table-name", "orders", "--hash-key", "pk:S", *where
    )
    assert code == 0, err


def test_list_add_remove_locally(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    where = ("--data", str(tmp_path / "data"))
    _create(capsys, *where)
    assert run_json(capsys, "tags", "orders", *where) == {"Tags": []}
    added = run_json(capsys, "tags", "orders", "--add", "team=a", "env=", "expr=a=b", *where)
    assert added["Tags"] == [
        {"Key": "team", "Value": "a"},
        {"Key": "env", "Value": ""},
        {"Key": "expr", "Value": "a=b"},
    ]
    changed = run_json(capsys, "tags", "orders", "--remove", "env", "--add", "team=b", *where)
    assert changed["Tags"] == [{"Key": "team", "Value": "b"}, {"Key": "expr", "Value": "a=b"}]
    assert run_json(capsys, "tags", "orders", *where) == changed


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    where = ("--data", str(tmp_path / "data"))
    _create(capsys, *where)
    code, out, err = run(capsys, "tags", "orders", "--add", "aws:x=1", *where)
    assert (code, out) == (1, "")
    assert err == (
        "An error occurred (ValidationException) when calling the TagResource operation: "
        "Tag Key cannot be prefixed with aws:, Key: aws:x\n"
    )
    assert run(capsys, "tags", "orders", "--add", "novalue", *where)[0] == 2
    code, _, err = run(capsys, "tags", "order", *where)
    assert code == 1
    assert "Did you mean orders?" in err


def test_over_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    process, url, _ = start_serve("--memory")
    try:
        where = ("--endpoint-url", url)
        _create(capsys, *where)
        assert run_json(capsys, "tags", "orders", "--add", "k=v", *where) == {
            "Tags": [{"Key": "k", "Value": "v"}]
        }
        assert run_json(capsys, "tags", "orders", "--remove", "k", *where) == {"Tags": []}
    finally:
        assert stop(process) == 0
