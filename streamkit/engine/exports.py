"""Exports to and imports from S3, with buckets as folders (ExportTableToPointInTime & co).

A bucket ``B`` is the folder ``<s3 dir>/B``: by default ``<data folder>/s3`` beside the
database file, a temporary folder for an engine in memory, or ``open_engine(s3_dir=...)``.
The files follow AWS's layout and formats exactly (:mod:`streamkit.engine.s3files`).

Both operations record their job (``IN_PROGRESS``) and hand it to the engine's
:class:`~streamkit.engine.transfers.TransferQueue`: with a runtime attached the call answers at
once and the runtime's worker runs the job in its task group; an engine alone runs the job
inside the call (the reply still says ``IN_PROGRESS``, as DynamoDB's). The engine itself never
starts a task. While a job runs:

- an export reads the table in one snapshot on a reader thread (a database file), writing
  gzip data files there, so the event loop stays free; an engine in memory has one
  connection, so its export reads 1,000 items a step with other requests served between;
- an import parses and validates its records on a worker thread, 1,000 at a time, and
  writes each chunk in one write batch, so writers of other tables wait at most one chunk.

Bad records never fail an import: each is counted in ``ErrorCount`` and logged as DynamoDB
logs it to CloudWatch (``import_record_error`` with ``itemS3Pointer`` and ``errorMessages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import orjson

from streamkit.engine.core import EngineCore, on_table
from streamkit.engine.keys import EncodedKey
from streamkit.engine.params import Params
from streamkit.engine.transfers import TransferJob, TransferQueue
from streamkit.errors import (
    DynamoDBError,
    ExportConflictException,
    ExportNotFoundException,
    ImportConflictException,
    ImportNotFoundException,
    InvalidExportTimeException,
    PointInTimeRecoveryUnavailableException,
    ResourceInUseException,
    SerializationException,
    StreamkitError,
    TableNotFoundException,
    ValidationException,
)
from streamkit.logs import get_logger
from streamkit.model.attributes import Item
from streamkit.model.json import json_default
from streamkit.model.schema import TableSpec
from streamkit.storage import bulk, history, scratch, tables as storage_tables

if TYPE_CHECKING:
    from streamkit.engine.s3files import DataFileWriter, Record
from streamkit.storage.codec import load_item
from streamkit.storage.sqlite import ATTACH_LIMIT

__all__ = ["ExportsMixin"]

log = get_logger(__name__)

#: blocks a worker of a large import has in flight (sent, not yet answered): its next
#: ones wait in its pipe while the engine copies, so a slow copy or read does not idle it
IMPORT_IN_FLIGHT = 3
STEP = 1000  # items per step: an in-memory export's read, an import's write batch
#: bytes of lines a worker of a large import prepares at a time (some 1,200 bench items), one
#: write transaction of the engine's
IMPORT_BLOCK = 256 * 1024
_BUCKET = re.compile(r"[a-z0-9A-Z]+[.\-\w]*[a-z0-9A-Z]+")
_EXPORT_PARAMS = {
    "TableArn", "ExportTime", "ClientToken", "S3Bucket", "S3BucketOwner", "S3Prefix",
    "S3SseAlgorithm", "S3SseKmsKeyId", "ExportFormat", "ExportType",
    "IncrementalExportSpecification",
}  # fmt: skip
_IMPORT_PARAMS = {
    "ClientToken", "S3BucketSource", "InputFormat", "InputFormatOptions",
    "InputCompressionType", "TableCreationParameters",
}  # fmt: skip
_CREATION_MEMBERS = (
    "TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
    "OnDemandThroughput", "SSESpecification", "GlobalSecondaryIndexes",
)  # fmt: skip
MAX_LOGGED_ERRORS = 1000  # per import; every error is counted
MIN_INCREMENTAL = 15 * 60.0  # an incremental export's period, at least (DynamoDB's rule)
MAX_INCREMENTAL = 24 * 3600.0  # and at most
#: what an export reads: ("table",) the table now; ("at", history table, time) the table at
#: a past time; ("changes", history table, from, to, view) an incremental export's changes
_Source = tuple[Any, ...]


def _iso(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _timestamp(member: str, value: object) -> float:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return _timestamp(member, datetime.datetime.fromisoformat(value))
        except ValueError:
            pass
    raise SerializationException(f"{member} is not a timestamp")


def _transfer_id(now: float) -> str:
    import secrets  # with hmac: loaded on first use

    return f"{int(now * 1000):014d}-{secrets.token_hex(4)}"


class ExportsMixin(EngineCore):
    """ExportTableToPointInTime, DescribeExport, ListExports, ImportTable, DescribeImport,
    ListImports."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "ExportTableToPointInTime": "export_table_to_point_in_time",
        "DescribeExport": "describe_export",
        "ListExports": "list_exports",
        "ImportTable": "import_table",
        "DescribeImport": "describe_import",
        "ListImports": "list_imports",
    }

    _s3_root: Path | None = None
    _s3_temporary: bool = False
    _export_in_steps: bool = False
    #: worker processes parsing a large import (None: one per core up to 4, none on one
    #: core; 0: never), and the size on disk from which an import uses them (256 KB, some
    #: 35,000 gzipped export lines: a few seconds of parsing on a thread, against about
    #: 0.1 s to start the workers)
    import_processes: int | None = None
    import_processes_min_bytes: int = 256 * 1024
    _exports: dict[str, dict[str, Any]]
    _imports: dict[str, dict[str, Any]]
    _transfer_tokens: dict[tuple[str, str], tuple[dict[str, Any], str]]
    #: the export and import jobs waiting for, or under, a runtime's worker
    transfers: TransferQueue

    # -- setup -----------------------------------------------------------------------

    def _configure_s3(
        self, s3_dir: str | os.PathLike[str] | None, database: str | os.PathLike[str] | None
    ) -> None:
        """Say where buckets live (``open_engine`` calls this once)."""
        memory = database is None or os.fspath(database) == ":memory:"
        self._export_in_steps = memory
        if s3_dir is not None:
            self._s3_root = Path(s3_dir)
        elif not memory:
            assert database is not None
            self._s3_root = Path(database).resolve().parent / "s3"
        self._exports, self._imports, self._transfer_tokens = {}, {}, {}
        self.transfers = TransferQueue()

    @property
    def s3_dir(self) -> Path:
        """The folder holding this engine's buckets, one folder per bucket."""
        if self._s3_root is None:  # in memory, no option: a temporary folder, made when needed
            self._s3_root = Path(tempfile.mkdtemp(prefix="streamkit-s3-"))
            self._s3_temporary = True
        return self._s3_root

    async def close_transfers(self) -> None:
        """The engine closes: jobs still queued end FAILED; remove a temporary bucket folder.

        (Jobs under way belong to the runtime, whose exit, before the engine's, cancels them;
        or to the task of the call running them.)"""
        self.transfers.close()
        root = self._s3_root
        if self._s3_temporary and root is not None:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(root, ignore_errors=True))

    def _bucket_dir(self, bucket: object, member: str) -> Path:
        if not isinstance(bucket, str):
            raise ValidationException(f"1 validation error detected: {member} must not be null")
        if len(bucket) > 255 or not _BUCKET.fullmatch(bucket):
            raise ValidationException(
                f"1 validation error detected: Value '{bucket}' at '{member}' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "^[a-z0-9A-Z]+[\\.\\-\\w]*[a-z0-9A-Z]+$"
            )
        return self.s3_dir / bucket

    @staticmethod
    def _prefix(value: object) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise SerializationException("S3Prefix is not a string")
        if len(value) > 1024:
            raise ValidationException("S3Prefix must be at most 1024 characters")
        parts = value.split("/")
        if any(p in (".", "..") for p in parts) or value.startswith("/"):
            raise ValidationException(
                f"S3Prefix {value!r}: streamkit maps keys to files, so '.', '..' and a leading "
                "'/' are refused"
            )
        return value

    def _table_of_arn(self, arn: str) -> TableSpec:
        prefix = f"arn:aws:dynamodb:{self.region}:{self.account}:table/"
        name = arn[len(prefix) :] if arn.startswith(prefix) else None
        spec = self._tables.get(name) if name and "/" not in name else None
        if spec is None:
            raise TableNotFoundException(f"Table not found: {arn}")
        return spec

    # -- exports ---------------------------------------------------------------------

    async def export_table_to_point_in_time(self, **params: Any) -> dict[str, Any]:
        """Export a table's items to a bucket folder in AWS's layout (ExportTableToPointInTime)."""
        p = Params("ExportTableToPointInTime", params, _EXPORT_PARAMS)
        arn = p.string("TableArn")
        if arn is None:
            raise ValidationException("1 validation error detected: TableArn must not be null")
        bucket = p.raw("S3Bucket")
        folder_root = self._bucket_dir(bucket, "s3Bucket")
        prefix = self._prefix(p.raw("S3Prefix"))
        fmt = p.enum("ExportFormat", ("DYNAMODB_JSON", "ION"), "DYNAMODB_JSON")
        kind = p.enum("ExportType", ("FULL_EXPORT", "INCREMENTAL_EXPORT"), "FULL_EXPORT")
        sse = p.enum("S3SseAlgorithm", ("AES256", "KMS"), "AES256")
        spec = self._table_of_arn(arn)
        now = self.clock.now()
        request = {k: v for k, v in params.items() if k != "ClientToken"}
        token = p.string("ClientToken")
        if token is not None:
            known = self._transfer_tokens.get(("export", token))
            if known is not None:
                if known[1] != repr(sorted(request.items(), key=lambda kv: kv[0])):
                    raise ExportConflictException(
                        "There was a conflict when writing to the specified S3 bucket."
                    )
                return {"ExportDescription": dict(known[0])}
        window = await self._check_pitr(spec, arn)
        incremental = p.mapping("IncrementalExportSpecification")
        source: _Source
        when: float | None = now
        if kind == "INCREMENTAL_EXPORT":
            if p.has("ExportTime"):
                raise ValidationException(
                    "ExportTime cannot be specified for an incremental export: give "
                    "IncrementalExportSpecification.ExportFromTime and ExportToTime"
                )
            source, incremental_desc = self._incremental_source(spec, incremental, window, now)
            when = None
        else:
            if incremental is not None:
                raise ValidationException(
                    "IncrementalExportSpecification can only be given with ExportType "
                    "INCREMENTAL_EXPORT"
                )
            source = ("table",)
            if p.has("ExportTime"):
                when = self._full_export_time(spec, p.raw("ExportTime"), window, now)
                if when < now:
                    source = ("at", self._history_of(spec), when)
        export_id = _transfer_id(now)
        key_base = f"{prefix.rstrip('/')}/AWSDynamoDB/{export_id}".lstrip("/")
        desc: dict[str, Any] = {
            "ExportArn": f"{arn}/export/{export_id}",
            "ExportStatus": "IN_PROGRESS",
            "StartTime": now,
            "ExportManifest": f"{key_base}/manifest-summary.json",
            "TableArn": arn,
            "TableId": spec.table_id,
            "S3Bucket": bucket,
            "S3SseAlgorithm": sse,
            "ExportFormat": fmt,
            "ExportType": kind,
        }
        if when is not None:
            desc["ExportTime"] = when
        else:
            desc["IncrementalExportSpecification"] = incremental_desc
        if prefix:
            desc["S3Prefix"] = prefix
        for member in ("ClientToken", "S3BucketOwner", "S3SseKmsKeyId"):
            if p.has(member):
                desc[member] = p.raw(member)
        self._exports[desc["ExportArn"]] = desc
        if token is not None:
            self._transfer_tokens["export", token] = (desc, repr(sorted(request.items())))
        folder = folder_root / key_base
        started = dict(desc)
        await self.transfers.submit(
            TransferJob(
                desc,
                "ExportStatus",
                functools.partial(self._run_export, desc, spec, folder, key_base, fmt, source),
                self.clock,
            )
        )
        return {"ExportDescription": started}

    async def _check_pitr(self, spec: TableSpec, arn: str) -> tuple[float, float] | None:
        """Refuse a table without point-in-time recovery, as DynamoDB does, when this engine
        has PITR (DescribeContinuousBackups); an engine without it exports any table.

        Return the restorable window ``(earliest, latest)`` (None: no PITR in this engine).
        """
        describe = getattr(self, "describe_continuous_backups", None)
        if describe is None:
            return None
        result = await describe(TableName=spec.name)
        pitr = result.get("ContinuousBackupsDescription", {}).get(
            "PointInTimeRecoveryDescription", {}
        )
        if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise PointInTimeRecoveryUnavailableException(
                f"Point in time recovery is not enabled for table '{spec.name}'"
            )
        return pitr["EarliestRestorableDateTime"], pitr["LatestRestorableDateTime"]

    def _history_of(self, spec: TableSpec) -> str:
        state = self._pitr.get(spec.name)
        if state is None:  # an engine without the PITR mixin: no history to read
            raise InvalidExportTimeException(
                "Export time is outside of the point in time recovery window"
            )
        return state.table

    def _full_export_time(
        self, spec: TableSpec, raw: object, window: tuple[float, float] | None, now: float
    ) -> float:
        """Check a full export's ExportTime; a time up to a second ahead is now."""
        when = _timestamp("ExportTime", raw)
        if when > now + 1:
            raise InvalidExportTimeException("Export time cannot be in the future")
        when = min(when, now)
        earliest, latest = window or (spec.created, now)
        if not earliest - 1e-6 <= when <= max(latest, earliest):
            raise InvalidExportTimeException(
                f"Export time {_iso(when)} is outside of the point in time recovery window "
                f"[{_iso(earliest)}, {_iso(latest)}]"
            )
        return when

    def _incremental_source(
        self,
        spec: TableSpec,
        given: Mapping[str, Any] | None,
        window: tuple[float, float] | None,
        now: float,
    ) -> tuple[_Source, dict[str, Any]]:
        """Check an incremental export's period (DynamoDB's rules: ExportFromTime given,
        ExportToTime defaulting to the latest restorable time, 15 minutes to 24 hours, both
        inside the PITR window); return what to read and the description's member."""
        spec_member = "IncrementalExportSpecification"
        if given is None or given.get("ExportFromTime") is None:
            raise ValidationException(
                f"{spec_member}.ExportFromTime must be specified for an incremental export"
            )
        unknown = set(given) - {"ExportFromTime", "ExportToTime", "ExportViewType"}
        if unknown:
            raise SerializationException(f"Unknown member of {spec_member}: {sorted(unknown)[0]}")
        view = given.get("ExportViewType", "NEW_AND_OLD_IMAGES")
        if view not in ("NEW_AND_OLD_IMAGES", "NEW_IMAGE"):
            raise ValidationException(
                f"1 validation error detected: Value '{view}' at "
                "'incrementalExportSpecification.exportViewType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [NEW_AND_OLD_IMAGES, NEW_IMAGE]"
            )
        earliest, latest = window or (spec.created, now)
        start = _timestamp("ExportFromTime", given["ExportFromTime"])
        raw_end = given.get("ExportToTime")
        end = latest if raw_end is None else _timestamp("ExportToTime", raw_end)
        if start > now or end > now + 1:
            raise InvalidExportTimeException(
                "ExportFromTime and ExportToTime cannot be in the future"
            )
        if start >= end:
            raise ValidationException("ExportFromTime must be before ExportToTime")
        if end - start < MIN_INCREMENTAL:
            raise ValidationException(
                "The incremental export period (ExportToTime - ExportFromTime) must be at "
                "least 15 minutes"
            )
        if end - start > MAX_INCREMENTAL:
            raise ValidationException(
                "The incremental export period (ExportToTime - ExportFromTime) must be at "
                "most 24 hours"
            )
        if start < earliest - 1e-6 or end > max(latest, earliest) + 1:
            raise InvalidExportTimeException(
                f"The incremental export period [{_iso(start)}, {_iso(end)}) is outside of "
                f"the point in time recovery window [{_iso(earliest)}, {_iso(latest)}]"
            )
        end = min(end, now)
        member = {"ExportFromTime": start, "ExportToTime": end, "ExportViewType": view}
        return ("changes", self._history_of(spec), start, end, view), member

    async def _run_export(
        self,
        desc: dict[str, Any],
        spec: TableSpec,
        folder: Path,
        key_base: str,
        fmt: str,
        source: _Source,
    ) -> None:
        from streamkit.engine import s3files  # its formats load on first use

        writer = s3files.DataFileWriter(folder, key_base, ".ion.gz" if fmt == "ION" else ".json.gz")
        if source[0] == "changes":  # AWS puts an incremental export's data files in a folder
            # shared by the exports of the prefix: <prefix>/AWSDynamoDB/data/
            writer.shared_data = (folder.parent / "data", key_base.rpartition("/")[0] + "/data")
        try:
            await anyio.to_thread.run_sync(_start_folder, folder)
            if self._export_in_steps:
                await self._export_steps(spec, writer, fmt, source)
            else:
                await self._store.read(
                    on_table(spec, lambda c: _export_all(c, spec, writer, fmt, source))
                )
            end = self.clock.now()
            summary = _summary(desc, key_base, fmt, end, writer)
            await anyio.to_thread.run_sync(s3files.write_manifests, folder, summary, writer.files)
        except BaseException as exc:
            writer.abort()
            desc.update(ExportStatus="FAILED", EndTime=self.clock.now())
            if isinstance(exc, DynamoDBError | OSError | sqlite3.Error):
                desc.update(FailureCode=type(exc).__name__, FailureMessage=str(exc))
                log.warning("export_failed", export=desc["ExportArn"], error=str(exc))
                return
            raise
        desc.update(
            ExportStatus="COMPLETED",
            EndTime=end,
            BilledSizeBytes=writer.billed_bytes,
            ItemCount=writer.item_count,
        )
        log.info("export_completed", export=desc["ExportArn"], items=writer.item_count)

    async def _export_steps(
        self, spec: TableSpec, writer: DataFileWriter, fmt: str, source: _Source
    ) -> None:
        """An engine in memory: read ``STEP`` keys at a time, other requests between."""
        after: tuple[bytes, bytes] | None = None
        while True:
            lines, after, done = await self._store.read_point(
                on_table(spec, lambda c, a=after: _export_step(c, spec, fmt, source, a))  # type: ignore[misc]
            )
            await anyio.to_thread.run_sync(writer.write_lines, lines)
            if done:
                break
        await anyio.to_thread.run_sync(writer.finish)

    async def describe_export(self, **params: Any) -> dict[str, Any]:
        """Describe an export (DescribeExport)."""
        p = Params("DescribeExport", params, {"ExportArn"})
        desc = _job(self._exports, p, "ExportArn", ExportNotFoundException)
        return {"ExportDescription": desc}

    async def list_exports(self, **params: Any) -> dict[str, Any]:
        """List exports, oldest first, optionally of one table (ListExports)."""
        p = Params("ListExports", params, {"TableArn", "MaxResults", "NextToken"})
        members = ("ExportArn", "ExportStatus", "ExportType")
        return _page(self._exports, p, "MaxResults", "ExportSummaries", members)

    # -- imports ---------------------------------------------------------------------

    async def import_table(self, **params: Any) -> dict[str, Any]:
        """Create a table and load it from a bucket folder's objects (ImportTable)."""
        p = Params("ImportTable", params, _IMPORT_PARAMS)
        source = p.mapping("S3BucketSource")
        if source is None:
            raise ValidationException(
                "1 validation error detected: S3BucketSource must not be null"
            )
        bucket_dir = self._bucket_dir(source.get("S3Bucket"), "s3BucketSource.s3Bucket")
        prefix = self._prefix(source.get("S3KeyPrefix"))
        if not p.has("InputFormat"):
            raise ValidationException("1 validation error detected: InputFormat must not be null")
        fmt = p.enum("InputFormat", ("DYNAMODB_JSON", "ION", "CSV"), "DYNAMODB_JSON")
        compression = p.enum("InputCompressionType", ("GZIP", "ZSTD", "NONE"), "NONE")
        options = p.mapping("InputFormatOptions")
        csv_options = _csv_options(options, fmt)
        creation = p.mapping("TableCreationParameters")
        if creation is None:
            raise ValidationException(
                "1 validation error detected: TableCreationParameters must not be null"
            )
        from streamkit.engine import s3files  # its formats load on first use

        if compression == "ZSTD" and s3files.zstd_module() is None:
            raise ValidationException(
                "InputCompressionType ZSTD needs a zstd module, which is not installed: "
                "pip install 'streamkit[zstd]' (or use Python 3.14)"
            )
        token = p.string("ClientToken")
        request = repr(sorted((k, repr(v)) for k, v in params.items() if k != "ClientToken"))
        if token is not None:
            known = self._transfer_tokens.get(("import", token))
            if known is not None:
                if known[1] != request:
                    raise ImportConflictException(
                        "There was a conflict when importing from the specified S3 source. "
                        "This can occur when the current import conflicts with a previous "
                        "import request that had the same client token."
                    )
                return {"ImportTableDescription": dict(known[0])}
        name = creation.get("TableName")
        if isinstance(name, str) and name in self._tables:
            raise ResourceInUseException(f"Table already exists: {name}")
        create = {m: creation[m] for m in _CREATION_MEMBERS if m in creation}
        created = await self.create_table(**create)  # type: ignore[attr-defined]
        table = created["TableDescription"]
        now = self.clock.now()
        import_id = _transfer_id(now)
        desc: dict[str, Any] = {
            "ImportArn": f"{table['TableArn']}/import/{import_id}",
            "ImportStatus": "IN_PROGRESS",
            "TableArn": table["TableArn"],
            "TableId": table["TableId"],
            "S3BucketSource": dict(source),
            "ErrorCount": 0,
            "CloudWatchLogGroupArn": (
                f"arn:aws:logs:{self.region}:{self.account}:log-group:/aws-dynamodb/imports:*"
            ),
            "InputFormat": fmt,
            "InputCompressionType": compression,
            "TableCreationParameters": dict(creation),
            "StartTime": now,
            "ProcessedSizeBytes": 0,
            "ProcessedItemCount": 0,
            "ImportedItemCount": 0,
        }
        if options is not None:
            desc["InputFormatOptions"] = dict(options)
        if token is not None:
            desc["ClientToken"] = token
            self._transfer_tokens["import", token] = (desc, request)
        self._imports[desc["ImportArn"]] = desc
        spec = self._spec(table["TableName"])
        started = dict(desc)
        work = functools.partial(
            self._run_import, desc, spec, bucket_dir, prefix, fmt, compression, csv_options
        )
        await self.transfers.submit(TransferJob(desc, "ImportStatus", work, self.clock))
        return {"ImportTableDescription": started}

    async def _run_import(
        self,
        desc: dict[str, Any],
        spec: TableSpec,
        bucket_dir: Path,
        prefix: str,
        fmt: str,
        compression: str,
        csv_options: Mapping[str, Any] | None,
    ) -> None:
        records: Iterator[Record] | None = None
        parsing: asyncio.Future[_Chunk] | None = None
        try:
            from streamkit.engine import s3files  # its formats load on first use

            objects = await anyio.to_thread.run_sync(s3files.list_objects, bucket_dir, prefix)
            workers = self._import_workers(objects, fmt)
            if workers:
                # each worker's scratch file is attached to the writer's connection: reserve
                # that many of its slots (restores and other imports take them too)
                async with self._store.attachment_slots(workers):
                    await self._import_in_processes(desc, spec, bucket_dir.name, objects, fmt,
                                                    compression, workers)  # fmt: skip
                objects = []
            key_types: dict[str, str] = dict(spec.key.types())
            for idx in spec.global_indexes:
                key_types.update(idx.key.types())
            records = s3files.iter_source_records(objects, fmt, compression, csv_options, key_types)
            source = records
            bucket = bucket_dir.name

            def parse() -> asyncio.Future[_Chunk]:
                # on a thread, then written on the loop, one after the other: parsing the next
                # chunk while SQLite writes this one made both wait for the GIL (a switch
                # interval, 5 ms, for each row the write steps through)
                return asyncio.ensure_future(anyio.to_thread.run_sync(_prepare_chunk, source, spec))

            parsing = parse()
            while parsing is not None:
                chunk = await asyncio.shield(parsing)  # a cancel must not cut its thread loose
                parsing = None
                self._count_errors(desc, bucket, chunk.errors)
                if chunk.items:
                    await self._store.write(on_table(spec, self._loader(spec, chunk.items)))
                desc["ProcessedItemCount"] += chunk.processed
                desc["ProcessedSizeBytes"] += chunk.size
                desc["ImportedItemCount"] += len(chunk.items)
                if not chunk.done:
                    parsing = parse()
        except BaseException as exc:
            desc.update(ImportStatus="FAILED", EndTime=self.clock.now())
            if isinstance(exc, StreamkitError | OSError):
                desc.update(FailureCode=type(exc).__name__.rstrip("_"), FailureMessage=str(exc))
                log.warning("import_failed", import_arn=desc["ImportArn"], error=str(exc))
                return
            raise
        finally:
            if parsing is not None:  # its thread runs to the end of its chunk: wait for it
                # before closing the records it reads (shielded: a cancel scope cancels every
                # await; not cancelled: cancelling it would not stop the thread)
                with anyio.CancelScope(shield=True), contextlib.suppress(BaseException):
                    await parsing
            if records is not None:
                records.close()  # type: ignore[attr-defined]
        desc.update(ImportStatus="COMPLETED", EndTime=self.clock.now())
        log.info(
            "import_completed",
            import_arn=desc["ImportArn"],
            imported=desc["ImportedItemCount"],
            errors=desc["ErrorCount"],
        )

    def _import_workers(self, objects: list[tuple[str, Path]], fmt: str) -> int:
        """How many worker processes parse this import (0: a thread of this process).

        Line formats (DYNAMODB_JSON, ION) of at least ``import_processes_min_bytes`` (on
        disk) use ``import_processes`` workers, by default one per core up to 4 when there
        are two cores or more (never more than the writer's connection can have attached)."""
        if fmt == "CSV":
            return 0
        workers = self.import_processes
        if workers is None:
            cores = os.cpu_count() or 1
            workers = min(cores, 4) if cores >= 2 else 0
        workers = min(workers, ATTACH_LIMIT)
        if workers <= 0:
            return 0
        total = 0
        for _, path in objects:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return workers if total >= self.import_processes_min_bytes else 0

    async def _import_in_processes(
        self,
        desc: dict[str, Any],
        spec: TableSpec,
        bucket: str,
        objects: list[tuple[str, Path]],
        fmt: str,
        compression: str,
        workers: int,
    ) -> None:
        """Read the objects here, parse their lines in worker processes, which write the rows
        into scratch files; copy each block's rows in here, in the order read
        (:mod:`streamkit.engine.importworker`, :mod:`streamkit.storage.scratch`).

        Two tasks: one reads blocks (on a thread) and sends them while fewer than
        :data:`IMPORT_IN_FLIGHT` a worker are in flight, the other takes the answers in
        order and copies their rows. A block's answer frees its place before its copy, so
        reading and sending go on while the rows are copied: with one loop doing both in
        turn, each block waited for a thread's read, the answer and the copy, one after the
        other, and on a busy machine the workers waited a third of the time for blocks.
        """
        from streamkit.engine import importworker, s3files  # loaded by an import, on first use

        with scratch.held_folder() as folder:  # removed when the import ends, or orphaned
            pool = importworker.LinePool(spec, fmt, workers, folder)
            blocks = importworker.iter_blocks(objects, compression, IMPORT_BLOCK)
            attached: dict[int, str] = {}  # worker -> the name its scratch file is attached as
            places = anyio.Semaphore(IMPORT_IN_FLIGHT * workers)  # blocks in flight
            sent: asyncio.Queue[bool] = asyncio.Queue()  # True: a block sent; False: no more

            async def feed() -> None:
                try:
                    while True:
                        await places.acquire()
                        block = await anyio.to_thread.run_sync(next, blocks, None)
                        if block is None:
                            return
                        if isinstance(block[2], str):  # an object that cannot be read
                            places.release()
                            desc["ProcessedItemCount"] += 1
                            self._count_errors(
                                desc, bucket, [s3files.Record(block[0], 0, 0, None, block[2])]
                            )
                        else:
                            pool.submit(*block)  # type: ignore[arg-type]
                            sent.put_nowait(True)
                finally:
                    sent.put_nowait(False)  # after every block it sent

            async def copy() -> None:
                while await sent.get():
                    worker, (first, last, errors, count, size) = await pool.result()
                    places.release()
                    self._count_errors(
                        desc, bucket, [s3files.Record(k, i, n, None, m) for k, i, n, m in errors]
                    )
                    if last > first:
                        alias = attached.get(worker)
                        if alias is None:
                            alias = attached[worker] = scratch.new_alias()
                            path = pool.scratch_path(worker)
                            await self._store.run_between_writes(
                                functools.partial(scratch.attach, path=path, alias=alias)
                            )
                        rows = self._scratch_loader(spec, alias, first, last)
                        await self._store.write(on_table(spec, rows))
                    desc["ProcessedItemCount"] += count
                    desc["ProcessedSizeBytes"] += size
                    desc["ImportedItemCount"] += last - first

            failed = True
            feeding: asyncio.Future[None] | None = None
            try:
                await pool.start()
                feeding = asyncio.ensure_future(feed())
                await copy()
                await feeding  # its error, if it stopped on one
                failed = False
            finally:
                with anyio.CancelScope(shield=True):  # the workers end (or are killed) first
                    if feeding is not None:  # its read ends before the blocks are closed
                        feeding.cancel()
                        with contextlib.suppress(BaseException):
                            await feeding
                    blocks.close()  # type: ignore[attr-defined]
                    await pool.close(kill=failed)
                    for alias in attached.values():
                        with contextlib.suppress(StreamkitError, sqlite3.Error):  # a closed store
                            await self._store.run_between_writes(
                                functools.partial(scratch.detach, alias=alias)
                            )

    def _scratch_loader(
        self, spec: TableSpec, alias: str, first: int, last: int
    ) -> Callable[[sqlite3.Connection], None]:
        """Return the write of one block's rows from an attached scratch file."""

        def load(conn: sqlite3.Connection) -> None:
            if self._plain(spec):
                scratch.copy_rows(conn, spec, alias, first, last)
                return
            for hk, rk, blob, size in scratch.read_rows(conn, alias, first, last):
                old = storage_tables.get_row(conn, spec, hk, rk) if spec.has_indexes else None
                self._write(conn, spec, (hk, rk), old, load_item(blob), size)

        return load

    def _plain(self, spec: TableSpec) -> bool:
        """No index, stream or TTL to maintain: rows go in with one statement."""
        return (
            not spec.has_indexes
            and spec.stream_view_type is None
            and spec.name not in self._ttl_attributes
        )

    def _loader(
        self, spec: TableSpec, items: list[_Prepared]
    ) -> Callable[[sqlite3.Connection], None]:
        """Return the write of one chunk of imported items (a later item with the same key
        replaces an earlier one, its index entries too)."""

        def load(conn: sqlite3.Connection) -> None:
            plain = spec.stream_view_type is None and spec.name not in self._ttl_attributes
            if plain and not spec.has_indexes:
                # no index, stream or TTL to maintain: one statement for the chunk
                bulk.put_items(conn, spec, items)
                return
            for key, item, size in items:
                old = storage_tables.get_row(conn, spec, *key) if spec.has_indexes else None
                self._write(conn, spec, key, old, item, size)

        return load

    def _count_errors(self, desc: dict[str, Any], bucket: str, errors: list[Record]) -> None:
        for record in errors:
            desc["ErrorCount"] += 1
            if desc["ErrorCount"] <= MAX_LOGGED_ERRORS:
                log.warning(
                    "import_record_error",
                    importArn=desc["ImportArn"],
                    itemS3Pointer={"bucket": bucket, "key": record.key, "itemIndex": record.index},
                    errorMessages=[record.error],
                )
            elif desc["ErrorCount"] == MAX_LOGGED_ERRORS + 1:
                log.warning("import_record_errors_not_logged", importArn=desc["ImportArn"])

    async def describe_import(self, **params: Any) -> dict[str, Any]:
        """Describe an import (DescribeImport)."""
        p = Params("DescribeImport", params, {"ImportArn"})
        desc = _job(self._imports, p, "ImportArn", ImportNotFoundException)
        return {"ImportTableDescription": desc}

    async def list_imports(self, **params: Any) -> dict[str, Any]:
        """List imports, oldest first, optionally into one table (ListImports)."""
        p = Params("ListImports", params, {"TableArn", "PageSize", "NextToken"})
        members = (
            "ImportArn", "ImportStatus", "TableArn", "S3BucketSource", "CloudWatchLogGroupArn",
            "InputFormat", "StartTime", "EndTime",
        )  # fmt: skip
        return _page(self._imports, p, "PageSize", "ImportSummaryList", members)


def _job(
    jobs: Mapping[str, dict[str, Any]], p: Params, member: str, missing: type[DynamoDBError]
) -> dict[str, Any]:
    """A copy of the description of the export or import the request names."""
    arn = p.string(member)
    desc = jobs.get(arn or "")
    if desc is None:
        raise missing(f"{member.removesuffix('Arn')} not found: {arn}")
    return dict(desc)


def _page(
    jobs: Mapping[str, dict[str, Any]], p: Params, size: str, key: str, members: tuple[str, ...]
) -> dict[str, Any]:
    """One page of ListExports or ListImports: summaries of the jobs, oldest first."""
    table_arn = p.string("TableArn")
    limit = _page_size(p, size)
    start = _start_of(p.string("NextToken"))
    found = [d for d in jobs.values() if table_arn in (None, d["TableArn"])]
    out: dict[str, Any] = {
        key: [{k: d[k] for k in members if k in d} for d in found[start : start + limit]]
    }
    if start + limit < len(found):
        out["NextToken"] = f"{start + limit:0112x}"
    return out


# -- helpers (the export's and the import's thread work) --------------------------------

_Prepared = tuple[EncodedKey, Item, int]


class _Chunk:
    __slots__ = ("done", "errors", "items", "processed", "size")

    def __init__(self) -> None:
        self.items: list[_Prepared] = []
        self.errors: list[Record] = []
        self.processed = 0
        self.size = 0
        self.done = False


def _prepare_chunk(records: Iterator[Record], spec: TableSpec) -> _Chunk:
    """Read and validate up to :data:`STEP` records (on a worker thread)."""
    from streamkit.engine.importworker import prepare_item

    chunk = _Chunk()
    for record in records:
        chunk.processed += 1
        chunk.size += record.size
        if record.item is None:
            chunk.errors.append(record)
        else:
            try:
                key, item, size = prepare_item(spec, record.item)
            except DynamoDBError as exc:
                record.error = exc.message
                chunk.errors.append(record)
            else:
                chunk.items.append((key, item, size))
        if chunk.processed >= STEP:
            return chunk
    chunk.done = True
    return chunk


def _start_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_started").write_bytes(b"")


def _line(data: bytes, fmt: str) -> bytes:
    from streamkit.engine import s3files  # its formats load on first use

    if fmt == "ION":
        return s3files.encode_ion_item(bulk.item_of(data))
    return s3files.json_line(bulk.item_json(data))


def _change_line(spec: TableSpec, change: history.Change, view: str, fmt: str) -> bytes | None:
    """The incremental export line of one key's change (None: created and deleted inside
    the period, which DynamoDB leaves out). NEW_IMAGE leaves out the old image."""
    _, _, old, new, at = change
    if old is None and new is None:
        return None
    if view != "NEW_AND_OLD_IMAGES":
        old = None
    micros = round(at * 1_000_000)
    some = bulk.item_of(new if new is not None else change[2])  # type: ignore[arg-type]
    keys = {name: some[name] for name in spec.key.types()}
    from streamkit.engine import s3files  # its formats load on first use

    if fmt == "ION":
        return s3files.incremental_ion_line(
            micros,
            keys,
            None if new is None else bulk.item_of(new),
            None if old is None else bulk.item_of(old),
        )
    return s3files.incremental_json_line(
        micros,
        orjson.dumps(keys, default=json_default),
        None if new is None else bulk.item_json(new),
        None if old is None else bulk.item_json(old),
    )


def _source_lines(
    conn: sqlite3.Connection, spec: TableSpec, fmt: str, source: _Source
) -> Iterator[bytes]:
    """Every data line of an export, from one snapshot (on a reader thread)."""
    if source[0] == "table":
        for data in bulk.iter_item_blobs(conn, spec):
            yield _line(data, fmt)
    elif source[0] == "at":
        for data in history.items_at(conn, source[1], source[2]):
            yield _line(data, fmt)
    else:
        _, table, start, end, view = source
        for change in history.changes_step(conn, table, start, end, None, None):
            line = _change_line(spec, change, view, fmt)
            if line is not None:
                yield line


def _export_step(
    conn: sqlite3.Connection,
    spec: TableSpec,
    fmt: str,
    source: _Source,
    after: tuple[bytes, bytes] | None,
) -> tuple[list[bytes], tuple[bytes, bytes] | None, bool]:
    """Up to ``STEP`` keys of an export after the key ``after``: (lines, last key, done)."""
    keys: list[tuple[bytes, bytes]]
    if source[0] == "table":
        rows = bulk.item_rows(conn, spec, after, STEP)
        lines = [_line(data, fmt) for _, _, data in rows]
        keys = [(hk, rk) for hk, rk, _ in rows]
    elif source[0] == "at":
        found = history.restore_step(conn, source[1], source[2], after, STEP)
        lines = [_line(blob, fmt) for _, _, blob, _ in found if blob]
        keys = [(hk, rk) for hk, rk, _, _ in found]
    else:
        _, table, start, end, view = source
        changes = history.changes_step(conn, table, start, end, after, STEP)
        lines = [x for c in changes if (x := _change_line(spec, c, view, fmt)) is not None]
        keys = [(c[0], c[1]) for c in changes]
    return lines, (keys[-1] if keys else after), len(keys) < STEP


def _export_all(
    conn: sqlite3.Connection, spec: TableSpec, writer: DataFileWriter, fmt: str, source: _Source
) -> None:
    """Write every line of an export from one snapshot (on a reader thread)."""
    lines: list[bytes] = []
    for line in _source_lines(conn, spec, fmt, source):
        lines.append(line)
        if len(lines) >= STEP:
            writer.write_lines(lines)
            lines = []
    if lines:
        writer.write_lines(lines)
    writer.finish()


def _summary(
    desc: Mapping[str, Any], key_base: str, fmt: str, end: float, writer: DataFileWriter
) -> dict[str, Any]:
    """manifest-summary.json: DynamoDB's fields (an incremental export's version 2023-08-01,
    with exportFromTime, exportToTime, outputView and exportType instead of exportTime)."""
    incremental = desc.get("IncrementalExportSpecification")
    summary: dict[str, Any] = {
        "version": "2020-06-30" if incremental is None else "2023-08-01",
        "exportArn": desc["ExportArn"],
        "startTime": _iso(desc["StartTime"]),
        "endTime": _iso(end),
        "tableArn": desc["TableArn"],
        "tableId": desc["TableId"],
    }
    if incremental is None:
        summary["exportTime"] = _iso(desc["ExportTime"])
    else:
        summary["exportFromTime"] = _iso(incremental["ExportFromTime"])
        summary["exportToTime"] = _iso(incremental["ExportToTime"])
    summary.update(
        {
            "s3Bucket": desc["S3Bucket"],
            "s3Prefix": desc.get("S3Prefix"),
            "s3SseAlgorithm": desc["S3SseAlgorithm"],
            "s3SseKmsKeyId": desc.get("S3SseKmsKeyId"),
            "manifestFilesS3Key": f"{key_base}/manifest-files.json",
            "billedSizeBytes": writer.billed_bytes,
            "itemCount": writer.item_count,
            "outputFormat": fmt,
        }
    )
    if incremental is not None:
        summary["outputView"] = incremental["ExportViewType"]
        summary["exportType"] = "INCREMENTAL_EXPORT"
    return summary


def _page_size(p: Params, member: str) -> int:
    size = p.integer(member)
    if size is None:
        return 25
    if not 1 <= size <= 25:
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at '{member[0].lower()}"
            f"{member[1:]}' failed to satisfy constraint: Member must have value less than or "
            "equal to 25"
            if size > 25
            else f"1 validation error detected: Value '{size}' at '{member[0].lower()}"
            f"{member[1:]}' failed to satisfy constraint: Member must have value greater than "
            "or equal to 1"
        )
    return size


def _start_of(token: str | None) -> int:
    if token is None:
        return 0
    try:
        return int(token, 16)
    except ValueError:
        raise ValidationException("Invalid NextToken") from None


def _csv_options(options: Mapping[str, Any] | None, fmt: str) -> Mapping[str, Any] | None:
    if options is None:
        return None
    csv = options.get("Csv")
    if csv is None:
        return None
    if fmt != "CSV":
        raise ValidationException("InputFormatOptions.Csv can only be given with InputFormat CSV")
    if not isinstance(csv, Mapping):
        raise SerializationException("InputFormatOptions.Csv is not a structure")
    delimiter = csv.get("Delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter not in ",;:|\t ":
        raise ValidationException(
            "CsvOptions.Delimiter must be one of ',', ';', ':', '|', tab or space"
        )
    headers = csv.get("HeaderList")
    if headers is not None and (
        not isinstance(headers, list)
        or not 1 <= len(headers) <= 255
        or not all(isinstance(h, str) and h for h in headers)
    ):
        raise ValidationException("CsvOptions.HeaderList must hold 1 to 255 non-empty names")
    return csv
