"""The fixtures work whatever runs the user's async tests: pytest-asyncio strict or auto, anyio.

Each test writes a small project (a conftest loading the plugin as tests/conftest.py does, and
a test file) and runs ``python -m pytest`` on it in a subprocess, with the environment's
plugins autoloaded as a user's would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest
from streamkit import pytest_plugin

def pytest_configure(config):
    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "streamkit")
"""

ANYIO_CONFTEST = """
@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

TESTS = """
import os

import boto3
import pytest

import streamkit

app = streamkit.App()
seen = []

@app.on_stream("orders")
async def record(event, context):
    seen.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

ORDERS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}

@pytest.fixture(autouse=True)
def _forget():
    seen.clear()

MARK
async def test_engine(streamkit_engine):
    async with streamkit_engine as engine:
        await engine.create_table(TableName="orders", **ORDERS)
        await engine.table("orders").put_item(Item={"pk": "e1"})
        assert (await engine.table("orders").get_item(Key={"pk": "e1"}))["Item"] == {"pk": "e1"}

@pytest.mark.streamkit_app(app)
MARK
async def test_harness(streamkit_harness):
    async with streamkit_harness as h:
        await h.engine.create_table(TableName="orders", **ORDERS)
        await h.engine.table("orders").put_item(Item={"pk": "h1"})
        await h.drain()
    assert seen == ["h1"]

@pytest.mark.streamkit_app(app)
def test_sync_harness(streamkit_sync_harness):
    h = streamkit_sync_harness
    h.engine.create_table(TableName="orders", **ORDERS)
    h.engine.table("orders").put_item(Item={"pk": "s1"})
    h.drain()
    assert seen == ["s1"]

def put_order(order_id):
    boto3.client("dynamodb").put_item(TableName="orders", Item={"pk": {"S": order_id}})

@pytest.mark.streamkit_app(app)
def test_endpoint(streamkit_endpoint):
    boto3.client("dynamodb").create_table(TableName="orders", **ORDERS)
    put_order("p1")
    streamkit_endpoint.drain()
    assert seen == ["p1"]

def test_endpoint_variables_are_restored():
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
    assert "AWS_ENDPOINT_URL_DYNAMODB_STREAMS" not in os.environ

@pytest.mark.streamkit_app(app)
MARK
async def test_endpoint_from_an_async_test(streamkit_endpoint):
    client = boto3.client("dynamodb")
    client.create_table(TableName="orders", **ORDERS)
    put_order("a1")
    streamkit_endpoint.drain()
    assert seen == ["a1"]
"""

ASYNCIO_INI = "asyncio_default_fixture_loop_scope = function\n"
AUTO_INI = ASYNCIO_INI + "asyncio_mode = auto\n"

# name -> (pytest.ini lines, the line before each async test, extra conftest, arguments)
MODES = {
    "asyncio-strict": (ASYNCIO_INI + "asyncio_mode = strict\n", "@pytest.mark.asyncio", "", []),
    "asyncio-auto": (AUTO_INI, "", "", []),
    # anyio's plugin alone: pytest-asyncio (entry point "asyncio") is switched off
    "anyio": ("", "@pytest.mark.anyio", ANYIO_CONFTEST, ["-p", "no:asyncio"]),
}


def run_pytest(project: Path, ini: str, *args: str, path: tuple[Path, ...] = ()) -> str:
    """Run ``python -m pytest`` in ``project`` (the plugin loaded by a conftest); return stdout.

    The environment's other plugins (pytest-asyncio, anyio, ...) autoload as a user's would;
    no AWS_ variable of ours leaks in.
    """
    conftest = project / "conftest.py"
    conftest.write_text(CONFTEST + (conftest.read_text() if conftest.exists() else ""))
    (project / "pytest.ini").write_text(f"[pytest]\n{ini}filterwarnings = error\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTEST_")) and key != "PYTHONPATH"
    }
    env["PYTHONPATH"] = os.pathsep.join(map(str, (ROOT, *path)))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("mode", sorted(MODES))
def test_fixtures_in_every_async_mode(mode: str, tmp_path: Path) -> None:
    ini, mark, extra, args = MODES[mode]
    (tmp_path / "conftest.py").write_text(extra)
    (tmp_path / "test_app.py").write_text(TESTS.replace("MARK\n", f"{mark}\n" if mark else ""))
    out = run_pytest(tmp_path, ini, *args)
    assert "6 passed" in out, out[-2000:]


def test_the_entry_point_loads_the_plugin_once(tmp_path: Path) -> None:
    """An installed streamkit (its pytest11 entry point) plus a guarded conftest: one plugin."""
    site = tmp_path / "site"
    info = site / "streamkit_entry_point_probe-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: streamkit-entry-point-probe\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text("[pytest11]\nstreamkit = streamkit.pytest_plugin\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_once.py").write_text(
        "from streamkit import pytest_plugin\n\n"
        "def test_once(pytestconfig, streamkit_sync_harness):\n"
        "    manager = pytestconfig.pluginmanager\n"
        "    assert manager.get_plugin('streamkit') is pytest_plugin\n"
        "    assert [p for p in manager.get_plugins() if p is pytest_plugin] == [pytest_plugin]\n"
        "    assert streamkit_sync_harness.engine.list_tables() == {'TableNames': []}\n"
        "    loaded = {dist.metadata['Name'] for _, dist in manager.list_plugin_distinfo()}\n"
        "    # through an entry point: the probe's, or an installed streamkit's (same name)\n"
        "    assert loaded & {'streamkit-entry-point-probe', 'streamkit'}\n"
    )
    out = run_pytest(project, AUTO_INI, path=(site,))
    assert "1 passed" in out, out[-2000:]
