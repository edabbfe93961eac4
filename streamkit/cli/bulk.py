"""Many items at once: ``batch-write``, ``load``, ``dump`` and ``transact``.

``load`` reads JSON Lines in any of three shapes, one item a line: DynamoDB JSON
(``{"pk": {"S": "a"}}``), plain JSON (``{"pk": "a"}``), or DynamoDB's S3 export format
(``{"Item": {"pk": {"S": "a"}}}``), which is what ``dump`` writes, so the two round-trip.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import anyio

from streamkit.backoff import Backoff
from streamkit.cli.backends import Backend
from streamkit.cli.common import CommandError, run_on_backend
from streamkit.cli.inputs import InputFormat, UsageError, item_value, read_json
from streamkit.cli.progress import Progress
from streamkit.server.wire import dumps

__all__ = ["BATCH_SIZE", "run_batch_write", "run_dump", "run_load", "run_transact", "write_all"]

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 8  # sends of one batch before its UnprocessedItems are given up on
#: waits between the sends of one batch: 50 ms, 100 ms, ... at most 5 s
RESEND = Backoff(max_attempts=MAX_ATTEMPTS, base=0.05, cap=5.0, jitter=False)
#: how the back-off waits; tests swap it for a recorder (the CLI has no injected clock)
sleep: Callable[[float], Any] = anyio.sleep

#: (table, {"PutRequest": ...} or {"DeleteRequest": ...})
Request = tuple[str, dict[str, Any]]


async def run_batch_write(args: argparse.Namespace) -> int:
    """``batch-write --file F``: a RequestItems document, sent 25 requests a call."""
    document = read_json(f"file://{args.file}", "--file")
    if not isinstance(document, dict) or not all(isinstance(v, list) for v in document.values()):
        raise UsageError('--file: expected {"TABLE": [{"PutRequest": ...}, ...], ...}')
    requests = [
        (table, _write_request(entry, f"--file: {table}[{n}]", args.input_format))
        for table, entries in document.items()
        for n, entry in enumerate(entries)
    ]

    async def body(backend: Backend) -> dict[str, Any]:
        keys = {table: await _key_names(backend, table) for table in document}
        progress = Progress("written", stream=sys.stderr, total=len(requests))
        left = await write_all(backend, requests, keys, progress.update)
        progress.close()
        return _report(len(requests), left)

    return await run_on_backend(args, body)


async def run_load(args: argparse.Namespace) -> int:
    """``load TABLE FILE``: check every line, then write them all with BatchWriteItem."""

    async def body(backend: Backend) -> dict[str, Any]:
        keys = await _key_names(backend, args.table_name)
        items = read_items(Path(args.file), keys, args.input_format)
        requests = [(args.table_name, {"PutRequest": {"Item": item}}) for item in items]
        progress = Progress("loaded", stream=sys.stderr, total=len(requests))
        left = await write_all(backend, requests, {args.table_name: keys}, progress.update)
        progress.close()
        return _report(len(requests), left)

    return await run_on_backend(args, body)


async def run_dump(args: argparse.Namespace) -> int:
    """``dump TABLE [--out FILE]``: every item as an export-format line (``{"Item": ...}``)."""

    async def body(backend: Backend) -> None:
        described = await backend.call("DescribeTable", {"TableName": args.table_name})
        total = described["Table"].get("ItemCount")
        if args.out is None:
            count = await _dump(backend, args.table_name, sys.stdout, None)
        else:
            progress = Progress("dumped", stream=sys.stderr, total=total or None)
            # a CLI process with nothing else on its loop: blocking writes cost nobody
            with Path(args.out).open("w") as out:  # noqa: ASYNC230
                count = await _dump(backend, args.table_name, out, progress.update)
            progress.close()
        print(f"dumped {count} items from {args.table_name}", file=sys.stderr)

    return await run_on_backend(args, body, read_only=True)


async def run_transact(args: argparse.Namespace) -> int:
    """``transact --file F``: TransactWriteItems, or TransactGetItems when all are Gets."""
    document = read_json(f"file://{args.file}", "--file")
    if isinstance(document, dict) and "TransactItems" in document:
        document = document["TransactItems"]
    if not isinstance(document, list) or not document:
        raise UsageError('--file: expected a JSON array of {"Put"|"Update"|"Delete"|...: {...}}')
    entries = [_transact_entry(entry, n, args.input_format) for n, entry in enumerate(document)]
    reads = all("Get" in entry for entry in entries)
    params: dict[str, Any] = {"TransactItems": entries}
    if args.client_request_token is not None:
        if reads:
            raise UsageError("--client-request-token applies to writes (TransactWriteItems)")
        params["ClientRequestToken"] = args.client_request_token
    operation = "TransactGetItems" if reads else "TransactWriteItems"

    async def body(backend: Backend) -> dict[str, Any]:
        return await backend.call(operation, params)

    return await run_on_backend(args, body, read_only=reads)


async def write_all(
    backend: Backend,
    requests: list[Request],
    keys: dict[str, list[str]],
    progress: Callable[[int], None] | None = None,
) -> list[Request]:
    """Send ``requests`` with BatchWriteItem; return the ones still unprocessed at the end.

    Calls carry at most 25 requests and never two for one key (DynamoDB refuses those), so a
    repeated key starts a new call and the later write wins, as it would one at a time.
    UnprocessedItems are sent again after 50 ms, 100 ms, ... (at most 5 s), eight sends a batch.
    """
    left: list[Request] = []
    written = 0
    for batch in _batches(requests, keys):
        pending = batch
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                await sleep(RESEND.delay(attempt))
            grouped: dict[str, list[dict[str, Any]]] = {}
            for table, request in pending:
                grouped.setdefault(table, []).append(request)
            response = await backend.call("BatchWriteItem", {"RequestItems": grouped})
            unprocessed = response.get("UnprocessedItems") or {}
            pending = [(t, r) for t, rs in unprocessed.items() for r in rs]
            if not pending:
                break
        left.extend(pending)
        written += len(batch) - len(pending)
        if progress is not None:
            progress(written)
    return left


def read_items(path: Path, keys: list[str], fmt: InputFormat) -> list[dict[str, Any]]:
    """Parse every line of a JSON Lines file into an item; fail on the first bad line.

    Raises:
        CommandError: the file cannot be read, or a line is not an item with the table's key.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    items: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{where}: not valid JSON ({exc.msg})") from None
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Item"), dict):
            value = value["Item"]  # DynamoDB's S3 export format
        try:
            item = item_value(value, where, fmt)
        except UsageError as exc:
            raise CommandError(str(exc)) from None
        missing = [k for k in keys if k not in item]
        if missing:
            raise CommandError(f"{where}: the item has no key attribute {missing[0]!r}")
        items.append(item)
    return items


def _batches(requests: list[Request], keys: dict[str, list[str]]) -> Iterator[list[Request]]:
    batch: list[Request] = []
    seen: set[tuple[str, str]] = set()
    for table, request in requests:
        key = _key_of(request, keys[table])
        if len(batch) == BATCH_SIZE or (table, key) in seen:
            yield batch
            batch, seen = [], set()
        batch.append((table, request))
        seen.add((table, key))
    if batch:
        yield batch


def _key_of(request: dict[str, Any], names: list[str]) -> str:
    if "PutRequest" in request:
        source = request["PutRequest"].get("Item", {})
    else:
        source = request.get("DeleteRequest", {}).get("Key", {})
    return dumps([source.get(name) for name in names]).decode()


async def _key_names(backend: Backend, table: str) -> list[str]:
    described = await backend.call("DescribeTable", {"TableName": table})
    return [k["AttributeName"] for k in described["Table"]["KeySchema"]]


def _write_request(entry: Any, where: str, fmt: InputFormat) -> dict[str, Any]:
    if isinstance(entry, dict) and len(entry) == 1:
        if isinstance(put := entry.get("PutRequest"), dict) and "Item" in put:
            return {"PutRequest": {"Item": item_value(put["Item"], where, fmt)}}
        if isinstance(delete := entry.get("DeleteRequest"), dict) and "Key" in delete:
            return {"DeleteRequest": {"Key": item_value(delete["Key"], where, fmt)}}
    raise UsageError(f'{where}: expected {{"PutRequest": {{"Item": ...}}}} or a DeleteRequest')


_TRANSACT_KINDS = frozenset(["Put", "Update", "Delete", "ConditionCheck", "Get"])
_TRANSACT_MAPS = ("Item", "Key", "ExpressionAttributeValues")


def _transact_entry(entry: Any, n: int, fmt: InputFormat) -> dict[str, Any]:
    where = f"--file: item {n}"
    if not isinstance(entry, dict) or len(entry) != 1 or not set(entry) <= _TRANSACT_KINDS:
        raise UsageError(f"{where}: expected one of {', '.join(sorted(_TRANSACT_KINDS))}")
    ((kind, operation),) = entry.items()
    if not isinstance(operation, dict):
        raise UsageError(f"{where}: {kind} must be a JSON object")
    converted = dict(operation)
    for member in _TRANSACT_MAPS:
        if member in converted:
            converted[member] = item_value(converted[member], f"{where}: {member}", fmt)
    return {kind: converted}


async def _dump(
    backend: Backend, table: str, out: TextIO, progress: Callable[[int], None] | None
) -> int:
    count = 0
    params: dict[str, Any] = {"TableName": table}
    while True:
        page = await backend.call("Scan", params)
        for item in page.get("Items", []):
            out.write(dumps({"Item": item}).decode() + "\n")
        count += len(page.get("Items", []))
        if progress is not None:
            progress(count)
        start = page.get("LastEvaluatedKey")
        if not start:
            return count
        params = {"TableName": table, "ExclusiveStartKey": start}


def _report(total: int, left: list[Request]) -> dict[str, Any]:
    if left:
        raise CommandError(
            f"{len(left)} of {total} writes still unprocessed after {MAX_ATTEMPTS} attempts "
            "(throttled): run again to retry them"
        )
    return {"Written": total}
