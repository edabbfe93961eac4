"""ImportTable's parsing on other cores: worker processes that turn lines into stored rows.

Parsing and validating a record is pure Python (JSON or Ion, DynamoDB's item rules, the key's
encoding), most of an import's CPU time. For a large DYNAMODB_JSON or ION import,
:class:`LinePool` starts a few ``python -P .../streamkit/engine/import_main.py`` processes (a
fresh interpreter each: nothing of the caller's program is imported or forked, nor the rest of
the engine) and sends them
blocks of whole lines as the engine's process reads them (about 256 KB, with the number of
the block's first line); each worker splits its block, prepares the rows ready to insert
``(hk, rk, stored blob, size)``, appends them to a scratch SQLite file of its own
(:mod:`streamkit.storage.scratch`) and answers the rowids they took there and the bad
records ``(key, index, size, message)``. The engine's process attaches the scratch files and
copies each block's rows with one ``INSERT ... SELECT``, in the order the blocks were read,
so a later item with the same key still replaces an earlier one.

Frames on the pipes: a 4-byte big-endian length, then :mod:`marshal` data (bytes, tuples,
lists and strings only); the first frame to a worker is its table and scratch file, pickled.
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
    decode_ion_sized,
    open_source,
    read_json_line,
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
from streamkit.storage.codec import dump_item, encode_key, json_item_blob
from streamkit.storage.scratch import ScratchWriter

__all__ = ["LinePool", "block_lines", "iter_blocks", "prepare_item", "prepare_lines"]

_LENGTH = struct.Struct(">I")
#: the folder holding this streamkit package: the workers import the same one
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(streamkit.__file__)))
#: a worker's script (run by its path: see :mod:`streamkit.engine.import_main`)
_WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "import_main.py")
#: (key of the object, number of the block's first line, the block's whole lines) or, for an
#: object that cannot be read, (key, 0, message)
Block = tuple[str, int, bytes | str]
Row = tuple[bytes, bytes, bytes, int]  # hk, rk, stored blob, size
BadRecord = tuple[str, int, int, str]  # object key, line number, bytes, message
Prepared = tuple[list[Row], list[BadRecord], int, int]  # rows, errors, records, bytes
#: a block's rows as rowids (first, last] of the worker's scratch file, errors, records, bytes
Stored = tuple[int, int, list[BadRecord], int, int]


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


_SORT_VALUES = 4096  # sort values a _Keys keeps the encoding of (emptied when full)


class _Keys:
    """:func:`key_from_item` for a run of items, reusing the last item's partition key.

    An export lists a partition's items one after the other, so most items have the
    partition value of the one before: its validation and encoding (with its MD5) are that
    one's, and only the sort key is checked and encoded (or found among the sort values
    already checked and encoded, at most :data:`_SORT_VALUES`). Any other item (a new partition
    value, a multi-attribute key, a missing value) takes :func:`key_from_item`.
    """

    __slots__ = ("_hash_value", "_hk", "_key", "_range", "_sorts")

    def __init__(self, key: KeySpec) -> None:
        self._key = key
        self._range = None if key.multi or key.range_name is None else key.attributes[1]
        self._hash_value: object = None  # the last partition value key_from_item accepted
        self._hk = b""
        #: S or N sort key payloads seen valid -> their encodings: sort values
        #: repeat from one partition to the next (validating and encoding one is ~1 us)
        self._sorts: dict[str, bytes] = {}

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
                payload = sort.get(kind)  # a validated value: one type, one payload
                if payload is not None:
                    rk = self._sorts.get(payload)
                    if rk is not None:
                        return self._hk, rk
                validate_key_value(name, sort, kind, key_type=role)
                rk = encode_key(sort)
                if type(payload) is str:  # kept as a copy: see _fresh
                    if len(self._sorts) >= _SORT_VALUES:
                        self._sorts.clear()
                    self._sorts[payload.encode().decode()] = rk
                return self._hk, rk
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
            raw: Mapping[str, Any]
            size: int | None  # a known shape's size
            text = None  # the item's JSON as dump_item writes it, when the line holds it
            if ion:
                raw, size = decode_ion_sized(line.decode("utf-8"))
            else:
                raw, size, text = read_json_line(line)
            item: Item = raw  # type: ignore[assignment]
            if size is None:
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
            blob = dump_item(item) if text is None else json_item_blob(text)
            rows.append((hk, rk, blob, size))
    return rows, errors, len(lines), size_read


def iter_blocks(objects: list[tuple[str, Path]], compression: str, size: int) -> Iterator[Block]:
    """Yield every object's text in blocks of whole lines (about ``size`` bytes, a longer
    line whole), each with the number of its first line, or an unreadable object's message
    after the blocks read before the fault (not the line it cut)."""
    for key, path in objects:
        number = 1
        rest = b""
        try:
            with open_source(path, compression) as raw:
                while data := raw.read(size):
                    if rest:
                        data = rest + data
                    cut = data.rfind(b"\n") + 1
                    if not cut:  # no end of line yet: a line longer than the block
                        rest = data
                        continue
                    block, rest = (data, b"") if cut == len(data) else (data[:cut], data[cut:])
                    yield key, number, block
                    number += block.count(b"\n")
        except (OSError, EOFError, ValueError) as exc:  # gzip/zstd errors, unreadable files
            yield key, 0, f"cannot read the object ({type(exc).__name__}: {exc})"
            continue
        if rest:  # the last line, with no end of line
            yield key, number, rest


def block_lines(number: int, block: bytes) -> list[tuple[int, bytes]]:
    """The non-blank lines of a block whose first line is ``number``, numbered, each with its
    end of line (as iterating over the object gives them)."""
    parts = block.split(b"\n")
    last = parts.pop()  # after the last end of line: empty, or a last line without one
    lines = [(index, part + b"\n") for index, part in enumerate(parts, number) if part.strip()]
    if last.strip():
        lines.append((number + len(parts), last))
    return lines


class LinePool:
    """Worker processes preparing blocks of lines into scratch files of rows
    (:mod:`streamkit.storage.scratch`), answers taken in the order sent."""

    def __init__(self, spec: TableSpec, fmt: str, workers: int, folder: str) -> None:
        self._spec = spec
        self._fmt = fmt
        self._count = workers
        self._folder = folder
        self._procs: list[asyncio.subprocess.Process] = []
        self._sent: deque[int] = deque()  # the worker of each block in flight, in order
        self._next = 0

    def scratch_path(self, worker: int) -> str:
        """The scratch file of a worker's rows."""
        return os.path.join(self._folder, f"rows-{worker}.sqlite3")

    async def start(self) -> None:
        """Start the workers and send each the table and its scratch file."""
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        for worker in range(self._count):
            # -P: not the script's folder (nor the current one) first on sys.path (a folder
            # holding another streamkit would give the workers that one)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-P", _WORKER_SCRIPT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            self._procs.append(proc)
            _widen_pipe(proc)
            self._send(proc, pickle.dumps((self._spec, self.scratch_path(worker))))

    @property
    def in_flight(self) -> int:
        return len(self._sent)

    def submit(self, key: str, number: int, block: bytes) -> None:
        """Send a block to the next worker (buffered: never waits)."""
        worker = self._next
        self._next = (self._next + 1) % self._count
        self._send(self._procs[worker], marshal.dumps((self._fmt, key, number, block)))
        self._sent.append(worker)

    async def result(self) -> tuple[int, Stored]:
        """The worker of the oldest block in flight and its answer."""
        worker = self._sent.popleft()
        proc = self._procs[worker]
        assert proc.stdout is not None
        try:
            (length,) = _LENGTH.unpack(await proc.stdout.readexactly(4))
            first, last, errors, count, size = marshal.loads(await proc.stdout.readexactly(length))
        except asyncio.IncompleteReadError:
            raise StreamkitError("an import worker process ended unexpectedly") from None
        return worker, (first, last, errors, count, size)

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


#: a worker's input pipe: blocks in flight (``IMPORT_IN_FLIGHT`` of ``IMPORT_BLOCK`` bytes)
_PIPE_SIZE = 1024 * 1024


def _widen_pipe(proc: asyncio.subprocess.Process) -> None:
    """Make a worker's input pipe hold its blocks in flight (Linux; as large as allowed).

    A pipe holds 64 KB by default, a quarter of a block: the engine's event loop then hands
    a block over in pieces, one each time the worker has read the piece before, and a
    worker waited for the next piece whenever the engine's process was not running (a
    third of its time with three processes on two busy cores). Elsewhere: left as it is.
    """
    if sys.platform == "win32":  # pragma: no cover - no fcntl
        return
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    transport = proc.stdin.transport if proc.stdin is not None else None
    pipe = transport.get_extra_info("pipe") if transport else None
    if setsize is None or pipe is None:
        return
    size = _PIPE_SIZE
    while size > 65536:  # pipe-max-size (1 MB by default) may be lower
        try:
            fcntl.fcntl(pipe.fileno(), setsize, size)
            return
        except OSError:
            size //= 2


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (length,) = _LENGTH.unpack(head)
    return stream.read(length)


def main() -> None:
    """A worker: read the table and its scratch file, then blocks of lines; write each
    block's rows to the file and answer with their rowids, errors and counts."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = _read_frame(stdin)
    if first is None:
        return
    spec, path = pickle.loads(first)  # from the engine that started us
    scratch = ScratchWriter(path)
    try:
        while (frame := _read_frame(stdin)) is not None:
            fmt, key, number, block = marshal.loads(frame)
            rows, errors, count, size = prepare_lines(spec, fmt, key, block_lines(number, block))
            start, end = scratch.add(rows) if rows else (0, 0)
            answer = marshal.dumps((start, end, errors, count, size))
            stdout.write(_LENGTH.pack(len(answer)) + answer)
            stdout.flush()
    finally:
        scratch.close()
