"""``streamkit export TABLE DIR`` and ``streamkit import DIR TABLE``.

DIR is the bucket: locally the engine's buckets folder is DIR's parent and the bucket is
DIR's name, so the files land in DIR. With ``--endpoint-url`` the server reads and writes
its own buckets folder (``serve --s3-dir``), and the bucket is DIR's name there: import
reads the export's manifest from DIR when DIR is a local folder too, and otherwise asks the
server (ListExports) for the newest full export it wrote into that bucket.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson

from streamkit.cli.backends import Backend, BackendError, LocalBackend
from streamkit.cli.common import CommandError, run_on_backend
from streamkit.cli.inputs import UsageError
from streamkit.cli.progress import Progress

__all__ = ["run_export", "run_import"]

POLL = 0.2  # seconds between DescribeExport / DescribeImport calls


def _time(text: str | None, option: str) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


async def _following(
    backend: Backend, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``work`` (start a job and follow it to its end). Locally the engine's exports and
    imports run meanwhile in a task of this command, as a runtime runs them
    (:func:`streamkit.runtime.run_transfers`), so the call answers at once and the bar
    follows the job; over HTTP the server's runtime runs them."""
    if not isinstance(backend, LocalBackend):
        return await work()
    from streamkit.runtime import run_transfers

    outcome: list[dict[str, Any] | Exception] = []
    async with anyio.create_task_group() as tg:
        await tg.start(run_transfers, backend.engine)
        try:
            outcome.append(await work())
        except (BackendError, CommandError, UsageError, OSError) as exc:  # raised below, not
            # inside an exception group
            outcome.append(exc)
        tg.cancel_scope.cancel()
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def _bucket(folder: Path) -> tuple[Path, str]:
    folder = folder.resolve()
    return folder.parent, folder.name


async def run_export(args: argparse.Namespace) -> int:
    """Start the export, follow it to its end, print its description."""
    root, bucket = _bucket(Path(args.dir))
    params: dict[str, Any] = {"S3Bucket": bucket, "ExportFormat": args.format}
    if args.prefix:
        params["S3Prefix"] = args.prefix
    if args.incremental:
        if args.export_time:
            raise UsageError("--time is for a full export; an incremental one takes --from/--to")
        if not args.from_time:
            raise UsageError("--incremental needs --from ISO (and optionally --to ISO)")
        params["ExportType"] = "INCREMENTAL_EXPORT"
        spec: dict[str, Any] = {"ExportViewType": args.view or "NEW_AND_OLD_IMAGES"}
        if (start := _time(args.from_time, "--from")) is not None:
            spec["ExportFromTime"] = start
        if (end := _time(args.to_time, "--to")) is not None:
            spec["ExportToTime"] = end
        params["IncrementalExportSpecification"] = spec
    elif args.from_time or args.to_time or args.view:
        raise UsageError("--from, --to and --view go with --incremental")
    elif (when := _time(args.export_time, "--time")) is not None:
        params["ExportTime"] = when

    async def body(backend: Backend) -> dict[str, Any]:
        return await _following(backend, lambda: follow(backend))

    async def follow(backend: Backend) -> dict[str, Any]:
        table = await backend.call("DescribeTable", {"TableName": args.table_name})
        params["TableArn"] = table["Table"]["TableArn"]
        total = table["Table"].get("ItemCount") or None
        started = await backend.call("ExportTableToPointInTime", params)
        arn = started["ExportDescription"]["ExportArn"]
        progress = Progress("exporting", stream=sys.stderr, total=total)
        while True:
            desc = (await backend.call("DescribeExport", {"ExportArn": arn}))["ExportDescription"]
            if desc["ExportStatus"] != "IN_PROGRESS":
                break
            progress.update(0)
            await anyio.sleep(POLL)
        progress.update(desc.get("ItemCount", 0))
        progress.close()
        if desc["ExportStatus"] != "COMPLETED":
            raise CommandError(f"the export failed: {desc.get('FailureMessage', '?')}")
        where = f"{args.dir}/{desc['ExportManifest']}"
        if args.endpoint_url is not None:
            where = f"s3://{bucket}/{desc['ExportManifest']} (in the server's --s3-dir)"
        print(f"exported {desc.get('ItemCount', 0)} items: {where}", file=sys.stderr)
        return {"ExportDescription": desc}

    return await run_on_backend(args, body, read_only=True, s3_dir=root)


def _incremental(export: Path) -> bool:
    summary = orjson.loads((export / "manifest-summary.json").read_bytes())
    return bool(summary.get("exportType") == "INCREMENTAL_EXPORT")


def _find_export(folder: Path) -> Path | None:
    """The export folder DIR names: DIR itself, or its newest full AWSDynamoDB/<id>
    (incremental exports are not imported: DynamoDB's ImportTable does not read them)."""
    if (folder / "manifest-summary.json").is_file():
        if _incremental(folder):
            raise UsageError(
                f"{folder} is an incremental export: ImportTable reads full exports only "
                "(as DynamoDB's does); import a full export, then apply the changes"
            )
        return folder
    exports = sorted(
        p.parent
        for p in folder.glob("**/AWSDynamoDB/*/manifest-summary.json")
        if p.is_file() and not _incremental(p.parent)
    )
    if not exports:
        return None
    newest = max(exports, key=lambda p: p.name)  # ids start with the time in milliseconds
    if len(exports) > 1:
        print(f"streamkit: {len(exports)} exports in {folder}: importing {newest}", file=sys.stderr)
    return newest


def _key(text: str, option: str) -> tuple[str, str]:
    name, _, kind = text.rpartition(":")
    if not name or kind not in ("S", "N", "B"):
        raise UsageError(f"{option}: expected NAME:TYPE with TYPE S, N or B, not {text!r}")
    return name, kind


def _source(args: argparse.Namespace) -> tuple[Path, str, str, str, int | None, str]:
    """Return the buckets folder, bucket, key prefix, format, item count (of an export) and
    compression of DIR."""
    folder = Path(args.dir).resolve()
    if not folder.is_dir():
        raise UsageError(f"{args.dir}: no such folder")
    found = _find_export(folder)
    fmt, compression, total = args.format, args.compression, None
    if found is not None:
        summary = orjson.loads((found / "manifest-summary.json").read_bytes())
        fmt = fmt or summary.get("outputFormat", "DYNAMODB_JSON")
        compression = compression or "GZIP"
        total = summary.get("itemCount")
        prefix = (found / "data").relative_to(folder).as_posix() + "/"
    else:
        prefix = ""
        if compression is None:
            names = [p.name for p in folder.rglob("*") if p.is_file()]
            compression = (
                "GZIP"
                if names and all(n.endswith(".gz") for n in names)
                else "ZSTD"
                if names and all(n.endswith(".zst") for n in names)
                else "NONE"
            )
    return folder.parent, folder.name, prefix, fmt or "DYNAMODB_JSON", total, compression


def _on_server(args: argparse.Namespace) -> bool:
    """Whether DIR names a bucket in the server's ``--s3-dir`` rather than a local folder."""
    return args.endpoint_url is not None and not Path(args.dir).is_dir()


async def _server_export(
    backend: Backend, args: argparse.Namespace
) -> tuple[str, str, int | None, str]:
    """Return the key prefix, format, item count and compression of the newest completed full
    export the server wrote into the bucket DIR names (DIR is not a local folder, so it names
    a bucket in the server's ``--s3-dir``, as ``streamkit export`` does)."""
    bucket = Path(args.dir).name
    newest: dict[str, Any] | None = None
    params: dict[str, Any] = {}
    while True:
        page = await backend.call("ListExports", params)
        for summary in page.get("ExportSummaries", []):
            if summary["ExportStatus"] != "COMPLETED" or summary["ExportType"] != "FULL_EXPORT":
                continue
            desc = (await backend.call("DescribeExport", {"ExportArn": summary["ExportArn"]}))[
                "ExportDescription"
            ]
            if desc["S3Bucket"] == bucket and (
                newest is None or desc["ExportManifest"] > newest["ExportManifest"]
            ):  # export ids start with the time in milliseconds
                newest = desc
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    if newest is None:
        raise CommandError(
            f"{args.dir} is not a folder here, and the server has no completed full export "
            f"into its bucket {bucket!r}"
        )
    prefix = newest["ExportManifest"].rpartition("/")[0] + "/data/"
    fmt = args.format or newest["ExportFormat"]
    return prefix, fmt, int(newest.get("ItemCount", 0)), args.compression or "GZIP"


async def run_import(args: argparse.Namespace) -> int:
    """Create the table from DIR's files, follow the import to its end, print its description.

    With ``--endpoint-url`` and a DIR that is no local folder, DIR names a bucket in the
    server's ``--s3-dir``, and the import reads the newest full export the server wrote there.
    """
    local = None if _on_server(args) else _source(args)
    root, bucket = (None, Path(args.dir).name) if local is None else local[:2]

    async def body(backend: Backend) -> dict[str, Any]:
        return await _following(backend, lambda: follow(backend))

    async def follow(backend: Backend) -> dict[str, Any]:
        prefix, fmt, total, compression = (
            await _server_export(backend, args) if local is None else local[2:]
        )
        creation = await _creation(backend, args)
        params: dict[str, Any] = {
            "S3BucketSource": {"S3Bucket": bucket, "S3KeyPrefix": prefix},
            "InputFormat": fmt,
            "InputCompressionType": compression,
            "TableCreationParameters": creation,
        }
        if fmt == "CSV" and args.delimiter:
            params["InputFormatOptions"] = {"Csv": {"Delimiter": args.delimiter}}
        started = await backend.call("ImportTable", params)
        arn = started["ImportTableDescription"]["ImportArn"]
        progress = Progress("importing", stream=sys.stderr, total=total)
        while True:
            reply = await backend.call("DescribeImport", {"ImportArn": arn})
            desc = reply["ImportTableDescription"]
            progress.update(desc.get("ProcessedItemCount", 0))
            if desc["ImportStatus"] != "IN_PROGRESS":
                break
            await anyio.sleep(POLL)
        progress.close()
        if desc["ImportStatus"] != "COMPLETED":
            raise CommandError(f"the import failed: {desc.get('FailureMessage', '?')}")
        print(
            f"imported {desc.get('ImportedItemCount', 0)} items into {args.table_name}"
            f" ({desc.get('ErrorCount', 0)} bad records)",
            file=sys.stderr,
        )
        return {"ImportTableDescription": desc}

    return await run_on_backend(args, body, s3_dir=root)


async def _creation(backend: Backend, args: argparse.Namespace) -> dict[str, Any]:
    """TableCreationParameters from --hash-key/--range-key, or from the table --like names."""
    if args.like:
        table = (await backend.call("DescribeTable", {"TableName": args.like}))["Table"]
        creation: dict[str, Any] = {
            "TableName": args.table_name,
            "AttributeDefinitions": table["AttributeDefinitions"],
            "KeySchema": table["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        gsis = [
            {k: g[k] for k in ("IndexName", "KeySchema", "Projection")}
            for g in table.get("GlobalSecondaryIndexes", [])
        ]
        if gsis:
            creation["GlobalSecondaryIndexes"] = gsis
        return creation
    if not args.hash_key:
        raise UsageError(
            "give the new table's key: --hash-key NAME:TYPE [--range-key NAME:TYPE], "
            "or --like TABLE"
        )
    keys = [(*_key(args.hash_key, "--hash-key"), "HASH")]
    if args.range_key:
        keys.append((*_key(args.range_key, "--range-key"), "RANGE"))
    return {
        "TableName": args.table_name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t, _ in keys],
        "KeySchema": [{"AttributeName": n, "KeyType": r} for n, _, r in keys],
        "BillingMode": "PAY_PER_REQUEST",
    }
