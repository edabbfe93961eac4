"""Replay: run a handler or a whole mapping over a range of a stream, or over an exported file.

Replays never touch a live mapping's checkpoints. Shards are replayed parents before children,
each shard's records in order, through the same :class:`ShardProcessor` a live mapping uses
(filters, retries, bisect, partial failures, on-failure destination), so a replay behaves as
the live mapping would have. The range can start at TRIM_HORIZON, at a sequence number, or at a
time (``ApproximateCreationDateTime``), which the real service cannot do, and can stop at a
sequence number or a time.

:func:`export_stream` writes a stream's records to JSON Lines (one Lambda-shaped record per line,
binary values as base64, each with its ``shardId``); :func:`replay_file` replays such a file, so
a stream captured elsewhere can be replayed locally.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import orjson

from streamkit.clock import Clock, SystemClock
from streamkit.engine import Engine
from streamkit.errors import ConfigurationError
from streamkit.mappings.config import Handler, MappingConfig
from streamkit.mappings.current import engine_var
from streamkit.mappings.processor import ShardProcessor
from streamkit.streams import base64_binaries, lambda_record
from streamkit.streams.client import describe_shards

__all__ = [
    "DONE",
    "Position",
    "Positions",
    "ReplayResult",
    "ShardReplay",
    "export_stream",
    "replay",
    "replay_file",
]

#: Where a replay starts or stops: "TRIM_HORIZON" (start only), a sequence number (a string of
#: digits), or a time (a datetime, or epoch seconds as a float).
Position = str | float | datetime
Progress = Callable[[int], None]
#: Where a replay is, shard by shard: the last sequence number done, or ``DONE``. A replay given
#: a mapping it filled before (an interrupted one) skips what is done: see :func:`replay`.
Positions = MutableMapping[str, str]
DONE = "done"


@dataclass(frozen=True, slots=True)
class ShardReplay:
    """What a replay did on one shard."""

    shard_id: str
    records: int  #: records read in the range
    delivered: int  #: records the handler processed successfully
    filtered: int  #: records the mapping's filter dropped
    invocations: int  #: handler calls (retries included)
    failures_sent: int  #: records sent to the on-failure destination


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did."""

    records: int  #: records read in the range (delivered or filtered out)
    shards: int  #: shards read
    failures_sent: int  #: records sent to the on-failure destination
    by_shard: tuple[ShardReplay, ...] = ()  #: the same, shard by shard


def _shard_replay(shard_id: str, records: int, processor: ShardProcessor) -> ShardReplay:
    m = processor.metrics
    return ShardReplay(shard_id, records, m.records, m.filtered, m.invocations, m.failures_sent)


@dataclass(frozen=True, slots=True)
class _Range:
    start_seq: int | None = None
    start_time: float | None = None
    end_seq: int | None = None
    end_time: float | None = None

    def before_start(self, seq: int, created: float) -> bool:
        return (self.start_seq is not None and seq < self.start_seq) or (
            self.start_time is not None and created < self.start_time
        )

    def after(self, seq: int) -> _Range:
        """Return this range starting after sequence number ``seq`` (if that is later)."""
        start = seq + 1 if self.start_seq is None else max(self.start_seq, seq + 1)
        return dataclasses.replace(self, start_seq=start)

    def after_end(self, seq: int, created: float) -> bool:
        return (self.end_seq is not None and seq > self.end_seq) or (
            self.end_time is not None and created > self.end_time
        )


def _bound(value: Position | None, *, start: bool) -> tuple[int | None, float | None]:
    if value is None or (start and value == "TRIM_HORIZON"):
        return None, None
    if isinstance(value, datetime):
        return None, value.timestamp()
    if isinstance(value, float | int) and not isinstance(value, bool):
        return None, float(value)
    if isinstance(value, str) and value.isdigit():
        return int(value), None  # sequence numbers compare as integers
    raise ConfigurationError(
        f"replay position must be TRIM_HORIZON (start only), a sequence number or a time, "
        f"not {value!r}"
    )


def _range(start: Position | None, end: Position | None) -> _Range:
    start_seq, start_time = _bound(start, start=True)
    end_seq, end_time = _bound(end, start=False)
    return _Range(start_seq, start_time, end_seq, end_time)


def _config(target: MappingConfig | Handler, batch_size: int | None) -> MappingConfig:
    if isinstance(target, MappingConfig):
        config = target
    elif callable(target):
        name = getattr(target, "__qualname__", "replay")
        config = MappingConfig(name=name, table="", handler=target, maximum_retry_attempts=0)
    else:
        raise ConfigurationError("replay needs a MappingConfig or a handler function")
    if batch_size is not None:
        config = dataclasses.replace(config, batch_size=batch_size)
    return config


async def _stream_arn(engine: Engine, table: str | None, stream_arn: str | None) -> str:
    if stream_arn is not None:
        return stream_arn
    if table is None:
        raise ConfigurationError("replay needs a table or a stream ARN")
    streams = (await engine.streams.list_streams(TableName=table))["Streams"]
    if not streams:
        raise ConfigurationError(f"table {table} has no stream")
    return str(streams[-1]["StreamArn"])


async def _shards_in_order(engine: Engine, arn: str) -> list[dict[str, Any]]:
    """Return a stream's shards, every parent before its children."""
    shards = await describe_shards(engine.streams, arn)
    ids = {s["ShardId"] for s in shards}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    while len(ordered) < len(shards):
        for shard in shards:
            parent = shard.get("ParentShardId")
            if shard["ShardId"] not in placed and (
                parent is None or parent not in ids or parent in placed
            ):
                ordered.append(shard)
                placed.add(shard["ShardId"])
    return ordered


async def _read_shard(
    engine: Engine, arn: str, shard: dict[str, Any], window: _Range, limit: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the shard's records in the range, in pages of at most ``limit`` (Lambda shape)."""
    streams = engine.streams
    params: dict[str, Any] = {"StreamArn": arn, "ShardId": shard["ShardId"]}
    start = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
    if window.start_seq is not None and window.start_seq > start + 1:
        params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
        params["SequenceNumber"] = str(window.start_seq - 1)
    else:
        params["ShardIteratorType"] = "TRIM_HORIZON"
    ending = shard["SequenceNumberRange"].get("EndingSequenceNumber")
    if ending is not None and window.start_seq is not None and window.start_seq > int(ending):
        return
    iterator: str | None = (await streams.get_shard_iterator(**params))["ShardIterator"]
    while iterator is not None:
        page = await streams.get_records(ShardIterator=iterator, Limit=min(limit, 1000))
        batch: list[dict[str, Any]] = []
        for record in page["Records"]:
            seq = int(record["dynamodb"]["SequenceNumber"])
            created = float(record["dynamodb"]["ApproximateCreationDateTime"])
            if window.after_end(seq, created):
                if batch:
                    yield batch
                return
            if not window.before_start(seq, created):
                batch.append(base64_binaries(lambda_record(record, arn)))
        if batch:
            yield batch
        if not page["Records"]:
            return  # caught up with an open shard, or read a closed one to its end
        iterator = page.get("NextShardIterator")


async def replay(
    engine: Engine,
    target: MappingConfig | Handler,
    *,
    table: str | None = None,
    stream_arn: str | None = None,
    start: Position | None = "TRIM_HORIZON",
    end: Position | None = None,
    batch_size: int | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    positions: Positions | None = None,
) -> ReplayResult:
    """Replay a stream's records (now present, in a range) into a handler or a mapping.

    Args:
        engine: the engine holding the stream (``streamkit.open_engine``).
        target: a mapping (``app.mappings[i]``, with all its options) or a bare handler
            ``handler(event, context)`` (no retries, no filter).
        table: the table whose latest stream to replay; or give ``stream_arn``.
        start: TRIM_HORIZON (default), a sequence number, or a time.
        end: a sequence number or time to stop after; default: the records present now.
        batch_size: records per invocation (default: the mapping's, 100 for a handler).
        clock: time for retries and the failure record; the system clock by default.
        progress: called with the number of records replayed so far, after each batch.
        positions: shard id -> the last sequence number done or :data:`DONE`, kept up to
            date after each batch (before ``progress`` is called). Records at or before a
            shard's position are skipped, so an interrupted replay given the positions it left
            resumes where it stopped (the batch in flight is delivered again: at least once).
    """
    config = _config(target, batch_size)
    window = _range(start, end)
    arn = await _stream_arn(engine, table, stream_arn)
    clock = clock or SystemClock()
    token = engine_var.set(engine)
    try:
        return await _replay_shards(
            engine, config, arn, window, clock, progress, {} if positions is None else positions
        )
    finally:
        engine_var.reset(token)


async def _replay_shards(
    engine: Engine,
    config: MappingConfig,
    arn: str,
    window: _Range,
    clock: Clock,
    progress: Progress | None,
    positions: Positions,
) -> ReplayResult:
    total = shards = failures = 0
    by_shard: list[ShardReplay] = []
    for shard in await _shards_in_order(engine, arn):
        shard_id = shard["ShardId"]
        shards += 1
        position = positions.get(shard_id)
        if position == DONE:
            continue
        before = total
        processor = ShardProcessor(
            config,
            stream_arn=arn,
            shard_id=shard_id,
            clock=clock,
            region=engine.region,
            account=engine.account,
        )
        shard_window = window if position is None else window.after(int(position))
        async for batch in _read_shard(engine, arn, shard, shard_window, config.batch_size):
            total += await _process_all(processor, batch)
            positions[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
            if progress is not None:
                progress(total)
        await processor.finish()
        positions[shard_id] = DONE
        failures += processor.metrics.failures_sent
        by_shard.append(_shard_replay(shard["ShardId"], total - before, processor))
    return ReplayResult(total, shards, failures, tuple(by_shard))


async def _process_all(processor: ShardProcessor, batch: Sequence[dict[str, Any]]) -> int:
    """Run a batch until every record is done (partial failures hand the rest back)."""
    remaining = list(batch)
    while remaining:
        outcome = await processor.process(remaining)
        if outcome.complete:
            break
        if outcome.checkpoint is not None:
            done = int(outcome.checkpoint)
            remaining = [r for r in remaining if int(r["dynamodb"]["SequenceNumber"]) > done]
    return len(batch)


async def export_stream(
    engine: Engine,
    path: str | Path,
    *,
    table: str | None = None,
    stream_arn: str | None = None,
    start: Position | None = "TRIM_HORIZON",
    end: Position | None = None,
    progress: Progress | None = None,
) -> int:
    """Write a stream's records in a range to a JSON Lines file; return how many were written."""
    window = _range(start, end)
    arn = await _stream_arn(engine, table, stream_arn)
    written = 0
    async with await anyio.open_file(path, "wb") as out:
        for shard in await _shards_in_order(engine, arn):
            async for batch in _read_shard(engine, arn, shard, window, 1000):
                lines = b"".join(
                    orjson.dumps({**r, "shardId": shard["ShardId"]}) + b"\n" for r in batch
                )
                await out.write(lines)
                written += len(batch)
                if progress is not None:
                    progress(written)
    return written


async def replay_file(
    path: str | Path,
    target: MappingConfig | Handler,
    *,
    start: Position | None = "TRIM_HORIZON",
    end: Position | None = None,
    batch_size: int | None = None,
    clock: Clock | None = None,
    region: str = "us-east-1",
    account: str = "000000000000",
    progress: Progress | None = None,
    engine: Engine | None = None,
    positions: Positions | None = None,
) -> ReplayResult:
    """Replay an exported JSON Lines file (see :func:`export_stream`) into a handler or mapping.

    Records keep the order of the file; each ``shardId`` gets its own processor. Give
    ``engine`` when the handler writes tables through :func:`streamkit.current_engine`.
    ``positions`` works as for :func:`replay`.
    """
    token = engine_var.set(engine) if engine is not None else None
    try:
        return await _replay_lines(
            path,
            target,
            start,
            end,
            batch_size,
            clock,
            region,
            account,
            progress,
            {} if positions is None else positions,
        )
    finally:
        if token is not None:
            engine_var.reset(token)


async def _replay_lines(
    path: str | Path,
    target: MappingConfig | Handler,
    start: Position | None,
    end: Position | None,
    batch_size: int | None,
    clock: Clock | None,
    region: str,
    account: str,
    progress: Progress | None,
    positions: Positions,
) -> ReplayResult:
    config = _config(target, batch_size)
    window = _range(start, end)
    clock = clock or SystemClock()
    processors: dict[str, ShardProcessor] = {}
    pending: dict[str, list[dict[str, Any]]] = {}
    read: dict[str, int] = {}
    total = 0

    async def flush(shard_id: str) -> None:
        nonlocal total
        batch = pending.pop(shard_id, [])
        if batch:
            read[shard_id] = read.get(shard_id, 0) + len(batch)
            total += await _process_all(processors[shard_id], batch)
            positions[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
            if progress is not None:
                progress(total)

    async with await anyio.open_file(path, "rb") as lines:
        async for line in lines:
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                shard_id = str(record.pop("shardId"))
                seq = int(record["dynamodb"]["SequenceNumber"])
                created = float(record["dynamodb"]["ApproximateCreationDateTime"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ConfigurationError(f"{path}: not a streamkit stream export: {exc}") from None
            if window.before_start(seq, created) or window.after_end(seq, created):
                continue
            position = positions.get(shard_id)
            if position == DONE or (position is not None and seq <= int(position)):
                continue
            if shard_id not in processors:
                processors[shard_id] = ShardProcessor(
                    config,
                    stream_arn=str(record.get("eventSourceARN", "")),
                    shard_id=shard_id,
                    clock=clock,
                    region=region,
                    account=account,
                )
            pending.setdefault(shard_id, []).append(record)
            if len(pending[shard_id]) >= config.batch_size:
                await flush(shard_id)
    for shard_id in list(pending):
        await flush(shard_id)
    failures = 0
    by_shard: list[ShardReplay] = []
    for shard_id, processor in processors.items():
        await processor.finish()
        positions[shard_id] = DONE
        failures += processor.metrics.failures_sent
        by_shard.append(_shard_replay(shard_id, read.get(shard_id, 0), processor))
    return ReplayResult(total, len(processors), failures, tuple(by_shard))
