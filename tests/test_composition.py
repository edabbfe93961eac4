"""The engine is composed, not patched; the layers above use its named interface; the runtime
runs several apps on the engine's clock."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import anyio
import pytest

import streamkit
from streamkit.engine import Engine
from streamkit.errors import ConfigurationError
from streamkit.streams import StreamsClient
from streamkit.testing import Harness, ManualClock
from tests.conftest import key_schema

PACKAGE = Path(streamkit.__file__).resolve().parent


def test_every_operation_is_wrapped_in_the_class_body() -> None:
    """Each operation the OPERATIONS tables name is wrapped in ``Engine`` itself (an operation
    added to a mixin and not listed there would run unwrapped: no retries, no closed check)."""
    names = {*Engine.OPERATIONS.values(), *Engine.ENCODED_OPERATIONS.values()}
    for name in names | {"expire_items", "create_deleted_table_backup", "replica_ready"}:
        method = Engine.__dict__.get(name)
        assert method is not None, f"Engine does not wrap {name}"
        assert inspect.iscoroutinefunction(method)
        assert hasattr(method, "__wrapped__"), name


def test_the_streams_client_methods_are_decorated_in_its_class_body() -> None:
    for name, method in inspect.getmembers(StreamsClient, inspect.iscoroutinefunction):
        if not name.startswith("_"):
            assert hasattr(method, "__wrapped__"), name


def test_nothing_is_patched_at_import() -> None:
    """No ``setattr`` on a class at module level, no attribute assigned to an engine from
    outside it."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.For):
                calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
                if any(getattr(c.func, "id", None) == "setattr" for c in calls):
                    offenders.append(f"{path.relative_to(PACKAGE)}: setattr at import")
        offenders.extend(
            f"{path.relative_to(PACKAGE)}: engine.{target.attr} ="
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "engine"
        )
    assert offenders == []


def test_one_open_engine() -> None:
    definitions = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name == "open_engine"
    ]
    assert definitions == ["streams/opening.py"]
    assert not hasattr(streamkit.engine, "open_engine")


def test_layers_above_the_engine_use_its_named_interface() -> None:
    """Above layer 4 nothing reaches ``engine.store`` or an engine's private attributes."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("engine", "storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in ("engine", "_engine") and (node.attr == "store" or node.attr[0] == "_"):
                offenders.append(f"{relative}:{node.lineno}: {name}.{node.attr}")
    assert offenders == []


async def test_the_engine_is_built_whole(clock: ManualClock) -> None:
    async with streamkit.open_engine(None, clock=clock, max_attempts=1, throttling=True) as db:
        assert isinstance(db.streams, StreamsClient)
        assert db.retry_policy.max_attempts == 1
        assert db.backend.settings.shards == 1
        assert not db.closed
    assert db.closed


def _app(name: str, table: str, seen: list[str]) -> streamkit.App:
    app = streamkit.App()

    @app.on_stream(table, name=name, starting_position="TRIM_HORIZON")
    async def handler(event: dict[str, Any], context: Any) -> None:
        seen.extend(f"{name}:{r['dynamodb']['Keys']['pk']['S']}" for r in event["Records"])

    return app


async def _stream_table(db: Engine, name: str) -> None:
    await db.create_table(
        TableName=name,
        **key_schema(),
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )


async def test_open_runtime_is_public_and_runs_several_apps(clock: ManualClock) -> None:
    seen: list[str] = []
    first, second = _app("one", "orders", seen), _app("two", "users", seen)
    async with streamkit.open_engine(None, clock=clock) as db:
        await _stream_table(db, "orders")
        await _stream_table(db, "users")
        async with streamkit.open_runtime(db, first, second) as runtime:
            assert sorted(runtime.mappings) == ["one", "two"]
            assert runtime.clock is db.clock is clock
            await db.put_item(TableName="orders", Item={"pk": {"S": "o"}})
            await db.put_item(TableName="users", Item={"pk": {"S": "u"}})
            with anyio.fail_after(5):
                await Harness(db, runtime, clock).drain()
    assert sorted(seen) == ["one:o", "two:u"]


async def test_open_runtime_refuses_a_mapping_name_in_two_apps(clock: ManualClock) -> None:
    seen: list[str] = []
    async with streamkit.open_engine(None, clock=clock) as db:
        with pytest.raises(ConfigurationError, match="already registered"):
            async with streamkit.open_runtime(db, _app("x", "aaa", seen), _app("x", "bbb", seen)):
                pass


def test_open_runtime_takes_no_clock() -> None:
    """The workers keep the engine's time: there is no second clock that could disagree."""
    assert "clock" not in inspect.signature(streamkit.open_runtime).parameters
