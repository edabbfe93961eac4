"""Start and stop a real ``streamkit serve`` subprocess (shared by server and CLI tests)."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()
_LOGS = Path(tempfile.mkdtemp(prefix="streamkit-serve-logs-"))
atexit.register(shutil.rmtree, _LOGS, ignore_errors=True)
_LOG_OF: dict[int, Path] = {}


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str, float]:
    """Start ``python -m streamkit serve --port 0 ...``; return it, its URL and its start time.

    Its stderr goes to a file (a pipe nobody reads could fill and stall the server).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = _LOGS / f"serve-{next(_names)}.log"
    started = time.perf_counter()
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamkit", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=ROOT,
        )
    _LOG_OF[process.pid] = log
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on http://" not in line:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"serve did not start: {line!r} {stderr_of(process)[-2000:]}")
    return process, line.split(" on ", 1)[1].split()[0], started


def stderr_of(process: subprocess.Popen[str]) -> str:
    """Return what the server wrote to stderr so far."""
    return _LOG_OF[process.pid].read_text()


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    """Signal the server and return its exit status (killed after 15 s)."""
    process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


def aws_cli(endpoint: str) -> Callable[..., Any]:
    """Return ``aws(*args, check=True)``: runs ``aws dynamodb ARGS`` against ``endpoint`` with
    dummy keys; returns stdout parsed as JSON, or with ``check=False`` the finished process."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    }

    def aws(*args: str, check: bool = True) -> Any:
        done = subprocess.run(
            ["aws", "dynamodb", *args, "--endpoint-url", endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )
        if not check:
            return done
        return orjson.loads(done.stdout) if done.stdout.strip() else {}

    return aws
