"""Endpoints for the remote-source tests: ``streamkit serve`` and moto's server, each a real
process on loopback, and a fault-injecting proxy in front of either."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import boto3
import orjson
from aiohttp import web

from tests.server.serving import start_serve, stop

KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
REGION = "us-east-1"
TARGET_PREFIX = "DynamoDBStreams_20120810."


@contextmanager
def serve_process(*args: str) -> Iterator[str]:
    """``streamkit serve --memory ARGS`` as a subprocess; yields its URL."""
    process, url, _ = start_serve("--memory", *args)
    try:
        yield url
    finally:
        stop(process)


_MOTO = (
    "import sys\n"
    "from moto.server import ThreadedMotoServer\n"
    "server = ThreadedMotoServer('127.0.0.1', 0, verbose=False)\n"
    "server.start()\n"
    "print(server.get_host_and_port()[1], flush=True)\n"
    "sys.stdin.read()\n"  # until the test closes our stdin
    "server.stop()\n"
)


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's server (a DynamoDB-compatible server we did not write) as a subprocess."""
    env = {**os.environ, **{k.upper(): v for k, v in KEYS.items()}}
    process = subprocess.Popen(
        [sys.executable, "-c", _MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    port = process.stdout.readline().strip()
    try:
        assert port.isdigit(), f"moto did not start: {port!r}"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=15)
        process.stdout.close()


def dynamodb(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name=REGION, **KEYS)


def streams_client(url: str) -> Any:
    return boto3.client("dynamodbstreams", endpoint_url=url, region_name=REGION, **KEYS)


def create_table(url: str, name: str, view: str = "NEW_AND_OLD_IMAGES") -> str:
    """Create a table with a stream; return the stream's ARN."""
    response = dynamodb(url).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    arn: str = response["TableDescription"]["LatestStreamArn"]
    return arn


def put_versions(url: str, table: str, keys: int, versions: int, start: int = 0) -> None:
    """Write ``versions`` successive versions of ``keys`` items (interleaved by key)."""
    client = dynamodb(url)
    for version in range(start, start + versions):
        for key in range(keys):
            client.put_item(
                TableName=table,
                Item={"pk": {"S": f"k{key}"}, "v": {"N": str(version)}, "b": {"B": b"\x00\xff"}},
            )


@dataclass
class FaultProxy:
    """Forwards every request to ``upstream``; answers queued faults instead, per operation."""

    upstream: str
    url: str = ""
    faults: dict[str, deque[str]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: decides, from the request body, whether a queued fault applies (default: always)
    when: dict[str, Callable[[dict[str, Any]], bool]] = field(default_factory=dict)

    def inject(self, operation: str, code: str, times: int = 1) -> None:
        self.faults.setdefault(operation, deque()).extend([code] * times)

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [body for op, body in self.bodies if op == operation]


@asynccontextmanager
async def fault_proxy(upstream: str) -> AsyncIterator[FaultProxy]:
    """An aiohttp server on a free loopback port in front of ``upstream``."""
    proxy = FaultProxy(upstream)
    async with aiohttp.ClientSession(auto_decompress=False) as session:

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            target = request.headers.get("X-Amz-Target", "")
            operation = target.removeprefix(TARGET_PREFIX)
            parsed = orjson.loads(body) if body else {}
            proxy.calls[operation] += 1
            proxy.bodies.append((operation, parsed))
            queue = proxy.faults.get(operation)
            rule = proxy.when.get(operation)
            applies = rule is None or rule(parsed)
            if queue and applies:
                code = queue.popleft()
                payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}
                return web.Response(
                    status=400,
                    body=orjson.dumps(payload),
                    content_type="application/x-amz-json-1.0",
                )
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("host", "content-length")
            }
            async with session.post(proxy.upstream, data=body, headers=headers) as upstream:
                data = await upstream.read()
                return web.Response(
                    status=upstream.status,
                    body=data,
                    headers={
                        k: v
                        for k, v in upstream.headers.items()
                        if k.lower() in ("content-type", "x-amzn-requestid", "x-amz-crc32")
                    },
                )

        app = web.Application()
        app.router.add_post("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        proxy.url = f"http://127.0.0.1:{port}"
        try:
            yield proxy
        finally:
            await runner.cleanup()
