"""``streamkit mappings list|status|reset``: where each event-source mapping stands.

A mapping's lasting state is its checkpoints in the database (``sk_checkpoints``: per shard,
the last sequence number done, and whether the closed shard is finished). From them and the
stream this shows shards, lag (records not yet processed) and a state. Failed batches are not
kept in the database: they go to the mapping's ``on_failure`` destination, so they are counted
when ``--app`` names the app and that destination is a JSON Lines file. The checkpoints live
only in the local data folder: DynamoDB's API has no call for them, so ``--endpoint-url``
cannot reach them.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streamkit.cli.apps import load_apps
from streamkit.cli.backends import open_local_engine, region_file
from streamkit.cli.common import CommandError
from streamkit.cli.inputs import UsageError
from streamkit.cli.output import render
from streamkit.engine import Engine
from streamkit.errors import ResourceNotFoundException
from streamkit.mappings.config import MappingConfig
from streamkit.streams.records import parse_sequence_number, sequence_number

__all__ = ["run_mappings"]

_REMOTE = (
    "mappings read and move checkpoints in the local data folder's database; DynamoDB's API "
    "has no call for them, so --endpoint-url cannot reach them. Use --data DIR (stop the "
    "server first for 'reset')"
)


async def run_mappings(args: argparse.Namespace) -> int:
    """Run one ``mappings`` subcommand; return the exit status."""
    if args.endpoint_url is not None:
        raise UsageError(_REMOTE)
    configs = _configs(args.app)
    try:
        async with _open(args, writing=args.mappings_command == "reset") as engine:
            if args.mappings_command == "list":
                response: dict[str, Any] = {"Mappings": await _list(engine, configs)}
            elif args.mappings_command == "status":
                response = await _status(engine, args.name, configs.get(args.name))
            else:
                response = await _reset(engine, args, configs.get(args.name))
    except CommandError as exc:
        print(f"streamkit: {exc}", file=sys.stderr)
        return 1
    render(response, args.output, sys.stdout)
    return 0


@asynccontextmanager
async def _open(args: argparse.Namespace, *, writing: bool) -> AsyncIterator[Engine]:
    # list and status read beside whoever owns the database; reset owns it while it runs, so
    # a `streamkit run` or `serve` holding it makes reset fail (DatabaseInUseError) and
    # checkpoints never move under a running mapping.
    path = region_file(args.data, args.region)
    if not path.is_file():
        raise CommandError(f"no data in {path}")
    async with open_local_engine(args.data, args.region, read_only=not writing) as engine:
        yield engine


def _configs(specs: list[str]) -> dict[str, MappingConfig]:
    app = load_apps(specs)
    return {} if app is None else {m.name: m for m in app.mappings}


async def _list(engine: Engine, configs: dict[str, MappingConfig]) -> list[dict[str, Any]]:
    rows = await engine.backend.all_checkpoints()
    names = sorted({r[0] for r in rows} | set(configs))
    listed = []
    for name in names:
        status = await _status(engine, name, configs.get(name))
        listed.append({k: v for k, v in status.items() if k != "Shards"})
    return listed


async def _status(engine: Engine, name: str, config: MappingConfig | None) -> dict[str, Any]:
    rows = [r for r in await engine.backend.all_checkpoints() if r[0] == name]
    if not rows and config is None:
        raise CommandError(f"no mapping {name} in this database (it has never run here)")
    arns = sorted({r[1] for r in rows})
    current = engine.stream_arn(config.table) if config is not None else None
    if current is not None and current not in arns:
        arns.append(current)
    shards: list[dict[str, Any]] = []
    for arn in arns:
        known = {r[2]: (r[3], r[4]) for r in rows if r[1] == arn}
        shards.extend(await _shards(engine, arn, known))
    lag = sum(s["Lag"] for s in shards)
    table = config.table if config is not None else _table_of(arns[0]) if arns else "-"
    if not rows:
        state = "NotStarted"
    elif shards and all(s["Finished"] for s in shards):
        state = "Finished"
    else:
        state = "CaughtUp" if lag == 0 else "Behind"
    if config is not None and not config.enabled:
        state = f"Disabled ({state})"
    return {
        "Mapping": name,
        "Table": table,
        "State": state,
        "Shards": shards,
        "ShardCount": len(shards),
        "Lag": lag,
        "FailedBatches": _failed_batches(config),
    }


async def _shards(
    engine: Engine, arn: str, known: dict[str, tuple[str | None, bool]]
) -> list[dict[str, Any]]:
    described = await _describe(engine, arn)
    result = []
    for shard_id in sorted(set(known) | {s["ShardId"] for s in described}):
        seq, done = known.get(shard_id, (None, False))
        after = None if seq is None else parse_sequence_number(seq)
        lag = 0 if done else await engine.backend.pending_records(arn, shard_id, after)
        result.append(
            {
                "StreamArn": arn,
                "ShardId": shard_id,
                "Checkpoint": seq if shard_id in known else None,
                "Lag": lag,
                "Finished": done,
            }
        )
    return result


async def _describe(engine: Engine, arn: str) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = []
    params: dict[str, Any] = {"StreamArn": arn}
    while True:
        try:
            page = (await engine.streams.describe_stream(**params))["StreamDescription"]
        except ResourceNotFoundException:
            return shards  # the stream is gone (table deleted, stream turned off and expired)
        shards.extend(page["Shards"])
        if "LastEvaluatedShardId" not in page:
            return shards
        params["ExclusiveStartShardId"] = page["LastEvaluatedShardId"]


def _table_of(arn: str) -> str:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    return arn.split(":table/", 1)[-1].split("/stream/", 1)[0]


def _failed_batches(config: MappingConfig | None) -> int | None:
    if config is None or not isinstance(config.on_failure, pathlib.Path):
        return None  # not recorded in the database
    try:
        with config.on_failure.open("rb") as lines:
            return sum(1 for line in lines if line.strip())
    except FileNotFoundError:
        return 0


async def _reset(
    engine: Engine, args: argparse.Namespace, config: MappingConfig | None
) -> dict[str, Any]:
    name = args.name
    rows = [r for r in await engine.backend.all_checkpoints() if r[0] == name]
    arns = {r[1] for r in rows}
    table = args.table or (config.table if config is not None else None)
    if table is not None:
        current = engine.stream_arn(table)
        if current is None:
            raise CommandError(f"table {table} has no enabled stream")
        arns.add(current)
    if not arns:
        raise CommandError(f"no mapping {name} in this database: name its table with --table")
    for arn in sorted(arns):
        positions: dict[str, tuple[str | None, bool]] = {}
        for shard in await _describe(engine, arn):
            shard_id = shard["ShardId"]
            if args.to == "TRIM_HORIZON":
                positions[shard_id] = (None, False)
                continue
            head = await engine.backend.shard_head(arn, shard_id)
            closed = "EndingSequenceNumber" in shard["SequenceNumberRange"]
            positions[shard_id] = (None if head is None else sequence_number(head), closed)
        await engine.backend.replace_checkpoints(name, arn, positions)
    print(f"reset {name} to {args.to} on {len(arns)} stream(s)", file=sys.stderr)
    return await _status(engine, name, config)
