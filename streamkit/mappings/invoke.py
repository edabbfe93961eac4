"""One handler call as Lambda makes it: sync in a worker thread, async on the loop, under a timeout.

Also reads the function's answer the way Lambda's event-source mapping does
(``ReportBatchItemFailures``, tumbling-window ``state``). No retry logic here: see processor.py.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.to_thread

from streamkit.errors import HandlerExitError
from streamkit.logs import get_logger

__all__ = [
    "BLOCKING_WARN_SECONDS",
    "Verdict",
    "call_handler",
    "interpret_response",
    "is_async_callable",
    "stuck_handler_threads",
]

log = get_logger(__name__)

#: Lambda's version string for an unqualified function.
EXECUTED_VERSION: Final = "$LATEST"

#: An async handler that runs this long between two awaits (sync code blocking the event loop:
#: ``time.sleep``, a blocking client, heavy CPU) is logged as ``handler_blocked_event_loop``.
#: asyncio's debug mode uses the same threshold (``slow_callback_duration``).
BLOCKING_WARN_SECONDS: Final = 0.1


def is_async_callable(fn: object) -> bool:
    """Return whether calling ``fn`` returns a coroutine (async def, partials and callables)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # an object with ``async def __call__``
    return callable(fn) and inspect.iscoroutinefunction(fn.__call__)


def handler_name(handler: object) -> str:
    """Return a name for logs: the function's qualified name, or its repr."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    name = getattr(handler, "__qualname__", None)
    return name if isinstance(name, str) else repr(handler)


async def call_handler(
    handler: Callable[[dict[str, Any], Any], Any],
    event: dict[str, Any],
    context: object,
    *,
    time_limit: float,
    name: str | None = None,
    is_async: bool | None = None,
) -> Any:
    """Call ``handler(event, context)`` and return what it returned.

    An async handler is awaited on the loop; a sync one runs in a worker thread. Both run under
    a cancel scope with a ``time_limit`` deadline. Each stretch an async handler runs without
    awaiting is timed: one of :data:`BLOCKING_WARN_SECONDS` or more is logged as
    ``handler_blocked_event_loop`` with the handler's ``name`` and the time it blocked.

    Raises:
        TimeoutError: ``Task timed out after N seconds``: the handler ran longer than
            ``time_limit`` seconds (also when it returned, but only after blocking the loop past
            its deadline). A sync handler's thread cannot be stopped: it is abandoned, logged
            as ``handler_thread_abandoned``, and finishes on its own (a real Lambda would kill
            the sandbox); see :func:`stuck_handler_threads`.
        HandlerExitError: The handler raised a ``BaseException`` that is no ``Exception``
            (``sys.exit()``, ``KeyboardInterrupt``, ``GeneratorExit``, a ``CancelledError`` it
            raised itself); the original is its ``__cause__``. A real cancellation of the
            calling task is re-raised unchanged.
        Exception: Whatever the handler raised, unchanged.

    ``is_async``: :func:`is_async_callable` of ``handler`` when the caller already knows it
    (a shard processor asks once, not at every invocation).
    """
    label = name or handler_name(handler)
    if is_async is None:
        is_async = is_async_callable(handler)
    started = time.monotonic()
    result: Any = None
    try:
        with anyio.move_on_after(time_limit) as scope:
            if is_async:
                result = await _Watched(handler(event, context), label)
            else:
                result = await _in_thread(handler, event, context, label)
                if inspect.isawaitable(result):  # a sync wrapper around an async function
                    result = await _Watched(result, label)
    except Exception:
        raise
    except BaseException as exc:
        if _cancelled(exc):
            raise
        raise HandlerExitError(
            f"handler {label} raised {type(exc).__name__}({_args(exc)}): counted as a failed "
            "invocation (Lambda: Runtime.ExitError)"
        ) from exc
    if scope.cancelled_caught or time.monotonic() - started > time_limit:
        raise TimeoutError(f"Task timed out after {time_limit:.2f} seconds")
    return result


def _args(exc: BaseException) -> str:
    return ", ".join(map(repr, exc.args))


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation of the running task (not one a handler raised)."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return (task is not None and task.cancelling() > 0) or (
        anyio.current_effective_deadline() == -math.inf
    )


class _ThreadCall:
    """A sync handler's run in a worker thread (to report it if it never returns)."""

    __slots__ = ("label", "running", "thread")

    def __init__(self, label: str) -> None:
        self.label = label
        self.running = False
        self.thread: threading.Thread | None = None


#: timed-out sync handlers' calls still running; each leaves as its thread finishes
_abandoned: set[_ThreadCall] = set()
_abandoned_lock = threading.Lock()  # the loop adds, the handler's thread removes


def stuck_handler_threads() -> list[str]:
    """Return the names of timed-out sync handlers still running in their worker thread.

    Python cannot stop a thread: such a thread keeps the process from exiting normally
    (``streamkit run`` and ``serve`` exit without waiting for it).
    """
    with _abandoned_lock:
        return sorted(c.label for c in _abandoned)


async def _in_thread(
    handler: Callable[[dict[str, Any], Any], Any],
    event: dict[str, Any],
    context: object,
    label: str,
) -> Any:
    call = _ThreadCall(label)

    def run() -> Any:
        call.thread, call.running = threading.current_thread(), True
        try:
            return handler(event, context)
        finally:
            with _abandoned_lock:
                call.running = False
                _abandoned.discard(call)

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except asyncio.CancelledError:
        with _abandoned_lock:
            abandoned = call.running
            if abandoned:
                _abandoned.add(call)
        if abandoned:
            log.warning(
                "handler_thread_abandoned",
                handler=label,
                thread=call.thread.name if call.thread else None,
                note="Python cannot stop a thread: the handler keeps running until it returns",
            )
        raise


class _Watched:
    """Await an awaitable step by step, timing each step (a run between two awaits)."""

    __slots__ = ("_awaitable", "_label")

    def __init__(self, awaitable: Awaitable[Any], label: str) -> None:
        self._awaitable = awaitable
        self._label = label

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            started = time.perf_counter()
            try:
                request = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as done:
                self._check(started)
                return done.value
            except BaseException:
                self._check(started)
                raise
            self._check(started)
            error = None
            try:
                value = yield request
            except GeneratorExit:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
                raise
            except BaseException as exc:  # noqa: BLE001  thrown in by the task: pass it on
                value, error = None, exc

    def _check(self, started: float) -> None:
        blocked = time.perf_counter() - started
        if blocked >= BLOCKING_WARN_SECONDS:
            log.warning(
                "handler_blocked_event_loop",
                handler=self._label,
                blocked_ms=round(blocked * 1000, 1),
            )


@dataclass(frozen=True, slots=True)
class Verdict:
    """How Lambda reads one invocation's return value.

    Exactly one of three outcomes: success (``failed_index`` and ``invalid`` both ``None``); a
    valid partial-batch failure (``failed_index``: position of the lowest reported record — it
    and everything after it are retried); or a response that counts as a whole-batch failure
    (``invalid`` says why).
    """

    failed_index: int | None = None
    invalid: str | None = None
    state: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.failed_index is None and self.invalid is None


def interpret_response(
    response: object,
    sequence_numbers: Sequence[str],
    *,
    report_batch_item_failures: bool,
    require_state: bool = False,
) -> Verdict:
    """Read a handler's return value by Lambda's rules for stream sources.

    Args:
        response: What the handler returned.
        sequence_numbers: The ``dynamodb.SequenceNumber`` of each record of the batch, in order.
        report_batch_item_failures: The mapping has ``FunctionResponseTypes:
            ["ReportBatchItemFailures"]``; otherwise the return value is ignored.
        require_state: Tumbling windows are on: the response must be an object with a
            ``state`` object.

    Returns:
        Success for ``None``, ``{}``, ``{"batchItemFailures": None}`` and
        ``{"batchItemFailures": []}``. A partial failure at the lowest reported sequence number.
        A whole-batch failure for an empty, ``null``, missing or unknown ``itemIdentifier``, a
        non-list ``batchItemFailures`` or a response that is not an object.
    """
    state: dict[str, Any] | None = None
    if require_state:
        if not isinstance(response, Mapping) or not isinstance(response.get("state"), Mapping):
            return Verdict(invalid="the response has no state object")
        state = dict(response["state"])
    if not report_batch_item_failures or response is None:
        return Verdict(state=state)
    if not isinstance(response, Mapping):
        return Verdict(invalid="the response is not an object", state=state)
    failures = response.get("batchItemFailures")
    if failures is None:
        return Verdict(state=state)
    if not isinstance(failures, list):
        return Verdict(invalid="batchItemFailures is not a list", state=state)
    position = {seq: index for index, seq in enumerate(sequence_numbers)}
    lowest: int | None = None
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, Mapping) else None
        if not isinstance(identifier, str) or not identifier:
            return Verdict(invalid="an itemIdentifier is empty or missing", state=state)
        index = position.get(identifier)
        if index is None:
            return Verdict(invalid="an itemIdentifier is not in the batch", state=state)
        lowest = index if lowest is None else min(lowest, index)
    return Verdict(failed_index=lowest, state=state)
