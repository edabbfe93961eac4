"""``streamkit tags TABLE [--add K=V ...] [--remove K ...]``: a table's tags, listed or changed.

The table is named, not its ARN: DescribeTable gives the ARN, then UntagResource (``--remove``)
and TagResource (``--add``) run, in that order, and the table's tags are printed (every
ListTagsOfResource page).
"""

from __future__ import annotations

import argparse
from typing import Any

from streamkit.cli.backends import Backend
from streamkit.cli.common import run_on_backend
from streamkit.cli.inputs import UsageError

__all__ = ["parse_tag", "run_tags"]


def parse_tag(text: str) -> dict[str, str]:
    """``KEY=VALUE`` (the value may be empty, or hold ``=``) as TagResource's ``{Key, Value}``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--add: expected KEY=VALUE, got {text!r}")
    return {"Key": key, "Value": value}


async def run_tags(args: argparse.Namespace) -> int:
    """Run ``streamkit tags``; return the exit status."""
    added = [parse_tag(t) for t in args.add or ()]
    removed = list(args.remove or ())
    return await run_on_backend(
        args,
        lambda backend: _tags(backend, args.table_name, added, removed),
        read_only=not (added or removed),
    )


async def _tags(
    backend: Backend, table: str, added: list[dict[str, str]], removed: list[str]
) -> dict[str, Any]:
    described = await backend.call("DescribeTable", {"TableName": table})
    arn = described["Table"]["TableArn"]
    if removed:
        await backend.call("UntagResource", {"ResourceArn": arn, "TagKeys": removed})
    if added:
        await backend.call("TagResource", {"ResourceArn": arn, "Tags": added})
    tags: list[dict[str, str]] = []
    params: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = await backend.call("ListTagsOfResource", params)
        tags.extend(page.get("Tags", []))
        if not page.get("NextToken"):
            return {"Tags": tags}
        params["NextToken"] = page["NextToken"]
