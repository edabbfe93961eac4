"""``streamkit replication status|pause|resume``: global tables' replication links of a running
``streamkit serve`` (streamkit-only requests, ``Streamkit_20261206.*``: DynamoDB has no API for
them), and ``status --data DIR``: a stopped data folder's links, from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from streamkit.cli.backends import unreachable
from streamkit.cli.inputs import UsageError
from streamkit.cli.output import render

__all__ = ["DEFAULT_ENDPOINT", "run_replication"]

#: where ``streamkit serve`` listens by default
DEFAULT_ENDPOINT: Final = "http://127.0.0.1:8000"
_PREFIX: Final = "Streamkit_20261206"


def run_replication(args: argparse.Namespace) -> int:
    """Run one ``replication`` subcommand; return the exit status."""
    action = args.replication_command
    if action == "status" and args.data is not None:
        if args.endpoint_url is not None:
            raise UsageError("give --data DIR (a stopped folder) or --endpoint-url, not both")
        import anyio

        files = sorted(Path(args.data).glob("*.sqlite3"))
        if not files:
            print(f"streamkit: no region files in {args.data}", file=sys.stderr)
            return 1
        response: dict[str, Any] = anyio.run(_folder_status, files, backend="asyncio")
    else:
        url = args.endpoint_url or DEFAULT_ENDPOINT
        if action == "status":
            operation, params = "DescribeReplication", {}
        else:
            operation = "PauseReplication" if action == "pause" else "ResumeReplication"
            params = {
                "TableName": args.table,
                "SourceRegion": args.source,
                "TargetRegion": args.target,
            }
        try:
            response = _call(url, args.region, args.profile, operation, params)
        except _Refused as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except OSError:
            print(f"streamkit: {unreachable(url)}", file=sys.stderr)
            return 1
    render(response, args.output, sys.stdout)
    return 0


class _Refused(Exception):
    """The server answered an error (printed as the aws CLI prints one)."""


def _call(
    url: str, region: str, profile: str | None, operation: str, params: dict[str, Any]
) -> dict[str, Any]:
    body = json.dumps(params).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"{_PREFIX}.{operation}",
    }
    headers.update(_signature(url, region, profile, body, headers))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            answer: dict[str, Any] = json.loads(reply.read() or b"{}")
            return answer
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read() or b"{}")
        except ValueError:
            error = {}
        code = str(error.get("__type", f"HTTP {exc.code}")).rpartition("#")[2]
        message = error.get("message") or error.get("Message") or ""
        raise _Refused(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        ) from None


def _signature(
    url: str, region: str, profile: str | None, body: bytes, headers: dict[str, str]
) -> dict[str, str]:
    """SigV4 headers with the AWS chain's keys (dummy ones when none are configured), as every
    request to a ``serve --auth`` is signed; none when botocore is not installed (a server
    without ``--auth`` does not check)."""
    try:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        return {}
    session = boto3.Session(profile_name=profile, region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        credentials = Credentials("streamkit", "streamkit")
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, "dynamodb", region).add_auth(request)
    return {k: v for k, v in request.headers.items() if k not in headers}


async def _folder_status(files: list[Path]) -> dict[str, Any]:
    """Every link of a stopped data folder: records its source's stream holds past the link's
    persisted checkpoints (lag and pauses live only in a running server)."""
    from streamkit.mappings.replication import link_name
    from streamkit.streams import open_engine
    from streamkit.streams.client import describe_shards
    from streamkit.streams.records import parse_sequence_number

    links: list[dict[str, Any]] = []
    for path in files:
        region = path.name.removesuffix(".sqlite3")
        async with open_engine(path, region=region, read_only=True) as engine:
            known: dict[tuple[str, str], dict[str, tuple[str | None, bool]]] = {}
            for mapping, stream, shard_id, seq, done in await engine.backend.all_checkpoints():
                known.setdefault((mapping, stream), {})[shard_id] = (seq, done)
            for table, spec in sorted(engine.global_tables().items()):
                arn = engine.stream_arn(table)
                for target, _ in spec.replicas:
                    if target == region:
                        continue
                    behind = 0
                    if arn is not None:
                        checkpoints = known.get((link_name(table, target), arn), {})
                        for shard in await describe_shards(engine.streams, arn):
                            seq, done = checkpoints.get(shard["ShardId"], (None, False))
                            if not done:
                                after = None if seq is None else parse_sequence_number(seq)
                                behind += await engine.backend.pending_records(
                                    arn, shard["ShardId"], after
                                )
                    links.append(
                        {
                            "TableName": table,
                            "SourceRegion": region,
                            "TargetRegion": target,
                            "RecordsBehind": behind,
                        }
                    )
    links.sort(key=lambda link: (link["TableName"], link["SourceRegion"], link["TargetRegion"]))
    return {"Links": links}
