"""`streamkit run --reload` and `serve --app --reload`: a real process restarts on a code change."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli.helpers import run
from tests.server.serving import ROOT

pytest.importorskip("watchfiles")

APP = textwrap.dedent(
    """
    import streamkit

    app = streamkit.App()

    @app.on_stream("orders", name="{name}")
    def handle(event, context):
        pass
    """
)


def _wait_for(log: Path, text: str, count: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30  # a real process: a bounded wait on its output
    while time.monotonic() < deadline:
        seen = log.read_text()
        if seen.count(text) >= count:
            return seen
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {seen}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not seen {count} times in 30 s: {log.read_text()}")


@pytest.mark.parametrize(
    ("command", "started"),
    [
        (["run", "reloadapp:app"], "streamkit running mappings [{name}]"),
        (["serve", "--port", "0", "--app", "reloadapp:app"], "running mappings [{name}]"),
    ],
)
def test_a_changed_module_restarts_the_process(
    tmp_path: Path, command: list[str], started: str
) -> None:
    module = tmp_path / "reloadapp.py"
    module.write_text(APP.format(name="first"))
    log = tmp_path / "out.log"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    argv = [*command, "--data", str(tmp_path / "data"), "--reload", "--reload-dir", str(tmp_path)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamkit", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        _wait_for(log, started.format(name="first"), 1, process)
        module.write_text(APP.format(name="second"))
        seen = _wait_for(log, started.format(name="second"), 1, process)
        assert "reloadapp.py changed; restarting" in seen
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(20)
    assert code == 0
    assert log.read_text().count("changed; restarting") == 1


def test_reload_flags_are_dropped_from_the_childs_command() -> None:
    from streamkit.cli.reload import _without_reload

    argv = ["--log-level", "info", "run", "a:app", "--reload", "--reload-dir", "x",
            "--reload-dir=y", "--data", "d"]  # fmt: skip
    assert _without_reload(argv) == ["--log-level", "info", "run", "a:app", "--data", "d"]


def test_reload_without_watchfiles_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)
    code, _, err = run(capsys, "run", "x:app", "--reload")
    assert code == 2
    assert "pip install 'streamkit[reload]'" in err
