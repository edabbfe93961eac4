"""``streamkit serve``: run the endpoint until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import errno
import gc
import importlib.util
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from streamkit.cli.apps import load_apps
from streamkit.cli.process import raise_open_files_limit, tune_gc
from streamkit.cli.usage import UsageError
from streamkit.groups import leaves
from streamkit.logs import get_logger
from streamkit.server import DEFAULT_DATA_DIR, Limits, open_server
from streamkit.server.http import FD_RESERVE

if TYPE_CHECKING:
    from streamkit.mappings.app import App

__all__ = ["load_credentials", "run_serve"]

log = get_logger(__name__)


def load_credentials(pairs: list[str], path: str | None) -> dict[str, str] | None:
    """Return access key -> secret from ``--auth`` values and ``--auth-file``; None if neither.

    Raises:
        UsageError: a value or the file is malformed.
    """
    if not pairs and path is None:
        return None
    credentials: dict[str, str] = {}
    for pair in pairs:
        key, sep, secret = pair.partition(":")
        if not sep or not key or not secret:
            raise UsageError(f"--auth: expected ACCESS_KEY:SECRET, got {pair!r}")
        credentials[key] = secret
    if path is not None:
        credentials.update(_read_credentials_file(path))
    return credentials


def _read_credentials_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"--auth-file: cannot read {path}: {exc.strerror}") from None
    found: dict[str, str] = {}
    if "[" in text:
        import configparser  # only for an AWS-style credentials file

        config = configparser.ConfigParser(interpolation=None)
        try:
            config.read_string(text, source=path)
        except configparser.Error as exc:
            raise UsageError(f"--auth-file: {exc}") from None
        for section in config.sections():
            key = config.get(section, "aws_access_key_id", fallback=None)
            secret = config.get(section, "aws_secret_access_key", fallback=None)
            if key and secret:
                found[key.strip()] = secret.strip()
    else:
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, secret = line.partition(":")
            if not sep or not key or not secret:
                raise UsageError(f"--auth-file: line {number}: expected ACCESS_KEY:SECRET")
            found[key.strip()] = secret.strip()
    if not found:
        raise UsageError(f"--auth-file: no credentials found in {path}")
    return found


def run_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; return the exit status."""
    credentials = load_credentials(args.auth, args.auth_file)
    app = load_apps(args.app)
    if args.idle_timeout <= 0 or args.request_timeout <= 0:
        raise UsageError("timeouts must be positive")
    if args.max_connections < 1:
        raise UsageError("--max-connections must be at least 1")
    if not 1 <= args.stream_shards <= 1000:
        raise UsageError("--stream-shards must be between 1 and 1000")
    if args.shard_rollover_seconds <= 0:
        raise UsageError("--shard-rollover-seconds must be positive")
    from streamkit.cli.durations import parse_duration

    args.replication_delay = parse_duration(args.replication_delay)
    raise_open_files_limit(args.max_connections + FD_RESERVE)
    # uvloop (a dependency except on Windows) cuts the server's CPU per request by about 10%
    uvloop = importlib.util.find_spec("uvloop") is not None
    tune_gc()
    options = {"use_uvloop": uvloop}
    try:
        anyio.run(_serve, args, credentials, app, backend="asyncio", backend_options=options)
    except (OSError, BaseExceptionGroup) as exc:
        if not any(_in_use(leaf) for leaf in leaves(exc)):
            raise
        print(
            f"streamkit: port {args.port} on {args.host} is already in use "
            "(stop what holds it, or pick another with --port; 0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    return 0


def _in_use(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and (
        exc.errno == errno.EADDRINUSE or "address already in use" in str(exc)
    )


async def _serve(
    args: argparse.Namespace, credentials: dict[str, str] | None, app: App | None
) -> None:
    data_dir = None if args.memory else (args.data or DEFAULT_DATA_DIR)
    limits = Limits(
        idle_timeout=args.idle_timeout,
        request_timeout=args.request_timeout,
        max_connections=args.max_connections,
    )
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_server(
            host=args.host,
            port=args.port,
            data_dir=data_dir,
            credentials=credentials,
            limits=limits,
            durability=args.durability,
            app=app,
            s3_dir=args.s3_dir,
            stream_shards=args.stream_shards,
            shard_rollover_seconds=args.shard_rollover_seconds,
            replication_delay=args.replication_delay,
        ) as server:
            gc.freeze()  # the server's long-lived objects leave the collector's full passes
            where = "in memory" if data_dir is None else f"data in {data_dir}/"
            auth = "SigV4 verified" if credentials else "auth off"
            print(f"streamkit serving DynamoDB on {server.url} ({where}, {auth})", flush=True)
            if app is not None:
                names = ", ".join(c.name for c in app.mappings)
                print(f"streamkit: running mappings [{names}] in every region", flush=True)
            async for _ in signals:
                log.info("shutting_down")
                break
