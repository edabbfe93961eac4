"""Start-up imports only what a path uses (issue 21): a regression guard on ``sys.modules`` in a
fresh interpreter, not a timed test (bench/startup.py measures the time)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import streamkit
from streamkit.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (in this tree)."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _streamkit(modules: set[str]) -> set[str]:
    return {m for m in modules if m == "streamkit" or m.startswith("streamkit.")}


def test_import_streamkit_loads_nothing_else() -> None:
    loaded = _loaded_after("import streamkit")
    assert _streamkit(loaded) == {"streamkit"}
    assert not {"structlog", "anyio", "asyncio", "sqlite3", "orjson"} & loaded


def test_engine_does_not_load_the_layers_above() -> None:
    loaded = _streamkit(_loaded_after("from streamkit import Engine"))
    assert "streamkit.engine" in loaded
    above = ("streamkit.server", "streamkit.cli", "streamkit.mappings", "streamkit.runtime")
    assert not {m for m in loaded if m.startswith(above)}


def test_help_loads_no_command() -> None:
    loaded = _loaded_after(
        "from streamkit.cli import main\nimport contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])"
    )
    assert not {"structlog", "anyio", "asyncio", "orjson", "decimal"} & loaded
    assert not {
        m
        for m in _streamkit(loaded)
        if m.startswith(("streamkit.engine", "streamkit.server", "streamkit.mappings"))
        or m in ("streamkit.errors", "streamkit.cli.inputs")
    }


def test_server_without_apps_loads_no_mapping_machinery() -> None:
    loaded = _streamkit(_loaded_after("import streamkit.cli.serve, streamkit.server.app"))
    assert "streamkit.server.app" in loaded
    assert not {m for m in loaded if m.startswith("streamkit.mappings")}
    assert "streamkit.server.local" not in loaded  # the in-process test endpoints
    assert "streamkit.testing" not in loaded


@pytest.mark.parametrize("name", sorted(streamkit.__all__))
def test_every_public_name_loads_on_first_use(name: str) -> None:
    assert getattr(streamkit, name) is not None
    assert name in dir(streamkit)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = streamkit.no_such_name
    assert streamkit.engine.Engine is streamkit.Engine  # a subpackage read as an attribute


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


def test_a_command_line_builds_only_its_command_and_the_same_help() -> None:
    full = build_parser()
    for name, command in _commands(full).items():
        partial = build_parser(["--log-level", "info", name, "--help"])
        assert partial.format_help() == full.format_help()
        built = _commands(partial)
        assert built.keys() == _commands(full).keys()
        assert built[name].format_help() == command.format_help()
        for action, sub in _commands(command).items():
            assert _commands(built[name])[action].format_help() == sub.format_help()
        others = [other for other in built.values() if other is not built[name]]
        assert all(not other._actions for other in others)  # listed, not built


def test_engine_loads_no_structlog_until_a_log_call_passes_its_level() -> None:
    loaded = _loaded_after(
        "import logging\nfrom streamkit import Engine\nfrom streamkit.logs import get_logger\n"
        "get_logger('streamkit.x').debug('below_the_level', n=1)"
    )
    assert "streamkit.engine" in loaded
    assert "structlog" not in loaded
    loaded = _loaded_after(
        "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"
        "from streamkit.logs import get_logger\nget_logger('streamkit.x').debug('logged', n=1)"
    )
    assert "structlog" in loaded


def test_the_cli_configures_structlog_for_an_app_only_when_one_loads() -> None:
    script = (
        "import sys\nfrom streamkit.cli.logs import configure_logging, configure_structlog\n"
        "configure_logging('info', 'json')\nassert 'structlog' not in sys.modules\n"
        "configure_structlog()  # as load_apps does before importing an app\n"
        "import structlog\nstructlog.get_logger('app').warning('from_app', n=1)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    (line,) = [json.loads(line) for line in out.stderr.splitlines()]
    assert (line["event"], line["level"], line["n"]) == ("from_app", "warning", 1)


def test_serve_answers_its_first_request_without_structlog(tmp_path: Path) -> None:
    """``-X importtime`` lists each module as it loads; the process is killed after the reply."""
    command = ["serve", "--port", "0", "--data", str(tmp_path)]
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "streamkit", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(_list_tables(url), timeout=30) as reply:
            assert "TableNames" in json.loads(reply.read())
    finally:
        process.kill()
        _, err = process.communicate(timeout=30)
    loaded = {line.rsplit("|", 1)[1].strip() for line in err.splitlines() if "|" in line}
    assert "streamkit.server.http" in loaded
    assert not {"structlog", "streamkit.mappings", "streamkit.testing"} & loaded
    assert not {m for m in loaded if m.startswith("streamkit.expressions.")}  # ListTables: none
    assert "streamkit.cli.tables" not in loaded  # other commands' modules


def _list_tables(url: str) -> urllib.request.Request:
    return urllib.request.Request(
        url,
        data=b"{}",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )


def test_the_engine_loads_expressions_at_the_first_request_using_one() -> None:
    loaded = _streamkit(_loaded_after("from streamkit import Engine"))
    assert "streamkit.expressions" in loaded  # the package: its names load on first use
    assert not {m for m in loaded if m.startswith("streamkit.expressions.")}
    assert "streamkit.engine.s3files" not in loaded  # export and import formats


def test_expression_names_load_on_first_use_and_stay_themselves() -> None:
    import streamkit.expressions as ex
    from streamkit.expressions.evaluate import evaluate
    from streamkit.expressions.render import render

    assert ex.render is render  # not the submodule of the same name
    assert ex.evaluate is evaluate
    assert set(ex.__all__) <= set(dir(ex))
    for name in ex.__all__:
        assert getattr(ex, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = ex.no_such_name
