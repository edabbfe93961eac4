"""Point-in-time recovery: UpdateContinuousBackups, DescribeContinuousBackups,
RestoreTableToPointInTime, and the trimming of each table's history to its recovery period.

The history itself (one row per item change, written by the engine's one write path while
PITR is on) is :mod:`streamkit.storage.history`. Restorable window: from the later of the
enable time and ``now - RecoveryPeriodInDays``, to ``now - pitr_lag_seconds`` (an option of
``open_engine``, default 0; AWS lags about five minutes).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from streamkit.engine.core import EngineCore, on_table
from streamkit.engine.indexes import maintain_indexes
from streamkit.engine.params import Params, specification
from streamkit.engine.restored import OVERRIDES, restored_spec
from streamkit.errors import (
    InvalidRestoreTimeException,
    PointInTimeRecoveryUnavailableException,
    ResourceNotFoundException,
    SerializationException,
    TableAlreadyExistsException,
    TableNotFoundException,
    ValidationException,
)
from streamkit.logs import get_logger
from streamkit.model.schema import TableSpec, constraint
from streamkit.storage import history, select, tables as storage_tables
from streamkit.storage.codec import load_item
from streamkit.storage.history import HistoryState

__all__ = ["DAY", "PitrMixin"]

log = get_logger(__name__)

DAY = 86400.0
FILL_STEP = 1000  # items recorded per transaction when PITR is enabled on a full table
RESTORE_STEP = 2000  # keys restored per transaction
TRIM_STEP = 20_000  # history rows examined per trimming transaction
_SPEC = "pointInTimeRecoverySpecification"
_RESTORE_PARAMS = OVERRIDES | {
    "SourceTableArn",
    "SourceTableName",
    "TargetTableName",
    "UseLatestRestorableTime",
    "RestoreDateTime",
}


class PitrMixin(EngineCore):
    """Continuous backups and restores to a point in time."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "UpdateContinuousBackups": "update_continuous_backups",
        "DescribeContinuousBackups": "describe_continuous_backups",
        "RestoreTableToPointInTime": "restore_table_to_point_in_time",
    }

    #: LatestRestorableDateTime is this many seconds before now (``open_engine(pitr_lag_seconds=)``)
    pitr_lag_seconds: float = 0.0

    def _configure_pitr(
        self, settings: Mapping[str, tuple[str, float, int, bool]], *, lag: float
    ) -> None:
        """Install the stored settings (``open_engine`` calls this once)."""
        if lag < 0:
            raise ValueError("pitr_lag_seconds must not be negative")
        self.pitr_lag_seconds = lag
        for name, (table_id, enabled_at, days, filled) in settings.items():
            spec = self._tables.get(name)
            if spec is not None and spec.table_id == table_id:
                table = history.history_table(spec)
                # an unfinished fill resumes on the next PITR call (see _finish_fill)
                self._pitr[name] = HistoryState(table, enabled_at, days, filling=not filled)

    def _forget_table(self, name: str) -> None:
        super()._forget_table(name)
        self._pitr.pop(name, None)

    # -- UpdateContinuousBackups / DescribeContinuousBackups -------------------------------

    async def update_continuous_backups(self, **params: Any) -> dict[str, Any]:
        """Enable or disable point-in-time recovery, or change its period."""
        p = Params(
            "UpdateContinuousBackups", params, {"TableName", "PointInTimeRecoverySpecification"}
        )
        name = p.table_name()
        enabled, days = _parse_specification(p.raw("PointInTimeRecoverySpecification"))
        spec = self._source(name)
        state = self._pitr.get(name)
        if enabled and state is None:
            state = HistoryState(history.history_table(spec), self.clock.now(), days, True)
            new = state

            def enable(conn: sqlite3.Connection) -> None:
                history.create_history(conn, spec, new)
                # from here on (the writes after this one in the batch too), every write
                # keeps its history row
                self._pitr[name] = new

            try:
                await self._store.write(on_table(spec, enable))
            except BaseException:
                if self._pitr.get(name) is new:
                    del self._pitr[name]
                raise
            log.debug("pitr_enabled", table=name, days=days)
        elif enabled and state is not None and state.days != days:
            state.days = days
            current = state
            await self._store.write(
                on_table(spec, lambda c: history.save_setting(c, spec, current))
            )
        elif not enabled and state is not None:
            del self._pitr[name]  # no more history rows; then drop those kept
            await self._store.write(on_table(spec, lambda c: history.drop_history(c, spec)))
            log.debug("pitr_disabled", table=name)
        await self._finish_fill(name)
        return {"ContinuousBackupsDescription": self._continuous_backups(name)}

    async def describe_continuous_backups(self, **params: Any) -> dict[str, Any]:
        """Return a table's continuous-backup and PITR status."""
        p = Params("DescribeContinuousBackups", params, {"TableName"})
        name = p.table_name()
        self._source(name)
        await self._finish_fill(name)
        return {"ContinuousBackupsDescription": self._continuous_backups(name)}

    def _continuous_backups(self, name: str) -> dict[str, Any]:
        state = self._pitr.get(name)
        if state is None:
            return {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
            }
        earliest, latest = self._window(state)
        return {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": state.days,
                "EarliestRestorableDateTime": earliest,
                "LatestRestorableDateTime": latest,
            },
        }

    def _window(self, state: HistoryState) -> tuple[float, float]:
        now = self.clock.now()
        earliest = max(state.enabled_at, now - state.days * DAY)
        return earliest, max(earliest, now - self.pitr_lag_seconds)

    def _source(self, name: str) -> TableSpec:
        spec = self._tables.get(name)
        if spec is None:
            raise TableNotFoundException(f"Table not found: {name}")
        return spec

    async def _finish_fill(self, name: str) -> None:
        """Record, in steps of ``FILL_STEP`` items, the items present when PITR was enabled.

        Writes go on between the steps; a step stops when PITR was disabled meanwhile.
        """
        state = self._pitr.get(name)
        if state is None or not state.filling or self._store.read_only:
            return
        spec = self._tables[name]
        items = storage_tables.items_table(spec)
        while self._pitr.get(name) is state and state.filling:
            step = functools.partial(
                history.fill_step, spec=spec, items=items, state=state, limit=FILL_STEP
            )
            await self._store.write(on_table(spec, step))

    # -- RestoreTableToPointInTime ---------------------------------------------------------

    async def restore_table_to_point_in_time(self, **params: Any) -> dict[str, Any]:
        """Create a new table holding the source table's items as they were at a moment."""
        p = Params("RestoreTableToPointInTime", params, _RESTORE_PARAMS)
        target = _target_name(p.raw("TargetTableName"))
        arn = p.string("SourceTableArn")
        name = p.string("SourceTableName")
        if name is None and arn is None:
            raise ValidationException("Either SourceTableName or SourceTableArn must be specified")
        if name is None:
            assert arn is not None
            name = p.table_name("SourceTableArn")
        source = self._source(name)
        if target in self._tables:
            raise TableAlreadyExistsException(f"Table already exists: {target}")
        state = self._pitr.get(name)
        if state is None:
            raise PointInTimeRecoveryUnavailableException(
                f"Point in time recovery is not enabled for table '{name}'"
            )
        at = self._restore_time(p, state)
        restored = restored_spec(source, target, params, self.clock.now())
        # the restore writes every item through the indexes: each GSI is complete
        spec = restored.with_changes(
            global_indexes=tuple(
                replace(i, status="ACTIVE", cursor=None) for i in restored.global_indexes
            )
        )
        await self._finish_fill(name)
        await self._restore(source, state, spec, at)
        self._tables[target] = spec
        self._catalog_changed()
        log.debug("pitr_restored", source=name, target=target, at=at)
        description = self._describe(spec, "CREATING", {})
        description["RestoreSummary"] = {
            "SourceTableArn": source.arn(self.region, self.account),
            "RestoreDateTime": at,
            "RestoreInProgress": False,
        }
        return {"TableDescription": description}

    def _restore_time(self, p: Params, state: HistoryState) -> float:
        latest_wanted = p.boolean("UseLatestRestorableTime")
        raw = p.raw("RestoreDateTime")
        earliest, latest = self._window(state)
        if latest_wanted:
            if raw is not None:
                raise ValidationException(
                    "Only one of UseLatestRestorableTime or RestoreDateTime can be specified"
                )
            return latest
        if raw is None:
            raise ValidationException(
                "Either UseLatestRestorableTime or RestoreDateTime must be specified"
            )
        at = _timestamp(raw)
        if not earliest <= at <= latest:
            raise InvalidRestoreTimeException(
                "Restore time must be between EarliestRestorableDateTime and "
                "LatestRestorableDateTime"
            )
        return at

    async def _restore(
        self, source: TableSpec, state: HistoryState, spec: TableSpec, at: float
    ) -> None:
        """Create the target table, then copy the source's history at ``at`` in steps."""

        def create(conn: sqlite3.Connection) -> None:
            exists = conn.execute("SELECT 1 FROM sk_tables WHERE name = ?", (spec.name,)).fetchone()
            if exists:
                raise TableAlreadyExistsException(f"Table already exists: {spec.name}")
            storage_tables.create_table(conn, spec)
            for idx in spec.indexes:
                select.create_index(conn, spec, idx)

        await self._store.write(create)
        items = storage_tables.items_table(spec)
        after: list[tuple[bytes, bytes] | None] = [None]

        def copy(conn: sqlite3.Connection) -> bool:
            after[0] = history.copy_step(conn, state.table, items, at, after[0], RESTORE_STEP)
            return after[0] is None

        def step(conn: sqlite3.Connection) -> bool:
            rows = history.restore_step(conn, state.table, at, after[0], RESTORE_STEP)
            live = [r for r in rows if r[2]]
            history.insert_items(conn, items, live)
            if spec.has_indexes:
                for hk, rk, blob, _ in live:
                    maintain_indexes(conn, spec, (hk, rk), None, load_item(blob))
            if rows:
                after[0] = (rows[-1][0], rows[-1][1])
            return len(rows) < RESTORE_STEP

        try:
            # with secondary indexes each item's index rows are made in Python; else the
            # rows are copied in SQL alone
            while not await self._store.write(on_table(source, step if spec.has_indexes else copy)):
                pass
        except BaseException:
            await self._store.write(lambda c: _drop(c, spec))
            raise

    # -- upkeep ----------------------------------------------------------------------------

    async def trim_point_in_time_history(self, now: float) -> int:
        """Drop the history rows no restorable time needs any more; return how many.

        Runs with the stream upkeep (``streamkit.streams.maintain_once``), in transactions
        that each examine at most ``TRIM_STEP`` rows, so writers keep flowing.
        """
        trimmed = 0
        for name, state in list(self._pitr.items()):
            spec = self._tables.get(name)
            if spec is None or state.filling:
                continue
            cutoff = now - state.days * DAY
            if cutoff < state.enabled_at:
                continue
            table = state.table
            try:
                bounds = functools.partial(history.rowid_bounds, table=table)
                low, high = await self._store.write(on_table(spec, bounds))
                while low <= high:
                    step = functools.partial(
                        history.trim, table=table, cutoff=cutoff, low=low, high=low + TRIM_STEP
                    )
                    trimmed += await self._store.write(on_table(spec, step))
                    low += TRIM_STEP + 1
            except ResourceNotFoundException:  # the table (or its PITR) went meanwhile
                continue
        if trimmed:
            log.debug("pitr_trimmed", rows=trimmed)
        return trimmed

    # -- DeleteTable -----------------------------------------------------------------------

    async def _before_table_drop(self, spec: TableSpec) -> None:
        """A table with PITR on leaves its ``$DeletedTableBackup``; then its history goes."""
        await super()._before_table_drop(spec)
        state = self._pitr.get(spec.name)
        if state is None:
            return
        await self._keep_deleted_table_backup(spec)
        if self._pitr.get(spec.name) is state:
            del self._pitr[spec.name]  # no more history rows; then drop those kept
        await self._store.write(lambda c: history.drop_history(c, spec))

    async def _keep_deleted_table_backup(self, spec: TableSpec) -> None:
        """SEAM: a deleted PITR table leaves the SYSTEM backup ``<table>$DeletedTableBackup``.

        Backups are the backups mixin's (``create_deleted_table_backup``, on branch h/backup,
        not yet merged); until an engine has it, this does nothing.
        """
        create = getattr(self, "create_deleted_table_backup", None)
        if create is not None:
            await create(spec.name)


def _drop(conn: sqlite3.Connection, spec: TableSpec) -> None:
    for idx in spec.indexes:
        select.drop_index(conn, spec, idx)
    storage_tables.drop_table(conn, spec)


def _parse_specification(value: object) -> tuple[bool, int]:
    value = specification(
        value,
        "PointInTimeRecoverySpecification",
        ("PointInTimeRecoveryEnabled", "RecoveryPeriodInDays"),
    )
    enabled = value.get("PointInTimeRecoveryEnabled")
    if enabled is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{_SPEC}.pointInTimeRecoveryEnabled' "
            "failed to satisfy constraint: Member must not be null"
        )
    if not isinstance(enabled, bool):
        raise SerializationException(
            "Invalid type for parameter PointInTimeRecoveryEnabled, expected a boolean"
        )
    days = value.get("RecoveryPeriodInDays", 35)
    if isinstance(days, bool) or not isinstance(days, int):
        raise SerializationException(
            "Invalid type for parameter RecoveryPeriodInDays, expected an integer"
        )
    if not 1 <= days <= 35:
        rule = "greater than or equal to 1" if days < 1 else "less than or equal to 35"
        raise constraint(days, f"{_SPEC}.recoveryPeriodInDays", f"have value {rule}")
    return enabled, days


def _target_name(value: object) -> str:
    if value is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'targetTableName' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not isinstance(value, str):
        raise SerializationException(
            "Invalid type for parameter TargetTableName, expected a string"
        )
    return Params("RestoreTableToPointInTime", {"TableName": value}, {"TableName"}).table_name()


def _timestamp(value: object) -> float:
    """A RestoreDateTime: epoch seconds (the wire), or a datetime (in-process callers)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise SerializationException("Invalid type for parameter RestoreDateTime, expected a timestamp")
