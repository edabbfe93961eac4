"""One handler call as Lambda makes it: sync in a worker thread, async on the loop, under a timeout.

Also reads the function's answer the way Lambda's event-source mapping does
(``ReportBatchItemFailures``, tumbling-window ``state``). No retry logic here: see processor.py.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio
import anyio.to_thread

__all__ = [
    "Verdict",
    "call_handler",
    "interpret_response",
    "is_async_callable",
]

#: Lambda's version string for an unqualified function.
EXECUTED_VERSION: Final = "$LATEST"


def is_async_callable(fn: object) -> bool:
    """Return whether calling ``fn`` returns a coroutine (async def, partials and callables)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    # an object with ``async def __call__``
    return callable(fn) and inspect.iscoroutinefunction(fn.__call__)


async def call_handler(
    handler: Callable[[dict[str, Any], Any], Any],
    event: dict[str, Any],
    context: object,
    *,
    time_limit: float,
) -> Any:
    """Call ``handler(event, context)`` and return what it returned.

    An async handler is awaited on the loop; a sync one runs in a worker thread. Both run under
    ``anyio.fail_after(time_limit)``.

    Raises:
        TimeoutError: The handler ran longer than ``time_limit`` seconds. A sync handler's thread
            cannot be stopped: it is abandoned and finishes on its own (a real Lambda would kill
            the sandbox).
        Exception: Whatever the handler raised, unchanged.
    """
    with anyio.fail_after(time_limit):
        if is_async_callable(handler):
            return await handler(event, context)
        result = await anyio.to_thread.run_sync(handler, event, context, abandon_on_cancel=True)
        if inspect.isawaitable(result):  # a sync wrapper around an async function
            return await result
        return result


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
