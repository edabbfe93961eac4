"""Start-up time: ``import streamkit``, ``streamkit --help`` and ``streamkit serve``'s first reply.

Each run starts a fresh interpreter in the tree measured (its directory is both the working
directory, which ``-c`` and ``-m`` put first on ``sys.path``, and ``PYTHONPATH``) and records:

- import: seconds ``import streamkit`` takes inside the process (perf_counter around it);
- engine: the same for ``from streamkit import Engine`` (a library user's or a test's import);
- help: wall seconds of a whole ``streamkit --help`` process, from spawn to exit;
- serve: wall seconds from spawning ``streamkit serve --port 0 --data DIR`` to the reply to a
  ListTables sent as soon as it prints its address (as bench/http.py does);
- serve-cpu: the CPU seconds (user + system) that process had used by then (Linux only; in
  10 ms ticks), which other processes on a loaded machine disturb less than the wall time.

With ``--tree`` (repeatable) the same measurements run for every tree in turns, each run of a
measurement for every tree before the next run starts, so a slow spell on this shared machine
falls on all of them; medians are printed, with each tree's ratio to the first.

    python bench/startup.py [--runs 9] [--bytecode] [--tree NAME PATH ...]
                            [--installed NAME PYTHON ...]

``--installed NAME PYTHON`` measures an interpreter (a virtualenv's) into which a wheel of
streamkit was installed: pip compiles its modules at install (even under
``PYTHONDONTWRITEBYTECODE``), which an editable install never has compiled ahead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

IMPORT = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"


#: set by ``--bytecode``: cache compiled modules (under a prefix in the temp directory, so no
#: tree gets ``__pycache__`` directories), as an installed package has them
PYCACHE: str | None = None


#: the prefix of a "tree" that is an interpreter with streamkit installed (``--installed``)
INSTALLED = "python:"


def _python(tree: str) -> str:
    return tree.removeprefix(INSTALLED) if tree.startswith(INSTALLED) else sys.executable


def _cwd(tree: str) -> str:
    """The tree itself, or for an installed package a folder holding no ``streamkit``."""
    return tempfile.gettempdir() if tree.startswith(INSTALLED) else tree


def _env(tree: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": tree}
    if tree.startswith(INSTALLED):  # its own bytecode, compiled by pip at install
        del env["PYTHONPATH"]
        return env
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def time_import(tree: str, statement: str = "import streamkit") -> float:
    out = subprocess.run(
        [_python(tree), "-c", IMPORT.format(statement)],
        env=_env(tree),
        cwd=_cwd(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def time_help(tree: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [_python(tree), "-m", "streamkit", "--help"],
        env=_env(tree),
        cwd=_cwd(tree),
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def _list_tables(url: str) -> None:
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    body = b"{}"
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = reply.split(b" ", 2)[1]
    if status != b"200" or "TableNames" not in json.loads(reply.split(b"\r\n\r\n", 1)[1]):
        raise RuntimeError(f"unexpected reply: {reply[:200]!r}")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds process ``pid`` has used so far (Linux: /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_serve(tree: str) -> float:
    """CPU seconds (user + system, all threads) ``serve`` used up to its first reply: less
    at the mercy of other processes than the wall time on a loaded machine (10 ms ticks)."""
    return time_serve(tree, cpu=True)


def time_serve(tree: str, cpu: bool = False) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        process = subprocess.Popen(
            [_python(tree), "-m", "streamkit", "serve", "--port", "0", "--data", data_dir],
            env=_env(tree),
            cwd=_cwd(tree),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            _list_tables(line.split(" on ", 1)[1].split()[0])
            if cpu:
                return _cpu_seconds(process.pid)
            return time.perf_counter() - started
        finally:
            process.terminate()
            process.wait()


def time_engine(tree: str) -> float:
    return time_import(tree, "from streamkit import Engine")


MEASURES = {
    "import": time_import,
    "engine": time_engine,
    "help": time_help,
    "serve": time_serve,
    "serve-cpu": cpu_serve,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per tree; medians are shown")
    parser.add_argument(
        "--tree",
        nargs=2,
        action="append",
        metavar=("NAME", "PATH"),
        help="a source tree to measure (PYTHONPATH); repeatable; default: this checkout",
    )
    parser.add_argument(
        "--installed",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "PYTHON"),
        help="an interpreter with streamkit installed (a wheel, so pip compiled its bytecode), "
        "run from a folder without streamkit and without PYTHONPATH; repeatable",
    )
    parser.add_argument("--only", nargs="+", choices=list(MEASURES), default=list(MEASURES))
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="let Python cache compiled modules (a temporary PYTHONPYCACHEPREFIX), as for an "
        "installed package; by default the environment decides (PYTHONDONTWRITEBYTECODE=1 "
        "makes every start compile every module it imports)",
    )
    args = parser.parse_args()
    global PYCACHE
    if args.bytecode:
        PYCACHE = tempfile.mkdtemp(prefix="streamkit-startup-pycache-")
    try:
        _measure(args)
    finally:
        if PYCACHE is not None:
            shutil.rmtree(PYCACHE, ignore_errors=True)


def _measure(args: argparse.Namespace) -> None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = [(name, INSTALLED + python) for name, python in args.installed]
    trees: list[tuple[str, str]] = (
        args.tree or ([] if installed else [("this", here)])
    ) + installed
    if PYCACHE is not None:
        for _, tree in trees:  # fill the cache: the runs measured then all load bytecode
            time_serve(tree)
    bytecode = (
        "cached bytecode"
        if PYCACHE
        else "PYTHONDONTWRITEBYTECODE=" + os.environ.get("PYTHONDONTWRITEBYTECODE", "")
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {bytecode}")
    print(f"{'ms (median of ' + str(args.runs) + ')':<22}" + "".join(f"{n:>16}" for n, _ in trees))
    for name in args.only:
        measure = MEASURES[name]
        samples: list[list[float]] = [[] for _ in trees]
        for turn in range(args.runs):
            order = list(range(len(trees)))
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for index in order:
                samples[index].append(measure(trees[index][1]))
        medians = [statistics.median(s) * 1000 for s in samples]
        cells = [f"{_ms(m):>16}" for m in medians[:1]]
        cells += [f"{_ms(m):>9} ({m / medians[0]:.2f})" for m in medians[1:]]
        print(f"{name:<22}" + "".join(cells), flush=True)


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


if __name__ == "__main__":
    main()
