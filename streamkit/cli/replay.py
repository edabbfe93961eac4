"""``streamkit replay MODULE:APP``: run a mapping over a stream range or an exported file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamkit.cli.apps import load_apps
from streamkit.cli.inputs import UsageError
from streamkit.cli.progress import Progress
from streamkit.cli.streams import position
from streamkit.mappings.config import MappingConfig
from streamkit.mappings.replay import ReplayResult, replay, replay_file
from streamkit.server import DEFAULT_DATA_DIR
from streamkit.streams import open_engine

__all__ = ["run_replay"]


def _choose(args: argparse.Namespace) -> MappingConfig:
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


async def run_replay(args: argparse.Namespace) -> int:
    """Replay; print what was done; return the exit status."""
    config = _choose(args)
    progress = Progress("replayed", stream=sys.stderr)
    start, end = position(args.start), position(args.end)
    result: ReplayResult
    if args.file is not None:
        # the handlers' current_engine(): the --data folder's engine, else an in-memory one
        where = None if args.data is None else Path(args.data) / f"{args.region}.sqlite3"
        async with open_engine(where, region=args.region) as engine:
            result = await replay_file(
                args.file,
                config,
                start=start,
                end=end,
                batch_size=args.batch_size,
                region=args.region,
                progress=progress.update,
                engine=engine,
            )
    else:
        path = Path(args.data or DEFAULT_DATA_DIR) / f"{args.region}.sqlite3"
        if not path.exists():
            raise UsageError(f"no data in {path}")
        async with open_engine(path, region=args.region, owner_role="replay") as engine:
            result = await replay(
                engine,
                config,
                table=args.table_name or config.table,
                stream_arn=args.stream_arn,
                start=start,
                end=end,
                batch_size=args.batch_size,
                progress=progress.update,
            )
    progress.close()
    print(
        f"replayed {result.records} records from {result.shards} shards into {config.name}; "
        f"{result.failures_sent} sent to on_failure",
        file=sys.stderr,
    )
    return 0
