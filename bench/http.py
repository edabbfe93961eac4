"""HTTP throughput of a DynamoDB endpoint: PutItem, GetItem, UpdateItem (ADD), BatchWriteItem(25),
Query(100), at concurrency 1 and 16.

By default it starts ``streamkit serve`` (data on disk, a NEW_AND_OLD_IMAGES stream on the table
when the engine supports streams) and measures that; ``--endpoint URL`` measures any other
endpoint instead (moto_server, dynalite, DynamoDB Local) with the same client, for ratios.

The client is a small keep-alive HTTP/1.1 client on asyncio + httptools (one connection per
in-flight request) so that it costs far less than the server it measures; boto3 would be the
bottleneck. Requests carry a well-formed but unverified SigV4 header, as every endpoint here
runs without auth.

    python bench/http.py [--endpoint URL [--pid PID]] [--seconds 2] [--runs 3] [--concurrency 1 16]
    python bench/http.py --against dynalite http://127.0.0.1:4567 PID [--against NAME URL PID ...]
    python bench/http.py ... --operations PutItem   # only these operations

Each cell is ops/s (items/s in parentheses) and, in brackets, the server's CPU time per request
(Linux: /proc/PID/stat of the server started here, or of ``--pid``). With ``--against`` every
endpoint measures a cell in turn before the next run of that cell starts, so runs compared
with each other are seconds apart, not minutes: on this shared machine, measuring one server
after another let a slow spell fall on one of them and move the ratios by 30%.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httptools
import orjson
from _load import pk_sk_table  # bench/ is on sys.path when a script runs

TABLE = "bench_http"
Body = Callable[[int], bytes]


class _Client(asyncio.Protocol):
    """One keep-alive connection; ``request()`` sends a POST and waits for the whole reply."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        assert self._done is not None
        if not self._parser.should_keep_alive() and self.transport is not None:
            self.closed = True
            self.transport.close()
        self._done.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("server closed the connection"))

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.closed:
            raise ConnectionError("server closed the connection")
        self._body = []
        self._done = asyncio.get_running_loop().create_future()
        self.transport.write(head % len(body) + body)
        return await self._done


def _head(host: str, target: str) -> bytes:
    amz_date = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    auth = (
        f"AWS4-HMAC-SHA256 Credential=bench/{amz_date[:8]}/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={'0' * 64}"
    )
    lines = [
        "POST / HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/x-amz-json-1.0",
        f"X-Amz-Target: {target}",
        f"X-Amz-Date: {amz_date}",
        f"Authorization: {auth}",
        "Content-Length: %d",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _connect(host: str, port: int) -> _Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(_Client, host, port)
    return client


async def call(endpoint: str, operation: str, body: dict[str, object]) -> tuple[int, dict]:
    """Send one request on a fresh connection (setup and probing)."""
    parts = urlsplit(endpoint)
    client = await _connect(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        status, raw = await client.request(
            _head(parts.netloc, f"DynamoDB_20120810.{operation}"), orjson.dumps(body)
        )
    finally:
        assert client.transport is not None
        client.transport.close()
    return status, orjson.loads(raw) if raw else {}


async def measure(
    endpoint: str, operation: str, body: Body, concurrency: int, seconds: float
) -> float:
    """Run ``operation`` with ``concurrency`` requests in flight for ``seconds``; return ops/s."""
    parts = urlsplit(endpoint)
    head = _head(parts.netloc, f"DynamoDB_20120810.{operation}")
    clients = [
        await _connect(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(concurrency)
    ]
    counter = itertools.count()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: _Client) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            if client.closed:  # servers without keep-alive close after each reply
                client = await _connect(parts.hostname or "127.0.0.1", parts.port or 80)
                clients.append(client)
            status, raw = await client.request(head, body(next(counter)))
            if status != 200:
                raise RuntimeError(f"{operation}: HTTP {status}: {raw[:300]!r}")
            done += 1

    start = time.perf_counter()
    try:
        async with asyncio.timeout(seconds + 60):  # a stalled endpoint fails the run, not hangs it
            await asyncio.gather(*(worker(c) for c in clients))
    except TimeoutError:
        raise RuntimeError(f"{operation}: no reply for 60 s at concurrency {concurrency}") from None
    elapsed = time.perf_counter() - start
    for client in clients:
        assert client.transport is not None
        client.transport.close()
    return done / elapsed


def _key(i: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"user#{i % 5000}"}, "sk": {"N": "0"}}


def _item(i: int) -> dict[str, dict[str, str]]:
    return {
        **_key(i),
        "name": {"S": f"name {i}"},
        "email": {"S": f"user{i}@example.com"},
        "count": {"N": str(i)},
        "tags": {"SS": ["a", "b", "c"]},
    }


BODIES: dict[str, Body] = {
    "PutItem": lambda i: orjson.dumps({"TableName": TABLE, "Item": _item(i)}),
    "GetItem": lambda i: orjson.dumps({"TableName": TABLE, "Key": _key(i % 1000)}),
    "UpdateItem": lambda i: orjson.dumps(
        {
            "TableName": TABLE,
            "Key": _key(i % 1000),
            "UpdateExpression": "ADD #c :one",
            "ExpressionAttributeNames": {"#c": "count"},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    ),
    "BatchWriteItem": lambda i: orjson.dumps(
        {
            "RequestItems": {
                TABLE: [{"PutRequest": {"Item": _item(100_000 + i * 25 + j)}} for j in range(25)]
            }
        }
    ),
    "Query": lambda i: orjson.dumps(
        {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "query#100"}},
        }
    ),
}
ITEMS_PER_REQUEST = {"BatchWriteItem": 25, "Query": 100}
OPERATIONS: list[str] = []  # --operations: only these (default: every operation in BODIES)


async def setup(endpoint: str) -> tuple[list[str], bool]:
    """Create the table (with a stream if possible), preload it; return runnable ops."""
    await call(endpoint, "DeleteTable", {"TableName": TABLE})
    table = pk_sk_table(TABLE)
    status, reply = await call(
        endpoint,
        "CreateTable",
        {
            **table,
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )
    stream = status == 200 and "LatestStreamArn" in reply.get("TableDescription", {})
    if status != 200:
        status, reply = await call(endpoint, "CreateTable", table)
        if status != 200:
            raise RuntimeError(f"CreateTable failed: {reply}")
    for i in range(1000):
        await call(endpoint, "PutItem", {"TableName": TABLE, "Item": _item(i)})
    for sk in range(100):
        item = {"pk": {"S": "query#100"}, "sk": {"N": str(sk)}, "payload": {"S": "x" * 100}}
        await call(endpoint, "PutItem", {"TableName": TABLE, "Item": item})
    runnable = []
    for operation, body in BODIES.items():
        if OPERATIONS and operation not in OPERATIONS:
            continue
        status, reply = await call(endpoint, operation, orjson.loads(body(0)))
        if status == 200:
            runnable.append(operation)
        else:
            print(f"  skip {operation}: {reply.get('__type', status)} {reply.get('message', '')}")
    return runnable, stream


def start_server(data_dir: str) -> tuple[subprocess.Popen[str], str, float]:
    """Start ``streamkit serve`` on a free port; return it, its URL and seconds to first reply."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamkit", "serve", "--port", "0", "--data", data_dir],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split(" on ", 1)[1].split()[0]
    asyncio.run(call(url, "ListTables", {}))
    return process, url, time.perf_counter() - started


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system) process ``pid`` has used, or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample(
    endpoint: str, operation: str, concurrency: int, seconds: float, pid: int | None
) -> tuple[float, float | None]:
    """Measure one run: ops/s, and the server's CPU us per request when ``pid`` is known."""
    cpu, wall = cpu_seconds(pid) if pid else None, time.perf_counter()
    rate = await measure(endpoint, operation, BODIES[operation], concurrency, seconds)
    after = cpu_seconds(pid) if pid else None
    if cpu is None or after is None or not rate:
        return rate, None
    return rate, (after - cpu) / (rate * (time.perf_counter() - wall)) * 1e6


def _cell(operation: str, runs: list[tuple[float, float | None]]) -> str:
    rate = statistics.median(r for r, _ in runs)
    costs = [c for _, c in runs if c is not None]
    per = ITEMS_PER_REQUEST.get(operation)
    cell = f"{rate:,.0f}" + (f" ({rate * per:,.0f} it)" if per else "")
    return cell + (f" [{statistics.median(costs):,.0f} us]" if costs else "")


async def run(
    endpoint: str, concurrencies: list[int], seconds: float, runs: int, pid: int | None = None
) -> None:
    """Print ops/s per operation and concurrency (medians of ``runs``); with the server's
    ``pid``, also its CPU time per request in brackets, the figure noise moves least."""
    operations, stream = await setup(endpoint)
    print(f"endpoint {endpoint}; table stream: {'NEW_AND_OLD_IMAGES' if stream else 'none'}")
    print(f"{'operation':<16}" + "".join(f"{f'c={c} ops/s':>30}" for c in concurrencies))
    for operation in operations:
        cells = []
        for concurrency in concurrencies:
            samples = [
                await sample(endpoint, operation, concurrency, seconds, pid) for _ in range(runs)
            ]
            cells.append(_cell(operation, samples))
        print(f"{operation:<16}" + "".join(f"{c:>30}" for c in cells), flush=True)


def _ratio(ours: list[tuple[float, float | None]], theirs: list[tuple[float, float | None]]) -> str:
    """Our rate over theirs, turn by turn, as min-max; and the same by CPU per request
    (theirs over ours) where both are known and above zero (the clock ticks every 10 ms)."""
    rates = [a / b if b else float("inf") for (a, _), (b, _) in zip(ours, theirs, strict=True)]
    text = f"{min(rates):.2f}-{max(rates):.2f}"
    costs = [b / a for (_, a), (_, b) in zip(ours, theirs, strict=True) if a and b]
    return text + (f" ({min(costs):.2f}-{max(costs):.2f})" if costs else "")


async def compare(
    endpoints: list[tuple[str, str, int | None]],
    concurrencies: list[int],
    seconds: float,
    runs: int,
) -> None:
    """Measure every endpoint on the same cell in turns, run by run, so a slow spell of the
    machine falls on all of them; print each one's medians and the first one's ratios."""
    runnable = []
    for name, url, _ in endpoints:
        operations, stream = await setup(url)
        print(f"{name}: {url}; table stream: {'NEW_AND_OLD_IMAGES' if stream else 'none'}")
        runnable.append(operations)
    operations = [op for op in runnable[0] if all(op in ops for ops in runnable)]
    for operation in operations:  # warm up first: dynalite's JIT doubles its rate on a new op
        for _, url, _ in endpoints:
            await measure(url, operation, BODIES[operation], max(concurrencies), seconds / 2)
    ours, others = endpoints[0][0], [name for name, _, _ in endpoints[1:]]
    for concurrency in concurrencies:
        print(
            f"\nc={concurrency}: ops/s [server CPU us/request]; {ours} / other by rate, each "
            "turn against the same turn (by CPU per request in parentheses)"
        )
        header = [f"{name:>30}" for name, _, _ in endpoints]
        header += [f"{f'{ours} / {name}':>26}" for name in others]
        print(f"{'operation':<16}" + "".join(header))
        for operation in operations:
            samples: list[list[tuple[float, float | None]]] = [[] for _ in endpoints]
            for turn in range(runs):
                order = list(range(len(endpoints)))
                order = order[turn % len(order) :] + order[: turn % len(order)]
                for index in order:
                    _, url, pid = endpoints[index]
                    samples[index].append(await sample(url, operation, concurrency, seconds, pid))
            cells = [f"{_cell(operation, runs_):>30}" for runs_ in samples]
            cells += [f"{_ratio(samples[0], theirs):>26}" for theirs in samples[1:]]
            print(f"{operation:<16}" + "".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="measure this endpoint instead of starting streamkit")
    parser.add_argument(
        "--against",
        nargs=3,
        action="append",
        metavar=("NAME", "URL", "PID"),
        help="also measure this endpoint, in turns with streamkit, and print the ratios (PID of "
        "its server for CPU time, or -); repeatable",
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is shown")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--pid", type=int, help="the endpoint's server process, for its CPU time")
    parser.add_argument("--operations", nargs="+", choices=list(BODIES), default=[])
    args = parser.parse_args()
    OPERATIONS[:] = args.operations
    if args.endpoint and args.against:
        parser.error("--against compares with the streamkit server it starts; drop --endpoint")
    if args.endpoint:
        asyncio.run(run(args.endpoint, args.concurrency, args.seconds, args.runs, args.pid))
        return
    with tempfile.TemporaryDirectory() as data_dir:
        process, url, ready = start_server(os.path.join(data_dir, "data"))
        print(f"streamkit serve: first reply {ready * 1000:.0f} ms after start")
        try:
            if args.against:
                endpoints = [("streamkit", url, process.pid)] + [
                    (name, other, None if pid == "-" else int(pid))
                    for name, other, pid in args.against
                ]
                asyncio.run(compare(endpoints, args.concurrency, args.seconds, args.runs))
            else:
                asyncio.run(run(url, args.concurrency, args.seconds, args.runs, process.pid))
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
