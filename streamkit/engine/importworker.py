"""ImportTable's parsing on other cores: worker processes that turn lines into stored rows.

Parsing and validating a record is pure Python (JSON or Ion, DynamoDB's item rules, the key's
encoding), about three quarters of an import's CPU time. For a large DYNAMODB_JSON or ION
import, :class:`LinePool` starts a few ``python -m streamkit.engine.import_main`` processes
(a fresh interpreter each: nothing of the caller's program is imported or forked) and sends
them chunks of raw lines; each answers the chunk's rows ready to insert
``(hk, rk, stored blob, size)`` and its bad records ``(key, index, size, message)``. The
engine's process only reads the files and writes the rows, in the order the lines came, so a
later item with the same key still replaces an earlier one.

Frames on the pipes: a 4-byte big-endian length, then :mod:`marshal` data (bytes, tuples,
lists and strings only); the first frame to a worker is its table, pickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import pickle
import struct
import sys
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

import streamkit
from streamkit.engine.indexes import validate_index_keys
from streamkit.engine.keys import EncodedKey, key_from_item
from streamkit.engine.s3files import (
    LineError,
    decode_ion_line,
    decode_json_line,
    open_source,
)
from streamkit.errors import DynamoDBError, StreamkitError
from streamkit.model.attributes import (
    AttributeValue,
    Item,
    plain_item_size,
    validate_key_value,
    validate_sized_item,
)
from streamkit.model.schema import KeySpec, TableSpec, invalid
from streamkit.storage.codec import dump_item, encode_key

__all__ = ["LinePool", "iter_line_chunks", "prepare_item", "prepare_lines"]

_LENGTH = struct.Struct(">I")
#: the folder holding this streamkit package: the workers import the same one
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(streamkit.__file__)))
#: (key of the object, [(1-based line number, line)]) or, for an object that cannot be read,
#: (key, message)
LineChunk = tuple[str, list[tuple[int, bytes]] | str]
Row = tuple[bytes, bytes, bytes, int]  # hk, rk, stored blob, size
BadRecord = tuple[str, int, int, str]  # object key, line number, bytes, message
Prepared = tuple[list[Row], list[BadRecord], int, int]  # rows, errors, records, bytes


def prepare_item(spec: TableSpec, raw: Mapping[str, Any]) -> tuple[EncodedKey, Item, int]:
    """Validate one record's item for ``spec``: its encoded key, the item and its size.

    Raises:
        DynamoDBError: DynamoDB's error for the item.
    """
    item: Item = raw  # type: ignore[assignment]
    size = plain_item_size(item)  # the common case: valid as it is, not copied
    if size is None:
        item, size = validate_sized_item(raw)
    key = key_from_item(spec.key, item)
    if spec.indexes:
        validate_index_keys(spec, item)
    return key, item, size


class _Keys:
    """:func:`key_from_item` for a run of items, reusing the last item's partition key.

    An export lists a partition's items one after the other, so most items have the
    partition value of the one before: its validation and encoding (with its MD5) are that
    one's, and only the sort key is checked and encoded. Any other item (a new partition
    value, a multi-attribute key, a missing value) takes :func:`key_from_item`.
    """

    __slots__ = ("_hash_value", "_hk", "_key", "_range")

    def __init__(self, key: KeySpec) -> None:
        self._key = key
        self._range = None if key.multi or key.range_name is None else key.attributes[1]
        self._hash_value: object = None  # the last partition value key_from_item accepted
        self._hk = b""

    def __call__(self, item: Item) -> EncodedKey:
        key = self._key
        if not key.multi:
            value = item.get(key.hash_name)
            if value is not None and value == self._hash_value:
                if self._range is None:
                    return self._hk, b""
                name, kind, role = self._range
                sort = item.get(name)
                if sort is None:
                    raise invalid(f"Missing the key {name} in the item")
                validate_key_value(name, sort, kind, key_type=role)
                return self._hk, encode_key(sort)
        encoded = key_from_item(key, item)
        if not key.multi:
            self._hash_value, self._hk = _fresh(item[key.hash_name]), encoded[0]
        return encoded


def _fresh(value: AttributeValue) -> AttributeValue:
    """A copy of a key value sharing no object with it: a second reference to an item's
    value would change how marshal writes the item's blob (its back-references), though
    not what it loads."""
    ((tag, payload),) = value.items()
    if type(payload) is str:
        return {tag: payload.encode().decode()}
    return {tag: bytes(bytearray(payload))}


def prepare_lines(spec: TableSpec, fmt: str, key: str, lines: list[tuple[int, bytes]]) -> Prepared:
    """Parse and validate lines of a DYNAMODB_JSON or ION object into rows and errors
    (the rows, errors and messages :func:`prepare_item` gives line by line)."""
    rows: list[Row] = []
    errors: list[BadRecord] = []
    size_read = 0
    keys = _Keys(spec.key)
    indexed = bool(spec.indexes)
    ion = fmt == "ION"
    for index, line in lines:
        size_read += len(line)
        try:
            if ion:
                raw: Mapping[str, Any] = decode_ion_line(line.decode("utf-8"))
            else:
                raw = decode_json_line(line)
            item: Item = raw  # type: ignore[assignment]
            size = plain_item_size(item)  # the common case: valid as it is, not copied
            if size is None:
                item, size = validate_sized_item(raw)
            hk, rk = keys(item)
            if indexed:
                validate_index_keys(spec, item)
        except (LineError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            errors.append((key, index, len(line), str(exc)))
        except StreamkitError as exc:  # DynamoDB's error for the item, bad base64
            message = exc.message if isinstance(exc, DynamoDBError) else str(exc)
            errors.append((key, index, len(line), message))
        else:
            rows.append((hk, rk, dump_item(item), size))
    return rows, errors, len(lines), size_read


def iter_line_chunks(
    objects: list[tuple[str, Path]], compression: str, step: int
) -> Iterator[LineChunk]:
    """Yield the non-blank lines of every object, ``step`` at a time, with their numbers."""
    for key, path in objects:
        chunk: list[tuple[int, bytes]] = []
        try:
            with open_source(path, compression) as raw:
                for index, line in enumerate(raw, 1):
                    if line.strip():
                        chunk.append((index, line))
                        if len(chunk) >= step:
                            yield key, chunk
                            chunk = []
        except (OSError, EOFError, ValueError) as exc:  # gzip/zstd errors, unreadable files
            if chunk:
                yield key, chunk
            yield key, f"cannot read the object ({type(exc).__name__}: {exc})"
            continue
        if chunk:
            yield key, chunk


class LinePool:
    """Worker processes preparing chunks of lines, answers taken in the order sent."""

    def __init__(self, spec: TableSpec, fmt: str, workers: int) -> None:
        self._spec = spec
        self._fmt = fmt
        self._count = workers
        self._procs: list[asyncio.subprocess.Process] = []
        self._sent: deque[int] = deque()  # the worker of each chunk in flight, in order
        self._next = 0

    async def start(self) -> None:
        """Start the workers and send each the table."""
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        spec = pickle.dumps(self._spec)
        for _ in range(self._count):
            # -P: not the current folder first on sys.path, which ``-m`` would do (a folder
            # holding another streamkit would give the workers that one)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-P", "-m", "streamkit.engine.import_main",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            self._procs.append(proc)
            self._send(proc, spec)

    @property
    def in_flight(self) -> int:
        return len(self._sent)

    def submit(self, key: str, lines: list[tuple[int, bytes]]) -> None:
        """Send a chunk to the next worker (buffered: never waits)."""
        worker = self._next
        self._next = (self._next + 1) % self._count
        self._send(self._procs[worker], marshal.dumps((self._fmt, key, lines)))
        self._sent.append(worker)

    async def result(self) -> Prepared:
        """The answer to the oldest chunk in flight."""
        proc = self._procs[self._sent.popleft()]
        assert proc.stdout is not None
        try:
            (length,) = _LENGTH.unpack(await proc.stdout.readexactly(4))
            rows, errors, count, size = marshal.loads(await proc.stdout.readexactly(length))
        except asyncio.IncompleteReadError:
            raise StreamkitError("an import worker process ended unexpectedly") from None
        return rows, errors, count, size

    @staticmethod
    def _send(proc: asyncio.subprocess.Process, data: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(_LENGTH.pack(len(data)) + data)

    async def close(self, *, kill: bool = False) -> None:
        """Stop the workers: end their input and wait (at most 5 s), or kill them at once
        (``kill``: after a failure, when answers in flight will never be read)."""
        try:
            for proc in self._procs:
                if proc.stdin is not None:
                    proc.stdin.close()
                if kill and proc.returncode is None:
                    proc.kill()
            for proc in self._procs:
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        finally:
            for proc in self._procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = _LENGTH.unpack(head)
    return stream.read(length)


def main() -> None:
    """A worker: read the table, then chunks of lines; answer each with its rows."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = _read_frame(stdin)
    if first is None:
        return
    spec: TableSpec = pickle.loads(first)  # from the engine that started us
    while (frame := _read_frame(stdin)) is not None:
        fmt, key, lines = marshal.loads(frame)
        answer = marshal.dumps(prepare_lines(spec, fmt, key, lines))
        stdout.write(_LENGTH.pack(len(answer)) + answer)
        stdout.flush()
