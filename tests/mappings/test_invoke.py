"""Calling a handler (sync in a thread, async on the loop under a time limit) and its answer."""

from __future__ import annotations

import functools
import threading
from typing import Any

import anyio
import pytest

from streamkit.mappings.invoke import Verdict, call_handler, interpret_response, is_async_callable

SEQS = ["100000000000000000001", "100000000000000000002", "100000000000000000003"]


class TestCallHandler:
    async def test_async_handler_runs_on_the_loop(self) -> None:
        seen: list[Any] = []

        async def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            seen.append((event, context, threading.get_ident()))
            return {"ok": True}

        out = await call_handler(handler, {"Records": []}, "ctx", time_limit=1)
        assert out == {"ok": True}
        assert seen == [({"Records": []}, "ctx", threading.get_ident())]

    async def test_sync_handler_runs_in_a_worker_thread(self) -> None:
        threads: list[int] = []

        def handler(event: dict[str, Any], context: Any) -> str:
            threads.append(threading.get_ident())
            return "done"

        assert await call_handler(handler, {}, None, time_limit=1) == "done"
        assert threads
        assert threads[0] != threading.get_ident()

    async def test_handler_exception_propagates_unchanged(self) -> None:
        async def handler(event: dict[str, Any], context: Any) -> None:
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await call_handler(handler, {}, None, time_limit=1)

    async def test_async_timeout_raises_timeout_error(self) -> None:
        async def handler(event: dict[str, Any], context: Any) -> None:
            await anyio.sleep_forever()

        with pytest.raises(TimeoutError):
            await call_handler(handler, {}, None, time_limit=0.02)

    async def test_sync_timeout_abandons_the_thread(self) -> None:
        release = threading.Event()

        def handler(event: dict[str, Any], context: Any) -> None:
            release.wait(5)

        try:
            with pytest.raises(TimeoutError):
                await call_handler(handler, {}, None, time_limit=0.02)
        finally:
            release.set()

    async def test_sync_wrapper_returning_a_coroutine_is_awaited(self) -> None:
        async def inner(event: dict[str, Any], context: Any) -> int:
            return 7

        def wrapper(event: dict[str, Any], context: Any) -> Any:
            return inner(event, context)

        assert await call_handler(wrapper, {}, None, time_limit=1) == 7


class _AsyncCallable:
    async def __call__(self, event: dict[str, Any], context: Any) -> None:
        return None


async def _async_fn(event: dict[str, Any], context: Any) -> None:
    return None


def _sync_fn(event: dict[str, Any], context: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_async_fn, True),
        (functools.partial(_async_fn), True),
        (_AsyncCallable(), True),
        (_sync_fn, False),
        (functools.partial(_sync_fn), False),
    ],
    ids=["async-def", "partial-async", "async-call", "sync-def", "partial-sync"],
)
def test_is_async_callable(fn: object, expected: bool) -> None:
    assert is_async_callable(fn) is expected


def _failures(*ids: object) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


class TestInterpretResponse:
    @pytest.mark.parametrize(
        "response",
        [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, {"other": 1}],
        ids=["null", "empty-object", "null-list", "empty-list", "unrelated-key"],
    )
    def test_complete_success(self, response: object) -> None:
        verdict = interpret_response(response, SEQS, report_batch_item_failures=True)
        assert verdict == Verdict()
        assert verdict.ok

    def test_lowest_failed_sequence_number_wins(self) -> None:
        verdict = interpret_response(
            _failures(SEQS[2], SEQS[1]), SEQS, report_batch_item_failures=True
        )
        assert verdict.failed_index == 1
        assert not verdict.ok

    @pytest.mark.parametrize(
        "response",
        [
            _failures(""),
            _failures(None),
            {"batchItemFailures": [{}]},
            {"batchItemFailures": [{"foo": SEQS[0]}]},
            _failures("999999999999999999999"),
            _failures(int(SEQS[0])),
            _failures(SEQS[0], ""),
            {"batchItemFailures": "nope"},
            {"batchItemFailures": ["x"]},
            "a string",
            [],
        ],
        ids=[
            "empty-identifier",
            "null-identifier",
            "missing-identifier",
            "wrong-key",
            "unknown-identifier",
            "number-identifier",
            "valid-then-empty",
            "not-a-list",
            "entry-not-object",
            "string-response",
            "list-response",
        ],
    )
    def test_whole_batch_failure(self, response: object) -> None:
        verdict = interpret_response(response, SEQS, report_batch_item_failures=True)
        assert verdict.invalid is not None
        assert verdict.failed_index is None
        assert not verdict.ok

    def test_response_ignored_without_report_batch_item_failures(self) -> None:
        verdict = interpret_response(_failures(""), SEQS, report_batch_item_failures=False)
        assert verdict.ok

    def test_windows_require_a_state_object(self) -> None:
        for response in (None, {}, {"state": None}, {"state": 3}, "x"):
            verdict = interpret_response(
                response, SEQS, report_batch_item_failures=False, require_state=True
            )
            assert verdict.invalid is not None
        ok = interpret_response(
            {"state": {"n": 1}}, SEQS, report_batch_item_failures=False, require_state=True
        )
        assert ok == Verdict(state={"n": 1})

    def test_windows_with_partial_failures(self) -> None:
        verdict = interpret_response(
            {"state": {"n": 1}, **_failures(SEQS[1])},
            SEQS,
            report_batch_item_failures=True,
            require_state=True,
        )
        assert verdict == Verdict(failed_index=1, state={"n": 1})
