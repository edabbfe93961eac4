"""Every code block in README.md and docs/*.md works as written.

The convention, for whoever writes docs (one test per block, named ``file:line``):

- A block whose opening fence comes directly after a line ``<!-- excerpt -->`` is an excerpt:
  a fragment, an output sample, a command that runs forever. It is not checked. Say in the
  prose what it leaves out, and point at a runnable twin when there is one.
- ```` ```python ````: run as a script, ``python -W error snippet.py``, in a fresh empty
  directory, with the checkout on ``PYTHONPATH``, dummy AWS credentials and a timeout. It must
  exit 0 with nothing on stderr, **twice in a row in the same directory** (a newcomer runs a
  tour again: files it leaves behind must not break it). A block that defines top-level
  ``test_*`` functions is a test module instead: it is saved as ``test_snippet.py`` and run by
  pytest (pytest-asyncio in auto mode, as the docs say), and every test must pass, twice.
  A block that talks to ``http://127.0.0.1:8000`` gets its own ``streamkit serve --memory``
  on a free port, and that URL is rewritten to the server's in the script.
- ```` ```json ```` / ```` ```toml ````: must parse as JSON / TOML.
- Any other block (```` ```console ````, ```` ```bash ````, ```` ```text ````, a bare
  ```` ``` ````) is not run: usage synopses and sample output are prose. But every
  ``streamkit`` command line in it is checked against the real argument parser: its
  subcommands exist (``a|b`` alternatives each), and each ``--flag`` it shows is an option of
  that subcommand (or of one of the alternatives). In a block with ``$ `` prompts only the
  prompted lines are commands; elsewhere any line running ``streamkit`` is, continued by
  indented lines or a trailing backslash.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamkit.cli.parser import build_parser
from tests.server.serving import start_serve, stop

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXCERPT = "<!-- excerpt -->"
LOCAL_ENDPOINT = "http://127.0.0.1:8000"
TIMEOUT = 30  # seconds per run; every snippet takes well under one
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    excerpt: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> Iterator[Block]:
    """Yield the fenced code blocks of one Markdown file (CommonMark fences, not indented code)."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, lang = len(opening[1]), opening[2], opening[3].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                break
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        excerpt = i > 0 and lines[i - 1].strip() == EXCERPT
        yield Block(path, i + 1, lang, "\n".join(body) + "\n", excerpt)
        i = j + 1


BLOCKS = [block for path in DOCS for block in blocks_of(path)]
CHECKED = [block for block in BLOCKS if not block.excerpt]
PYTHON = [block for block in CHECKED if block.lang in ("python", "py")]
DATA = [block for block in CHECKED if block.lang in ("json", "toml")]
SHELLISH = [block for block in CHECKED if block.lang not in ("python", "py", "json", "toml")]


def _ids(blocks: list[Block]) -> list[str]:
    return [block.name for block in blocks]


def test_blocks_are_found() -> None:
    assert len(DOCS) > 10
    assert any(block.lang == "python" for block in CHECKED)
    assert any(block.excerpt for block in BLOCKS)


# --- python --------------------------------------------------------------------------------


def _is_test_module(source: str) -> bool:
    tree = ast.parse(source)
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
        for node in tree.body
    )


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=str(home),  # no ~/.aws of the machine running the tests
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _run_python(block: Block, source: str, cwd: Path, env: dict[str, str]) -> None:
    # Blank lines first, so a traceback's line numbers are the Markdown file's.
    padded = "\n" * block.line + source
    as_tests = _is_test_module(source)
    if as_tests:
        (cwd / "test_snippet.py").write_text(padded)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--rootdir",
            str(cwd),
            "test_snippet.py",
        ]
    else:
        (cwd / "snippet.py").write_text(padded)
        command = [sys.executable, "-W", "error", "snippet.py"]
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.name}: still running after {TIMEOUT} s (a snippet must end)")
    report = f"{block.name} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, report
    if as_tests:
        assert " passed" in done.stdout, report
        assert "skipped" not in done.stdout, report
    else:
        assert done.stderr == "", report


@pytest.mark.parametrize("block", PYTHON, ids=_ids(PYTHON))
def test_python_block_runs_twice(block: Block, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = _env(tmp_path / "home")
    source = block.text
    server = None
    if LOCAL_ENDPOINT in source:
        server, url, _ = start_serve("--memory")
        source = source.replace(LOCAL_ENDPOINT, url)
    try:
        for _ in range(2):
            _run_python(block, source, work, env)
    finally:
        if server is not None:
            stop(server)


# --- json, toml -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", DATA, ids=_ids(DATA))
def test_data_block_parses(block: Block) -> None:
    try:
        if block.lang == "json":
            json.loads(block.text)
        else:
            tomllib.loads(block.text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        pytest.fail(f"{block.name}: not {block.lang.upper()}: {exc}")


# --- command lines in other blocks -----------------------------------------------------------

_WORD = re.compile(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*")
_FLAG = re.compile(r"--[A-Za-z][\w-]*")
_STARTS = {"$", "&&", "||", ";", "-m", "exec"}
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*=\S*")  # VAR=value streamkit ...


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def command_lines(block: Block) -> list[str]:
    """Return the ``streamkit`` command lines of a block, continuations joined."""
    lines = block.text.splitlines()
    prompted = any(line.lstrip().startswith("$ ") for line in lines)
    commands: list[str] = []
    continuing = False
    for raw in lines:
        line = raw.split(" #", 1)[0].rstrip()
        if prompted and not continuing:
            if not line.lstrip().startswith("$ "):
                continue
            line = line.lstrip()[2:]
        tokens = line.split()
        starts = [
            i
            for i, t in enumerate(tokens)
            if t == "streamkit"
            and (i == 0 or tokens[i - 1] in _STARTS or _ENV.fullmatch(tokens[i - 1]))
        ]
        if starts:
            rest = tokens[starts[0] :]
            for stop_at in ("&&", "||", ";"):  # a lone | is an alternative in a synopsis
                if stop_at in rest:
                    rest = rest[: rest.index(stop_at)]
            commands.append(" ".join(rest).removesuffix("\\").strip())
        elif commands and (continuing or (not prompted and raw[:1].isspace())):
            commands[-1] += " " + line.removesuffix("\\").strip()
        else:
            continuing = False
            continue
        continuing = line.endswith("\\")
    return commands


def check_command(command: str) -> list[str]:
    """Return what is wrong with one ``streamkit ...`` line (empty: nothing)."""
    root = build_parser()
    tokens = command.split()[1:]
    root_options = _options(root)
    while tokens and tokens[0] in root_options:
        takes_value = root_options[tokens[0]].nargs != 0
        tokens = tokens[2:] if takes_value else tokens[1:]
    parsers = [root]
    path = ["streamkit"]
    while tokens and _WORD.fullmatch(tokens[0]) and all(_subcommands(p) for p in parsers):
        names = tokens.pop(0).split("|")
        found: list[argparse.ArgumentParser] = []
        for name in names:
            for parser in parsers:
                if name not in _subcommands(parser):
                    return [f"{' '.join(path)}: no subcommand {name!r}"]
                found.append(_subcommands(parser)[name])
        parsers = found
        path.append("|".join(names))
    known = set(root_options)
    for parser in parsers:
        known.update(_options(parser))
    flags = {m[0] for token in tokens for m in [_FLAG.search(token)] if m is not None}
    return [f"{' '.join(path)}: no option {flag}" for flag in sorted(flags - known)]


@pytest.mark.parametrize("block", SHELLISH, ids=_ids(SHELLISH))
def test_command_lines_match_the_parser(block: Block) -> None:
    problems = [p for command in command_lines(block) for p in check_command(command)]
    assert problems == [], (
        f"{block.name}: {problems} (if a line is output, not a command: put `$ ` before the "
        f"commands, or mark the block {EXCERPT})"
    )


def test_command_line_checker() -> None:
    block = Block(
        ROOT / "README.md",
        1,
        "",
        "streamkit tables create|list --table-name T \\\n    --hash-key pk:S\n"
        "streamkit put|get --table-name T\n    [--no-such-flag]\n"
        "pip install -e . && streamkit serve --port 1\nstreamkit nope\n",
        False,
    )
    commands = command_lines(block)
    assert commands == [
        "streamkit tables create|list --table-name T --hash-key pk:S",
        "streamkit put|get --table-name T [--no-such-flag]",
        "streamkit serve --port 1",
        "streamkit nope",
    ]
    assert check_command(commands[0]) == []
    assert check_command(commands[1]) == ["streamkit put|get: no option --no-such-flag"]
    assert check_command(commands[2]) == []
    assert check_command(commands[3]) == ["streamkit: no subcommand 'nope'"]
    prompted = Block(
        ROOT / "README.md", 1, "console", "$ streamkit serve\nstreamkit serving x\n", False
    )
    assert command_lines(prompted) == ["streamkit serve"]


# --- paths ---------------------------------------------------------------------------------

_PATH = re.compile(
    r"(?<![\w./-])(?:docs|examples|handlers|tests|streamkit|bench|scripts)/[\w./-]*\w"
)


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_repository_paths_exist(doc: Path) -> None:
    """A path into the repository that a doc names (docs/x.md, streamkit/engine/x.py) exists."""
    named = set(_PATH.findall(doc.read_text()))
    if doc.name == "README.md":
        assert "docs/api.md" in named  # the pattern finds what it should
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []
