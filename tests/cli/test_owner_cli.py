"""A data folder served by ``streamkit serve``: who else may open it, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamkit.cli import main
from streamkit.storage.owner import acquire_owner
from tests.server.serving import ROOT, start_serve, stop


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """A server on ``tmp_path/data`` with a table ``orders`` (stream on) and one item."""
    data = str(tmp_path / "data")
    process, url, _ = start_serve("--data", data)
    try:
        for argv in (
            ["tables", "create", "--table-name", "orders", "--hash-key", "pk:S",
             "--stream-specification", "StreamEnabled=true,StreamViewType=NEW_IMAGE"],
            ["put", "--table-name", "orders", "--item", '{"pk": {"S": "a"}}'],
        ):  # fmt: skip
            code, _, err = _run(capsys, *argv, "--endpoint-url", url)
            assert code == 0, err
        yield process, url, data
    finally:
        if process.poll() is None:
            stop(process)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_second_serve_exits_1_naming_the_first(
    served: tuple[subprocess.Popen[str], str, str],
) -> None:
    first, url, data = served
    second = subprocess.run(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--data", data],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    assert second.returncode == 1
    assert second.stdout == ""  # never said it was serving
    assert _one_line(second.stderr) == (
        f"streamkit: database {data}/us-east-1.sqlite3 is owned by streamkit serve "
        f"(pid {first.pid}, {url}); stop it or use --endpoint-url {url}"
    )


def test_write_command_is_told_to_use_the_endpoint(
    served: tuple[subprocess.Popen[str], str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, url, data = served
    code, _, err = _run(capsys, "put", "--table-name", "orders", "--item", '{"pk": {"S": "b"}}',
                        "--data", data)  # fmt: skip
    assert code == 1
    line = _one_line(err)
    assert f"owned by streamkit serve (pid {first.pid}, {url})" in line
    assert line.endswith(f"use --endpoint-url {url}")
    _, out, _ = _run(capsys, "scan", "--table-name", "orders", "--endpoint-url", url)
    assert json.loads(out)["Count"] == 1  # nothing was written


def test_read_commands_work_beside_the_server(
    served: tuple[subprocess.Popen[str], str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url, data = served
    code, out, err = _run(capsys, "tables", "list", "--data", data)
    assert (code, json.loads(out)) == (0, {"TableNames": ["orders"]}), err
    code, out, _ = _run(capsys, "get", "--table-name", "orders", "--key", '{"pk":{"S":"a"}}',
                        "--data", data)  # fmt: skip
    assert json.loads(out)["Item"] == {"pk": {"S": "a"}}
    assert _run(capsys, "put", "--table-name", "orders", "--item", '{"pk": {"S": "b"}}',
                "--endpoint-url", url)[0] == 0  # fmt: skip
    code, out, _ = _run(capsys, "scan", "--table-name", "orders", "--data", data)
    assert json.loads(out)["Count"] == 2  # sees the server's latest commit
    code, out, _ = _run(capsys, "query", "--table-name", "orders", "--data", data,
                        "--key-condition-expression", "pk = :p",
                        "--expression-attribute-values", '{":p": {"S": "b"}}')  # fmt: skip
    assert json.loads(out)["Count"] == 1
    code, out, err = _run(capsys, "streams", "tail", "--table-name", "orders", "--data", data,
                          "--from-start", "--max-records", "2")  # fmt: skip
    assert code == 0, err
    keys = [json.loads(line)["dynamodb"]["Keys"]["pk"]["S"] for line in out.splitlines()]
    assert keys == ["a", "b"]


def test_server_killed_with_sigkill_blocks_no_restart(
    served: tuple[subprocess.Popen[str], str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, data = served
    assert stop(first, signal.SIGKILL) == -signal.SIGKILL
    again, url, _ = start_serve("--data", data)  # start_serve fails unless it serves
    try:
        _, out, _ = _run(capsys, "scan", "--table-name", "orders", "--endpoint-url", url)
        assert json.loads(out)["Count"] == 1
        lock = json.loads(Path(data, "us-east-1.sqlite3.lock").read_text())
        assert (lock["pid"], lock["role"], lock["url"]) == (again.pid, "serve", url)
    finally:
        assert stop(again) == 0
    assert Path(data, "us-east-1.sqlite3.lock").read_text() == ""  # a clean stop empties it


def test_region_owned_by_another_process_is_refused_per_request(
    served: tuple[subprocess.Popen[str], str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, url, data = served
    with acquire_owner(Path(data, "eu-west-1.sqlite3"), "run"):
        code, _, err = _run(capsys, "tables", "list", "--endpoint-url", url,
                            "--region", "eu-west-1")  # fmt: skip
        assert code == 1
        assert "(ResourceInUseException)" in err
        assert f"region eu-west-1: database {data}/eu-west-1.sqlite3 is owned by" in err
    code, out, _ = _run(capsys, "tables", "list", "--endpoint-url", url, "--region", "eu-west-1")
    assert (code, json.loads(out)) == (0, {"TableNames": []})  # free now: opened on this try
    assert first.poll() is None


RUN_APP = """
import streamkit

app = streamkit.App()


@app.on_stream("orders", name="noop")
def noop(event, context):
    pass
"""


def test_write_beside_streamkit_run_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    (tmp_path / "ownerapp.py").write_text(RUN_APP)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "run", "ownerapp:app", "--data", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # log lines may come first
            if line.startswith("streamkit running mappings"):
                break
        code, _, err = _run(capsys, "put", "--table-name", "orders", "--item",
                            '{"pk": {"S": "a"}}', "--data", data)  # fmt: skip
        assert code == 1
        assert _one_line(err) == (
            f"streamkit: database {data}/us-east-1.sqlite3 is owned by streamkit run "
            f"(pid {process.pid}); stop it first (one process writes a database)"
        )
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_an_unusable_region_file_is_a_500_that_says_why(
    served: tuple[subprocess.Popen[str], str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, url, data = served
    bad = Path(data, "eu-west-1.sqlite3")
    bad.write_bytes(b"this is not a database\n" * 100)
    code, _, err = _run(capsys, "tables", "list", "--endpoint-url", url, "--region", "eu-west-1")
    assert code == 1
    assert "(InternalServerError)" in err
    assert f"region eu-west-1: {bad} is not a usable streamkit database" in err
    assert bad.read_bytes() == b"this is not a database\n" * 100
    assert first.poll() is None
