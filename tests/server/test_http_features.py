"""What SDKs and browsers add over plain JSON: compressed bodies both ways, CORS, health."""

from __future__ import annotations

import gzip
import http.client
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from streamkit.server import Dispatcher
from streamkit.server.encoding import MIN_COMPRESSED
from tests.server.conftest import PREFIX, TABLE, call
from tests.server.serving import start_serve, stop

pytestmark = pytest.mark.usefixtures("engine")

JSON = ("content-type", "application/x-amz-json-1.0")


def target(operation: str) -> tuple[str, str]:
    return ("x-amz-target", PREFIX + operation)


async def post(
    dispatcher: Dispatcher, operation: str, body: bytes, *headers: tuple[str, str]
) -> tuple[int, dict[str, str], bytes]:
    status, reply, payload = await dispatcher.handle(
        "POST", "/", [JSON, target(operation), *headers], body
    )
    return status, {name.lower(): value for name, value in reply}, payload


async def test_gzip_request_body_is_decompressed(dispatcher: Dispatcher) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    item = {"TableName": "things", "Item": {"pk": {"S": "a"}, "v": {"S": "x" * 5000}}}
    body = gzip.compress(orjson.dumps(item))
    status, _, _ = await post(dispatcher, "PutItem", body, ("content-encoding", "gzip"))
    assert status == 200
    _, _, got = await call(
        dispatcher, "GetItem", {"TableName": "things", "Key": {"pk": {"S": "a"}}}
    )
    assert got["Item"]["v"] == {"S": "x" * 5000}


async def test_deflate_request_body_is_decompressed(dispatcher: Dispatcher) -> None:
    status, _, payload = await post(
        dispatcher, "ListTables", zlib.compress(b"{}"), ("content-encoding", "deflate")
    )
    assert (status, orjson.loads(payload)) == (200, {"TableNames": []})


@pytest.mark.parametrize(
    ("body", "coding", "message"),
    [
        (b"not gzip at all", "gzip", "Request body is not valid gzip data"),
        (gzip.compress(b'{"Limit": 5}')[:-12], "gzip", "Request body is truncated gzip data"),
        (b"{}", "br", "Unsupported Content-Encoding: br"),
    ],
)
async def test_bad_compressed_bodies_are_serialization_errors(
    dispatcher: Dispatcher, body: bytes, coding: str, message: str
) -> None:
    status, _, payload = await post(dispatcher, "ListTables", body, ("content-encoding", coding))
    assert status == 400
    error = orjson.loads(payload)
    assert error["__type"].endswith("#SerializationException")
    assert error["message"] == message


async def test_a_body_that_inflates_past_the_limit_gets_413(engine: Any) -> None:
    from tests.server.conftest import SingleEngine

    dispatcher = Dispatcher(SingleEngine(engine), max_body=64 * 1024)
    bomb = gzip.compress(b"{" + b" " * 10_000_000 + b"}")
    status, _, payload = await post(dispatcher, "ListTables", bomb, ("content-encoding", "gzip"))
    assert status == 413
    assert b"more than 65536 bytes" in payload


async def test_large_responses_are_compressed_when_accepted(dispatcher: Dispatcher) -> None:
    await call(dispatcher, "CreateTable", TABLE)
    for i in range(20):
        item = {"pk": {"S": f"k{i}"}, "v": {"S": "y" * 200}}
        await call(dispatcher, "PutItem", {"TableName": "things", "Item": item})
    scan = orjson.dumps({"TableName": "things"})
    status, plain_headers, plain = await post(dispatcher, "Scan", scan)
    assert status == 200
    assert "content-encoding" not in plain_headers
    assert len(plain) >= MIN_COMPRESSED
    for coding, decode in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
        status, headers, packed = await post(
            dispatcher, "Scan", scan, ("accept-encoding", f"br;q=1, {coding}")
        )
        assert status == 200
        assert headers["content-encoding"] == coding
        assert len(packed) < len(plain) / 4
        assert orjson.loads(decode(packed)) == orjson.loads(plain)
        assert headers["x-amz-crc32"] == str(zlib.crc32(packed))  # DynamoDB: over the sent bytes


async def test_small_responses_are_not_compressed(dispatcher: Dispatcher) -> None:
    status, headers, payload = await post(
        dispatcher, "ListTables", b"{}", ("accept-encoding", "gzip")
    )
    assert status == 200
    assert "content-encoding" not in headers
    assert orjson.loads(payload) == {"TableNames": []}


async def test_preflight_allows_what_the_browser_asks(dispatcher: Dispatcher) -> None:
    status, headers, body = await dispatcher.handle(
        "OPTIONS",
        "/",
        [
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-amz-target,authorization"),
        ],
        b"",
    )
    found = {name.lower(): value for name, value in headers}
    assert (status, body) == (200, b"")
    assert found["access-control-allow-origin"] == "*"
    assert found["access-control-allow-methods"] == "POST"
    assert found["access-control-allow-headers"] == "content-type,x-amz-target,authorization"
    assert int(found["access-control-max-age"]) > 0


async def test_replies_to_a_page_carry_cors_headers(dispatcher: Dispatcher) -> None:
    origin = ("origin", "http://localhost:3000")
    status, headers, _ = await post(dispatcher, "ListTables", b"{}", origin)
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert "x-amzn-RequestId" in headers["access-control-expose-headers"]
    status, headers, _ = await post(dispatcher, "NoSuchThing", b"{}", origin)
    assert status == 400
    assert headers["access-control-allow-origin"] == "*"
    _, headers, _ = await post(dispatcher, "ListTables", b"{}")
    assert "access-control-allow-origin" not in headers


async def test_health_names_the_host_it_was_asked_as(dispatcher: Dispatcher) -> None:
    status, _, body = await dispatcher.handle("GET", "/", [("host", "localhost:8000")], b"")
    assert (status, body) == (200, b"healthy: localhost:8000 ")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    process, url, _ = start_serve("--memory")
    try:
        yield url.removeprefix("http://")
    finally:
        stop(process)


def test_compression_over_a_real_socket(served: str) -> None:
    connection = http.client.HTTPConnection(served, timeout=10)

    def send(operation: str, request: dict[str, Any], **headers: str) -> http.client.HTTPResponse:
        headers = {"Content-Type": "application/x-amz-json-1.0", **headers}
        headers["X-Amz-Target"] = PREFIX + operation
        connection.request("POST", "/", gzip.compress(orjson.dumps(request)), headers)
        return connection.getresponse()

    try:
        assert send("CreateTable", {**TABLE, "TableName": "wire"}, **GZIP).read()
        item = {"pk": {"S": "a"}, "v": {"S": "z" * 5000}}
        response = send("PutItem", {"TableName": "wire", "Item": item}, **GZIP)
        assert (response.status, response.read()) == (200, b"{}")
        response = send(
            "GetItem",
            {"TableName": "wire", "Key": {"pk": {"S": "a"}}},
            **GZIP,
            **{"Accept-Encoding": "gzip"},
        )
        packed = response.read()
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip"
        assert response.getheader("x-amz-crc32") == str(zlib.crc32(packed))
        assert orjson.loads(gzip.decompress(packed))["Item"] == item
    finally:
        connection.close()


GZIP = {"Content-Encoding": "gzip"}


def test_oversized_request_line_and_headers_get_4xx(served: str) -> None:
    for path, extra in (("/" + "a" * 70_000, {}), ("/", {"X-Big": "b" * 70_000})):
        connection = http.client.HTTPConnection(served, timeout=10)
        try:
            connection.request("GET", path, headers=extra)
            status = connection.getresponse().status
        except ConnectionError:
            continue  # the server may close before the client has sent it all
        finally:
            connection.close()
        assert 400 <= status < 500
