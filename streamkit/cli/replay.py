"""``streamkit replay MODULE:APP``: run a mapping over a stream range or an exported file."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import anyio

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
                result = await _replay(args, config, state, after_batch)
                tg.cancel_scope.cancel()
        except ExceptionGroup as group:  # the replay's own error, for main() to report
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    progress.close()
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


async def _replay(
    args: argparse.Namespace,
    config: MappingConfig,
    state: _State,
    after_batch: Callable[[int], None],
) -> ReplayResult:
    start, end = position(args.start), position(args.end)
    if args.file is not None:
        # the handlers' current_engine(): the --data folder's engine, else an in-memory one
        where = None if args.data is None else Path(args.data) / f"{args.region}.sqlite3"
        async with open_engine(where, region=args.region, owner_role="replay") as engine:
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
    path = Path(args.data or DEFAULT_DATA_DIR) / f"{args.region}.sqlite3"
    if not path.exists():
        raise UsageError(f"no data in {path}")
    async with open_engine(path, region=args.region, owner_role="replay") as engine:
        return await replay(
            engine,
            config,
            table=args.table_name or config.table,
            stream_arn=args.stream_arn,
            start=start,
            end=end,
            batch_size=args.batch_size,
            progress=after_batch,
            positions=state.positions,
        )
