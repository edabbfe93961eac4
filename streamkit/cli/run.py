"""``streamkit run MODULE:APP``: run an app's stream handlers against the local data dir."""

from __future__ import annotations

import argparse
import signal

import anyio

from streamkit.cli.apps import load_apps
from streamkit.cli.backends import open_local_engine, region_file
from streamkit.cli.process import tune_gc
from streamkit.logs import get_logger
from streamkit.mappings.app import App
from streamkit.runtime import open_runtime

__all__ = ["run_app"]

log = get_logger(__name__)


def run_app(args: argparse.Namespace) -> int:
    """Run the apps until Ctrl-C or SIGTERM; return the exit status."""
    app = load_apps(args.app)
    assert app is not None  # argparse requires at least one
    tune_gc()
    anyio.run(_run, args, app, backend="asyncio")
    return 0


async def _run(args: argparse.Namespace, app: App) -> None:
    path = region_file(args.data, args.region)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            open_local_engine(args.data, args.region, read_only=False, role="run") as engine,
            open_runtime(engine, app) as runtime,
        ):
            names = ", ".join(runtime.mappings) or "none"
            print(f"streamkit running mappings [{names}] on {path}", flush=True)
            async for _ in signals:
                log.info("shutting_down")
                break
