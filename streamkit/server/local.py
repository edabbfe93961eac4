"""A test harness served over HTTP on loopback, for code that builds its own boto3 clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from streamkit.engine import Engine
from streamkit.mappings.app import App
from streamkit.server.app import http_url, open_listener
from streamkit.server.protocol import Dispatcher
from streamkit.testing import Harness, ManualClock, SyncHarness, open_harness, run_in_portal

__all__ = ["open_harness_endpoint", "open_sync_endpoint"]


class _OneEngine:
    """An engine source answering every region with the same engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def engine(self, region: str) -> Engine:
        return self._engine


@asynccontextmanager
async def open_harness_endpoint(
    app: App | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: ManualClock | None = None,
    path: str | os.PathLike[str] | None = None,
    **engine_options: Any,
) -> AsyncIterator[tuple[Harness, str]]:
    """Open a harness and serve its engine over HTTP; yield the harness and the endpoint URL.

    Every region's requests reach the one engine; with ``regions=[...]`` (a harness over a
    group, :func:`streamkit.testing.open_harness`) each request reaches its SigV4 region's
    engine, and other regions are refused. As ``streamkit serve`` does, the engine does
    not retry throttled requests itself (``max_attempts=1``) unless told otherwise: the
    client's SDK retries.
    """
    engine_options.setdefault("max_attempts", 1)
    async with open_harness(app or App(), clock=clock, path=path, **engine_options) as harness:
        served = _OneEngine(harness.engine) if harness.group is None else harness.group
        dispatcher = Dispatcher(served, clock=harness.clock)
        async with open_listener(dispatcher, host=host, port=port) as bound:
            yield harness, http_url(*bound)


@contextmanager
def open_sync_endpoint(
    app: App | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: ManualClock | None = None,
    path: str | os.PathLike[str] | None = None,
    **engine_options: Any,
) -> Iterator[SyncHarness]:
    """Run :func:`open_harness_endpoint` on an event loop in a background thread.

    Yields a :class:`~streamkit.testing.SyncHarness` whose ``url`` is the endpoint: point
    boto3 at it (``endpoint_url=h.url``) and use ``h.drain()`` / ``h.advance()`` as usual.
    """
    with run_in_portal(
        open_harness_endpoint(app, host=host, port=port, clock=clock, path=path, **engine_options)
    ) as harness:
        yield harness
