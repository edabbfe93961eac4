"""streamkit-only requests the server answers besides DynamoDB's: global tables' replication
links (DynamoDB has no API for them; ``streamkit replication`` calls these).

They travel as any DynamoDB request does (a POST of JSON 1.0, signed and verified like every
other when ``--auth`` is on) with an ``X-Amz-Target`` of ``Streamkit_20261206.<Operation>``:

- ``DescribeReplication`` ``{}`` -> ``{"Links": [{"TableName", "SourceRegion",
  "TargetRegion", "RecordsBehind", "LagMs" (absent before the first batch), "Paused",
  "Backfilling"}, ...]}``, sorted by table, source, target.
- ``PauseReplication`` / ``ResumeReplication`` ``{"TableName", "SourceRegion",
  "TargetRegion"}`` -> ``{"Link": {...}}`` (the link as ``DescribeReplication`` shows it, or
  just the three names when the link has not started yet). The link must be a pair of the
  table's replicas in the source region's catalog, else ResourceNotFoundException.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from streamkit.errors import ResourceNotFoundException, ValidationException

if TYPE_CHECKING:
    from streamkit.engine.regions import RegionGroup
    from streamkit.mappings.replication import LinkStatus, Replicator

__all__ = ["STREAMKIT_PREFIX", "ReplicationAdmin", "link_to_wire"]

#: The ``X-Amz-Target`` namespace of streamkit's own requests.
STREAMKIT_PREFIX: Final = "Streamkit_20261206"


_LINK_MEMBERS: Final = ("TableName", "SourceRegion", "TargetRegion")


def link_to_wire(link: LinkStatus) -> dict[str, Any]:
    """One link's status as the admin requests answer it."""
    out: dict[str, Any] = {
        "TableName": link.table,
        "SourceRegion": link.source,
        "TargetRegion": link.target,
        "RecordsBehind": link.records_behind,
        "Paused": link.paused,
        "Backfilling": link.backfilling,
    }
    if link.lag_ms is not None:
        out["LagMs"] = round(link.lag_ms, 3)
    return out


class ReplicationAdmin:
    """Answers the ``Streamkit_20261206`` requests over a runtime's :class:`Replicator`.

    Args:
        group: the served regions.
        replicator: returns the runtime's Replicator, or None while it has not started (the
            runtime starts it with the group's first global table, loading the replication
            machinery only then): there are no links yet.
    """

    #: wire name -> method name (as the engine's OPERATIONS)
    OPERATIONS: Final = {
        "DescribeReplication": "describe_replication",
        "PauseReplication": "pause_replication",
        "ResumeReplication": "resume_replication",
    }

    def __init__(self, group: RegionGroup, replicator: Callable[[], Replicator | None]) -> None:
        self._group = group
        self._replicator = replicator

    async def describe_replication(self) -> dict[str, Any]:
        replicator = self._replicator()
        statuses = [] if replicator is None else await replicator.status()
        return {"Links": [link_to_wire(s) for s in statuses]}

    async def pause_replication(self, **params: Any) -> dict[str, Any]:
        key = self._link(params)
        self._running().pause(*key)
        return await self._answer(key)

    async def resume_replication(self, **params: Any) -> dict[str, Any]:
        key = self._link(params)
        self._running().resume(*key)
        return await self._answer(key)

    def _running(self) -> Replicator:
        replicator = self._replicator()
        if replicator is None:  # a global table exists (checked), so it is starting
            raise ResourceNotFoundException("Replication is starting; try again")
        return replicator

    def _link(self, params: dict[str, Any]) -> tuple[str, str, str]:
        for name in params:
            if name not in _LINK_MEMBERS:
                raise ValidationException(
                    f'Unknown parameter in input: "{name}", must be one of: '
                    + ", ".join(_LINK_MEMBERS)
                )
        for name in _LINK_MEMBERS:
            value = params.get(name)
            if not isinstance(value, str) or not value:
                raise ValidationException(f"{name} is required (a non-empty string)")
        table, source, target = (params[name] for name in _LINK_MEMBERS)
        if source == target:
            raise ValidationException("SourceRegion and TargetRegion must differ")
        engine = self._group.engines.get(source)
        spec = None if engine is None or engine.closed else engine.global_tables().get(table)
        if spec is None or target not in dict(spec.replicas):
            raise ResourceNotFoundException(
                f"No replication link of table {table} from {source} to {target}: the table "
                f"must be a global table with replicas in both regions"
            )
        return table, source, target

    async def _answer(self, key: tuple[str, str, str]) -> dict[str, Any]:
        for status in await self._running().status():
            if (status.table, status.source, status.target) == key:
                return {"Link": link_to_wire(status)}
        table, source, target = key
        return {"Link": {"TableName": table, "SourceRegion": source, "TargetRegion": target}}
