"""Misbehaving handlers (#18) and errors no retry can fix (#19): the runtime stays healthy."""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import streamkit
from streamkit.errors import ConfigurationError, HandlerExitError
from streamkit.mappings.invoke import call_handler, stuck_handler_threads
from streamkit.mappings.processor import MappingConfigurationError
from streamkit.mappings.replay import export_stream, replay_file
from streamkit.testing import open_harness
from tests.logs import debug, events

TABLE = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
}
#: every test here finishes in well under this (real time: handler timeouts are real time)
BOUND = 15


class Abort(BaseException):
    """A custom BaseException, like KeyboardInterrupt."""


def _exits(kind: str) -> Any:
    async def handler(event: dict[str, Any], context: Any) -> None:
        if kind == "sys.exit":
            sys.exit(3)
        if kind == "GeneratorExit":
            raise GeneratorExit
        if kind == "CancelledError":
            raise asyncio.CancelledError
        raise Abort("stop")

    return handler


class TestCallHandler:
    @pytest.mark.parametrize(
        ("raised", "name"),
        [
            (SystemExit(3), "SystemExit"),
            (KeyboardInterrupt(), "KeyboardInterrupt"),
            (GeneratorExit(), "GeneratorExit"),
            (asyncio.CancelledError(), "CancelledError"),
            (Abort("x"), "Abort"),
        ],
    )
    @pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
    async def test_base_exceptions_become_handler_exit_errors(
        self, raised: BaseException, name: str, sync: bool
    ) -> None:
        def sync_handler(event: dict[str, Any], context: Any) -> None:
            raise raised

        async def async_handler(event: dict[str, Any], context: Any) -> None:
            raise raised

        handler = sync_handler if sync else async_handler
        with pytest.raises(HandlerExitError, match=f"raised {name}.*Runtime.ExitError") as info:
            await call_handler(handler, {}, None, time_limit=5)
        assert type(info.value.__cause__) is type(raised)

    async def test_a_real_cancellation_still_cancels(self) -> None:
        started = anyio.Event()

        async def handler(event: dict[str, Any], context: Any) -> None:
            started.set()
            await anyio.sleep_forever()

        with anyio.move_on_after(BOUND) as outer:
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(call_handler, handler, {}, None, time_limit=60))
                await started.wait()
                tg.cancel_scope.cancel()
        assert not outer.cancelled_caught  # the task group's cancel went through

    async def test_async_timeout_says_lambdas_words(self) -> None:
        async def handler(event: dict[str, Any], context: Any) -> None:
            await anyio.sleep_forever()

        with pytest.raises(TimeoutError, match=r"Task timed out after 0\.05 seconds"):
            await call_handler(handler, {}, None, time_limit=0.05)

    async def test_loop_blocking_is_logged_and_past_the_deadline_fails(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def blocking(event: dict[str, Any], context: Any) -> str:
            await anyio.lowlevel.checkpoint()
            time.sleep(0.3)  # noqa: ASYNC251  sync code in an async handler: the loop is stuck
            return "done"

        debug(caplog)
        assert await call_handler(blocking, {}, None, time_limit=5, name="blocker") == "done"
        with pytest.raises(TimeoutError, match="timed out"):
            await call_handler(blocking, {}, None, time_limit=0.1, name="blocker")
        warnings = [e for e in events(caplog) if e["event"] == "handler_blocked_event_loop"]
        assert len(warnings) == 2
        assert all(w["handler"] == "blocker" and w["blocked_ms"] >= 290 for w in warnings)

    async def test_quick_handlers_are_not_reported(self, caplog: pytest.LogCaptureFixture) -> None:
        async def quick(event: dict[str, Any], context: Any) -> int:
            await anyio.lowlevel.checkpoint()
            return 1

        debug(caplog)
        assert await call_handler(quick, {}, None, time_limit=5) == 1
        assert events(caplog) == []

    async def test_a_stuck_sync_handler_is_abandoned_and_reported(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        release = threading.Event()

        def stuck(event: dict[str, Any], context: Any) -> None:
            release.wait(BOUND)

        try:
            debug(caplog)
            with pytest.raises(TimeoutError):
                await call_handler(stuck, {}, None, time_limit=0.05, name="stuck")
            assert stuck_handler_threads() == ["stuck"]
            assert [
                e["handler"] for e in events(caplog) if e["event"] == "handler_thread_abandoned"
            ] == ["stuck"]
        finally:
            release.set()
        with anyio.fail_after(BOUND):
            while stuck_handler_threads():  # noqa: ASYNC110  a thread: nothing to wait on
                await anyio.sleep(0.01)


async def _seed(db: streamkit.Engine, count: int) -> None:
    await db.create_table(TableName="orders", **TABLE)
    for n in range(count):
        await db.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}})


def _app(bad: Any, failures: list[dict[str, Any]], good: list[str], **options: Any) -> Any:
    app = streamkit.App()
    app.on_stream(
        "orders",
        name="bad",
        starting_position="TRIM_HORIZON",
        maximum_retry_attempts=1,
        on_failure=failures.append,
        **options,
    )(bad)

    @app.on_stream("orders", name="good", starting_position="TRIM_HORIZON")
    async def collect(event: dict[str, Any], context: Any) -> None:
        good.extend(r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"])

    return app


class TestMisbehavingHandlers:
    @pytest.mark.parametrize("kind", ["sys.exit", "GeneratorExit", "CancelledError", "Abort"])
    async def test_exits_are_failed_invocations(self, kind: str) -> None:
        failures: list[dict[str, Any]] = []
        good: list[str] = []
        with anyio.fail_after(BOUND):
            async with open_harness(_app(_exits(kind), failures, good), stream_shards=1) as h:
                await _seed(h.engine, 2)
                await h.drain()
                h.clock.advance(60)  # the retry's back-off
                await h.drain()
                bad = h.runtime.mappings["bad"]
                assert bad.state == "Enabled"
                assert bad.metrics().invocations == 2  # the first try and one retry
                await h.engine.put_item(TableName="orders", Item={"pk": {"S": "late"}})
                await h.drain()  # the runtime still runs
        assert sorted(good) == ["k0", "k1", "late"]
        assert [f["requestContext"]["condition"] for f in failures] == ["RetryAttemptsExhausted"]
        assert failures[0]["responseContext"]["functionError"] == "Unhandled"

    @pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
    async def test_a_handler_that_never_returns_times_out(self, sync: bool) -> None:
        failures: list[dict[str, Any]] = []
        good: list[str] = []
        release = threading.Event()

        def stuck_sync(event: dict[str, Any], context: Any) -> None:
            release.wait(BOUND)

        async def stuck_async(event: dict[str, Any], context: Any) -> None:
            await anyio.sleep_forever()

        app = _app(stuck_sync if sync else stuck_async, failures, good, timeout=0.1)
        try:
            with anyio.fail_after(BOUND):
                async with open_harness(app, stream_shards=1) as h:
                    await _seed(h.engine, 1)
                    await h.drain()  # settles once the first try timed out (back-off)
                    assert h.runtime.mappings["bad"].metrics().errors == 1
                    h.clock.advance(60)
                    await h.drain()  # the retry timed out too: the record is discarded
        finally:
            release.set()
        assert good == ["k0"]
        assert failures[0]["requestContext"]["approximateInvokeCount"] == 2


class TestConfigurationErrors:
    async def test_a_configuration_error_stops_the_mapping_at_once(self) -> None:
        failures: list[dict[str, Any]] = []
        good: list[str] = []

        async def misconfigured(event: dict[str, Any], context: Any) -> None:
            raise ConfigurationError("no such setting")

        app = _app(misconfigured, failures, good, bisect_batch_on_function_error=True)
        with anyio.fail_after(BOUND):
            async with open_harness(app, stream_shards=1) as h:
                await _seed(h.engine, 3)
                with pytest.raises(MappingConfigurationError, match="no such setting"):
                    await h.drain()
                bad = h.runtime.mappings["bad"]
                assert bad.state == "Disabled"
                assert bad.error is not None
                assert "mapping bad failed: no such setting (not retried)" in str(bad.error)
                assert bad.metrics().invocations == 1  # neither retried nor bisected
        assert sorted(good) == ["k0", "k1", "k2"]
        assert failures == []

    async def test_replay_file_without_an_engine_fails_at_once(
        self, tmp_path: Path, memory_engine: streamkit.Engine
    ) -> None:
        calls: list[int] = []

        async def uses_engine(event: dict[str, Any], context: Any) -> None:
            calls.append(1)
            streamkit.current_engine()

        app = streamkit.App()
        app.on_stream("orders", name="derive", bisect_batch_on_function_error=True)(uses_engine)
        await _seed(memory_engine, 4)
        export = tmp_path / "export.jsonl"
        await export_stream(memory_engine, export, table="orders")
        with anyio.fail_after(BOUND):  # the old code retried with real back-off for minutes
            with pytest.raises(MappingConfigurationError, match="only available inside"):
                await replay_file(export, app.mappings[0])
            result = await replay_file(export, app.mappings[0], engine=memory_engine)
        assert calls == [1, 1]  # one failed invocation, then the 4 records in one batch
        assert result.records == 4
