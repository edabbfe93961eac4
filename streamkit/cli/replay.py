"""``streamkit replay``: run a mapping over a stream range or an exported file.

``--dry-run`` runs the same reading, filtering and batching with a stand-in handler that does
nothing, and prints what would be delivered, shard by shard. ``--into TABLE`` replays the
records into a (scratch) table instead of a handler: INSERT and MODIFY put the new image,
REMOVE deletes the key, so the table ends as the source table was at the end of the range.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from streamkit.cli.apps import load_apps
from streamkit.cli.backends import LocalBackend, open_local_engine, region_file
from streamkit.cli.common import CommandError, missing_table
from streamkit.cli.inputs import UsageError
from streamkit.cli.output import render
from streamkit.cli.progress import Progress
from streamkit.cli.streams import position
from streamkit.engine import Engine
from streamkit.errors import DynamoDBError, ResourceNotFoundException
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.replay import ReplayResult, replay, replay_file
from streamkit.model.json import decode_binary
from streamkit.streams import open_engine

__all__ = ["run_replay"]

_NEW_IMAGES = frozenset(["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])


def _choose(args: argparse.Namespace) -> MappingConfig:
    if args.app is None:
        if not (args.dry_run or args.into):
            raise UsageError("replay: name the app (MODULE:APP), or give --dry-run or --into")
        table = args.table_name or ""
        return MappingConfig(name="replay", table=table, handler=_nothing)
    app = load_apps([args.app])
    assert app is not None
    mappings = {m.name: m for m in app.mappings}
    if args.mapping is not None:
        if args.mapping not in mappings:
            raise UsageError(f"{args.app} has no mapping {args.mapping!r}: {', '.join(mappings)}")
        return mappings[args.mapping]
    if len(mappings) != 1:
        raise UsageError(f"{args.app} has {len(mappings)} mappings: name one with --mapping")
    return next(iter(mappings.values()))


async def _nothing(event: dict[str, Any], context: Any) -> None:
    """The dry run's stand-in handler: every batch succeeds, nothing happens."""


class _State:
    """``--state FILE``: the replay's positions, saved after every batch (atomically)."""

    def __init__(self, path: str | None, source: str, mapping: str) -> None:
        self.path = None if path is None else Path(path)
        self.key = {"source": source, "mapping": mapping}
        self.positions: dict[str, str] = {}
        if self.path is None or not self.path.exists():
            return
        try:
            saved = json.loads(self.path.read_text())
            positions = saved["positions"]
            same = all(saved[k] == v for k, v in self.key.items())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--state {self.path}: not a replay state file: {exc}") from None
        if not same or not isinstance(positions, dict):
            raise UsageError(f"--state {self.path}: saved by a replay of another source or mapping")
        self.positions = {str(k): str(v) for k, v in positions.items()}

    def save(self) -> None:
        if self.path is not None:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps({**self.key, "positions": self.positions}))
            os.replace(temporary, self.path)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def run_replay(args: argparse.Namespace) -> int:
    """Replay; print what was done; return the exit status (128 + signal if interrupted).

    SIGTERM or SIGINT stops the replay between two invocations' worth of work (the batch in
    flight is cancelled); with ``--state FILE`` the same command run again resumes there.
    """
    config = _choose(args)
    if args.dry_run:
        config = dataclasses.replace(config, handler=_nothing, on_failure=None)
    source = args.file or args.stream_arn or args.table_name or config.table
    state = _State(args.state, str(source), config.name)
    total = None
    if args.file is not None and args.start == "TRIM_HORIZON" and args.end is None:
        total = _records_in(args.file)
    progress = Progress("replayed", stream=sys.stderr, total=total)
    done = 0

    def after_batch(total: int) -> None:
        nonlocal done
        done = total
        state.save()
        progress.update(total)

    errors: list[str] = []  # --into's first failure, or a refusal, in one line
    interrupted: int | None = None
    result: ReplayResult | None = None
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        try:
            async with anyio.create_task_group() as tg:

                async def stop_on_signal() -> None:
                    nonlocal interrupted
                    async for signum in signals:
                        interrupted = signum
                        tg.cancel_scope.cancel()

                tg.start_soon(stop_on_signal)
                try:
                    result = await _replay(args, config, state, after_batch, errors)
                except CommandError as exc:
                    errors.insert(0, str(exc))
                tg.cancel_scope.cancel()
        except ExceptionGroup as group:  # the replay's own error, for main() to report
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    progress.close()
    if errors:
        print(f"streamkit: {errors[0]}", file=sys.stderr)
        return 1
    if interrupted is not None or result is None:
        signum = interrupted or signal.SIGTERM
        hint = (
            "run the same command again to resume"
            if state.path is not None
            else "give --state FILE to make a replay resumable"
        )
        print(
            f"streamkit: replay interrupted by {signal.Signals(signum).name} after {done} "
            f"records; {hint}",
            file=sys.stderr,
        )
        return 128 + signum
    state.remove()
    if args.dry_run or args.into:
        render(_summary(result, dry_run=args.dry_run), args.output, sys.stdout)
        return 0
    print(
        f"replayed {result.records} records from {result.shards} shards into {config.name}; "
        f"{result.failures_sent} sent to on_failure",
        file=sys.stderr,
    )
    return 0


def _records_in(path: str) -> int | None:
    """The records of an export (one a line) for the progress bar's total; only on a terminal,
    where the bar shows, since it reads the file once more."""
    if not sys.stderr.isatty():
        return None
    try:
        with Path(path).open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    except OSError:
        return None  # replay_file says what is wrong with it


@asynccontextmanager
async def _engine(args: argparse.Namespace) -> AsyncIterator[Engine]:
    """The engine a replay reads from (a stream) or gives its handlers (current_engine(),
    --into's target): the --data folder's, or, for a file without --data or --into, one in
    memory. A dry run over a stream only reads, so it may run beside the folder's owner."""
    if args.file is not None and args.data is None and args.into is None:
        async with open_engine(None, region=args.region) as engine:
            yield engine
        return
    path = region_file(args.data, args.region)
    if args.file is None and not path.exists():
        raise UsageError(f"no data in {path}")
    read_only = args.dry_run and args.file is None
    async with open_local_engine(
        args.data, args.region, read_only=read_only, role="replay"
    ) as engine:
        yield engine


async def _replay(
    args: argparse.Namespace,
    config: MappingConfig,
    state: _State,
    after_batch: Callable[[int], None],
    errors: list[str],
) -> ReplayResult:
    start, end = position(args.start), position(args.end)
    async with _engine(args) as engine:
        if args.into is not None:
            await _prepare_into(engine, args, config)
            config = _into_config(config, engine, args.into, errors)
        if args.file is not None:
            return await replay_file(
                args.file,
                config,
                start=start,
                end=end,
                batch_size=args.batch_size,
                region=args.region,
                progress=after_batch,
                engine=engine,
                positions=state.positions,
            )
        return await replay(
            engine,
            config,
            table=args.table_name or config.table or None,
            stream_arn=args.stream_arn,
            start=start,
            end=end,
            batch_size=args.batch_size,
            progress=after_batch,
            positions=state.positions,
        )


async def _prepare_into(engine: Engine, args: argparse.Namespace, config: MappingConfig) -> None:
    """Check the source has new images and the target is not the source; create the target
    like the source (keys only, on demand, no stream) when it does not exist."""
    source = args.table_name or config.table or None
    if args.into == source:
        raise UsageError("--into must name another table than the one replayed")
    spec: dict[str, Any] | None = None
    if source is not None and args.file is None:
        try:
            spec = (await engine.describe_table(TableName=source))["Table"]
        except ResourceNotFoundException:
            raise CommandError(f"Table {source} not found.") from None
        view = spec.get("StreamSpecification", {}).get("StreamViewType")
        if view not in _NEW_IMAGES:
            raise CommandError(
                f"table {source}'s stream has no new images (StreamViewType {view}): "
                "--into needs NEW_IMAGE or NEW_AND_OLD_IMAGES"
            )
    try:
        await engine.describe_table(TableName=args.into)
        return
    except ResourceNotFoundException:
        pass
    if spec is None:
        found = await missing_table(LocalBackend(engine), args.into)
        raise CommandError(found or f"Table {args.into} not found.")
    keys = {k["AttributeName"] for k in spec["KeySchema"]}
    definitions = [d for d in spec["AttributeDefinitions"] if d["AttributeName"] in keys]
    await engine.create_table(
        TableName=args.into,
        KeySchema=spec["KeySchema"],
        AttributeDefinitions=definitions,
        BillingMode="PAY_PER_REQUEST",
    )
    print(f"created table {args.into} with the keys of {source}", file=sys.stderr)


def _into_config(
    config: MappingConfig, engine: Engine, table: str, errors: list[str]
) -> MappingConfig:
    async def apply(event: dict[str, Any], context: Any) -> None:
        if errors:
            return  # one failure stops the writing; the rest of the range is read, not applied
        for record in event["Records"]:
            change = decode_binary(record["dynamodb"])
            try:
                if record["eventName"] == "REMOVE":
                    await engine.delete_item(TableName=table, Key=change["Keys"])
                elif "NewImage" in change:
                    await engine.put_item(TableName=table, Item=change["NewImage"])
                else:
                    errors.append(f"--into {table}: record {change['SequenceNumber']} has no image")
                    return
            except DynamoDBError as exc:
                errors.append(f"--into {table}: {exc.code}: {exc.message}")
                return

    # The mapping's filter and batch size stay; what the handler sees is ours.
    return dataclasses.replace(
        config,
        handler=apply,
        on_failure=None,
        maximum_retry_attempts=0,
        bisect_batch_on_function_error=False,
        function_response_types=(),
        tumbling_window_in_seconds=0,
        deserialize=False,
    )


def _summary(result: ReplayResult, *, dry_run: bool) -> dict[str, Any]:
    shards = [
        {
            "ShardId": s.shard_id,
            "Records": s.records,
            "Filtered": s.filtered,
            "Delivered" if not dry_run else "WouldDeliver": s.delivered,
            "Batches": s.invocations,
        }
        for s in result.by_shard
    ]
    return {
        "Shards": shards,
        "Records": result.records,
        "Batches": sum(s.invocations for s in result.by_shard),
        "DryRun": dry_run,
    }
