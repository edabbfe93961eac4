"""On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup,
RestoreTableFromBackup, and the SYSTEM backup a PITR table leaves when it is deleted.

A backup is one consistent moment of a table and its indexes (:mod:`streamkit.storage.backups`
takes it: on disk, on a thread of its own inside one read transaction, into
``<data>/backups/<id>.sqlite3``; in memory, into an in-memory connection). A restore creates
the new table's SQLite tables, fills them from the backup a bounded chunk per write batch (other
requests are served between chunks) and then publishes the table in the catalog: the response
says CREATING with ``RestoreInProgress: true``, DescribeTable from then on ACTIVE.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import anyio

from streamkit.engine.core import EngineCore
from streamkit.engine.params import Params
from streamkit.engine.restored import OVERRIDES, restored_spec
from streamkit.errors import (
    BackupInUseException,
    BackupNotFoundException,
    InternalServerError,
    TableAlreadyExistsException,
    TableInUseException,
    TableNotFoundException,
    ValidationException,
)
from streamkit.logs import get_logger
from streamkit.model.schema import (
    TableSpec,
    constraint,
    validate_name,
)
from streamkit.storage import backups as sql, scratch

__all__ = ["DELETED_TABLE_BACKUP_SUFFIX", "SYSTEM_BACKUP_DAYS", "BackupsMixin"]

log = get_logger(__name__)

#: the name of the SYSTEM backup a table with PITR on leaves when it is deleted: table + this
DELETED_TABLE_BACKUP_SUFFIX = "$DeletedTableBackup"
#: how long a SYSTEM backup is kept (AWS: 35 days); reported as BackupExpiryDateTime
SYSTEM_BACKUP_DAYS = 35
_BACKUP_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
_TYPES = ("USER", "SYSTEM", "AWS_BACKUP", "ALL")
_RESTORE_PARAMS = OVERRIDES | {"TargetTableName", "BackupArn"}


def _timestamp(value: object, member: str) -> float | None:
    """A time given as epoch seconds (the wire) or a datetime (in-process callers)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValidationException(f"Invalid type for parameter {member}, expected a timestamp")


class BackupsMixin(EngineCore):
    """On-demand backups and restores."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "CreateBackup": "create_backup",
        "DescribeBackup": "describe_backup",
        "ListBackups": "list_backups",
        "DeleteBackup": "delete_backup",
        "RestoreTableFromBackup": "restore_table_from_backup",
    }

    def _load_backups(self) -> None:
        """Read the backup catalog and the restored tables' summaries (the engine's
        constructor calls this once)."""
        self._backups: dict[str, dict[str, Any]] = {
            r["arn"]: r for r in self._store.read_now(sql.load_backups)
        }
        ids = {s.table_id for s in self._tables.values()}
        self._restores = {
            t: s for t, s in self._store.read_now(sql.load_restores).items() if t in ids
        }
        self._memory_backups: dict[str, sqlite3.Connection] = {}  # arn -> data (in memory)
        self._backing_up: set[str] = set()  # table ids with a backup being taken
        self._backups_in_use: dict[str, str] = {}  # arn -> what uses it ("restore", "delete")
        self._restoring: set[str] = set()  # target table names being restored

    # -- the catalog ----------------------------------------------------------------------

    async def _drop_expired(self) -> None:
        """Delete the SYSTEM backups past their BackupExpiryDateTime (lazily: on the next
        backup call, as the engine runs no background task for it)."""
        now = self.clock.now()
        for record in list(self._backups.values()):
            arn = record["arn"]
            if (
                record["type"] != "SYSTEM"
                or now < record["created"] + SYSTEM_BACKUP_DAYS * 86400.0
                or arn in self._backups_in_use
            ):
                continue
            await self._store.write(functools.partial(sql.delete_backup_row, arn=arn))
            self._backups.pop(arn, None)
            with anyio.CancelScope(shield=True):
                await self._discard_data(record)
            log.debug("backup_expired", backup=arn)

    def _backup(self, arn: object) -> dict[str, Any]:
        record = self._backups.get(arn) if isinstance(arn, str) else None
        if record is None:
            raise BackupNotFoundException(f"Backup not found: {arn}")
        return record

    def _details(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = {
            "BackupArn": record["arn"],
            "BackupName": record["name"],
            "BackupSizeBytes": record["size"],
            "BackupStatus": record["status"],
            "BackupType": record["type"],
            "BackupCreationDateTime": record["created"],
        }
        if record["type"] == "SYSTEM":
            out["BackupExpiryDateTime"] = record["created"] + SYSTEM_BACKUP_DAYS * 86400.0
        return out

    def _description(self, record: Mapping[str, Any]) -> dict[str, Any]:
        spec = TableSpec.from_json(record["spec"])
        table = self._describe(spec, "ACTIVE", {None: (record["items"], record["size"])})
        source = {
            k: table[k]
            for k in (
                "TableName",
                "TableId",
                "TableArn",
                "TableSizeBytes",
                "KeySchema",
                "ItemCount",
            )
        }
        source["TableCreationDateTime"] = spec.created
        source["ProvisionedThroughput"] = {
            "ReadCapacityUnits": spec.read_capacity,
            "WriteCapacityUnits": spec.write_capacity,
        }
        source["BillingMode"] = spec.billing_mode
        features: dict[str, Any] = {}
        if spec.local_indexes:
            features["LocalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": i.key.to_wire(),
                    "Projection": i.projection_wire(),
                }
                for i in spec.local_indexes
            ]
        if spec.global_indexes:
            features["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": i.name,
                    "KeySchema": i.key.to_wire(),
                    "Projection": i.projection_wire(),
                    "ProvisionedThroughput": {
                        "ReadCapacityUnits": i.read_capacity,
                        "WriteCapacityUnits": i.write_capacity,
                    },
                }
                for i in spec.global_indexes
            ]
        if spec.stream_view_type is not None:
            features["StreamDescription"] = {
                "StreamEnabled": True,
                "StreamViewType": spec.stream_view_type,
            }
        ttl = record.get("ttl")
        features["TimeToLiveDescription"] = (
            {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl}
            if ttl
            else {"TimeToLiveStatus": "DISABLED"}
        )
        return {
            "BackupDetails": self._details(record),
            "SourceTableDetails": source,
            "SourceTableFeatureDetails": features,
        }

    def _describe(
        self, spec: TableSpec, status: str, counts: Mapping[str | None, tuple[int, int]]
    ) -> dict[str, Any]:
        out = super()._describe(spec, status, counts)
        summary = self._restores.get(spec.table_id)
        if summary is not None:
            out["RestoreSummary"] = summary
        return out

    def _forget_table(self, name: str) -> None:
        spec = self._tables.get(name)
        if spec is not None:
            self._restores.pop(spec.table_id, None)
        super()._forget_table(name)

    # -- CreateBackup ---------------------------------------------------------------------

    async def create_backup(self, **params: Any) -> dict[str, Any]:
        """Take an on-demand backup of a table (CreateBackup)."""
        p = Params("CreateBackup", params, {"TableName", "BackupName"})
        name = p.table_name()
        backup_name = p.string("BackupName")
        if backup_name is None:
            raise constraint(None, "backupName", "not be null")
        validate_name(backup_name, "backupName")
        if not _BACKUP_NAME.fullmatch(backup_name):
            raise constraint(
                backup_name, "backupName", "satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
            )
        record = await self._take_backup(name, backup_name, "USER")
        details = self._details(record)
        details["BackupStatus"] = "CREATING"  # as CreateTable answers CREATING; it is AVAILABLE
        return {"BackupDetails": details}

    async def create_deleted_table_backup(self, table_name: str) -> dict[str, Any]:
        """Take the SYSTEM backup ``<table>$DeletedTableBackup`` of a table about to be deleted.

        For DeleteTable of a table with point-in-time recovery on: call it before the table is
        dropped; it returns the backup's BackupDetails (BackupType SYSTEM, BackupExpiryDateTime
        35 days on). Raises TableNotFoundException if there is no such table.
        """
        record = await self._take_backup(
            table_name, table_name + DELETED_TABLE_BACKUP_SUFFIX, "SYSTEM"
        )
        return self._details(record)

    async def _take_backup(self, name: str, backup_name: str, kind: str) -> dict[str, Any]:
        spec = self._tables.get(name)
        if spec is None:
            raise TableNotFoundException(f"Table not found: {name}")
        if spec.table_id in self._backing_up:
            raise BackupInUseException(
                f"Backup is already in progress for table: {spec.arn(self.region, self.account)}"
            )
        now = self.clock.now()
        import secrets  # with hmac: loaded on first use

        backup_id = f"{int(now * 1000):014d}-{secrets.token_hex(4)}"
        arn = f"{spec.arn(self.region, self.account)}/backup/{backup_id}"
        ttl = self._ttl_attributes.get(name)
        meta: dict[str, Any] = {
            "arn": arn,
            "id": backup_id,
            "name": backup_name,
            "type": kind,
            "created": now,
            "table": name,
            "ttl": ttl,
        }
        self._backing_up.add(spec.table_id)
        try:
            path = self._store.path
            if path is None:
                conn, counts = await self._store.read_point(
                    lambda c: sql.copy_memory_snapshot(c, spec, meta)
                )
                self._memory_backups[arn] = conn
                taken = spec
            else:
                target = sql.backup_path(path, backup_id)
                cancel = False
                try:
                    result = await anyio.to_thread.run_sync(
                        lambda: sql.take_snapshot(path, target, spec, meta, lambda: cancel),
                        abandon_on_cancel=True,
                    )
                finally:
                    cancel = True  # a cancelled caller: the thread stops at its next chunk
                    # (and removes the file), while the caller goes at once
                if result is None:
                    raise TableNotFoundException(f"Table not found: {name}")
                taken, counts = result
            items, size = counts[None]
            record = {
                **meta,
                "status": "AVAILABLE",
                "items": items,
                "size": size,
                "indexes": {k: list(v) for k, v in counts.items() if k is not None},
                "spec": taken.to_json(),
            }
            try:
                await self._store.write(lambda c: sql.save_backup_row(c, record))
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._discard_data(record)
                raise
        finally:
            self._backing_up.discard(spec.table_id)
        self._backups[arn] = record
        log.debug("backup_created", table=name, backup=arn, items=items)
        return record

    async def _discard_data(self, record: Mapping[str, Any]) -> None:
        conn = self._memory_backups.pop(record["arn"], None)
        if conn is not None:
            conn.close()
        path = self._store.path
        if path is not None:
            target = sql.backup_path(path, record["id"])
            with contextlib.suppress(FileNotFoundError):
                await anyio.to_thread.run_sync(os.remove, target)

    # -- DescribeBackup, ListBackups, DeleteBackup ---------------------------------------

    async def describe_backup(self, **params: Any) -> dict[str, Any]:
        """Describe a backup (DescribeBackup)."""
        p = Params("DescribeBackup", params, {"BackupArn"})
        await self._drop_expired()
        return {"BackupDescription": self._description(self._backup(_arn(p)))}

    async def list_backups(self, **params: Any) -> dict[str, Any]:
        """List backups, oldest first, by table, time range and type (ListBackups)."""
        p = Params(
            "ListBackups",
            params,
            {
                "TableName",
                "Limit",
                "TimeRangeLowerBound",
                "TimeRangeUpperBound",
                "ExclusiveStartBackupArn",
                "BackupType",
            },
        )
        table = p.table_name() if p.has("TableName") else None
        limit = p.integer("Limit")
        if limit is not None and not 1 <= limit <= 100:
            raise constraint(
                limit,
                "limit",
                "have value "
                + ("greater than or equal to 1" if limit < 1 else "less than or equal to 100"),
            )
        lower = _timestamp(p.raw("TimeRangeLowerBound"), "TimeRangeLowerBound")
        upper = _timestamp(p.raw("TimeRangeUpperBound"), "TimeRangeUpperBound")
        kind = p.enum("BackupType", _TYPES, "USER")
        start = p.string("ExclusiveStartBackupArn")
        await self._drop_expired()
        records = list(self._backups.values())
        if start is not None:
            position = next((n for n, r in enumerate(records) if r["arn"] == start), None)
            if position is None:
                raise ValidationException(f"Invalid ExclusiveStartBackupArn: {start}")
            records = records[position + 1 :]
        chosen = [
            r
            for r in records
            if (table is None or r["table"] == table)
            and (lower is None or r["created"] >= lower)
            and (upper is None or r["created"] < upper)
            and (r["type"] == kind or (kind == "ALL" and r["type"] != "AWS_BACKUP"))
        ]
        page = chosen[: limit or 100]
        out: dict[str, Any] = {
            "BackupSummaries": [
                {
                    "TableName": r["table"],
                    "TableId": r["spec"]["table_id"],
                    "TableArn": r["arn"].split("/backup/")[0],
                    **self._details(r),
                }
                for r in page
            ]
        }
        if len(chosen) > len(page):
            out["LastEvaluatedBackupArn"] = page[-1]["arn"]
        return out

    async def delete_backup(self, **params: Any) -> dict[str, Any]:
        """Delete a backup (DeleteBackup)."""
        p = Params("DeleteBackup", params, {"BackupArn"})
        await self._drop_expired()
        record = self._backup(_arn(p))
        arn = record["arn"]
        if arn in self._backups_in_use:
            raise BackupInUseException(f"Backup is being {self._backups_in_use[arn]}: {arn}")
        self._backups_in_use[arn] = "deleted"
        try:
            await self._store.write(lambda c: sql.delete_backup_row(c, arn))
            self._backups.pop(arn, None)
            with anyio.CancelScope(shield=True):
                await self._discard_data(record)
        finally:
            self._backups_in_use.pop(arn, None)
        description = self._description(record)
        description["BackupDetails"]["BackupStatus"] = "DELETED"
        return {"BackupDescription": description}

    # -- RestoreTableFromBackup ------------------------------------------------------------

    async def restore_table_from_backup(self, **params: Any) -> dict[str, Any]:
        """Restore a backup into a new table (RestoreTableFromBackup)."""
        p = Params("RestoreTableFromBackup", params, _RESTORE_PARAMS)
        target = p.table_name("TargetTableName")
        await self._drop_expired()
        record = self._backup(_arn(p))
        source = TableSpec.from_json(record["spec"])
        spec = restored_spec(source, target, params, self.clock.now())
        if target in self._restoring:
            raise TableInUseException(f"Table is being restored: {target}")
        if target in self._tables:
            raise TableAlreadyExistsException(f"Table already exists: {target}")
        arn = record["arn"]
        if arn in self._backups_in_use:
            raise BackupInUseException(f"Backup is being {self._backups_in_use[arn]}: {arn}")
        summary = {
            "SourceBackupArn": arn,
            "SourceTableArn": arn.split("/backup/")[0],
            "RestoreDateTime": record["created"],
            "RestoreInProgress": False,
        }
        self._restoring.add(target)
        self._backups_in_use[arn] = "restored"
        try:
            await self._fill(record, spec)
            await self._publish(spec, summary)
        finally:
            self._restoring.discard(target)
            self._backups_in_use.pop(arn, None)
        log.debug("table_restored", table=target, backup=arn)
        # the backup's counts (the restored table holds exactly its rows): counting the new
        # table here would scan it on the writer, holding the event loop
        indexes = record.get("indexes", {})
        counts: dict[str | None, tuple[int, int]] = {None: (record["items"], record["size"])}
        for idx in spec.indexes:
            rows, size = indexes.get(idx.name, (0, 0))
            counts[idx.name] = (rows, size)
        out = self._describe(spec, "CREATING", counts)
        out["RestoreSummary"] = {**summary, "RestoreInProgress": True}
        return {"TableDescription": out}

    async def _fill(self, record: Mapping[str, Any], spec: TableSpec) -> None:
        """Create the new table's SQLite tables and copy the backup in, a chunk a batch."""
        backup = self._memory_backups.get(record["arn"])
        if backup is not None:
            await self._fill_tables(spec, functools.partial(self._copy_from_memory, backup))
            return
        if self._store.path is None:
            raise InternalServerError(f"the data of backup {record['arn']} is gone")
        path = sql.backup_path(self._store.path, record["id"])
        alias = scratch.new_alias()
        async with self._store.attachment_slots(1):
            try:
                await self._store.run_between_writes(lambda c: sql.attach_backup(c, path, alias))
            except (FileNotFoundError, sqlite3.Error) as exc:
                raise InternalServerError(
                    f"cannot read the data of backup {record['arn']}: {exc}"
                ) from None
            try:
                await self._fill_tables(spec, functools.partial(self._copy_attached, alias))
            finally:
                with anyio.CancelScope(shield=True):
                    await self._store.run_between_writes(lambda c: scratch.detach(c, alias))

    async def _fill_tables(
        self, spec: TableSpec, copy: Callable[[str, str, int], Awaitable[None]]
    ) -> None:
        """Create the restored table's SQLite tables and ``copy(source, target, columns)``
        each from the backup; drop them again if the copy fails or is cancelled."""
        await self._store.write(lambda c: sql.create_restore_tables(c, spec))
        try:
            for source, dest, columns in sql.restore_steps(spec, spec.indexes):
                await copy(source, dest, columns)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._store.write(lambda c: sql.drop_restore_tables(c, spec))
            raise

    async def _copy_attached(self, alias: str, source: str, target: str, columns: int) -> None:
        """Copy a table of an attached backup file, one ``INSERT ... SELECT`` a write batch."""
        last = await self._store.write(lambda c: sql.last_rowid(c, alias, source))
        for after in range(0, last, sql.RESTORE_CHUNK):
            await self._store.write(
                functools.partial(
                    sql.copy_chunk,
                    alias=alias,
                    source=source,
                    target=target,
                    columns=columns,
                    after=after,
                )
            )

    async def _copy_from_memory(
        self, backup: sqlite3.Connection, source: str, target: str, columns: int
    ) -> None:
        """Copy a table of an in-memory backup, read and written a chunk at a time."""
        after = 0
        while rows := sql.read_chunk(backup, source, after):
            step = functools.partial(sql.write_chunk, target=target, columns=columns, rows=rows)
            await self._store.write(step)
            after = rows[-1][0]

    async def _publish(self, spec: TableSpec, summary: dict[str, Any]) -> None:
        def run(conn: sqlite3.Connection) -> bool:
            if not sql.restore_catalog_row(conn, spec):
                sql.drop_restore_tables(conn, spec)
                return False
            sql.save_restore_row(conn, spec.table_id, summary)
            return True

        with anyio.CancelScope(shield=True):  # the copy is done: publish it whole
            published = await self._store.write(run)
        if not published:  # a CreateTable took the name meanwhile
            raise TableAlreadyExistsException(f"Table already exists: {spec.name}")
        self._tables[spec.name] = spec
        self._restores[spec.table_id] = summary
        self._catalog_changed()


def _arn(p: Params) -> str:
    value = p.string("BackupArn")
    if value is None:
        raise constraint(None, "backupArn", "not be null")
    if not 37 <= len(value) <= 1024:
        raise constraint(
            value,
            "backupArn",
            "have length "
            + ("greater than or equal to 37" if len(value) < 37 else "less than or equal to 1024"),
        )
    return value
