"""Time to Live settings (UpdateTimeToLive, DescribeTimeToLive) and the expiring delete.

The settings are table metadata, so they live in the engine; the background sweeper that
calls :meth:`TtlMixin.expire_items` lives in :mod:`streamkit.ttl`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping
from typing import Any, ClassVar

from streamkit.engine.core import EngineCore, on_table
from streamkit.engine.params import Params, specification
from streamkit.errors import ResourceNotFoundException, SerializationException, ValidationException
from streamkit.logs import get_logger
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as storage_tables, ttl as ttl_sql
from streamkit.storage.ttl import TtlSetting

__all__ = ["FIVE_YEARS", "TtlMixin"]

log = get_logger(__name__)

FIVE_YEARS = 5 * 365 * 86400.0  # items whose TTL is older than this are never deleted
_SPEC = "timeToLiveSpecification"
FILL_STEP = 1000  # items indexed per transaction when TTL is enabled on a full table


class TtlMixin(EngineCore):
    """UpdateTimeToLive, DescribeTimeToLive, and the conditional delete the sweeper uses."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "UpdateTimeToLive": "update_time_to_live",
        "DescribeTimeToLive": "describe_time_to_live",
    }

    _ttl_settings: dict[str, TtlSetting]
    ttl_delay_seconds: float = 0.0
    ttl_cooldown_seconds: float = 0.0

    def _configure_ttl(
        self, settings: Mapping[str, TtlSetting], *, delay: float, cooldown: float
    ) -> None:
        """Install the stored settings and options (``open_engine`` calls this once)."""
        if delay < 0 or cooldown < 0:
            raise ValueError("ttl_delay_seconds and ttl_cooldown_seconds must not be negative")
        self._ttl_settings = {n: s for n, s in settings.items() if n in self._tables}
        self._ttl_attributes.clear()
        self._ttl_attributes.update(
            {n: s.attribute for n, s in self._ttl_settings.items() if s.enabled and s.attribute}
        )
        self.ttl_delay_seconds = delay
        self.ttl_cooldown_seconds = cooldown

    def _forget_table(self, name: str) -> None:
        super()._forget_table(name)
        self._ttl_settings.pop(name, None)

    async def update_time_to_live(self, **params: Any) -> dict[str, Any]:
        """Enable or disable TTL on a table (UpdateTimeToLive); not idempotent, as in AWS."""
        p = Params("UpdateTimeToLive", params, {"TableName", "TimeToLiveSpecification"})
        name = p.table_name()
        enabled, attribute = _parse_specification(p.raw("TimeToLiveSpecification"))
        spec = self._tables.get(name)
        if spec is None:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        now = self.clock.now()
        current = self._ttl_settings.get(name)
        active = current.attribute if current is not None and current.enabled else None
        if enabled:
            if active == attribute:
                raise ValidationException("TimeToLive is already enabled")
            if active is not None:
                raise ValidationException(
                    "TimeToLive is active on a different AttributeName: current AttributeName "
                    f"is {active}"
                )
        else:
            if active is None:
                raise ValidationException("TimeToLive is already disabled")
            if active != attribute:
                raise ValidationException(
                    "TimeToLive is active on a different AttributeName: current AttributeName "
                    f"is {active}"
                )
        if current is not None and now - current.changed_at < self.ttl_cooldown_seconds:
            raise ValidationException(
                "Time to live has been modified multiple times within a fixed interval"
            )
        await self._apply_ttl(spec, TtlSetting(attribute, enabled, now))
        # a global table's TTL setting is the same in every replica
        for peer in await self._replica_peers(spec):
            peer_spec = peer._tables.get(name)
            if peer_spec is not None:
                await peer._apply_ttl(peer_spec, TtlSetting(attribute, enabled, peer.clock.now()))
        log.debug("ttl_updated", table=name, enabled=enabled)
        return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}

    async def _apply_ttl(self, spec: TableSpec, setting: TtlSetting) -> None:
        """Store a table's TTL setting; index (or clear) the TTL attribute of its items."""
        name = spec.name
        attribute = setting.attribute
        enabled = setting.enabled

        def run(conn: sqlite3.Connection) -> None:
            ttl_sql.save_setting(conn, name, setting)
            if not enabled:
                ttl_sql.clear_column(conn, spec)

        await self._store.write(on_table(spec, run))
        self._ttl_settings[name] = setting
        if enabled and attribute:
            self._ttl_attributes[name] = attribute  # from here on, writes fill the column
            await self._fill_ttl_column(spec, attribute)
        else:
            self._ttl_attributes.pop(name, None)

    async def _fill_ttl_column(self, spec: TableSpec, attribute: str) -> None:
        """Index the TTL attribute of the items already there, in steps of ``FILL_STEP``.

        Writes go on between the steps (each is one short transaction on the event loop, not
        one long one), and a step stops the pass if TTL was disabled meanwhile.
        """
        after: tuple[bytes, bytes] | None = None
        while True:
            step = functools.partial(
                ttl_sql.fill_column,
                spec=spec,
                attribute=attribute,
                after=after,
                limit=FILL_STEP,
            )
            after = await self._store.write(on_table(spec, step))
            if after is None:
                return

    async def describe_time_to_live(self, **params: Any) -> dict[str, Any]:
        """Return a table's TTL status (DescribeTimeToLive)."""
        p = Params("DescribeTimeToLive", params, {"TableName"})
        name = p.table_name()
        if name not in self._tables:
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        current = self._ttl_settings.get(name)
        if current is None or not current.enabled or current.attribute is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {
            "TimeToLiveDescription": {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": current.attribute,
            }
        }

    def ttl_tables(self) -> list[str]:
        """Return the names of the tables with TTL enabled."""
        return sorted(self._ttl_attributes)

    async def expire_items(self, table: str, *, now: float, limit: int = 100) -> int:
        """Delete up to ``limit`` expired items of a table in one transaction; return how many.

        Candidates come from the ``ttl`` index: value below ``now - ttl_delay_seconds`` and not
        older than five years. Each one is re-read and re-checked inside the transaction, so
        a concurrent update that removed or extended its TTL wins. The delete goes through the
        ordinary write path (indexes, stream) with the service's identity on the REMOVE record.

        In a global table only the region that wrote an item last (its hidden version's
        region; the first replica region by name for an item never versioned) expires it;
        the other replicas receive the deletion as a plain replicated delete.
        """
        spec = self._tables.get(table)
        attribute = self._ttl_attributes.get(table)
        if spec is None or attribute is None:
            return 0
        before = now - self.ttl_delay_seconds
        not_before = now - FIVE_YEARS
        region = self.region

        def run(conn: sqlite3.Connection) -> int:
            deleted = 0
            if spec.is_global:  # one region expires each item: the one that wrote it last
                keys = ttl_sql.expired_keys_owned(
                    conn, spec, before=before, not_before=not_before, limit=limit, region=region
                )
            else:
                keys = ttl_sql.expired_keys(
                    conn, spec, before=before, not_before=not_before, limit=limit
                )
            for hk, rk in keys:
                old = storage_tables.get_row(conn, spec, hk, rk)
                value = None if old is None else storage_tables.ttl_value(old, attribute)
                if value is None or not not_before <= value < before:
                    continue
                self._write(conn, spec, (hk, rk), old, None, 0, now=now, service=True)
                deleted += 1
            return deleted

        try:
            return await self._store.write(on_table(spec, run))
        except ResourceNotFoundException:  # the table was deleted meanwhile
            return 0


def _parse_specification(value: object) -> tuple[bool, str]:
    value = specification(value, "TimeToLiveSpecification", ("Enabled", "AttributeName"))
    enabled = value.get("Enabled")
    attribute = value.get("AttributeName")
    errors = []
    if enabled is None:
        errors.append(
            f"Value null at '{_SPEC}.enabled' failed to satisfy constraint: Member must not be null"
        )
    elif not isinstance(enabled, bool):
        raise SerializationException("Invalid type for parameter Enabled, expected a boolean")
    if attribute is None:
        errors.append(
            f"Value null at '{_SPEC}.attributeName' failed to satisfy constraint: "
            "Member must not be null"
        )
    elif not isinstance(attribute, str):
        raise SerializationException("Invalid type for parameter AttributeName, expected a string")
    elif not 1 <= len(attribute) <= 255:
        rule = "greater than or equal to 1" if not attribute else "less than or equal to 255"
        errors.append(
            f"Value '{attribute}' at '{_SPEC}.attributeName' failed to satisfy constraint: "
            f"Member must have length {rule}"
        )
    if errors:
        raise ValidationException(
            f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
            + "; ".join(errors)
        )
    assert isinstance(enabled, bool)
    assert isinstance(attribute, str)
    return enabled, attribute
