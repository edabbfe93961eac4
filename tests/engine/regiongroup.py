"""A tiny RegionGroup for the control-plane tests: engines of a few regions in one dict.

Stands in for ``streamkit.open_regions`` (issue 13, "regions") until it lands: it opens one
engine per region (in memory, or a file per region under a directory, named as ``streamkit
serve`` names them) on one clock and joins each to the group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import streamkit
from streamkit.engine.regions import RegionGroup
from streamkit.errors import ValidationException
from streamkit.testing import ManualClock


class DictGroup:
    """The engines of a fixed set of regions, all open (a RegionGroup)."""

    def __init__(self) -> None:
        self._engines: dict[str, streamkit.Engine] = {}

    @property
    def engines(self) -> Mapping[str, streamkit.Engine]:
        return self._engines

    async def engine(self, region: str) -> streamkit.Engine:
        found = self._engines.get(region)
        if found is None:
            raise ValidationException(f"streamkit serves no region {region} here")
        return found

    def __getitem__(self, region: str) -> streamkit.Engine:
        return self._engines[region]

    def join(self, region: str, engine: streamkit.Engine) -> None:
        self._engines[region] = engine


@asynccontextmanager
async def open_group(
    regions: list[str], clock: ManualClock, data: Path | None = None
) -> AsyncIterator[DictGroup]:
    """Open an engine per region (in memory, or ``<data>/<region>.sqlite3``) in one group."""
    group = DictGroup()
    _: RegionGroup = group  # it satisfies the protocol
    async with AsyncExitStack() as stack:
        for region in regions:
            path = None if data is None else data / f"{region}.sqlite3"
            engine = await stack.enter_async_context(
                streamkit.open_engine(path, region=region, clock=clock, group=group)
            )
            group.join(region, engine)
        yield group
