"""One shard's batches under Lambda's event-source-mapping rules for DynamoDB streams.

:class:`ShardProcessor` filters a batch, invokes the handler, reads its answer, retries with
back-off, bisects, discards exhausted records to the on-failure destination, runs tumbling
windows and (with ``parallelization_factor`` > 1) concurrent per-key lanes. It reads nothing and
stores nothing: the poller hands it records and persists the checkpoint it returns.

Choices where Lambda is undocumented (see ``docs/differences.md`` when it lands):

- Back-off between retries of a failed batch: 1 s after the first failure, doubling, capped at
  10 s. A bisected half is invoked at once (splitting is the retry), with its own attempt count.
- ``maximum_record_age_in_seconds`` is checked after each failed invocation, against the oldest
  record of the failing batch; records are never discarded before their first invocation.
- A partial-batch failure returns to the poller at once (the checkpoint stops before the lowest
  failed record, as on Lambda); the next ``process()`` whose first record is that record continues
  the same retry chain (attempt count and back-off). Any other first record starts a fresh chain.
- Tumbling windows are aligned to epoch multiples of the window length and assigned by
  ``ApproximateCreationDateTime``. A window closes when a record of another window arrives, when
  the clock passes its end (:meth:`ShardProcessor.tick`) or when the shard ends
  (:meth:`ShardProcessor.finish`); its final invocation carries no records. State lives in
  memory: after a restart an open window starts again with empty state.
- Parallel lanes hash the whole ``Keys`` map (the item), so order is kept per item. Each lane
  keeps its own retry chain; the checkpoint stops before the lowest record any lane left undone,
  so records another lane finished after it are delivered again (at least once).
- Every invocation gets a fresh deep copy of the records, so a handler that edits its event never
  changes what a retry receives. Records read locally come packed (:data:`~streamkit.streams.
  records.PackedRecord`, their JSON bytes): a batch's objects are one ``orjson.loads`` of the
  bytes joined, which is both the copy and the build.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import marshal
import math
import operator
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, final

import anyio
import orjson

from streamkit.backoff import Backoff
from streamkit.clock import Clock
from streamkit.errors import ConfigurationError
from streamkit.logs import get_logger
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.context import LambdaContext, new_log_stream_name
from streamkit.mappings.events import deserialize_record
from streamkit.mappings.failures import (
    FailureCondition,
    build_failure_record,
    iso_seconds,
    send_failure,
)
from streamkit.mappings.filters import matches
from streamkit.mappings.invoke import (
    Verdict,
    call_handler,
    interpret_response,
    is_async_callable,
)
from streamkit.model.json import encode_b64
from streamkit.streams.records import PackedRecord, unpack_record

__all__ = [
    "LAMBDA_BACKOFF",
    "ContextFactory",
    "MappingConfigurationError",
    "Outcome",
    "ProcessorMetrics",
    "RecordFilter",
    "ShardProcessor",
]

log = get_logger(__name__)

#: Decides whether a Lambda-shaped record (DynamoDB JSON) is delivered; e.g.
#: ``functools.partial(filters.matches, config.filter_patterns)``.
RecordFilter = Callable[[Mapping[str, Any]], bool]
#: A Lambda-shaped record: a mapping (DynamoDB JSON), or packed as the local source reads them.
Record = Mapping[str, Any] | PackedRecord
#: Returns a fresh Lambda context for each invocation.
ContextFactory = Callable[[], object]

#: The wait before retrying a failed batch: 1 s after the first failure, doubling, at most 10 s,
#: without jitter. Only the waits: the attempt limits are the mapping's own
#: (``maximum_retry_attempts``, ``maximum_record_age_in_seconds``). Each processor uses a copy
#: on its own clock.
LAMBDA_BACKOFF: Final = Backoff(base=1.0, cap=10.0, jitter=False)
#: Lambda ends a tumbling window early when its state exceeds 1 MB.
MAX_WINDOW_STATE_BYTES: Final = 1024 * 1024


class MappingConfigurationError(ConfigurationError):
    """A handler raised :class:`~streamkit.errors.ConfigurationError` (``current_engine()``
    outside a runtime, say): retrying cannot fix it, so the mapping stops at once."""

    def __init__(self, mapping: str, error: ConfigurationError) -> None:
        super().__init__(f"mapping {mapping} failed: {error} (not retried)")
        self.mapping = mapping


@dataclass(frozen=True, slots=True)
class Outcome:
    """How far a shard may checkpoint after :meth:`ShardProcessor.process`.

    Attributes:
        checkpoint: Sequence number of the last record such that it and every record before it
            in the batch are done (succeeded, filtered out or discarded to on_failure); ``None``
            when not even the first record is done. The poller reads on from after it.
        complete: Every record of the batch is done (``checkpoint`` is the last one's).
    """

    checkpoint: str | None
    complete: bool


@dataclass(slots=True)
class ProcessorMetrics:
    """Counters for one shard processor (Lambda's ESM metrics, roughly)."""

    batches: int = 0  #: non-empty batches handed to process()
    invocations: int = 0  #: handler calls, retries and final window invocations included
    records: int = 0  #: records the handler processed successfully
    filtered: int = 0  #: records dropped by the filter (never delivered)
    errors: int = 0  #: failed invocations (raised, timed out, invalid or partial response)
    retries: int = 0  #: invocations that retried records already attempted
    records_discarded: int = 0  #: records given up on (exhausted retries or too old)
    failures_sent: int = 0  #: failure records delivered to on_failure
    iterator_age: float | None = None  #: now - the last batch's last record's creation time


@dataclass(slots=True)
class _Pending:
    """A partial-batch failure waiting for the poller to hand its records back."""

    sequence_number: int
    attempts: int
    not_before: float


@dataclass(slots=True)
class _Window:
    start: float
    end: float
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Invocation:
    verdict: Verdict
    error: Exception | None
    request_id: str


@final
class ShardProcessor:
    """Runs one shard's batches to completion under Lambda's rules.

    Not re-entrant: the poller calls :meth:`process`, :meth:`tick` and :meth:`finish` one at a
    time (a lock enforces it).
    """

    def __init__(
        self,
        config: MappingConfig,
        *,
        stream_arn: str,
        shard_id: str,
        clock: Clock,
        region: str,
        account: str,
        function_name: str | None = None,
        record_filter: RecordFilter | None = None,
        context_factory: ContextFactory | None = None,
    ) -> None:
        """Create the processor for one (mapping, shard).

        Args:
            config: The mapping.
            stream_arn: The stream's ARN (``eventSourceARN``, ``streamArn``).
            shard_id: The shard's id.
            clock: Time for ages, back-off, windows and the failure record's timestamp.
            region: Region of the function ARN.
            account: Account of the function ARN.
            function_name: Function name in the ARN; defaults to ``config.name``.
            record_filter: Which records are delivered; defaults to matching
                ``config.filter_patterns`` (every record when there are none).
            context_factory: Builds each invocation's context; defaults to a
                :class:`~streamkit.mappings.context.LambdaContext` per invocation.
        """
        if record_filter is None and config.filter_patterns:
            record_filter = functools.partial(matches, config.filter_patterns)
        self.config = config
        self._is_async = is_async_callable(config.handler)  # asked once, not per invocation
        self.stream_arn = stream_arn
        self.shard_id = shard_id
        self.function_name = function_name or config.name
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        self._region = region
        self._account = account
        self.metrics = ProcessorMetrics()
        self._clock = clock
        self._backoff = replace(LAMBDA_BACKOFF, clock=clock)
        self._filter = record_filter
        self._context_factory = context_factory or self._default_context
        self._keys = {"mapping": config.name, "shard_id": shard_id}
        self._windowed = config.tumbling_window_in_seconds > 0
        self._lanes = 1 if self._windowed else max(1, config.parallelization_factor)
        self._pending: dict[int, _Pending] = {}
        #: per lane, the (type, message) of the last error whose traceback was logged
        self._traced: dict[int, tuple[str, str]] = {}
        self._window: _Window | None = None
        self._log_stream: str | None = None  # the default contexts' log stream
        self._lock = anyio.Lock(fast_acquire=True)  # no loop turn when free (every batch)
        self._destination_lock = anyio.Lock()

    async def process(self, records: Sequence[Record]) -> Outcome:
        """Run one batch (Lambda-shaped records of this shard, in sequence order) to completion.

        Records are mappings, or packed (:data:`~streamkit.streams.records.PackedRecord`) as the
        local source reads them; they are never changed, and each invocation gets its own.

        Returns once every record is done or a partial-batch failure asks for the rest to be
        handed back. Blocks (retries with back-off) while the handler fails, for ever with the
        default ``maximum_retry_attempts``/``maximum_record_age_in_seconds`` of -1, as Lambda
        does. Handler errors are never raised; errors of streamkit itself are.
        """
        if not records:
            return Outcome(checkpoint=None, complete=True)
        async with self._lock:
            self.metrics.batches += 1
            # Lambda's IteratorAge: the age of the batch's last record
            self.metrics.iterator_age = self._clock.now() - _created(records[-1])
            # unfiltered, the page itself goes on; a filter sees a packed record as objects
            check = self._filter
            delivered = records if check is None else [r for r in records if check(_tree(r))]
            self.metrics.filtered += len(records) - len(delivered)
            if self._windowed:
                first_undone = await self._process_windows(delivered)
            elif self._lanes > 1:
                first_undone = await self._process_lanes(delivered)
            else:
                first_undone = await self._process_lane(0, delivered)
        if first_undone is None:
            return Outcome(checkpoint=_sequence(records[-1]), complete=True)
        done = [r for r in records if _seq(r) < first_undone]
        checkpoint = _sequence(done[-1]) if done else None
        return Outcome(checkpoint=checkpoint, complete=False)

    async def tick(self) -> bool:
        """Close the open tumbling window if the clock has passed its end (call when idle).

        Returns whether a final invocation was made.
        """
        if not self._window_due():
            return False
        async with self._lock:
            if not self._window_due():  # another call closed it meanwhile
                return False
            await self._final_invoke(terminated_early=False)
            return True

    @property
    def window_end(self) -> float | None:
        """When the open tumbling window closes (epoch seconds), or None when none is open."""
        return None if self._window is None else self._window.end

    def _window_due(self) -> bool:
        return self._window is not None and self._clock.now() >= self._window.end

    async def finish(self) -> bool:
        """Close the open tumbling window now (the shard has ended); return whether one was."""
        async with self._lock:
            if self._window is None:
                return False
            await self._final_invoke(terminated_early=False)
            return True

    # -- lanes and windows -------------------------------------------------------------------

    async def _process_lane(self, lane: int, records: Sequence[Record]) -> int | None:
        """Run ``records`` in batch_size chunks; return the first undone sequence number."""
        for chunk in _chunks(records, self.config.batch_size):
            undone = await self._run_chunk(lane, chunk)
            if undone is not None:
                return undone
        return None

    async def _process_lanes(self, records: Sequence[Record]) -> int | None:
        """Split by item key into concurrent lanes, each in order; return the lowest undone."""
        lanes: dict[int, list[Record]] = {}
        for record in records:
            lanes.setdefault(_lane_of(record, self._lanes), []).append(record)
        undone: list[int] = []

        async def run(lane: int, part: list[Record]) -> None:
            first = await self._process_lane(lane, part)
            if first is not None:
                undone.append(first)

        async with anyio.create_task_group() as tg:
            for lane, part in lanes.items():
                tg.start_soon(run, lane, part)
        return min(undone, default=None)

    async def _process_windows(self, records: Sequence[Record]) -> int | None:
        length = self.config.tumbling_window_in_seconds
        for chunk in _window_chunks(records, length, self.config.batch_size):
            start = math.floor(_created(chunk[0]) / length) * length
            if self._window is not None and self._window.start != start:
                await self._final_invoke(terminated_early=False)
            if self._window is None:
                self._window = _Window(start=start, end=start + length, state={})
            undone = await self._run_chunk(0, chunk)
            if undone is not None:
                return undone
        return None

    # -- one batch ---------------------------------------------------------------------------

    async def _run_chunk(self, lane: int, chunk: Sequence[Record]) -> int | None:
        pending = self._pending.pop(lane, None)
        attempts = 0
        if pending is not None and pending.sequence_number == _seq(chunk[0]):
            attempts = pending.attempts
            wait = pending.not_before - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
        undone = await self._run_batch(lane, chunk, attempts)
        if undone is None:  # the chunk is done: its retry chain, and the error shown, are over
            self._traced.pop(lane, None)
        return undone

    async def _run_batch(self, lane: int, batch: Sequence[Record], attempts: int) -> int | None:
        """Invoke until done; return the first undone sequence number (partial failure) or None.

        A partial-batch failure retries only the records from the first failed one, and
        returns to the poller (see the module docstring); an error or invalid response retries
        the whole batch here, or bisects it. Both give up in :meth:`_gave_up`.
        """
        while True:
            attempts += 1
            if attempts > 1:
                self.metrics.retries += 1
            result = await self._invoke(lane, batch, attempts)
            verdict = result.verdict
            if result.error is None and verdict.ok:
                self.metrics.records += len(batch)
                await self._keep_state(verdict)
                return None
            self.metrics.errors += 1
            failed_index = verdict.failed_index if result.error is None else None
            if failed_index is not None:
                self.metrics.records += failed_index
                await self._keep_state(verdict)
                failed = batch[failed_index:]
                function_error, error_code = None, "PartialBatchFailure"
            else:
                failed = batch
                function_error = "Unhandled" if result.error is not None else None
                error_code = type(result.error).__name__ if result.error else "InvalidResponse"
                if self._bisects(batch):
                    return await self._bisect(lane, batch, attempts, error_code)
            if await self._gave_up(failed, attempts, function_error, result.request_id):
                return None
            self._log_retry(failed, attempts, error_code)
            if failed_index is not None:  # the poller hands the rest back to _run_chunk
                not_before = self._clock.now() + self._backoff.delay(attempts)
                self._pending[lane] = _Pending(_seq(failed[0]), attempts, not_before)
                return _seq(failed[0])
            await self._backoff.sleep(attempts)

    def _bisects(self, batch: Sequence[Record]) -> bool:
        """Whether a batch that failed (not partially) is split instead of retried whole."""
        return (
            self.config.bisect_batch_on_function_error
            and len(batch) > 1
            and not self._too_old(batch)
        )

    async def _bisect(
        self, lane: int, batch: Sequence[Record], attempts: int, error_code: str
    ) -> int | None:
        """Run each half of ``batch`` as a fresh batch (splitting is the retry), in order."""
        log.warning(
            "batch_bisected", **self._keys, **_span(batch), attempt=attempts, error_code=error_code
        )
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            undone = await self._run_batch(lane, half, 0)
            if undone is not None:
                return undone
        return None

    async def _gave_up(
        self,
        batch: Sequence[Record],
        attempts: int,
        function_error: str | None,
        request_id: str,
    ) -> bool:
        """Discard ``batch`` if its retries are exhausted or its records too old; say if so."""
        if self._exhausted(attempts):
            condition = FailureCondition.RetryAttemptsExhausted
        elif self._too_old(batch):
            condition = FailureCondition.RecordAgeExceeded
        else:
            return False
        await self._discard(batch, condition, attempts, function_error, request_id)
        return True

    async def _invoke(self, lane: int, batch: Sequence[Record], attempt: int) -> _Invocation:
        if self.config.deserialize:
            delivered = [
                deserialize_record(unpack_record(r) if isinstance(r, tuple) else _copy(dict(r)))
                for r in batch
            ]
        else:
            delivered = _copy_records(batch)
        event: dict[str, Any] = {"Records": delivered}
        if self._window is not None:
            event.update(self._window_fields(final=False, terminated_early=False))
        context = self._context_factory()
        self.metrics.invocations += 1
        started = time.perf_counter()
        error: Exception | None = None
        verdict = Verdict()
        try:
            response = await call_handler(
                self.config.handler,
                event,
                context,
                time_limit=self.config.timeout,
                name=self.function_name,
                is_async=self._is_async,
            )
        except ConfigurationError as exc:  # no retry can fix it: the mapping fails
            self.metrics.errors += 1
            raise MappingConfigurationError(self.config.name, exc) from exc
        except Exception as exc:  # noqa: BLE001  (a handler's exception is data, not a crash)
            error = exc
        else:
            reports = self.config.report_batch_item_failures and response is not None
            verdict = interpret_response(
                response,
                [_sequence(r) for r in batch] if reports else (),  # read only when it reports
                report_batch_item_failures=self.config.report_batch_item_failures,
                require_state=self._windowed,
            )
        # the request id is read only where it is shown: a failure, or info logs
        shown = error is not None or not verdict.ok or log.isEnabledFor(logging.INFO)
        request_id = _request_id(context) if shown else ""
        self._report(lane, batch, attempt, started, request_id, error, verdict)
        return _Invocation(verdict=verdict, error=error, request_id=request_id)

    def _report(
        self,
        lane: int,
        batch: Sequence[Record],
        attempt: int,
        started: float,
        request_id: str,
        error: Exception | None,
        verdict: Verdict,
    ) -> None:
        """Log one line per invocation, as Lambda's REPORT: info when it succeeded, warning
        when not. An exception's traceback is logged once per chunk and error: retries and
        bisected halves failing the same way log one line each, without it. An empty ``batch``
        is a tumbling window's final invocation."""
        ok = error is None and verdict.ok
        if ok and not log.isEnabledFor(logging.INFO):  # the common case, once per invocation
            return
        fields = {
            **self._keys,
            **(_span(batch) if batch else _FINAL),
            "attempt": attempt,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": request_id,
        }
        if ok:
            log.info("batch_invoked", **fields, outcome="ok")
            return
        if error is None:
            if verdict.invalid is not None:
                log.warning(
                    "batch_invoked",
                    **fields,
                    outcome="invalid_response",
                    error_code="InvalidResponse",
                    reason=verdict.invalid,
                )
            else:
                log.warning(
                    "batch_invoked",
                    **fields,
                    outcome="partial_failure",
                    error_code="PartialBatchFailure",
                    failed_index=verdict.failed_index,
                )
            return
        signature = (type(error).__qualname__, str(error))
        traced = self._traced.get(lane) == signature
        self._traced[lane] = signature
        log.warning(
            "batch_invoked",
            **fields,
            outcome="error",
            error_code=type(error).__name__,
            exc_info=None if traced else error,
        )

    # -- rules -------------------------------------------------------------------------------

    def _exhausted(self, attempts: int) -> bool:
        limit = self.config.maximum_retry_attempts
        return limit >= 0 and attempts >= limit + 1

    def _too_old(self, batch: Sequence[Record]) -> bool:
        limit = self.config.maximum_record_age_in_seconds
        oldest = min(map(_created, batch))
        return limit >= 0 and self._clock.now() - oldest > limit

    async def _discard(
        self,
        batch: Sequence[Record],
        condition: FailureCondition,
        attempts: int,
        function_error: str | None,
        request_id: str,
    ) -> None:
        """Give up on ``batch``: send the failure record (if there is a destination) and move on."""
        self.metrics.records_discarded += len(batch)
        keys = {**self._keys, **_span(batch), "attempt": attempts, "error_code": str(condition)}
        destination = self.config.on_failure
        if destination is None:
            log.error("batch_discarded", **keys)
            return
        record = build_failure_record(
            [_tree(r) for r in batch],
            request_id=request_id,
            function_arn=self.function_arn,
            condition=condition,
            invoke_count=attempts,
            function_error=function_error,
            shard_id=self.shard_id,
            stream_arn=self.stream_arn,
            now=self._clock.now(),
        )
        try:
            async with self._destination_lock:
                await send_failure(destination, record)
        except Exception:  # a failing destination loses the record, never blocks the shard
            log.exception("failure_destination_error", **keys)
            return
        self.metrics.failures_sent += 1
        log.error("batch_failed_to_destination", **keys)

    def _log_retry(self, batch: Sequence[Record], attempts: int, error_code: str) -> None:
        """The retry decision, at debug: the failed invocation itself was logged already."""
        log.debug(
            "batch_retry",
            **self._keys,
            **_span(batch),
            attempt=attempts + 1,
            error_code=error_code,
            retry_in=self._backoff.delay(attempts),
        )

    # -- tumbling windows --------------------------------------------------------------------

    def _window_fields(self, *, final: bool, terminated_early: bool) -> dict[str, Any]:
        window = self._window
        assert window is not None
        return {
            "window": {"start": iso_seconds(window.start), "end": iso_seconds(window.end)},
            "state": _copy(window.state),
            "shardId": self.shard_id,
            "eventSourceARN": self.stream_arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": terminated_early,
        }

    async def _keep_state(self, verdict: Verdict) -> None:
        """Store a window invocation's returned state; end the window early past 1 MB."""
        if self._window is None or verdict.state is None:
            return
        self._window.state = verdict.state
        if _json_size(verdict.state) > MAX_WINDOW_STATE_BYTES:
            await self._final_invoke(terminated_early=True)

    async def _final_invoke(self, *, terminated_early: bool) -> None:
        """Make the window's final invocation (no records), retried like a batch; drop the state.

        The response is not checked for ``state``. When retries run out the window's state is
        dropped and the error logged (there are no records to send to on_failure).
        """
        attempts = 0
        while True:
            attempts += 1
            event: dict[str, Any] = {"Records": []}
            event.update(self._window_fields(final=True, terminated_early=terminated_early))
            context = self._context_factory()
            self.metrics.invocations += 1
            if attempts > 1:
                self.metrics.retries += 1
            started = time.perf_counter()
            try:
                await call_handler(
                    self.config.handler,
                    event,
                    context,
                    time_limit=self.config.timeout,
                    name=self.function_name,
                    is_async=self._is_async,
                )
            except ConfigurationError as exc:
                self._report(0, (), attempts, started, _request_id(context), exc, Verdict())
                self.metrics.errors += 1
                raise MappingConfigurationError(self.config.name, exc) from exc
            except Exception as exc:  # noqa: BLE001  (a handler's exception is data)
                self._report(0, (), attempts, started, _request_id(context), exc, Verdict())
                self.metrics.errors += 1
                if self._exhausted(attempts):
                    log.error(  # noqa: TRY400  (the traceback was logged with the invocation)
                        "window_final_invoke_failed",
                        **self._keys,
                        attempt=attempts,
                        error_code=type(exc).__name__,
                    )
                    break
                log.debug(
                    "batch_retry",
                    **self._keys,
                    batch_size=0,
                    attempt=attempts + 1,
                    error_code=type(exc).__name__,
                    retry_in=self._backoff.delay(attempts),
                )
                await self._backoff.sleep(attempts)
            else:
                self._report(0, (), attempts, started, _request_id(context), None, Verdict())
                break
        if terminated_early and self._window is not None:
            self._window.state = {}
        else:
            self._window = None

    def _default_context(self) -> object:
        """A fresh context, in the processor's one log stream (Lambda's is per execution
        environment, not per invocation; made at the first invocation)."""
        if self._log_stream is None:
            self._log_stream = new_log_stream_name(self._clock.now())
        return LambdaContext(
            clock=self._clock,
            timeout=self.config.timeout,
            function_name=self.function_name,
            region=self._region,
            account=self._account,
            log_stream_name=self._log_stream,
        )


# -- helpers ---------------------------------------------------------------------------------

#: The span fields of a tumbling window's final invocation (it carries no records).
_FINAL: Final[Mapping[str, Any]] = {"batch_size": 0, "final_invoke_for_window": True}


def _request_id(context: object) -> str:
    """The context's ``aws_request_id``, or a fresh one."""
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str) and request_id:
        return request_id
    return str(uuid.uuid4())


def _tree(record: Record) -> Mapping[str, Any]:
    """The record as objects (a packed one parsed afresh)."""
    return unpack_record(record) if isinstance(record, tuple) else record


def _sequence(record: Record) -> str:
    """The record's ``SequenceNumber`` (a packed record's without parsing it)."""
    if isinstance(record, tuple):
        return record[2]
    sequence: str = record["dynamodb"]["SequenceNumber"]
    return sequence


def _seq(record: Record) -> int:
    return int(_sequence(record))


def _created(record: Record) -> float:
    if isinstance(record, tuple):
        return record[3]
    return float(record["dynamodb"]["ApproximateCreationDateTime"])


def _span(batch: Sequence[Record]) -> dict[str, Any]:
    return {
        "batch_size": len(batch),
        "first_sequence_number": _sequence(batch[0]),
        "last_sequence_number": _sequence(batch[-1]),
    }


def _chunks(records: Sequence[Record], size: int) -> Iterator[Sequence[Record]]:
    if 0 < len(records) <= size:
        yield records  # the page itself, not a copy of the list
        return
    for start in range(0, len(records), max(1, size)):
        yield records[start : start + max(1, size)]


def _window_chunks(records: Sequence[Record], length: int, size: int) -> Iterator[Sequence[Record]]:
    """Split into runs of one window each, then into batch_size chunks."""
    run: list[Record] = []
    current: int | None = None
    for record in records:
        window = math.floor(_created(record) / length)
        if run and window != current:
            yield from _chunks(run, size)
            run = []
        current = window
        run.append(record)
    if run:
        yield from _chunks(run, size)


def _lane_of(record: Record, lanes: int) -> int:
    """Return a stable lane for the record's item (its whole ``Keys`` map)."""
    keys = orjson.dumps(
        _tree(record)["dynamodb"].get("Keys", {}),
        option=orjson.OPT_SORT_KEYS,
        default=_json_default,
    )
    digest = hashlib.md5(keys, usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % lanes


def _json_default(value: object) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_b64(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def _json_size(value: object) -> int:
    try:
        return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=_json_default))
    except (TypeError, ValueError):  # not JSON-like enough to measure: don't end the window
        return 0


_PACKED: Final = {tuple}
_json_of: Final = operator.itemgetter(0)  # a packed record's JSON bytes


def _copy_records(batch: Sequence[Record]) -> list[dict[str, Any]]:
    """Return a deep copy of the records for one invocation, fresh for every attempt.

    Packed records (what the local source reads, :class:`~streamkit.streams.records.
    PackedRecord`) are built with one ``orjson.loads`` of their JSON bytes joined; other
    records (hand-made, a remote source's) are copied with marshal (~10x a Python copy).
    """
    kinds = set(map(type, batch))  # in C: no Python call per record
    if kinds == _PACKED:
        copied: list[dict[str, Any]] = orjson.loads(b"[%b]" % b",".join(map(_json_of, batch)))
        return copied
    if tuple not in kinds:
        try:
            copied = marshal.loads(marshal.dumps(list(batch)))
        except ValueError:  # something marshal can't hold (a Mapping subclass, a Decimal, ...)
            pass
        else:
            return copied
    # mixed (a hand-made batch), or not for marshal: one by one
    return [unpack_record(r) if isinstance(r, tuple) else _copy(dict(r)) for r in batch]


def _copy(value: Any) -> Any:
    """Copy JSON-like data (dicts and lists; leaves shared), so a handler's edits never reach a
    retry."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
