"""The endpoint as one async context manager: a group of regions' engines (opened on first
request, :class:`streamkit.streams.Regions`), one runtime over them, and the HTTP listener."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from streamkit.clock import Clock, SystemClock
from streamkit.engine import Engine
from streamkit.logs import get_logger
from streamkit.runtime import open_runtime
from streamkit.server.admin import ReplicationAdmin
from streamkit.server.http import Connection, ConnectionSet, Limits
from streamkit.server.protocol import DEFAULT_REGION, Dispatcher
from streamkit.server.sigv4 import Verifier
from streamkit.storage.sqlite import Durability
from streamkit.streams import Regions, open_engine
from streamkit.streams.regions import open_region_group, region_path

if TYPE_CHECKING:
    from streamkit.mappings.app import App

__all__ = ["DEFAULT_DATA_DIR", "Server", "http_url", "open_listener", "open_server"]

log = get_logger(__name__)

DEFAULT_DATA_DIR = ".streamkit"


@dataclass(frozen=True, slots=True)
class Server:
    """A running endpoint.

    Attributes:
        host: the address the listener is bound to.
        port: the bound port (the real one when 0 was asked for).
        dispatcher: the socket-free protocol handler (usable directly in tests).
        regions: the per-region engines (a group opening each region on its first request,
            at most 64 at once).
        data_dir: where region files live, or ``None`` in memory.
        connections: the open connections and what they hold (for tests and figures).
    """

    host: str
    port: int
    dispatcher: Dispatcher
    regions: Regions
    data_dir: Path | None
    connections: ConnectionSet

    @property
    def url(self) -> str:
        """Return the endpoint URL to give to boto3's ``endpoint_url``."""
        return http_url(self.host, self.port)


def http_url(host: str, port: int) -> str:
    """Return ``http://host:port``, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@asynccontextmanager
async def open_server(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: str | os.PathLike[str] | None = DEFAULT_DATA_DIR,
    credentials: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    limits: Limits | None = None,
    durability: Durability = "normal",
    preopen: Sequence[str] = (DEFAULT_REGION,),
    app: App | None = None,
    s3_dir: str | os.PathLike[str] | None = None,
    stream_shards: int = 1,
    shard_rollover_seconds: float = 4 * 3600.0,
    replication_delay: float = 0.0,
) -> AsyncIterator[Server]:
    """Serve DynamoDB and DynamoDB Streams over HTTP until the block exits.

    Args:
        host: the address to bind; loopback by default.
        port: the port to bind; 0 picks a free one (see :attr:`Server.port`).
        data_dir: the folder holding ``<region>.sqlite3`` files; ``None`` keeps every region
            in memory.
        credentials: access key id -> secret; when given, SigV4 signatures are verified.
        clock: time for the engines and for signature freshness.
        limits: per-connection limits and timeouts.
        durability: passed to :func:`streamkit.open_engine`.
        preopen: regions to open before listening, so the first request is fast and a bad
            data folder fails at start.
        app: stream handlers to run; each region runs the app's mappings on its own tables.
        s3_dir: the buckets' folder for exports and imports (default: ``<data_dir>/s3``).
        stream_shards: open shards per new stream (:func:`streamkit.open_engine`'s).
        shard_rollover_seconds: a shard's life before a child continues it (same).
        replication_delay: seconds a change to a global table waits before it is shipped to
            the other replicas (:func:`streamkit.open_runtime`'s; default 0: at once).
    """
    folder = None if data_dir is None else Path(data_dir)  # each region's open makes it
    opener = _RegionOpener(
        folder,
        clock or SystemClock(),
        durability,
        s3_dir,
        stream_shards=stream_shards,
        shard_rollover_seconds=shard_rollover_seconds,
    )
    verifier = None if credentials is None else Verifier(credentials)
    connections = ConnectionSet(limits or Limits())
    apps = () if app is None else (app,)
    try:
        async with open_region_group(opener.open, clock=opener.clock, on_demand=True) as regions:
            error: BaseException | None = None
            async with open_runtime(regions, *apps, replication_delay=replication_delay) as runtime:
                try:
                    admin = ReplicationAdmin(regions, lambda: runtime.replication)
                    dispatcher = Dispatcher(regions, verifier=verifier, clock=clock, admin=admin)

                    async def preopen_regions(bound: tuple[str, int]) -> None:
                        # Runs once the socket is bound and before it accepts, so each
                        # region's lock file can name the URL (storage.owner) and a bad region
                        # fails the start.
                        opener.url = http_url(*bound)
                        for region in preopen:
                            await regions.engine(region)

                    async with open_listener(
                        dispatcher,
                        host=host,
                        port=port,
                        connections=connections,
                        before_serving=preopen_regions,
                    ) as bound:
                        server = Server(
                            bound[0], bound[1], dispatcher, regions, folder, connections
                        )
                        log.debug("server_started", url=server.url)
                        yield server
                except BaseException as exc:  # noqa: BLE001 - re-raised as itself below
                    error = exc
            if error is not None:
                raise error
    finally:
        log.debug("server_stopped")


@dataclass(slots=True)
class _RegionOpener:
    """How the server opens a region's engine (with engine.streams); the runtime over the
    group runs its workers and the app's mappings.

    The server never retries on the client's behalf (``max_attempts=1``): the caller's SDK
    does, as it would against AWS.
    """

    folder: Path | None  # <region>.sqlite3 files, or None in memory
    clock: Clock  # the one clock of every region
    durability: Durability
    s3_dir: str | os.PathLike[str] | None = None
    url: str | None = None  # set once the listener is bound, before any region opens
    stream_shards: int = 1
    shard_rollover_seconds: float = 4 * 3600.0

    def open(self, region: str) -> AbstractAsyncContextManager[Engine]:
        return open_engine(
            None if self.folder is None else region_path(self.folder, region),
            region=region,
            clock=self.clock,
            durability=self.durability,
            max_attempts=1,
            owner_role="serve",
            owner_url=self.url,
            s3_dir=self.s3_dir,
            stream_shards=self.stream_shards,
            shard_rollover_seconds=self.shard_rollover_seconds,
        )


@asynccontextmanager
async def open_listener(
    dispatcher: Dispatcher,
    *,
    host: str,
    port: int,
    limits: Limits | None = None,
    connections: ConnectionSet | None = None,
    before_serving: Callable[[tuple[str, int]], Awaitable[None]] | None = None,
) -> AsyncIterator[tuple[str, int]]:
    """Answer HTTP on ``host:port`` with ``dispatcher`` until the block exits.

    Yields the bound address and port (the real port when 0 was asked for). The socket is
    bound first, then ``before_serving(bound)`` is awaited, then connections are accepted. On
    exit the listener stops accepting and every open connection is closed before the block
    returns. ``connections`` (made from ``limits`` when None) tracks its connections.
    """
    if connections is None:
        connections = ConnectionSet(limits or Limits())
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: Connection(dispatcher.handle, connections),
        host,
        port,
        reuse_address=True,
        backlog=1024,
        start_serving=False,
    )
    try:
        host, port = listener.sockets[0].getsockname()[:2]
        if before_serving is not None:
            await before_serving((host, port))
        await listener.start_serving()
        connections.start_sweeping()
        yield host, port
    finally:
        listener.close()
        connections.close_all()
        with anyio.CancelScope(shield=True):
            await connections.wait_closed()
