"""``streamkit run MODULE:APP``: run an app's stream handlers against the local data dir, or
(``--endpoint-url`` / ``--aws``) against a remote DynamoDB Streams endpoint."""

from __future__ import annotations

import argparse
import gc
import signal
from contextlib import AsyncExitStack

import anyio

from streamkit.cli.apps import load_apps
from streamkit.cli.backends import open_local_engine, region_file
from streamkit.cli.inputs import UsageError
from streamkit.cli.process import tune_gc
from streamkit.logs import get_logger
from streamkit.mappings.app import App
from streamkit.runtime import open_remote_runtime, open_runtime

__all__ = ["run_app"]

log = get_logger(__name__)

DEFAULT_REGION = "us-east-1"


def run_app(args: argparse.Namespace) -> int:
    """Run the apps until Ctrl-C or SIGTERM; return the exit status."""
    app = load_apps(args.app)
    assert app is not None  # argparse requires at least one
    remote = bool(getattr(args, "endpoint_url", None) or getattr(args, "aws", False))
    lease_options = ("worker_id", "lease_timeout", "take_interval")
    for option in ("checkpoint_file", "lease_table", *lease_options):
        if not remote and getattr(args, option, None):
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is for a remote source (--endpoint-url or --aws)")
    if getattr(args, "lease_table", None) and getattr(args, "checkpoint_file", None):
        raise UsageError("--checkpoint-file and --lease-table: the lease table keeps checkpoints")
    leased = getattr(args, "lease_table", None)
    if not leased and any(getattr(args, option, None) for option in lease_options):
        raise UsageError("--worker-id, --lease-timeout and --take-interval go with --lease-table")
    tune_gc()
    anyio.run(_run_remote if remote else _run, args, app, backend="asyncio")
    return 0


async def _run(args: argparse.Namespace, app: App) -> None:
    region = args.region or DEFAULT_REGION
    path = region_file(args.data, region)
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with (
            open_local_engine(args.data, region, read_only=False, role="run") as engine,
            open_runtime(engine, app) as runtime,
        ):
            gc.freeze()  # the engine's and runtime's objects leave the collector's full passes
            names = ", ".join(runtime.mappings) or "none"
            print(f"streamkit running mappings [{names}] on {path}", flush=True)
            async for _ in signals:
                log.info("shutting_down")
                break


async def _run_remote(args: argparse.Namespace, app: App) -> None:
    from streamkit.mappings.leases import DEFAULT_LEASE_TIMEOUT, open_leases
    from streamkit.mappings.remote import open_remote_source, open_tables_client
    from streamkit.mappings.source import SqliteCheckpoints

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # the exit stack unwinds in reverse: the runtime writes the last checkpoints (in the
        # lease table), then the lease coordinator releases the leases, then the clients close
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(
                open_remote_source(endpoint_url=args.endpoint_url, region=args.region)
            )
            checkpoints = None
            leases = None
            if args.checkpoint_file:
                checkpoints = SqliteCheckpoints(args.checkpoint_file)
                stack.callback(checkpoints.close)
            if args.lease_table:
                client = await stack.enter_async_context(
                    open_tables_client(endpoint_url=args.endpoint_url, region=source.region)
                )
                leases = await stack.enter_async_context(
                    open_leases(
                        client,
                        table=args.lease_table,
                        worker_id=args.worker_id,
                        lease_timeout=args.lease_timeout or DEFAULT_LEASE_TIMEOUT,
                        take_interval=args.take_interval,
                    )
                )
            runtime = await stack.enter_async_context(
                open_remote_runtime(source, app, checkpoints=checkpoints, leases=leases)
            )
            gc.freeze()
            names = ", ".join(runtime.mappings) or "none"
            where = args.endpoint_url or "AWS"
            workers = (
                "1 worker"
                if leases is None
                else f"worker {leases.worker_id} of lease table {leases.table}"
            )
            print(
                f"streamkit running mappings [{names}] on {where} ({source.region}), {workers}",
                flush=True,
            )
            async for _ in signals:
                log.info("shutting_down")
                break
