"""The HTTP/1.1 adapter over real loopback sockets: keep-alive, pipelining, limits, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httptools
import orjson

from streamkit.server import Limits, Server, open_server

LIST_TABLES = (
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
    b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n{}"
)


class Responses:
    """Collects whole responses from a byte stream."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: list[tuple[int, dict[str, str], bytes]] = []
        self._headers: dict[str, str] = {}
        self._body = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self.parser.get_status_code(), self._headers, self._body))
        self._headers, self._body = {}, b""


async def read_responses(
    reader: asyncio.StreamReader, count: int
) -> list[tuple[int, dict[str, str], bytes]]:
    responses = Responses()
    with anyio.fail_after(10):
        while len(responses.done) < count:
            data = await reader.read(65536)
            if not data:
                break
            responses.parser.feed_data(data)
    return responses.done


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    received = b""
    with anyio.fail_after(10):
        while data := await reader.read(65536):
            received += data
    return received


@asynccontextmanager
async def serving(**limits: float) -> AsyncIterator[Server]:
    async with open_server(port=0, data_dir=None, limits=Limits(**limits)) as server:  # type: ignore[arg-type]
        yield server


@asynccontextmanager
async def connected(
    server: Server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection, closed at the end; the server may have reset it by then."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_keep_alive_answers_several_requests_on_one_connection() -> None:
    async with serving() as server, connected(server) as (reader, writer):
        for _ in range(3):
            writer.write(LIST_TABLES)
            [(status, headers, body)] = await read_responses(reader, 1)
            assert status == 200
            assert orjson.loads(body) == {"TableNames": []}
            assert "connection" not in headers
            assert int(headers["content-length"]) == len(body)


async def test_pipelined_requests_are_answered_in_order() -> None:
    unknown = LIST_TABLES.replace(b"ListTables", b"Nothing123")
    async with serving() as server, connected(server) as (reader, writer):
        writer.write(LIST_TABLES + unknown + LIST_TABLES)
        statuses = [r[0] for r in await read_responses(reader, 3)]
    assert statuses == [200, 400, 200]


async def test_connection_close_is_honoured() -> None:
    request = LIST_TABLES.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    async with serving() as server, connected(server) as (reader, writer):
        writer.write(request)
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in raw


async def test_body_over_the_limit_is_refused_by_content_length() -> None:
    async with serving(max_body=1024) as server, connected(server) as (reader, writer):
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Content-Length: 5000\r\n\r\n"
        )
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 413 ")


async def test_chunked_body_over_the_limit_is_refused() -> None:
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
    async with serving(max_body=1500) as server, connected(server) as (reader, writer):
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk
        )
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 413 ")


async def test_malformed_http_gets_400_and_close() -> None:
    async with serving() as server, connected(server) as (reader, writer):
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 400 ")


async def test_huge_headers_are_refused() -> None:
    async with serving() as server, connected(server) as (reader, writer):
        writer.write(b"POST / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 431 ")


async def test_idle_connection_is_closed() -> None:
    async with serving(idle_timeout=0.05) as server, connected(server) as (reader, writer):
        writer.write(LIST_TABLES)
        raw = await read_until_closed(reader)  # returns once the server hangs up
    assert raw.startswith(b"HTTP/1.1 200 OK")


async def test_slow_request_is_dropped_with_408() -> None:
    async with serving(request_timeout=0.05) as server, connected(server) as (reader, writer):
        writer.write(LIST_TABLES[:40])  # and never the rest
        raw = await read_until_closed(reader)
    assert raw.startswith(b"HTTP/1.1 408 ")


async def test_expect_100_continue() -> None:
    request = LIST_TABLES.replace(b"Host: x\r\n", b"Host: x\r\nExpect: 100-continue\r\n")
    async with serving() as server, connected(server) as (reader, writer):
        writer.write(request)
        statuses = [r[0] for r in await read_responses(reader, 2)]
    assert statuses == [100, 200]


async def test_shutdown_closes_open_connections() -> None:
    async with serving() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(LIST_TABLES)
        await read_responses(reader, 1)
    assert await read_until_closed(reader) == b""
    writer.close()


async def test_regions_are_isolated_and_opened_lazily() -> None:
    def request(region: str, target: str, body: bytes) -> bytes:
        auth = (
            f"AWS4-HMAC-SHA256 Credential=AK/20240101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=00"
        )
        return (
            f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"X-Amz-Target: DynamoDB_20120810.{target}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    create = orjson.dumps(
        {
            "TableName": "only-here",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    )
    async with serving() as server, connected(server) as (reader, writer):
        assert server.regions.open_regions == ["us-east-1"]
        writer.write(request("eu-west-3", "CreateTable", create))
        writer.write(request("eu-west-3", "ListTables", b"{}"))
        writer.write(request("ap-east-1", "ListTables", b"{}"))
        writer.write(request("us-east-1", "ListTables", b"{}"))
        responses = await read_responses(reader, 4)
        assert server.regions.open_regions == ["us-east-1", "eu-west-3", "ap-east-1"]
    assert [status for status, _, _ in responses] == [200, 200, 200, 200]
    tables = [orjson.loads(body)["TableNames"] for _, _, body in responses[1:]]
    assert tables == [["only-here"], [], []]


def test_header_names_kept_are_bounded() -> None:
    # Names are kept (lower-cased) as clients send them; a client inventing names on every
    # request must not grow the table past its bound, and each name still comes out right.
    from streamkit.server import http

    for i in range(2 * http._NAMES_KEPT):
        assert http._header_name(f"X-Made-Up-{i}".encode()) == f"x-made-up-{i}"
    assert len(http._header_names) <= http._NAMES_KEPT
