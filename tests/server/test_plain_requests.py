"""The plain-request path (``Connection._whole_post``) reads exactly what httptools reads.

A whole ``POST /`` in one read is parsed without httptools' per-header callbacks; anything
else goes to httptools. Each case here is fed to one connection whole (the plain path may take
it) and to another in two pieces, its first byte alone (httptools reads it all), and the two
must end the same: the same requests queued, the same bytes written, the same bytes charged.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from hypothesis import given, settings, strategies as st

from streamkit.server.http import Connection, ConnectionSet, Limits

SDK_HEAD = (
    b"POST / HTTP/1.1\r\nHost: localhost:8000\r\nAccept-Encoding: identity\r\n"
    b"X-Amz-Target: DynamoDB_20120810.PutItem\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\nUser-Agent: Boto3/1.35.0 md/Botocore#1.35.0\r\n"
    b"X-Amz-Date: 20261207T063000Z\r\n"
    b"Authorization: AWS4-HMAC-SHA256 Credential=key/20261207/us-east-1/dynamodb/aws4_request, "
    b"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc\r\n"
    b"amz-sdk-invocation-id: 8f4c2d6e\r\namz-sdk-request: attempt=1\r\n"
)
BODY = b'{"TableName":"t","Item":{"pk":{"S":"a"}}}'
SDK_REQUEST = SDK_HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY


Queued = tuple[str, str, list[tuple[str, str]], bytes, bool, int]
#: (requests queued, bytes written less the Date, closed, bytes charged, no deadline running)
Outcome = tuple[list[Queued], list[bytes], bool, int, bool]
T = TypeVar("T")


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_write_buffer_size(self) -> int:
        return 0


async def _never(*_: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    raise AssertionError("no task runs here")


def _outcome(chunks: list[bytes], limits: Limits) -> Outcome:
    async def feed() -> Outcome:
        connections = ConnectionSet(limits, fds=None)
        connection = Connection(_never, connections)
        transport = _Transport()
        connection._transport = transport  # type: ignore[assignment]  # no task: only parsing
        for chunk in chunks:
            connection.data_received(chunk)
        queued = [
            (r.method, r.target, r.headers, r.body, r.keep_alive, r.size) for r in connection._queue
        ]
        written = [data.split(b"\r\nDate: ")[0] for data in transport.written]
        return (
            queued,
            written,
            connection.closed,
            connections.pending_bytes,
            connection.deadline == float("inf"),
        )

    return asyncio.run(feed())


def _same_either_way(data: bytes, limits: Limits | None = None) -> Outcome:
    limits = limits or Limits()
    whole = _outcome([data], limits)
    assert whole == _outcome([data[:1], data[1:]], limits)
    return whole


def _taken(data: bytes) -> bool:
    async def check() -> bool:
        connection = Connection(_never, ConnectionSet(Limits(), fds=None))
        connection._transport = _Transport()  # type: ignore[assignment]
        return connection._whole_post(data)

    return asyncio.run(check())


def test_an_sdk_request_takes_the_plain_path_and_reads_as_httptools_reads_it() -> None:
    assert _taken(SDK_REQUEST)
    queued, written, closed, pending, _ = _same_either_way(SDK_REQUEST)
    assert written == []
    assert not closed
    ((method, target, headers, body, keep_alive, size),) = queued
    assert (method, target, body, keep_alive) == ("POST", "/", BODY, True)
    assert headers[0] == ("host", "localhost:8000")
    assert headers[-1] == ("content-length", str(len(BODY)))
    assert pending == size


def _with(header: bytes, body: bytes = BODY, length: bytes | None = None) -> bytes:
    length = b"%d" % len(body) if length is None else length
    return SDK_HEAD + header + b"Content-Length: " + length + b"\r\n\r\n" + body


def test_anything_unusual_goes_to_httptools() -> None:
    odd = [
        _with(b"Connection: close\r\n"),
        _with(b"connection: keep-alive\r\n"),
        _with(b"Transfer-Encoding: chunked\r\n"),
        _with(b"Expect: 100-continue\r\n"),
        _with(b"Upgrade: h2c\r\n"),
        _with(b"X-Tab:\tvalue\r\n"),
        _with(b"X-Bare: a\nb\r\n"),
        _with(b"X-Bare: a\rb\r\n"),
        _with(b"X-Folded: a\r\n b\r\n"),
        _with(b"X-Latin: caf\xe9\r\n"),
        _with(b"X-Del: \x7f\r\n"),
        _with(b"Bad Name: x\r\n"),
        _with(b": no name\r\n"),
        _with(b"No colon\r\n"),
        _with(b"Content-Length: 3\r\n"),  # twice
        _with(b"", length=b"+5"),
        _with(b"", length=b"%d " % len(BODY)),
        _with(b"", length=b"%d" % (len(BODY) + 1)),  # the body is still coming
        _with(b"", length=b"%d" % (len(BODY) - 1)),  # and the next request begins
        SDK_REQUEST.replace(b"POST / ", b"POST /x "),
        SDK_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"),
        SDK_REQUEST.replace(b"\r\nContent-Length", b"\r\nX-Length"),
    ]
    for data in odd:
        assert not _taken(data), data
        _same_either_way(data)
    assert _taken(_with(b"X-Trailing: a  \r\nX-Empty:\r\nX-Spaced:    b\r\n"))


def test_limits_are_the_same_on_the_plain_path() -> None:
    headers = len(SDK_REQUEST.split(b"\r\n\r\n")[0].split(b"\r\n")) - 1
    charged = _same_either_way(SDK_REQUEST)[3]
    head_bytes = charged - len(BODY)
    for limits in [
        Limits(max_headers=headers),
        Limits(max_headers=headers - 1),
        Limits(max_header_bytes=head_bytes),
        Limits(max_header_bytes=head_bytes - 1),
        Limits(max_body=len(BODY)),
        Limits(max_body=len(BODY) - 1),
        Limits(max_pending_bytes=charged),
        Limits(max_pending_bytes=charged - 1),
    ]:
        _same_either_way(SDK_REQUEST, limits)
    assert _same_either_way(SDK_REQUEST, Limits(max_body=len(BODY) - 1))[1][0].startswith(
        b"HTTP/1.1 413 "
    )


_PLAIN_NAMES = st.sampled_from([b"Host", b"X-Amz-Target", b"content-type", b"X-Odd!#$%&'*+-.^_`|~"])
_ODD_NAMES = st.sampled_from(
    [
        b"Content-Length",
        b"Connection",
        b"Transfer-Encoding",
        b"Expect",
        b"Upgrade",
        b"Bad Name",
        b"",
        b"X\x7f",
        b"X(y)",
    ]
)
_PLAIN_VALUES = st.text(alphabet=" abc0123:;/=,", max_size=12).map(str.encode)
_ODD_VALUES = st.binary(max_size=12) | st.text(
    alphabet=" abc0123:;\t\r\n\x00\x7fé", max_size=12
).map(lambda text: text.encode("utf-8"))


def _mostly(plain: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """Draw from ``plain`` four times in five, else from ``odd``."""
    return st.sampled_from([True, True, True, True, False]).flatmap(
        lambda usual: plain if usual else odd
    )


@st.composite
def _requests(draw: st.DrawFn) -> bytes:
    line = draw(
        _mostly(
            st.just(b"POST / HTTP/1.1"),
            st.sampled_from([b"POST / HTTP/1.0", b"POST /a HTTP/1.1", b"POST /"]),
        )
    )
    body = draw(st.binary(max_size=20))
    headers = draw(
        st.lists(
            st.tuples(_mostly(_PLAIN_NAMES, _ODD_NAMES), _mostly(_PLAIN_VALUES, _ODD_VALUES)),
            max_size=5,
        )
    )
    colons = _mostly(
        st.sampled_from([b": ", b":", b":   "]), st.sampled_from([b" : ", b"", b":\t"])
    )
    lines = [line] + [name + draw(colons) + value for name, value in headers]
    length = draw(
        _mostly(
            st.just(b"%d" % len(body)),
            st.sampled_from([b"%d" % (len(body) + 1), b"0", b" %d" % len(body), b"+1", b""]),
        )
    )
    if draw(_mostly(st.just(True), st.just(False))):
        lines.insert(draw(st.integers(1, len(lines))), b"Content-Length: " + length)
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    if not draw(_mostly(st.just(True), st.just(False))):  # one byte changed anywhere
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data + draw(_mostly(st.just(b""), st.sampled_from([b"POST / HTTP/1.1\r\n", b"\r\n"])))


@settings(max_examples=400, deadline=None)
@given(_requests())
def test_any_request_reads_the_same_whole_or_in_pieces(data: bytes) -> None:
    _same_either_way(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_after_post_reads_the_same(tail: bytes) -> None:
    _same_either_way(b"POST / HTTP/1.1\r\n" + tail)


def test_header_names_kept_for_the_plain_path_are_bounded() -> None:
    # A client inventing a name on every request must not grow the table past its bound.
    from streamkit.server import http

    for i in range(2 * http._NAMES_KEPT):
        assert http._plain_name(f"X-Made-Up-{i}") == f"x-made-up-{i}"
    assert len(http._plain_names) <= http._NAMES_KEPT
    assert http._plain_name("Transfer-Encoding") is None
    assert http._plain_name("Bad Name") is None
