"""Global tables' control plane (version 2019.11.21): UpdateTable's ReplicaUpdates.

A global table is a table of the same name in several regions of one group
(:class:`~streamkit.engine.regions.RegionGroup`), each an ordinary table of its region's
engine. Every replica's catalog holds the same ``spec.replicas``: each region's
(region, ReplicaStatus), sorted by region. This module keeps them so:

- ``Create`` makes the replica table in the other region (same key schema, attribute
  definitions, indexes, billing, TTL setting; a NEW_AND_OLD_IMAGES stream), switches a stream on
  here if there is none (a KEYS_ONLY one is kept), and writes the new ``replicas`` (the new
  one CREATING) into every replica's catalog. The replication side fills the new replica and
  calls :meth:`ReplicasMixin.replica_ready`, which marks it ACTIVE everywhere.
- ``Update`` changes what may differ per replica: its read capacity, its table class.
- ``Delete`` drops the replica table and its items in that region and takes the region out of
  every catalog; with one region left the table is regional again (its stream stays on).

Replication itself (versions, links, back-fill) is not here: it watches the catalogs.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from streamkit.engine.core import EngineCore
from streamkit.engine.regions import ALONE
from streamkit.engine.tables import stream_label
from streamkit.errors import ResourceNotFoundException, ValidationException
from streamkit.logs import get_logger
from streamkit.model.schema import TableSpec, constraint, invalid
from streamkit.storage.ttl import TtlSetting

if TYPE_CHECKING:
    from streamkit.engine.engine import Engine

__all__ = [
    "GLOBAL_TABLE_VERSION",
    "LOCAL_REGION",
    "STREAM_REQUIRED",
    "ReplicasMixin",
    "check_global_options",
]

log = get_logger(__name__)

GLOBAL_TABLE_VERSION = "2019.11.21"
#: DynamoDB's answer to a Create or Delete of the table's own region (observed).
LOCAL_REGION = (
    "Cannot add or delete the local region through ReplicaUpdates. Use CreateTable, "
    "DeleteTable, or UpdateTable as required."
)
#: DynamoDB's answer to disabling the stream of a global table (observed; after the
#: "One or more parameter values were invalid: " prefix).
STREAM_REQUIRED = "Disabling Stream is not allowed for a Global Table replica."
_MEMBERS = {
    "Create": frozenset(
        {
            "RegionName",
            "KMSMasterKeyId",
            "ProvisionedThroughputOverride",
            "OnDemandThroughputOverride",
            "GlobalSecondaryIndexes",
            "TableClassOverride",
        }
    ),
    "Delete": frozenset({"RegionName"}),
}
_MEMBERS["Update"] = _MEMBERS["Create"]
_TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")


def check_global_options(params: Mapping[str, Any]) -> None:
    """Refuse UpdateTable's multi-Region strong consistency members (not supported).

    ``MultiRegionConsistency: EVENTUAL`` (the default) is accepted.
    """
    consistency = params.get("MultiRegionConsistency")
    if consistency is not None and consistency not in ("EVENTUAL", "STRONG"):
        raise constraint(
            consistency, "multiRegionConsistency", "satisfy enum value set: [EVENTUAL, STRONG]"
        )
    if consistency == "STRONG":
        raise ValidationException(
            "MultiRegionConsistency STRONG is not supported by streamkit: its global tables "
            "replicate with multi-Region eventual consistency (EVENTUAL)"
        )
    if params.get("GlobalTableWitnessUpdates") is not None:
        raise ValidationException(
            "GlobalTableWitnessUpdates are not supported by streamkit: a witness belongs to a "
            "multi-Region strongly consistent (STRONG) global table"
        )


@dataclass(frozen=True, slots=True)
class ReplicaUpdate:
    """One ReplicationGroupUpdate, validated."""

    action: str  # Create, Update or Delete
    region: str
    read_capacity: int | None = None
    table_class: str | None = None
    index_reads: Mapping[str, int] = field(default_factory=dict)


def parse_replica_updates(value: object, spec: TableSpec) -> list[ReplicaUpdate]:
    """Validate ReplicaUpdates against the table's spec (the shapes, not the regions)."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValidationException("Invalid type for parameter ReplicaUpdates, expected a list")
    if not value:
        raise constraint([], "replicaUpdates", "have length greater than or equal to 1")
    updates: list[ReplicaUpdate] = []
    for position, element in enumerate(value, 1):
        if not isinstance(element, Mapping):
            raise ValidationException(
                "Invalid type for parameter ReplicaUpdates, expected a list of structures"
            )
        given = [k for k, v in element.items() if v is not None]
        if len(given) != 1 or given[0] not in _MEMBERS:
            raise invalid(
                "exactly one of Create, Update or Delete must be given per ReplicationGroupUpdate"
            )
        action = given[0]
        updates.append(_parse_one(action, element[action], spec, position))
    regions = [u.region for u in updates]
    twice = next((r for r in regions if regions.count(r) > 1), None)
    if twice is not None:
        raise invalid(f"Only one ReplicationGroupUpdate per region is allowed: {twice}")
    return updates


def _parse_one(action: str, body: object, spec: TableSpec, position: int) -> ReplicaUpdate:
    member = f"replicaUpdates.{position}.member.{action.lower()}"
    if not isinstance(body, Mapping):
        raise ValidationException(f"Invalid type for parameter {action}, expected a structure")
    unknown = sorted(k for k in body if k not in _MEMBERS[action])
    if unknown:
        raise ValidationException(
            f'Unknown parameter in ReplicaUpdates.{action}: "{unknown[0]}", must be one of: '
            + ", ".join(sorted(_MEMBERS[action]))
        )
    region = body.get("RegionName")
    if region is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}.regionName' failed to "
            "satisfy constraint: Member must not be null"
        )
    if not isinstance(region, str):
        raise ValidationException("Invalid type for parameter RegionName, expected a string")
    if action == "Delete":
        return ReplicaUpdate(action, region)
    read = None
    override = body.get("ProvisionedThroughputOverride")
    if override is not None:
        read = _read_override(override, spec, f"{member}.provisionedThroughputOverride")
    table_class = body.get("TableClassOverride")
    if table_class is not None and table_class not in _TABLE_CLASSES:
        raise constraint(
            table_class,
            f"{member}.tableClassOverride",
            "satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
        )
    index_reads: dict[str, int] = {}
    indexes = body.get("GlobalSecondaryIndexes")
    if indexes is not None:
        if not isinstance(indexes, Sequence) or not all(isinstance(i, Mapping) for i in indexes):
            raise ValidationException(
                "Invalid type for parameter GlobalSecondaryIndexes, expected a list of structures"
            )
        for idx in indexes:
            name = idx.get("IndexName")
            found = spec.index(str(name))
            if found is None or not found.is_global:
                raise invalid(f"Global secondary index {name} does not exist on table {spec.name}")
            gsi_override = idx.get("ProvisionedThroughputOverride")
            if gsi_override is not None:
                index_reads[found.name] = _read_override(
                    gsi_override,
                    spec,
                    f"{member}.globalSecondaryIndexes.provisionedThroughputOverride",
                )
    return ReplicaUpdate(action, region, read, table_class, index_reads)


def _read_override(value: object, spec: TableSpec, member: str) -> int:
    if not isinstance(value, Mapping) or set(value) - {"ReadCapacityUnits"}:
        raise ValidationException(
            "Invalid type for parameter ProvisionedThroughputOverride, expected a structure "
            "with ReadCapacityUnits"
        )
    if spec.billing_mode == "PAY_PER_REQUEST":
        raise invalid(
            "ProvisionedThroughputOverride cannot be specified when BillingMode is PAY_PER_REQUEST"
        )
    read = value.get("ReadCapacityUnits")
    if isinstance(read, bool) or not isinstance(read, int):
        raise ValidationException("Invalid type for parameter ReadCapacityUnits, expected an int")
    if read < 1:
        raise constraint(
            read, f"{member}.readCapacityUnits", "have value greater than or equal to 1"
        )
    return read


def with_status(
    replicas: tuple[tuple[str, str], ...], region: str, status: str | None
) -> tuple[tuple[str, str], ...]:
    """Return ``replicas`` with ``region`` set to ``status`` (added, or removed if None)."""
    kept = dict(replicas)
    if status is None:
        kept.pop(region, None)
    else:
        kept[region] = status
    return tuple(sorted(kept.items()))


def replicas_wire(replicas: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Return DescribeTable's ``Replicas`` for a spec's replicas."""
    return [{"RegionName": r, "ReplicaStatus": s} for r, s in replicas]


class ReplicasMixin(EngineCore):
    """ReplicaUpdates (called by UpdateTable), ``replica_ready``, and what a replica's own
    region does for its group (create, drop, update the catalog). Not operations of their own.
    """

    _ttl_settings: dict[str, TtlSetting]

    async def _replica_updates(self, spec: TableSpec, params: Mapping[str, Any]) -> dict[str, Any]:
        """Apply UpdateTable's ReplicaUpdates (validated whole before anything changes)."""
        others = sorted(
            k
            for k, v in params.items()
            if v is not None and k not in ("TableName", "ReplicaUpdates", "MultiRegionConsistency")
        )
        if others:
            raise invalid(
                f"ReplicaUpdates cannot be combined with other table updates ({others[0]}) in "
                "one UpdateTable call"
            )
        updates = parse_replica_updates(params["ReplicaUpdates"], spec)
        if self.group is None:
            raise ValidationException(ALONE)
        current = dict(spec.replicas)
        for u in updates:
            if u.region == self.region and u.action != "Update":
                raise ValidationException(LOCAL_REGION)
            if u.action == "Create" and u.region in current:
                raise invalid(
                    f"Failed to create a the new replica of table with name: '{spec.name}' "
                    "because one or more replicas already existed as tables."
                )
            if u.action != "Create" and u.region not in current:
                raise invalid(f"Replica of table {spec.name} does not exist in region {u.region}")
        peers = {u.region: await self._peer(u.region) for u in updates}
        for u in updates:
            peers[u.region].check_open()  # a closed region refuses before anything changes
            held = peers[u.region]._tables.get(spec.name)
            if u.action == "Create" and held is not None:
                raise invalid(
                    f"Failed to create a the new replica of table with name: '{spec.name}' "
                    "because one or more replicas already existed as tables."
                )
            if u.action == "Update" and held is None:
                raise invalid(f"Replica of table {spec.name} does not exist in region {u.region}")
            if u.action == "Delete" and held is not None and held.deletion_protection:
                raise ValidationException(
                    "Resource cannot be deleted as it is currently protected against "
                    "deletion. Disable deletion protection first."
                )
        replicas = spec.replicas or ((self.region, "ACTIVE"),)
        shown = replicas
        for u in updates:
            if u.action == "Create":
                replicas = with_status(replicas, u.region, "CREATING")
                shown = with_status(shown, u.region, "CREATING")
            elif u.action == "Delete":
                replicas = with_status(replicas, u.region, None)
                shown = with_status(shown, u.region, "DELETING")
        if len(replicas) == 1:
            replicas = ()
        stream_on = any(u.action == "Create" for u in updates) and spec.stream_view_type is None
        new = await self._apply_replica_updates(spec, updates, peers, replicas, stream_on)
        log.debug("replicas_updated", table=spec.name, replicas=[r for r, _ in replicas])
        description = await self._whole()._table_description(new, "UPDATING")
        if updates and any(u.action != "Update" for u in updates):
            description["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
            description["Replicas"] = replicas_wire(shown)
        return {"TableDescription": description}

    async def _apply_replica_updates(
        self,
        spec: TableSpec,
        updates: list[ReplicaUpdate],
        peers: Mapping[str, Engine],
        replicas: tuple[tuple[str, str], ...],
        stream_on: bool,
    ) -> TableSpec:
        """Carry out validated ReplicaUpdates; return this region's new spec.

        All or nothing up to the drops: the replicas are created and updated, then every
        remaining replica's catalog gets ``replicas`` (a deleted replica's own gets none: it
        is regional from then on), this region's last and in one write with its stream
        switched on (``stream_on``). If any of that fails (a region's engine refuses, the
        call is cancelled), what was done is undone (a created replica dropped, an updated
        one and every catalog written back) and the error raised: no half-made replica is
        left. Only then are the deleted replicas' tables dropped (which cannot be undone).
        """
        ttl = self._ttl_settings.get(spec.name)
        undo: list[Callable[[], Awaitable[object]]] = []
        try:
            for u in updates:
                peer = peers[u.region]
                if u.action == "Create":
                    await peer._create_replica(spec, replicas, ttl, u)
                    undo.append(functools.partial(peer._drop_replica, spec.name))
                elif u.action == "Update":
                    before = peer._spec(spec.name, named=True)
                    await peer._update_replica(spec.name, u)
                    undo.append(functools.partial(peer._restore_spec, before))
            deleted = {u.region for u in updates if u.action == "Delete"}
            remaining = {r for r, _ in spec.replicas} | {r for r, _ in replicas}
            remaining -= deleted | {self.region}
            for region in [*sorted(remaining), *sorted(deleted)]:
                peer = await self._peer(region)
                held = peer._tables.get(spec.name)
                if held is None:
                    continue
                await peer._set_replicas(spec.name, () if region in deleted else replicas)
                undo.append(functools.partial(peer._set_replicas, spec.name, held.replicas))
            new = await self._set_replicas(spec.name, replicas, stream_on=stream_on)
        except BaseException:
            with anyio.CancelScope(shield=True):
                for step in reversed(undo):
                    try:
                        await step()
                    except Exception:  # keep undoing the rest; the first error is raised
                        log.exception("replica_update_undo_failed", table=spec.name)
            raise
        assert new is not None
        failure: Exception | None = None
        for region in sorted(deleted):
            try:
                await peers[region]._drop_replica(spec.name)
            except Exception as exc:  # the others are dropped still; that table is regional
                failure = failure or exc
                log.exception("replica_drop_failed", table=spec.name, region=region)
        if failure is not None:
            raise failure
        return new

    async def _create_replica(
        self,
        source: TableSpec,
        replicas: tuple[tuple[str, str], ...],
        ttl: TtlSetting | None,
        update: ReplicaUpdate,
    ) -> None:
        """Create, in this (the new replica's) region, the replica table of ``source``."""
        now = self.clock.now()
        read = update.read_capacity if update.read_capacity is not None else source.read_capacity
        spec = replace(
            source,
            table_id=str(uuid.uuid4()),
            created=now,
            read_capacity=read,
            local_indexes=tuple(
                replace(i, status="ACTIVE", cursor=None) for i in source.local_indexes
            ),
            global_indexes=tuple(
                replace(
                    i,
                    status="ACTIVE",
                    cursor=None,
                    read_capacity=update.index_reads.get(i.name, i.read_capacity),
                )
                for i in source.global_indexes
            ),
            stream_view_type="NEW_AND_OLD_IMAGES",
            stream_label=stream_label(now),
            deletion_protection=False,
            table_class=update.table_class or source.table_class,
            tags=(),
            policies=(),
            replicas=replicas,
        )
        setting = None
        if ttl is not None and ttl.enabled:
            setting = TtlSetting(ttl.attribute, True, now)
        await self._whole()._create_table_spec(spec, ttl=setting)
        log.debug("replica_created", table=spec.name, region=self.region)

    async def _drop_replica(self, name: str) -> None:
        """Drop this region's replica of ``name`` and its items (ReplicaUpdates Delete)."""
        spec = self._tables.get(name)
        if spec is not None:
            await self._whole()._drop_table(spec)
            log.debug("replica_deleted", table=name, region=self.region)

    async def _update_replica(self, name: str, update: ReplicaUpdate) -> None:
        """Apply what may differ per replica: read capacity (table, GSIs), table class."""
        spec = self._spec(name, named=True)
        changes: dict[str, Any] = {}
        if update.read_capacity is not None:
            changes["read_capacity"] = update.read_capacity
        if update.table_class is not None:
            changes["table_class"] = update.table_class
        if update.index_reads:
            changes["global_indexes"] = tuple(
                replace(i, read_capacity=update.index_reads.get(i.name, i.read_capacity))
                for i in spec.global_indexes
            )
        if changes:
            await self._whole()._save_table_update(spec, spec.with_changes(**changes))

    async def _set_replicas(
        self, name: str, replicas: tuple[tuple[str, str], ...], *, stream_on: bool = False
    ) -> TableSpec | None:
        """Write ``replicas`` into this region's catalog entry of ``name`` (if it has one),
        switching a NEW_AND_OLD_IMAGES stream on in the same write if ``stream_on`` and it
        has none."""
        spec = self._tables.get(name)
        if spec is None:
            return None
        changes: dict[str, Any] = {}
        if spec.replicas != replicas:
            changes["replicas"] = replicas
        if stream_on and spec.stream_view_type is None:
            changes["stream_view_type"] = "NEW_AND_OLD_IMAGES"
            changes["stream_label"] = stream_label(self.clock.now())
        if not changes:
            return spec
        return await self._whole()._save_table_update(spec, spec.with_changes(**changes))

    async def _restore_spec(self, before: TableSpec) -> None:
        """Put back what ``_update_replica`` changed (undoing a ReplicaUpdates Update)."""
        spec = self._tables.get(before.name)
        if spec is not None and spec.table_id == before.table_id and spec != before:
            await self._whole()._save_table_update(
                spec, before.with_changes(replicas=spec.replicas)
            )

    async def replica_ready(self, table: str, region: str) -> None:
        """Mark ``region``'s replica of ``table`` ACTIVE in every replica's catalog.

        Not a DynamoDB operation: the replication side calls it once a new replica holds
        every item. A region that is no longer a replica (deleted meanwhile) is ignored.

        Raises:
            ResourceNotFoundException: this region has no table ``table``.
        """
        spec = self._tables.get(table)
        if spec is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {table} not found"
            )
        if dict(spec.replicas).get(region) in (None, "ACTIVE"):
            return
        replicas = with_status(spec.replicas, region, "ACTIVE")
        for peer_region in spec.replica_regions():
            peer = await self._peer(peer_region)
            await peer._set_replicas(table, replicas)
        log.debug("replica_ready", table=table, region=region)

    async def _leave_group(self, spec: TableSpec) -> None:
        """Take this region out of every other replica's catalog (DeleteTable of a replica)."""
        replicas = with_status(spec.replicas, self.region, None)
        if len(replicas) == 1:
            replicas = ()
        for region in spec.replica_regions(besides=self.region):
            peer = await self._peer(region)
            await peer._set_replicas(spec.name, replicas)
