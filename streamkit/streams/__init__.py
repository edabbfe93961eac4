"""The READ side of the change log: DynamoDB Streams over the engine's change log.

Imports engine and below only. ``open_engine`` here is the engine's, with ``engine.streams``
attached; ``streamkit.open_engine`` is this one.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import ParamSpec

from streamkit.engine import Engine, open_engine as _open_engine
from streamkit.streams.client import StreamsClient as StreamsClient
from streamkit.streams.iterators import ITERATOR_LIFETIME as ITERATOR_LIFETIME
from streamkit.streams.records import (
    SERVICE_IDENTITY as SERVICE_IDENTITY,
    base64_binaries as base64_binaries,
    lambda_record as lambda_record,
)
from streamkit.streams.retention import (
    Upkeep as Upkeep,
    maintain_once as maintain_once,
    run_retention as run_retention,
)

__all__ = [
    "ITERATOR_LIFETIME",
    "SERVICE_IDENTITY",
    "StreamsClient",
    "Upkeep",
    "base64_binaries",
    "lambda_record",
    "maintain_once",
    "open_engine",
    "run_retention",
]

P = ParamSpec("P")


def _with_streams(
    opener: Callable[P, AbstractAsyncContextManager[Engine]],
) -> Callable[P, AbstractAsyncContextManager[Engine]]:
    @functools.wraps(opener)
    @asynccontextmanager
    async def open_engine(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Engine]:
        async with opener(*args, **kwargs) as engine:
            engine.streams = StreamsClient(engine)
            yield engine

    return open_engine


#: :func:`streamkit.engine.open_engine` (same arguments) with ``engine.streams`` attached.
open_engine = _with_streams(_open_engine)
