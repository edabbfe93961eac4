"""The READ side of the change log: DynamoDB Streams over the engine's change log.

Imports engine and below only. ``open_engine`` (``streamkit.open_engine``) lives here because
it composes both: it builds the engine with this layer's :class:`StreamsClient`.
"""

from __future__ import annotations

from streamkit.streams.client import StreamsClient as StreamsClient
from streamkit.streams.iterators import ITERATOR_LIFETIME as ITERATOR_LIFETIME
from streamkit.streams.opening import open_engine as open_engine
from streamkit.streams.records import (
    SERVICE_IDENTITY as SERVICE_IDENTITY,
    base64_binaries as base64_binaries,
    lambda_record as lambda_record,
)
from streamkit.streams.regions import Regions as Regions, open_regions as open_regions
from streamkit.streams.retention import (
    Upkeep as Upkeep,
    maintain_once as maintain_once,
    run_retention as run_retention,
)

__all__ = [
    "ITERATOR_LIFETIME",
    "SERVICE_IDENTITY",
    "Regions",
    "StreamsClient",
    "Upkeep",
    "base64_binaries",
    "lambda_record",
    "maintain_once",
    "open_engine",
    "open_regions",
    "run_retention",
]
