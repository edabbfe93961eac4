"""The endpoint under hostile connections: slow senders, vanishing clients, floods, the cap.

Real in-process servers on loopback with tiny timeouts; raw sockets for the abuse and boto3
for the well-behaved client, which must be answered promptly while the abuse goes on.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
from typing import Any

import anyio
import boto3
import orjson
import pytest
from botocore.config import Config

from streamkit.server import Limits, Server
from streamkit.server.http import FD_RESERVE, ConnectionSet
from tests.server.test_http import LIST_TABLES, connected, read_responses, serving

PREFIX = "DynamoDB_20120810."


def request(target: str, body: bytes, *extra: str) -> bytes:
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: {PREFIX}{target}\r\nContent-Length: {len(body)}\r\n"
    )
    return (head + "".join(f"{line}\r\n" for line in extra) + "\r\n").encode() + body


def boto3_client(server: Server) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=5),
    )


async def timed_round_trip(client: Any, table: str, key: str) -> float:
    """PutItem then GetItem through boto3 (in a thread); return the seconds both took."""

    def both() -> float:
        started = time.perf_counter()
        client.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"N": "1"}})
        got = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
        assert got["Item"]["v"] == {"N": "1"}
        return time.perf_counter() - started

    return await anyio.to_thread.run_sync(both)


async def create_table(server: Server, name: str) -> None:
    spec = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    status, _, _ = await server.dispatcher.dispatch(
        "us-east-1", PREFIX + "CreateTable", orjson.dumps(spec)
    )
    assert status == 200


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Poll ``condition()`` every 10 ms until true; fail after ``seconds``."""
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - polls server state, no event to wait on
            await asyncio.sleep(0.01)


async def read_all(reader: asyncio.StreamReader, seconds: float = 10.0) -> bytes:
    received = b""
    with anyio.fail_after(seconds):
        try:
            while data := await reader.read(65536):
                received += data
        except ConnectionResetError:
            pass
    return received


async def dribble(writer: asyncio.StreamWriter, data: bytes, pause: float) -> None:
    """Send ``data`` one byte at a time until it is all sent or the server hangs up."""
    try:
        for byte in data:
            if writer.is_closing():
                return
            writer.write(bytes([byte]))
            await asyncio.sleep(pause)
    except ConnectionError:
        return


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def many_fds() -> None:
    """Let this process hold ~2,500 sockets (1,000 each side and some), or skip."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * 1000 + FD_RESERVE + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the hard limit on open files ({hard}) is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


# -- slow senders ----------------------------------------------------------------------------


async def test_headers_dribbled_byte_by_byte_get_408_at_the_total_deadline() -> None:
    # 10 ms a byte: the headers would take over a second; the request deadline is 0.3 s
    async with (
        serving(request_timeout=0.3, idle_timeout=30) as server,
        connected(server) as (reader, writer),
    ):
        started = time.perf_counter()
        sender = asyncio.create_task(dribble(writer, LIST_TABLES, 0.01))
        received = await read_all(reader)
        elapsed = time.perf_counter() - started
        sender.cancel()
    assert received.startswith(b"HTTP/1.1 408 ")
    assert 0.3 <= elapsed < 1.5  # a byte arriving does not push the deadline back


async def test_body_dribbled_byte_by_byte_gets_408_at_the_total_deadline() -> None:
    body = b"{}" + b" " * 198
    async with (
        serving(request_timeout=0.3, idle_timeout=30) as server,
        connected(server) as (reader, writer),
    ):
        head = request("ListTables", body)[: -len(body)]
        writer.write(head)
        started = time.perf_counter()
        sender = asyncio.create_task(dribble(writer, body, 0.01))
        received = await read_all(reader)
        elapsed = time.perf_counter() - started
        sender.cancel()
    assert received.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 1.5


# -- vanishing clients -------------------------------------------------------------------------


async def test_clients_vanishing_mid_request_leave_nothing_behind() -> None:
    put = request("PutItem", orjson.dumps({"TableName": "tbl", "Item": {"pk": {"S": "k"}}}))
    async with serving() as server:
        await create_table(server, "tbl")
        client = boto3_client(server)
        for cut in (put[:40], put[: put.index(b"\r\n\r\n") + 10]):  # half the headers, the body
            for _ in range(50):
                async with connected(server) as (_, writer):
                    writer.write(cut)
                    await writer.drain()
        # whole requests, then gone before reading the reply: the writes still happen
        for n in range(50):
            body = {"TableName": "tbl", "Item": {"pk": {"S": f"gone{n}"}}}
            async with connected(server) as (_, writer):
                writer.write(request("PutItem", orjson.dumps(body)))
                await writer.drain()
        assert await timed_round_trip(client, "tbl", "normal") < 2.0
        await until(lambda: len(server.connections.connections) == 1)  # boto3's keep-alive
        assert server.connections.pending_bytes == 0
        scan = await anyio.to_thread.run_sync(lambda: client.scan(TableName="tbl"))
    keys = {item["pk"]["S"] for item in scan["Items"]}
    assert keys == {"normal"} | {f"gone{n}" for n in range(50)}


async def test_a_client_that_half_closes_after_its_request_gets_the_reply() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(LIST_TABLES)
        writer.write_eof()
        received = await read_all(reader)
        writer.close()
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b'{"TableNames":[]}')


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_a_closing_connection_whose_client_never_reads_is_aborted() -> None:
    item = {"pk": {"S": "big"}, "blob": {"S": "x" * 350_000}}
    get = orjson.dumps({"TableName": "tbl", "Key": {"pk": {"S": "big"}}})
    async with serving(idle_timeout=0.2, request_timeout=0.2) as server:
        await create_table(server, "tbl")
        await server.dispatcher.dispatch(
            "us-east-1", PREFIX + "PutItem", orjson.dumps({"TableName": "tbl", "Item": item})
        )
        before = open_fds()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        await until(lambda: len(server.connections.connections) == 1)
        (connection,) = server.connections.connections
        # replies stay below the write buffer's high-water mark (so writing never pauses) and
        # the client reads nothing: the connection is closed for idleness with bytes unsent
        connection._transport.set_write_buffer_limits(high=1 << 30)  # type: ignore[union-attr]
        sock.sendall(request("GetItem", get) * 20)
        assert open_fds() == before + 2  # the client's socket and the server's
        await until(lambda: open_fds() == before + 1, seconds=5.0)
        assert not server.connections.connections
        sock.close()


# -- memory --------------------------------------------------------------------------------


async def test_request_bytes_held_over_all_connections_are_bounded() -> None:
    async with serving(max_pending_bytes=4000) as server:
        async with connected(server) as (reader_a, writer_a), connected(server) as (reader_b, b):
            body_a = b"{}" + b" " * 3000
            message_a = request("ListTables", body_a)
            writer_a.write(message_a[:-500])
            await until(lambda: server.connections.pending_bytes > 2500)
            held_by_a = server.connections.pending_bytes
            b.write(request("ListTables", b"{}" + b" " * 2000))  # 2652 + 2150 > 4000
            assert (await read_all(reader_b)).startswith(b"HTTP/1.1 503 ")
            await until(lambda: server.connections.pending_bytes == held_by_a)  # B's released
            writer_a.write(message_a[-500:])
            (response,) = await read_responses(reader_a, 1)
        assert response[0] == 200
        await until(lambda: server.connections.pending_bytes == 0)


# -- the cap -------------------------------------------------------------------------------


def test_the_cap_stays_below_the_open_files_limit() -> None:
    assert ConnectionSet(Limits(), fds=1024).max_connections == 1024 - FD_RESERVE
    assert ConnectionSet(Limits(max_connections=10), fds=1024).max_connections == 10
    assert ConnectionSet(Limits(), fds=100_000).max_connections == Limits().max_connections


async def test_at_the_cap_the_longest_idle_connection_makes_room_then_503() -> None:
    async with serving(max_connections=3) as server:
        streams = []
        for n in range(1, 4):
            streams.append(await asyncio.open_connection("127.0.0.1", server.port))
            await until(lambda n=n: len(server.connections.connections) == n)
        fourth = await asyncio.open_connection("127.0.0.1", server.port)
        assert await read_all(streams[0][0]) == b""  # the oldest idle one was closed
        fourth[1].write(LIST_TABLES)
        assert (await read_responses(fourth[0], 1))[0][0] == 200
        for _, writer in [*streams[1:], fourth]:  # all three busy: a request under way
            writer.write(LIST_TABLES[:20])
        await until(lambda: not any(c.idle for c in server.connections.connections))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert (await read_all(reader)).startswith(b"HTTP/1.1 503 ")
        assert len(server.connections.connections) == 3
        for _, w in [*streams, fourth, (reader, writer)]:
            w.close()


async def test_a_thousand_hostile_connections_while_boto3_is_served(many_fds: None) -> None:
    timeout = 3.0
    async with serving(idle_timeout=timeout, request_timeout=timeout) as server:
        await create_table(server, "tbl")
        client = boto3_client(server)
        await timed_round_trip(client, "tbl", "warm")  # boto3's first call loads its models
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        for _ in range(10):
            streams += await asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", server.port) for _ in range(100))
            )
        body = b"{}" + b" " * 1000
        for n, (_, writer) in enumerate(streams):
            if n % 3 == 1:  # slowloris: half the headers, then nothing
                writer.write(LIST_TABLES[:60])
            elif n % 3 == 2:  # headers and half the body
                writer.write(request("ListTables", body)[:-500])
        await until(lambda: len(server.connections.connections) == 1001)  # and boto3
        assert server.connections.pending_bytes < 1000 * 2000
        assert await timed_round_trip(client, "tbl", "during") < 2.0
        # the sweep closes them all: 408 to those mid-request, silence to the idle ones
        received = await asyncio.gather(*(read_all(r, 2 * timeout + 5) for r, _ in streams))
        assert {r[:13] for i, r in enumerate(received) if i % 3} == {b"HTTP/1.1 408 "}
        assert {r for i, r in enumerate(received) if i % 3 == 0} == {b""}
        await until(lambda: len(server.connections.connections) <= 1)  # boto3's own
        assert server.connections.pending_bytes == 0
        for _, writer in streams:
            writer.close()
