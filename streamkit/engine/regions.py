"""The regions an engine can reach: the peers that hold a global table's replicas.

An engine opened on its own has no group (``engine.group is None``): its tables cannot have
replicas. Engines opened together (``streamkit.open_regions``, or ``streamkit serve``, which
serves every region of its data directory) share a group, through which a replica's
``UpdateTable`` reaches the other region's engine and the runtime finds every region's engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from streamkit.engine.engine import Engine

__all__ = ["ALONE", "RegionGroup"]

#: What an engine opened on its own answers a request that needs another region.
ALONE = (
    "ReplicaUpdates need the table's other regions, and this engine was opened on its own: "
    "open the regions together (streamkit.open_regions, or streamkit serve) to make a "
    "global table"
)


class RegionGroup(Protocol):
    """The engines of several regions, opened together (one per region)."""

    @property
    def engines(self) -> Mapping[str, Engine]:
        """The engines open now, by region (a region opens on first use where allowed)."""
        ...

    async def engine(self, region: str) -> Engine:
        """Return the engine of ``region``, opening it if the group opens regions on demand.

        Raises:
            ValidationException: the group does not serve ``region``.
        """
        ...
