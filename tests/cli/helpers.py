"""Running the CLI in process for tests: exit status, stdout and stderr."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamkit.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``streamkit argv...``; return its exit status, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run a command that must succeed; return its stdout parsed as JSON."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)
