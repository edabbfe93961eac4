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

__all__ = ["RegionGroup"]


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
