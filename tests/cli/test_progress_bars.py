"""Every CLI command of issue 14 that can take more than a second draws a progress bar on a
terminal: export, import, backup create, backup restore and restore (point in time)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from streamkit.cli import main
from tests.cli.test_logs_cli import FakeTerminal


def _on_a_terminal(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, list[str]]:
    """Run ``streamkit argv...`` with stderr a terminal; return its status and the screen."""
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(list(argv))
    monkeypatch.undo()
    return code, terminal.screen()


def _bar(screen: list[str], label: str) -> str:
    (line,) = [x for x in screen if x.startswith(label)]
    return line


def test_long_commands_draw_a_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The bar ends with the items the job handled: the export's and the import's counts
    (the local import runs while the command polls it), the backup's and restores' sizes."""
    data = ["--data", str(tmp_path / "data")]
    assert main(["tables", "create", "--table-name", "orders", "--hash-key", "pk:S", *data]) == 0
    for i in range(7):
        assert main(["put", "--table-name", "orders", "--item", f'{{"pk": "o{i}"}}', *data]) == 0
    assert main(["tables", "update", "orders", "--pitr", "on", *data]) == 0
    capsys.readouterr()

    folder = tmp_path / "bucket"
    code, screen = _on_a_terminal(monkeypatch, "export", "orders", str(folder), *data)
    assert code == 0, screen
    assert "] 7/7 (" in _bar(screen, "exporting [")
    code, screen = _on_a_terminal(
        monkeypatch, "import", str(folder), "copy", "--like", "orders", *data
    )
    assert code == 0, screen
    assert "] 7/7 (" in _bar(screen, "importing [")
    capsys.readouterr()

    code, screen = _on_a_terminal(monkeypatch, "backup", "create", "orders", *data)
    assert code == 0, screen
    assert _bar(screen, "backup of orders ").startswith("backup of orders 7 records")
    arn = json.loads(capsys.readouterr().out)["BackupDetails"]["BackupArn"]
    code, screen = _on_a_terminal(monkeypatch, "backup", "restore", arn, "from_backup", *data)
    assert code == 0, screen
    assert _bar(screen, "restore to from_backup ").startswith("restore to from_backup 7 records")
    code, screen = _on_a_terminal(
        monkeypatch, "restore", "--table", "orders", "--to", "then", "--latest", *data
    )
    assert code == 0, screen
    assert _bar(screen, "restore to then ").startswith("restore to then 7 records")
