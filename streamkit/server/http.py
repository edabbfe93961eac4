"""HTTP/1.1 for the endpoint: httptools' parser under an asyncio.Protocol.

A whole plain ``POST /`` arriving in one read (what the SDKs send) is read without it, in a
few C-level string calls instead of a Python callback per header; anything else, and anything
that path doubts, goes to httptools (tests/server/test_plain_requests.py checks both read the same).

One task per connection answers its requests in order (keep-alive and pipelining); a single
periodic sweep closes connections whose deadline passed (idle, slow to send, slow to read,
slow to take a closing connection's last bytes). Deadlines are totals, never extended by a
byte arriving, so a client dribbling a request one byte at a time gets 408 on time.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Final, cast

import httptools

from streamkit.logs import get_logger

__all__ = ["Connection", "ConnectionSet", "Handler", "Limits"]

log = get_logger(__name__)

#: ``handler(method, target, headers, body) -> (status, headers, body)``; header names lower-case.
Handler = Callable[
    [str, str, Sequence[tuple[str, str]], bytes],
    Awaitable[tuple[int, list[tuple[str, str]], bytes]],
]

_REASONS: Final = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_INTERNAL_ERROR: Final = (
    500,
    [("Content-Type", "application/x-amz-json-1.0")],
    b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",'
    b'"message":"Internal server error"}',
)
_PIPELINE_HIGH: Final = 16  # queued requests before we stop reading from a connection
_PIPELINE_LOW: Final = 4
#: File descriptors kept out of the connection cap: region files, WAL, handlers' own files.
FD_RESERVE: Final = 128
_BUSY: Final = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def fd_limit() -> int | None:
    """Return the process's soft limit on open files, or None where there is none to read."""
    if sys.platform == "win32":
        return None
    import resource  # POSIX only

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may cost the server.

    Attributes:
        max_body: largest request body in bytes (DynamoDB's 16 MB); larger gets 413.
        max_header_bytes: total size of the request line and headers; larger gets 431.
        max_headers: number of request headers; more gets 431.
        idle_timeout: seconds a connection may sit without a request, from its opening or
            from the end of its last reply.
        request_timeout: seconds from a request's first byte to its last (headers and body
            together), seconds a client may take to read a response, and seconds a closing
            connection may take to flush its last bytes before it is aborted.
        max_connections: open connections, further capped at the process's open-file limit
            less :data:`FD_RESERVE`. At the cap a new connection closes an idle one (no
            request under way); when none is idle it gets 503 and is closed.
        max_pending_bytes: request bytes (headers and bodies) held at once over all
            connections, from their arrival until the reply; a request that would go over
            gets 503 and its connection is closed. Bounds the memory slow senders can pin.
    """

    max_body: int = 16 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 128
    idle_timeout: float = 120.0
    request_timeout: float = 60.0
    max_connections: int = 4096
    max_pending_bytes: int = 256 * 1024 * 1024


class _Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "size", "target")

    def __init__(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        keep_alive: bool,
        size: int,
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.size = size  # bytes charged to ConnectionSet.pending_bytes


class ConnectionSet:
    """The open connections of one listener, their tasks, and the sweep enforcing deadlines.

    Connection tasks are plain asyncio tasks owned here (created from protocol callbacks,
    where no anyio task group can be entered); :meth:`close_all` cancels them and
    :meth:`wait_closed` waits for them, so none outlives the server.
    """

    def __init__(self, limits: Limits, *, fds: int | None = None) -> None:
        """Track connections under ``limits``; ``fds`` is the open-file limit (read if None)."""
        self.limits = limits
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.draining = False
        self.pending_bytes = 0
        fds = fd_limit() if fds is None else fds
        self.max_connections = limits.max_connections
        if fds is not None:
            self.max_connections = max(1, min(self.max_connections, fds - FD_RESERVE))
        self._timer: asyncio.TimerHandle | None = None
        self._interval = min(1.0, max(0.01, min(limits.idle_timeout, limits.request_timeout) / 4))

    def start_sweeping(self) -> None:
        """Start the periodic deadline check (call from the event loop)."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._interval, self._sweep, loop)

    def close_all(self) -> None:
        """Stop sweeping and close every connection (server shutdown)."""
        self.draining = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for connection in list(self.connections):
            connection.close()
            connection.abort_if_stuck()
        for task in self.tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until every connection task has finished (after :meth:`close_all`)."""
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def spawn(self, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a connection's task, owned by this set."""
        task = asyncio.get_running_loop().create_task(serve())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def admit(self) -> bool:
        """Make room for a new connection: close an idle one at the cap; False if none is."""
        if self.draining:
            return False
        if len(self.connections) < self.max_connections:
            return True
        idle = [other for other in self.connections if other.idle]
        if not idle:
            log.warning("connection_refused", open=len(self.connections))
            return False
        # the one idle the longest: its idle deadline is the nearest
        min(idle, key=lambda other: other.deadline).close()
        return True  # its socket goes at once (nothing left to flush): within FD_RESERVE

    def charge(self, size: int) -> bool:
        """Count ``size`` more request bytes held; False (and nothing counted) if over budget."""
        if self.pending_bytes + size > self.limits.max_pending_bytes:
            return False
        self.pending_bytes += size
        return True

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in list(self.connections):
            if connection.deadline < now:
                connection.expire()
        self._timer = loop.call_later(self._interval, self._sweep, loop)


class Connection(asyncio.Protocol):
    """One client connection: parses requests, queues them, and writes replies in order."""

    def __init__(self, handler: Handler, connections: ConnectionSet) -> None:
        self._handler = handler
        self._set = connections
        self._limits = connections.limits
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[_Request] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._closed = False
        self._busy = False
        self._eof = False
        self._held = 0  # request bytes this connection holds, charged to the set
        self._in_message = False
        self._read_paused = False
        self._write_paused = False
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self.deadline = math.inf

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        if not self._set.admit():
            self._closed = True
            if not self._set.draining:
                self._transport.write(_BUSY)
            transport.close()
            return
        self._set.connections.add(self)
        self.deadline = self._loop.time() + self._limits.idle_timeout
        self._set.spawn(self._serve)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if not self._in_message and data[:5] == b"POST " and self._whole_post(data):
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
        except httptools.HttpParserError:
            if not self._closed:
                self._fail(400)

    def eof_received(self) -> bool | None:
        if self._in_message or not (self._queue or self._busy):
            return None  # nothing whole to answer: the transport closes
        self._eof = True  # the client half-closed after whole requests: answer, then close
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._set.connections.discard(self)
        self._release(self._held)
        self._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drain = self._loop.create_future()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._body = []
        self._body_size = 0
        self.deadline = self._loop.time() + self._limits.request_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self._limits.max_header_bytes:
            self._fail(431)
        else:
            self._charge(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self._header_bytes += size
        headers = self._headers
        limits = self._limits
        if self._header_bytes > limits.max_header_bytes or len(headers) >= limits.max_headers:
            self._fail(431)
            return
        connections = self._set
        if self._closed or connections.pending_bytes + size > limits.max_pending_bytes:
            if not self._charge(size):  # the general path refuses it (503) or skips it
                return
        else:  # _charge's common case, inline: this runs for every header
            connections.pending_bytes += size
            self._held += size
        key = _header_names.get(name)
        if key is None:
            key = _header_name(name)
        headers.append((key, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        for name, value in self._headers:
            if name == "content-length":
                if value.strip().isdigit() and int(value) > self._limits.max_body:
                    self._fail(413)
                    return
            elif name == "expect" and value.lower() == "100-continue" and self._transport:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body:
            self._fail(413)
            return
        if self._charge(len(body)):
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closed:
            return
        self._in_message = False
        raw_method = self._parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = _Request(
            method,
            self._url.decode("latin-1"),
            self._headers,
            body,
            self._parser.should_keep_alive(),
            self._header_bytes + self._body_size,
        )
        self._queue.append(request)
        self.deadline = math.inf
        if len(self._queue) >= _PIPELINE_HIGH and self._transport and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()

    def _whole_post(self, data: bytes) -> bool:
        """Take ``data`` as one plain request if it is exactly that; False: httptools parses it.

        The common case (one ``POST /`` with its whole body in one read, no special headers)
        is read here with a few C-level calls instead of a Python callback per header. Only
        what httptools would take the same way is taken: any doubt (a byte outside printable
        ASCII, a bare CR or LF, a header name that is not a token, ``Connection``,
        ``Transfer-Encoding``, ``Expect``..., a Content-Length that is not plain digits or not
        the rest of ``data``, a limit reached) leaves ``data`` whole to httptools, whose parser
        has seen nothing of it.
        """
        end = data.find(b"\r\n\r\n")
        if end < 0 or data[5:17] != b"/ HTTP/1.1\r\n":
            return False
        head = data[17:end]
        lines = head.decode("latin-1").split("\r\n")
        # Every byte outside printable ASCII becomes NUL: there must be just the line ends'
        if head.translate(_NOT_PLAIN).count(0) != 2 * len(lines) - 2:
            return False  # a control byte (a bare CR or LF, a tab), DEL or non-ASCII
        headers: list[tuple[str, str]] = []
        length = ""
        size = 1  # the target's byte, as on_url counts it
        for line in lines:
            raw, colon, value = line.partition(":")
            name = _plain_names.get(raw) or _plain_name(raw) if colon else None
            if name is None:
                return False
            value = value.lstrip(" ")
            if name == "content-length":
                if length or not value.isdigit():
                    return False
                length = value
            size += len(raw) + len(value) + 4
            headers.append((name, value))
        body = data[end + 4 :]
        limits = self._limits
        if (
            not length
            or int(length) != len(body)
            or len(body) > limits.max_body
            or size > limits.max_header_bytes
            or len(headers) > limits.max_headers
        ):
            return False
        size += len(body)
        connections = self._set
        if connections.pending_bytes + size > limits.max_pending_bytes:
            return False  # the general path refuses it (503)
        connections.pending_bytes += size
        self._held += size
        self._queue.append(_Request("POST", "/", headers, body, True, size))
        self.deadline = math.inf
        if len(self._queue) >= _PIPELINE_HIGH and self._transport and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()
        return True

    # -- the connection's task -----------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while not self._closed:
                if not self._queue:
                    self._waiter = self._loop.create_future()
                    await self._waiter
                    continue
                request = self._queue.popleft()
                if self._read_paused and len(self._queue) <= _PIPELINE_LOW and self._transport:
                    self._read_paused = False
                    self._transport.resume_reading()
                self._busy = True
                try:
                    reply = await self._handler(
                        request.method, request.target, request.headers, request.body
                    )
                except Exception:
                    log.exception("request_failed", operation=request.target)
                    reply = _INTERNAL_ERROR
                finally:
                    self._busy = False
                    self._release(request.size)
                if self.closed:
                    return
                keep_alive = request.keep_alive and not self._set.draining
                keep_alive = keep_alive and not (self._eof and not self._queue)
                self._write(*reply, keep_alive=keep_alive, head=request.method == "HEAD")
                if not keep_alive:
                    self.close()
                    return
                if self._write_paused and self._drain is not None:
                    self.deadline = self._loop.time() + self._limits.request_timeout
                    await self._drain
                if not self._queue and not self._in_message:
                    self.deadline = self._loop.time() + self._limits.idle_timeout
        finally:
            self._busy = False

    # -- helpers -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Return whether the connection is closed or closing."""
        return self._closed

    @property
    def idle(self) -> bool:
        """Return whether the connection is open with no request under way and nothing to send."""
        return (
            not self._closed
            and not self._in_message
            and not self._queue
            and not self._busy
            and self._transport is not None
            and self._transport.get_write_buffer_size() == 0
        )

    def close(self) -> None:
        """Close the connection after whatever is already written.

        It stays counted (its socket is open) until the transport reports it lost; a client
        that does not take the last bytes within ``request_timeout`` is aborted by the sweep.
        """
        if not self._closed:
            self._closed = True
            self.deadline = self._loop.time() + self._limits.request_timeout
        if self._transport is not None:
            self._transport.close()
        self._wake()

    def abort_if_stuck(self) -> None:
        """Abort a closed connection that still has bytes to send (server shutdown)."""
        transport = self._transport
        if self._closed and transport is not None and transport.get_write_buffer_size():
            transport.abort()

    def expire(self) -> None:
        """Drop a connection whose deadline passed (idle, slow request or slow reader)."""
        log.debug("connection_timed_out")
        if self._closed:
            if self._transport is not None:
                self._transport.abort()  # the client did not take the last bytes in time
            self._set.connections.discard(self)
        elif self._in_message and not self._busy:
            self._fail(408)
        elif self._write_paused and self._transport is not None:
            self._closed = True
            self._transport.abort()
        else:
            self.close()

    def _charge(self, size: int) -> bool:
        """Count request bytes this connection holds; over the server's budget: 503, close."""
        if self._closed:
            return False
        if not self._set.charge(size):
            log.warning("request_bytes_over_budget", pending=self._set.pending_bytes)
            self._fail(503)
            return False
        self._held += size
        return True

    def _release(self, size: int) -> None:
        size = min(size, self._held)
        self._held -= size
        self._set.pending_bytes -= size

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, status: int) -> None:
        """Answer a request the parser or limits refused, then close."""
        if self._closed:
            return
        self._write(status, [], b"", keep_alive=False, head=False)
        self.close()

    def _write(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        keep_alive: bool,
        head: bool,
    ) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        lines = [_STATUS_LINES.get(status) or _status_line(status)]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"Content-Length: {len(body)}\r\nDate: {_http_date()}\r\n")
        lines.append("\r\n" if keep_alive else "Connection: close\r\n\r\n")
        head_bytes = "".join(lines).encode("latin-1")
        if head or not body:
            transport.write(head_bytes)
        else:
            transport.write(head_bytes + body)


def _status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"


_STATUS_LINES: Final = {status: _status_line(status) for status in _REASONS}
_METHODS: Final = {m.encode(): m for m in ("POST", "GET", "HEAD", "OPTIONS")}
#: Request header names as the handler gets them (lower-case), by the bytes sent: a client
#: sends the same few names on every request. Filled as names arrive, up to _NAMES_KEPT.
_header_names: dict[bytes, str] = {}
_NAMES_KEPT: Final = 512


def _header_name(raw: bytes) -> str:
    name = raw.decode("latin-1").lower()
    if len(_header_names) < _NAMES_KEPT:
        _header_names[raw] = name
    return name


#: Bytes outside printable ASCII (CR and LF included) to NUL, the others as they are.
_NOT_PLAIN: Final = bytes(b if 0x20 <= b < 0x7F else 0 for b in range(256))
#: The bytes of a header name the plain path takes (a token's; :meth:`Connection._whole_post`).
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
#: Header names httptools treats specially (or the HTTP layer does): never on the plain path.
_SPECIAL_NAMES: Final = frozenset(
    ["connection", "proxy-connection", "transfer-encoding", "upgrade", "expect"]
)
#: Header names checked for the plain path (tokens, not special), by the bytes sent.
_plain_names: dict[str, str] = {}


def _plain_name(raw: str) -> str | None:
    """Return a header name's lower-case form if the plain path may take it, else None."""
    if not raw or not _TOKEN_CHARS.issuperset(raw):
        return None
    name = raw.lower()
    if name in _SPECIAL_NAMES:
        return None
    if len(_plain_names) < _NAMES_KEPT:
        _plain_names[raw] = name
    return name


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache  # a one-entry cache, refreshed once a second
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
