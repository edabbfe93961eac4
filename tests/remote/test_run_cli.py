"""``streamkit run MODULE:APP --endpoint-url URL``: one worker process on the remote source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from streamkit.cli import main
from streamkit.mappings import leases
from tests.remote.servers import KEYS, create_table, put_versions
from tests.server.serving import ROOT


def _start(url: str, table: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REMOTE_APP_TABLE": table,
        "REMOTE_APP_OUT": str(out),
        **{k.upper(): v for k, v in KEYS.items()},
    }
    env.pop("AWS_PROFILE", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamkit",
            "run",
            "tests.remote.remote_app:app",
            "--endpoint-url",
            url,
            "--region",
            "us-east-1",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "streamkit running mappings [lines]" in line, line
    assert url in line
    return process


def _wait_for_lines(out: Path, count: int) -> list[str]:
    """Wait (at most 60 s) for the worker process to have written ``count`` lines."""
    deadline = time.monotonic() + 60
    while True:
        lines = out.read_text().splitlines() if out.exists() else []
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, lines
        threading.Event().wait(0.05)


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stdout is not None
        process.stdout.close()


def test_run_reads_a_remote_stream_and_resumes_from_its_checkpoint_file(
    serve_url: str, tmp_path: Path
) -> None:
    table = f"t{uuid.uuid4().hex[:10]}"
    create_table(serve_url, table)
    put_versions(serve_url, table, 5, 2)
    out = tmp_path / "lines.txt"
    checkpoints = tmp_path / "checkpoints.sqlite3"
    process = _start(serve_url, table, out, "--checkpoint-file", str(checkpoints))
    try:
        put_versions(serve_url, table, 5, 1, 2)  # while it runs
        first = _wait_for_lines(out, 15)
    finally:
        assert _stop(process) == 0
    assert sorted(first) == sorted(f"k{k} {v}" for k in range(5) for v in range(3))
    put_versions(serve_url, table, 5, 1, 3)
    process = _start(serve_url, table, out, "--checkpoint-file", str(checkpoints))
    try:
        lines = _wait_for_lines(out, 20)
    finally:
        assert _stop(process) == 0
    assert sorted(lines[15:]) == sorted(f"k{k} 3" for k in range(5))  # resumed, no redelivery


def test_checkpoint_file_needs_a_remote_source(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamkit",
            "run",
            "tests.remote.remote_app:app",
            "--checkpoint-file",
            str(tmp_path / "c.sqlite3"),
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "--checkpoint-file is for a remote source" in done.stderr


def test_lease_options_need_a_remote_source_and_no_checkpoint_file(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamkit", "run", "tests.remote.remote_app:app", *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            timeout=60,
            check=False,
        )

    local = run("--lease-table", "leases", "--data", str(tmp_path))
    assert local.returncode != 0
    assert "--lease-table is for a remote source" in local.stderr
    url = ("--endpoint-url", "http://127.0.0.1:9")
    both = run(*url, "--lease-table", "leases", "--checkpoint-file", str(tmp_path / "c"))
    assert both.returncode != 0
    assert "the lease table keeps checkpoints" in both.stderr
    for option, value in (("--worker-id", "w1"), ("--take-interval", "2")):
        alone = run(*url, option, value)
        assert alone.returncode != 0
        assert "--worker-id, --lease-timeout and --take-interval go with --lease-table" in (
            alone.stderr
        )
    local = run("--take-interval", "2", "--data", str(tmp_path))
    assert local.returncode != 0
    assert "--take-interval is for a remote source" in local.stderr
    for option in ("--lease-timeout", "--take-interval"):
        bad = run(*url, "--lease-table", "leases", option, "0")
        assert bad.returncode != 0
        assert "not a positive number of seconds" in bad.stderr


def test_the_lease_options_reach_the_lease_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--lease-timeout`` and ``--take-interval`` are the coordinator's; the take interval
    defaults to the lease timeout (``take_interval=None``)."""
    seen: list[dict[str, Any]] = []

    @asynccontextmanager
    async def recording(client: Any, **options: Any) -> AsyncIterator[Any]:
        seen.append(options)
        if seen:  # always: the command stops with its one-line error, status 1
            raise OSError("recorded")
        yield None

    monkeypatch.setattr(leases, "open_leases", recording)
    base = ["run", "tests.remote.remote_app:app", "--endpoint-url", "http://127.0.0.1:9"]
    base += ["--region", "us-east-1", "--lease-table", "t"]
    assert main([*base, "--lease-timeout", "4", "--take-interval", "1.5"]) == 1
    assert main(base) == 1
    assert [(s["lease_timeout"], s["take_interval"]) for s in seen] == [
        (4.0, 1.5),
        (leases.DEFAULT_LEASE_TIMEOUT, None),
    ]
