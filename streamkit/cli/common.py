"""What every data command shares: open the backend, run, print, and fail in one line."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from streamkit.cli.backends import Backend, BackendError, open_backend
from streamkit.cli.output import render

__all__ = ["CommandError", "list_table_names", "missing_table", "run_on_backend"]

#: A command body: runs requests on the backend; returns the response to print (None: nothing).
Body = Callable[[Backend], Awaitable[dict[str, Any] | None]]


class CommandError(Exception):
    """A command failed for a reason the user can act on; printed as one line, exit status 1."""


async def run_on_backend(
    args: argparse.Namespace, body: Body, *, read_only: bool = False, s3_dir: Any = None
) -> int:
    """Open ``--data``/``--endpoint-url``, run ``body``, print its answer per ``--output``.

    ``read_only``: the body only reads, so it may open the data folder beside its owner.
    ``s3_dir``: the local engine's buckets folder (export and import).
    A refused request prints the aws CLI's one line (or, for a missing table, the table's name
    and the closest existing name) and returns 1.
    """
    async with open_backend(
        endpoint_url=args.endpoint_url,
        region=args.region,
        data_dir=args.data,
        profile=args.profile,
        read_only=read_only,
        s3_dir=s3_dir,
    ) as backend:
        try:
            response = await body(backend)
        except BackendError as exc:
            print(await _explain(backend, exc, getattr(args, "table_name", None)), file=sys.stderr)
            return 1
        except CommandError as exc:
            print(f"streamkit: {exc}", file=sys.stderr)
            return 1
    if response is not None:
        render(response, args.output, sys.stdout)
    return 0


async def list_table_names(backend: Backend) -> list[str]:
    """Return every table's name (all ListTables pages)."""
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = await backend.call("ListTables", params)
        names.extend(page.get("TableNames", []))
        last = page.get("LastEvaluatedTableName")
        if not last:
            return names
        params = {"ExclusiveStartTableName": last}


async def missing_table(backend: Backend, table: str) -> str | None:
    """Return "Table T not found. Did you mean U?" when ``table`` does not exist, else None."""
    try:
        names = await list_table_names(backend)
    except BackendError:
        return None
    if table in names:
        return None  # the resource missing was something else (an index, a stream)
    close = difflib.get_close_matches(table, names, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"Table {table} not found.{hint}"


async def _explain(backend: Backend, exc: BackendError, table: str | None) -> str:
    if exc.code == "ResourceNotFoundException" and table:
        found = await missing_table(backend, table)
        if found is not None:
            return f"streamkit: {found}"
    return str(exc)
