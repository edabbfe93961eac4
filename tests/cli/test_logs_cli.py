"""Logs of the ``streamkit`` command: options on every command, stderr only, console or JSON,
one line per handler invocation, and progress bars that never share a line with a log."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.cli import main
from streamkit.cli.logs import configure_logging
from streamkit.cli.parser import build_parser
from streamkit.cli.progress import Progress

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
CREATE = ["tables", "create", "--table-name", "orders", "--hash-key", "pk:S"]


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                found.extend(_parsers(sub))
    return found


def test_every_command_takes_the_log_options() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) > 20
    for parser in parsers:
        assert {"--log-level", "--log-format"} <= set(parser._option_string_actions), parser.prog


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "debug", "--log-format", "json", *CREATE],
        [*CREATE, "--log-level", "debug", "--log-format", "json"],
        ["--log-format", "json", *CREATE, "--log-level", "debug"],
    ],
)
def test_json_lines_on_stderr_command_output_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    assert main([*argv, "--data", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["TableDescription"]["TableName"] == "orders"
    lines = [json.loads(line) for line in err.splitlines()]
    for line in lines:
        assert re.fullmatch(ISO_UTC, line["timestamp"])
        assert line["level"] in {"debug", "info", "warning", "error"}
    (created,) = [line for line in lines if line["event"] == "table_created"]
    assert created["level"] == "debug"
    assert created["table"] == "orders"
    assert created["logger"] == "streamkit.engine.control"


def test_console_lines_have_iso_timestamps(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [*CREATE, "--log-level", "debug", "--log-format", "console", "--data", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "table_created" not in out
    (line,) = [line for line in err.splitlines() if "table_created" in line]
    assert re.match(rf"{ISO_UTC} \[debug\s*\] table_created\s.*table=orders", line), line
    assert "\x1b[" not in err  # no colours when stderr is not a terminal


def test_data_commands_default_to_warnings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([*CREATE, "--data", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_bad_log_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "loud", "version"]) == 2
    assert main(["version", "--log-format", "xml"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# -- progress bars and log lines ---------------------------------------------------------------


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal and can show what a screen would."""

    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines a terminal would show: ``\\r`` returns, ESC[2K erases the line."""
        lines = [""]
        column = 0
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.getvalue())  # colours
        index = 0
        while index < len(text):
            if text.startswith("\x1b[2K", index):
                lines[-1] = ""
                index += 4
                continue
            char = text[index]
            index += 1
            if char == "\r":
                column = 0
            elif char == "\n":
                lines.append("")
                column = 0
            else:
                line = lines[-1]
                lines[-1] = line[:column] + char + line[column + 1 :]
                column += 1
        return lines


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logs_go_above_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("info", "console")
    ticks = Ticks()
    bar = Progress("exported", stream=terminal, total=1000, monotonic=ticks)
    ticks.now += 1
    bar.update(100)
    logging.getLogger("streamkit.test").warning("first")
    ticks.now += 1
    bar.update(250)
    logging.getLogger("streamkit.test").warning("second")
    ticks.now += 1
    bar.update(400)
    bar.close()
    screen = terminal.screen()
    assert screen[-1] == ""  # close() ends the bar's line
    first, second, last = screen[:-1]
    assert re.match(rf"{ISO_UTC} \[warning\s*\] first", first), first
    assert re.match(rf"{ISO_UTC} \[warning\s*\] second", second), second
    assert "exported" not in first + second
    assert (
        last == "exported [############------------------] 400/1,000 (133/s, ETA 0:05)"
    )  # 600 left at 133/s


def test_the_bar_is_redrawn_after_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("info", "console")
    ticks = Ticks()
    bar = Progress("replayed", stream=terminal, monotonic=ticks)
    ticks.now += 2
    bar.update(50)
    logging.getLogger("streamkit.test").warning("midway")
    screen = terminal.screen()
    assert "midway" in screen[0]
    assert screen[1] == "replayed 50 records (25/s)"  # no total: no ETA
    bar.close()


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    ticks = Ticks()
    bar = Progress("exported", stream=stream, total=10, monotonic=ticks)
    ticks.now += 1
    bar.update(5)
    bar.close()
    assert stream.getvalue() == ""


def test_progress_redraws_at_most_ten_times_a_second() -> None:
    terminal = FakeTerminal()
    ticks = Ticks()
    bar = Progress("exported", stream=terminal, total=10, monotonic=ticks)
    for done in range(1, 7):
        ticks.now += 0.03
        bar.update(done)
    assert terminal.getvalue().count("exported") == 2  # 1 at 0.03 s and 5 at 0.15 s
    assert " 5/10 " in terminal.screen()[0]  # 6 came too soon after 5
    bar.close()
    assert " 6/10 " in terminal.screen()[0]  # close() shows the last count


# -- streamkit run: one line per invocation ----------------------------------------------------

FLAKY_APP = textwrap.dedent(
    """
    import os
    import streamkit

    app = streamkit.App()
    calls = []

    @app.on_stream("orders", name="flaky", starting_position="TRIM_HORIZON", batch_size=10)
    def flaky(event, context):
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("not yet")
        with open(os.environ["STREAMKIT_TEST_OUT"], "a") as out:
            out.write(f"{len(event['Records'])}\\n")
    """
)

TABLE: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}


def test_run_logs_each_invocation_and_one_traceback(tmp_path: Path) -> None:
    (tmp_path / "flakyapp.py").write_text(FLAKY_APP)
    data = tmp_path / "data"

    async def seed() -> None:
        async with streamkit.open_engine(data / "us-east-1.sqlite3") as db:
            await db.create_table(TableName="orders", **TABLE)
            for n in range(3):
                await db.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})

    anyio.run(seed)
    out = tmp_path / "out.txt"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[2]}",
        "STREAMKIT_TEST_OUT": str(out),
    }
    argv = ["run", "flakyapp:app", "--data", str(data), "--log-format", "json"]
    with (tmp_path / "stdout").open("w") as stdout, (tmp_path / "stderr").open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamkit", *argv], env=env, stdout=stdout, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 30  # a real process: retries back off 1 s, then 2 s
        while not out.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
    assert out.read_text() == "3\n"
    assert (tmp_path / "stdout").read_text().startswith("streamkit running mappings [flaky]")
    lines = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    invoked = [line for line in lines if line["event"] == "batch_invoked"]
    assert [(i["level"], i["attempt"], i["outcome"]) for i in invoked] == [
        ("warning", 1, "error"),
        ("warning", 2, "error"),
        ("info", 3, "ok"),
    ]
    for line in invoked:
        assert line["mapping"] == "flaky"
        assert line["batch_size"] == 3
        assert line["shard_id"].startswith("shardId-")
        assert isinstance(line["duration_ms"], float)
    assert [("exception" in line) for line in invoked] == [True, False, False]
    (trace,) = invoked[0]["exception"]
    assert (trace["exc_type"], trace["exc_value"]) == ("RuntimeError", "not yet")
    assert not any(line["level"] == "debug" for line in lines)  # run's default level is info
    assert lines[-1]["event"] == "shutting_down"


REPLAY_APP = textwrap.dedent(
    """
    import streamkit

    app = streamkit.App()

    @app.on_stream("orders", name="count", batch_size=10)
    def count(event, context):
        pass
    """
)


def test_replay_of_a_file_shows_total_and_eta_below_its_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "replayapp.py").write_text(REPLAY_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "replayapp", raising=False)
    export = tmp_path / "export.jsonl"
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": f"k{n}"}},
                "SequenceNumber": str(10**20 + n),
                "ApproximateCreationDateTime": 1_700_000_000 + n,
            },
            "shardId": "shardId-00000001700000000000-00000001",
        }
        for n in range(25)
    ]
    export.write_text("".join(json.dumps(r) + "\n" for r in records))
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["replay", "replayapp:app", "--file", str(export)]) == 0
    capsys.readouterr()
    screen = terminal.screen()
    invoked = [line for line in screen if "batch_invoked" in line]
    assert len(invoked) == 3  # 10 + 10 + 5 records, info by default for replay
    assert not any("replayed [" in line for line in invoked)
    (bar,) = [line for line in screen if line.startswith("replayed [")]
    assert re.fullmatch(r"replayed \[#{30}\] 25/25 \(\S+/s, ETA 0:00\)", bar), bar
    assert screen[-2].startswith("replayed 25 records from 1 shards")
