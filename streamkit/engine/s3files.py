"""The files of exports and imports: buckets as folders, AWS's export layout, the formats.

A bucket is the folder ``<s3 dir>/<bucket>``; an object key is a path under it. An export
is laid out as DynamoDB lays it out in S3::

    <prefix>/AWSDynamoDB/<export id>/_started
    <prefix>/AWSDynamoDB/<export id>/manifest-summary.json      (+ .checksum: its MD5, hex)
    <prefix>/AWSDynamoDB/<export id>/manifest-files.json        (+ .checksum)
    <prefix>/AWSDynamoDB/<export id>/data/<26 random chars>.json.gz   (or .ion.gz)

``manifest-files.json`` has one JSON line per data file (``itemCount``, ``md5Checksum``: the
base64 MD5 of the gzip bytes, ``etag``: its hex, ``dataFileS3Key``). A DYNAMODB_JSON data
line is ``{"Item":{...}}`` with binaries in base64; an ION line is ``$ion_1_0 {Item:{...}}``
with numbers as decimals, binaries as blobs and sets as lists annotated ``$dynamodb_SS``,
``$dynamodb_NS`` or ``$dynamodb_BS``.

Everything here is synchronous file work, run on a worker thread by
:mod:`streamkit.engine.exports`. No SQL: the rows come from :mod:`streamkit.storage.bulk`.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import importlib
import io
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from streamkit.errors import StreamkitError, ValidationException
from streamkit.model.attributes import (
    MAX_ITEM_SIZE,
    AttributeValue,
    Item,
    normalize_number,
    plain_item_size,
)
from streamkit.model.json import decode_b64, decode_binary, json_default
from streamkit.storage.codec import JSON_OPTIONS

__all__ = [
    "DataFileWriter",
    "ImportError_",
    "LineError",
    "decode_ion_line",
    "decode_ion_sized",
    "decode_json_line",
    "encode_ion_item",
    "incremental_ion_line",
    "incremental_json_line",
    "iter_source_records",
    "list_objects",
    "open_source",
    "read_json_line",
    "zstd_module",
]

DATA_FILE_ITEMS = 500_000  # items per data file before a new one starts
_GZIP_LEVEL = 3


class ImportError_(StreamkitError):  # noqa: N801 - not the builtin ImportError
    """The source of an import cannot be read at all (no such files, bad compression)."""


class LineError(ValueError):
    """One record of an import's source is not a valid item."""


def zstd_module() -> Any | None:
    """Return a zstd module (``compression.zstd``, or its backport ``backports.zstd``)."""
    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# ----------------------------------------------------------------------------- export files


class _Hashing(io.RawIOBase):
    """A write-only file that feeds every byte to an MD5 on its way to the real file."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.md5 = hashlib.md5(usedforsecurity=False)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.md5.update(view)
        self._target.write(view)
        return len(view)


@dataclass
class DataFileWriter:
    """Writes an export's data files (gzip), splitting every :data:`DATA_FILE_ITEMS` items."""

    folder: Path  # <bucket dir>/<prefix>/AWSDynamoDB/<id>
    key_base: str  # the S3 key of that folder
    extension: str  # ".json.gz" or ".ion.gz"
    files: list[dict[str, Any]] = field(default_factory=list)
    item_count: int = 0
    billed_bytes: int = 0
    _raw: IO[bytes] | None = None
    _hashing: _Hashing | None = None
    _gzip: gzip.GzipFile | None = None
    _in_file: int = 0
    _key: str = ""
    #: data files go to ``<folder>/data`` (a full export), or with this set to the shared
    #: ``<prefix>/AWSDynamoDB/data`` (an incremental export): ``(folder, its S3 key)``
    shared_data: tuple[Path, str] | None = None

    def _open(self) -> gzip.GzipFile:
        name = base64.b32encode(os.urandom(16)).decode("ascii").rstrip("=").lower()
        data, data_key = self.shared_data or (self.folder / "data", f"{self.key_base}/data")
        self._key = f"{data_key}/{name}{self.extension}"
        data.mkdir(parents=True, exist_ok=True)
        self._raw = open(data / f"{name}{self.extension}", "wb")  # noqa: SIM115
        self._hashing = _Hashing(self._raw)
        self._gzip = gzip.GzipFile(fileobj=self._hashing, mode="wb", compresslevel=_GZIP_LEVEL)
        self._in_file = 0
        return self._gzip

    def write_lines(self, lines: list[bytes]) -> None:
        """Append data lines (each ending in a newline) to the current data file."""
        out = self._gzip or self._open()
        out.write(b"".join(lines))
        self._in_file += len(lines)
        self.item_count += len(lines)
        self.billed_bytes += sum(map(len, lines))
        if self._in_file >= DATA_FILE_ITEMS:
            self._close_file()

    def _close_file(self) -> None:
        if self._gzip is None or self._raw is None or self._hashing is None:
            return
        self._gzip.close()
        self._raw.close()
        digest = self._hashing.md5.digest()
        self.files.append(
            {
                "itemCount": self._in_file,
                "md5Checksum": base64.b64encode(digest).decode("ascii"),
                "etag": digest.hex(),
                "dataFileS3Key": self._key,
            }
        )
        self._gzip = self._raw = self._hashing = None

    def finish(self) -> None:
        """Close the last data file (an empty table still gets one, empty, as AWS writes)."""
        if self._gzip is None and not self.files:
            self._open()
        self._close_file()

    def abort(self) -> None:
        """Close whatever is open, after a failure."""
        if self._gzip is not None:
            self._gzip.close()
        if self._raw is not None:
            self._raw.close()


def json_line(item_json: bytes) -> bytes:
    """Return the DYNAMODB_JSON data line of an item's wire JSON."""
    return b'{"Item":' + item_json + b"}\n"


def incremental_json_line(micros: int, keys: bytes, new: bytes | None, old: bytes | None) -> bytes:
    """Return an incremental export's DYNAMODB_JSON line from wire JSON parts: ``Metadata``
    (``WriteTimestampMicros``, a number), ``Keys``, then ``OldImage`` and ``NewImage`` when
    given (an insert has no old image, a deletion no new one)."""
    parts = [b'{"Metadata":{"WriteTimestampMicros":{"N":"', str(micros).encode(), b'"}},"Keys":']
    parts.append(keys)
    if old is not None:
        parts += (b',"OldImage":', old)
    if new is not None:
        parts += (b',"NewImage":', new)
    parts.append(b"}\n")
    return b"".join(parts)


def incremental_ion_line(micros: int, keys: Item, new: Item | None, old: Item | None) -> bytes:
    """Return an incremental export's ION line (the members of :func:`incremental_json_line`;
    the timestamp an Ion integer)."""
    out = ["$ion_1_0 {Metadata:{WriteTimestampMicros:", str(micros), "},Keys:", _ion_struct(keys)]
    if old is not None:
        out += (",OldImage:", _ion_struct(old))
    if new is not None:
        out += (",NewImage:", _ion_struct(new))
    out.append("}\n")
    return "".join(out).encode("utf-8")


def write_manifests(
    folder: Path, summary: Mapping[str, Any], files: Iterable[Mapping[str, Any]]
) -> None:
    """Write manifest-files.json, manifest-summary.json and their .checksum files."""
    listing = b"".join(orjson.dumps(f) + b"\n" for f in files)
    _write_with_checksum(folder / "manifest-files.json", listing)
    _write_with_checksum(folder / "manifest-summary.json", orjson.dumps(summary))


def _write_with_checksum(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.with_suffix(".checksum").write_text(hashlib.md5(data, usedforsecurity=False).hexdigest())


# ------------------------------------------------------------------------------------ Ion

_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ION_KEYWORDS = frozenset(["null", "true", "false", "nan"])
_SET_ANNOTATIONS = {"SS": "$dynamodb_SS", "NS": "$dynamodb_NS", "BS": "$dynamodb_BS"}


def _ion_string(text: str) -> str:
    # JSON's string syntax is a subset of Ion's ("\uXXXX", "\n", "\/", ...; orjson writes
    # other characters as they are, in UTF-8), and orjson writes it at C speed
    return orjson.dumps(text).decode("utf-8")


def _ion_name(name: str) -> str:
    # a field name is a symbol or a string; DynamoDB writes identifiers bare. Names repeat
    # from item to item: remembered (up to 4,096 of them)
    known = _ION_NAMES.get(name)
    if known is not None:
        return known
    bare = _BARE_NAME.fullmatch(name) and name not in _ION_KEYWORDS
    known = name if bare else _ion_string(name)
    if len(_ION_NAMES) < 4096:
        _ION_NAMES[name] = known
    return known


_ION_NAMES: dict[str, str] = {}


def _ion_number(canonical: str) -> str:
    # canonical numbers are plain decimals: "103" -> "103." (an Ion int would not be a decimal)
    return canonical if "." in canonical else canonical + "."


def _ion_blob(data: bytes) -> str:
    return "{{" + base64.b64encode(data).decode("ascii") + "}}"


def _ion_value(value: AttributeValue) -> str:
    ((kind, payload),) = value.items()
    if kind == "S":
        return _ion_string(payload)
    if kind == "N":
        return _ion_number(payload)
    if kind == "B":
        return _ion_blob(payload)
    if kind == "BOOL":
        return "true" if payload else "false"
    if kind == "NULL":
        return "null"
    if kind == "M":
        return _ion_struct(payload)
    if kind == "L":
        return "[" + ",".join(_ion_value(v) for v in payload) + "]"
    if kind == "SS":
        members = ",".join(_ion_string(v) for v in payload)
    elif kind == "NS":
        members = ",".join(_ion_number(v) for v in payload)
    else:
        members = ",".join(_ion_blob(v) for v in payload)
    return f"{_SET_ANNOTATIONS[kind]}::[{members}]"


def _ion_struct(members: Mapping[str, AttributeValue]) -> str:
    parts = []
    for name, value in members.items():
        # strings and numbers, most values, without a call to _ion_value
        text = value.get("S")
        if text is not None:
            parts.append(f"{_ion_name(name)}:{orjson.dumps(text).decode()}")
            continue
        number = value.get("N")
        if number is not None:
            parts.append(f"{_ion_name(name)}:{number if '.' in number else number + '.'}")
            continue
        parts.append(f"{_ion_name(name)}:{_ion_value(value)}")
    return "{" + ",".join(parts) + "}"


def encode_ion_item(item: Item) -> bytes:
    """Return the ION data line of an item: ``$ion_1_0 {Item:{...}}`` and a newline."""
    return ("$ion_1_0 {Item:" + _ion_struct(item) + "}\n").encode("utf-8")


_ION_NUMBER = re.compile(r"[-+]?[0-9_]+(?:\.[0-9_]*)?(?:[dDeE][-+]?[0-9]+)?")
_ION_SPACE = re.compile(r"(?:\s|//[^\n]*|/\*.*?\*/)*", re.S)
_ION_SYMBOL = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ION_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]*")
_ION_PLAIN = {q: re.compile(rf"[^{q}\\\x00-\x1f]*") for q in ("'", '"')}
_SPACE_START = frozenset(" \t\n\r\f\v/")
_ION_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "v": "\v",
    '"': '"', "'": "'", "?": "?", "\\": "\\", "/": "/",
}  # fmt: skip


class _IonParser:
    """A reader of the Ion text values an export line holds (no timestamps, sexps, clobs)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> LineError:
        return LineError(f"Ion: {what} at offset {self.pos}")

    def space(self) -> None:
        if self.text[self.pos : self.pos + 1] not in _SPACE_START:
            return
        match = _ION_SPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def peek(self) -> str:
        self.space()
        return self.text[self.pos : self.pos + 1]

    def expect(self, token: str) -> None:
        self.space()
        if not self.text.startswith(token, self.pos):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def quoted(self, quote: str) -> str:
        """A quoted string or symbol; ``self.pos`` is on the opening quote."""
        out: list[str] = []
        i, text, plain = self.pos + 1, self.text, _ION_PLAIN[quote]
        while True:
            run = plain.match(text, i)
            if run is not None and run.end() > i:
                out.append(run.group())
                i = run.end()
            if i >= len(text):
                raise self.fail("unterminated string")
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            if ch == "\\":
                esc = text[i + 1 : i + 2]
                if esc in _ION_ESCAPES:
                    out.append(_ION_ESCAPES[esc])
                    i += 2
                    continue
                width = {"x": 2, "u": 4, "U": 8}.get(esc)
                if width is None:
                    raise self.fail(f"bad escape \\{esc}")
                digits = text[i + 2 : i + 2 + width]
                try:
                    out.append(chr(int(digits, 16)))
                except ValueError:
                    raise self.fail(f"bad escape \\{esc}{digits}") from None
                i += 2 + width
                continue
            out.append(ch)
            i += 1

    def string(self) -> str:
        """A string: "..." or one or more adjacent '''...''' parts."""
        if self.text.startswith("'''", self.pos):
            parts: list[str] = []
            while self.text.startswith("'''", self.pos):
                end = self.pos + 3
                while True:
                    end = self.text.find("'''", end)
                    if end < 0:
                        raise self.fail("unterminated long string")
                    if self.text[end - 1] != "\\":
                        break
                    end += 1
                inner = _IonParser('"' + self.text[self.pos + 3 : end].replace('"', '\\"') + '"')
                parts.append(inner.quoted('"'))
                self.pos = end + 3
                self.space()
            return "".join(parts)
        return self.quoted('"')

    def symbol(self) -> str:
        self.space()
        ch = self.text[self.pos : self.pos + 1]
        if ch == "'" and not self.text.startswith("'''", self.pos):
            return self.quoted("'")
        if ch == '"' or self.text.startswith("'''", self.pos):
            return self.string()
        match = _ION_SYMBOL.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a field name")
        self.pos = match.end()
        return match.group()

    def value(self) -> AttributeValue:
        ch = self.peek()
        annotation = None
        # annotations: symbol '::' value
        save = self.pos
        if (ch in ("$", "'", "_") or ch.isalpha()) and not self.text.startswith("'''", self.pos):
            name = self.symbol()
            self.space()
            if self.text.startswith("::", self.pos):
                self.pos += 2
                annotation = name
                ch = self.peek()
            else:
                self.pos = save
        if annotation is not None:
            kind = {v: k for k, v in _SET_ANNOTATIONS.items()}.get(annotation)
            if kind is None or ch != "[":
                raise self.fail(f"unexpected annotation {annotation}")
            members = self.sequence("]")
            return _set_of(kind, members, self)
        if ch == "{":
            if self.text.startswith("{{", self.pos):
                return {"B": self.blob()}
            return {"M": self.struct()}
        if ch == "[":
            return {"L": self.sequence("]")}
        if ch == '"' or self.text.startswith("'''", self.pos):
            return {"S": self.string()}
        if ch and (ch.isdigit() or ch in "-+"):
            return self.number()
        match = _ION_WORD.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a value")
        word = match.group()
        self.pos = match.end()
        if word == "true" or word == "false":
            return {"BOOL": word == "true"}
        if word == "null" or word.startswith("null."):
            return {"NULL": True}
        raise self.fail(f"unsupported Ion value {word!r}")

    def number(self) -> AttributeValue:
        match = _ION_NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("bad number")
        text = match.group().replace("_", "")
        if "e" in text or "E" in text:
            raise self.fail("Ion floats have no DynamoDB type (use decimals)")
        self.pos = match.end()
        try:
            return {"N": normalize_number(text.replace("d", "e").replace("D", "e"))}
        except ValidationException as exc:
            raise LineError(exc.message) from None

    def blob(self) -> bytes:
        end = self.text.find("}}", self.pos)
        if end < 0:
            raise self.fail("unterminated blob")
        body = "".join(self.text[self.pos + 2 : end].split())
        if body.startswith(('"', "'")):
            raise self.fail("clobs have no DynamoDB type")
        self.pos = end + 2
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or a character that is not ASCII
            raise self.fail("bad base64 in blob") from None

    def sequence(self, close: str) -> list[AttributeValue]:
        self.expect("[")
        out: list[AttributeValue] = []
        if self.peek() == close:
            self.pos += 1
            return out
        while True:
            out.append(self.value())
            ch = self.peek()
            self.pos += 1
            if ch == close:
                return out
            if ch != ",":
                raise self.fail("expected ',' or ']'")

    def struct(self) -> dict[str, AttributeValue]:
        self.expect("{")
        out: dict[str, AttributeValue] = {}
        if self.peek() == "}":
            self.pos += 1
            return out
        while True:
            name = self.symbol()
            self.expect(":")
            out[name] = self.value()
            ch = self.peek()
            self.pos += 1
            if ch == "}":
                return out
            if ch != ",":
                raise self.fail("expected ',' or '}'")


def _set_of(kind: str, members: list[AttributeValue], parser: _IonParser) -> AttributeValue:
    inner = {"SS": "S", "NS": "N", "BS": "B"}[kind]
    values = []
    for m in members:
        if inner not in m:
            raise parser.fail(f"a {kind} member is not a {inner}")
        values.append(m[inner])
    return {kind: values}


def decode_ion_line(line: str) -> Mapping[str, Any]:
    """Return the Item of an ION line (``$ion_1_0 {Item:{...}}``), not yet validated.

    The lines exports hold (strings without unusual escapes, canonical decimals, bare field
    names, structs, lists, booleans, nulls) are translated to DynamoDB JSON text and parsed by
    orjson (:func:`fast_ion_value`); any other line, and any line that translation does not
    turn into valid JSON, goes through the full reader, so the results and errors are the
    full reader's.

    Raises:
        LineError: the line is not such a line.
    """
    return decode_ion_sized(line)[0]


def decode_ion_sized(line: str) -> tuple[Mapping[str, Any], int | None]:
    """:func:`decode_ion_line`'s Item and, when the line is of a known shape whose items are
    plain, the Item's size (:func:`~streamkit.model.attributes.plain_item_size`'s), else None.

    Raises:
        LineError: the line is not an ION line with an Item.
    """
    read = _fast_ion(line)
    if read is None:
        return _ion_item(slow_ion_value(line)), None
    return _ion_item(read[0]), read[1]


def slow_ion_value(line: str) -> AttributeValue:
    """The value of an ION line (after an optional ``$ion_1_0``), by the full reader.

    Raises:
        LineError: the line is not one Ion value this reader knows.
    """
    parser = _IonParser(line)
    parser.space()
    if parser.text.startswith("$ion_1_0", parser.pos):
        parser.pos += len("$ion_1_0")
    top = parser.value()
    parser.space()
    if parser.pos != len(parser.text):
        raise parser.fail("extra text after the item")
    return top


#: a string the fast path takes: no control characters, only the escapes JSON and Ion read
#: alike (``\uXXXX`` is left to the full reader: surrogates differ)
_FAST_STRING = re.compile(r'("[^"\\\x00-\x1f]*(?:\\["\\/bfnrt][^"\\\x00-\x1f]*)*")')
#: what lies between the strings of a fast line (each string is \x00 here), token by token:
#: no whitespace, bare field names, canonical decimals ("0.", "12.", "-1.5", or an Ion int;
#: at most 39 characters, so always a valid DynamoDB number and its own canonical form),
#: true, false, null
_FAST_SKELETON = re.compile(
    r"(?:[{}\[\],\x00]"
    r"|[A-Za-z_$][A-Za-z0-9_$]*:(?!:)"
    r"|(?=[-.0-9]{1,39}(?![-.0-9]))"
    r"(?:(?:0|-?[1-9][0-9]*)\.?|-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9])(?=[,\]}])"
    r"|(?:true|false|null)(?=[,\]}]))*"
)
# the rewriting: constant replacements where the shape allows (C speed)
_FAST_NAME_START = re.compile(r"(?<=[{,])(?=[A-Za-z_$][A-Za-z0-9_$]*:)")
#: outside lists, a "{" or "," followed by anything but a field name and its ":" (a word
#: there, as in "{true}a:1", would be quoted with what follows it up to the next ":")
_FAST_NOT_NAME = re.compile(r"[{,](?![A-Za-z_$][A-Za-z0-9_$]*:)")
#: a number after a field name, or (in a list) after "[" or ","
_FAST_FIELD_NUMBER = re.compile(r":(-?[0-9][0-9]*(?:\.[0-9]*[1-9])?)\.?(?=[,\]}])")
_FAST_ANY_NUMBER = re.compile(r"([:,\[])(-?[0-9][0-9]*(?:\.[0-9]*[1-9])?)\.?(?=[,\]}])")
_FAST_WORDS = {
    word: (re.compile(rf"(?<=[:,\[]){word}(?=[,\]}}])"), json)
    for word, json in (
        ("true", '{"BOOL":true}'), ("false", '{"BOOL":false}'), ("null", '{"NULL":true}')
    )
}  # fmt: skip


def fast_ion_value(line: str) -> AttributeValue | None:
    """The value of an ION line of the common shapes, or None: not one (use the full reader).

    The line is cut at its strings (:data:`_FAST_STRING`); the text between them, with every
    digit but 0 made a 1, is the line's shape, and the lines of an export have few (188 in the
    1M-item bench export: the digits 0 stay apart, so a shape tells canonical numbers from
    others). A shape's DynamoDB JSON, with gaps where the line's strings and numbers go, is
    made once by :func:`_translate_skeleton` (:func:`_shape_template`) and kept: a line of a
    known shape costs the cut, a few C-level slicing and joining calls and orjson's parse,
    about 4 us against 9.5 for translating it (a bench line). A shape with no template (not
    the fast path's, or a field name with a digit other than 0 in it: the shape does not say
    which) is translated line by line (:func:`_translate_line`).

    A shape also knows the size of its lines' items when they are plain: the numbers' sizes
    depend only on which digits are 0, so the shape fixes them, and each string adds its
    length (no escapes, ASCII: one check of the strings joined), so
    :func:`decode_ion_sized` answers the size without
    :func:`~streamkit.model.attributes.plain_item_size` walking the item.
    """
    read = _fast_ion(line)
    return None if read is None else read[0]


def _fast_ion(line: str) -> tuple[AttributeValue, int | None] | None:
    """:func:`fast_ion_value`'s value and the size of its Item if known (see there)."""
    body = line.strip(" \t\r\n")
    if body.startswith("$ion_1_0"):
        body = body[8:].lstrip(" \t\r\n")
    if "\x00" in body or "\x01" in body or "\x02" in body:  # the translations' markers
        return None  # (never in a line the fast path reads: no control characters)
    parts = _FAST_STRING.split(body)
    skeleton = "\x00".join(parts[0::2])
    shape = skeleton.encode().translate(_NONZERO)
    template = _SHAPES.get(shape, _UNKNOWN)
    if template is _UNKNOWN:
        template = None  # translated as it is: a new shape's first line, or the table full
        if shape not in _SEEN:  # a template is made on a shape's second line
            if len(_SEEN) >= _MAX_SHAPES:
                _SEEN.clear()
            _SEEN.add(shape)
        elif len(_SHAPES) < _MAX_SHAPES:
            template = _SHAPES[shape] = _shape_template(shape.decode())
    if template is None:
        value = _translate_line(body)
        return None if value is None else (value, None)
    gaps, numbers, in_order, plain = template
    tokens = parts[1::2]  # the strings, then the numbers
    size = None
    if plain is not None:
        text = "".join(tokens)
        if text.isascii() and "\\" not in text:
            size = plain + len(text)
            if size > MAX_ITEM_SIZE:
                size = None
    tokens += numbers(skeleton)
    json = gaps.copy()
    json[1::2] = in_order(tokens)
    try:
        value = orjson.loads("".join(json))
    except orjson.JSONDecodeError:
        value = _translate_line(body)
        return None if value is None else (value, None)
    return (value, size) if type(value) is dict else None


_NONZERO = bytes.maketrans(b"23456789", b"11111111")
#: a number :data:`_FAST_SKELETON` takes, after ":", "," or "[" (its digits without a
#: decimal's final "."): canonical, at most 39 characters; whether a number is one depends on
#: which of its digits are 0 only
_SHAPE_NUMBER = re.compile(
    r"(?<=[:,\[])(?=[-.0-9]{1,39}(?![-.0-9]))"
    r"((?:0|-?[1-9][0-9]*)(?=\.?[,\]}])|-?(?:0|[1-9][0-9]*)\.[0-9]*[1-9](?=[,\]}]))\.?"
)
#: a digit, "." or "-" not in a field name
_NUMERAL = re.compile(r"(?<![A-Za-z0-9_$])[-.0-9]")
#: (the JSON with a gap ("") for each string and number, the line's numbers from its
#: skeleton, the strings then numbers in the line's order, and the size of a plain item of
#: this shape less the length of its strings with their quotes, or None)
_Template = tuple[
    list[str], Callable[[str], Sequence[str]], Callable[[list[str]], Sequence[str]], int | None
]
_SHAPES: dict[bytes, _Template | None] = {}  # shape -> its template, or None: none
#: shapes kept: making a template costs a few translations of a line, so shapes that never
#: come back (many numbers, each with its own 0s) must cost no more than a translation: a
#: template is made for a shape seen before (:data:`_SEEN`, emptied when full), and not
#: at all once this many are kept
_MAX_SHAPES = 4096
_SEEN: set[bytes] = set()  # shapes seen once
_UNKNOWN: Any = object()


def _shape_template(shape: str) -> _Template | None:
    """A shape's template (see :func:`fast_ion_value`), or None: lines of this shape are
    translated one by one (or are not the fast path's)."""
    if not shape.isascii():  # the numbers' places are counted in characters
        return None
    spans = [match.span(1) for match in _SHAPE_NUMBER.finditer(shape)]
    rest = _SHAPE_NUMBER.sub("", shape)
    if _NUMERAL.search(rest):  # a number that is not one of those
        return None
    if "1" in rest:  # a digit 1-9 in a field name: the shape does not say which
        return None
    sample: list[str] = []  # the skeleton of a line of this shape: each number 7
    end = 0
    for start, stop in spans:
        sample += (shape[end:start], "7")
        end = stop
    sample.append(shape[end:])
    json = _translate_skeleton("".join(sample))
    count = len(spans)
    if json is None or json.count('{"N":"') != count or json.count('{"N":"7"}') != count:
        return None
    json = json.replace('{"S":\x00}', '{"S":\x02}').replace('{"N":"7"}', '{"N":"\x02"}')
    strings = [at for at, char in enumerate(shape) if char == "\x00"]
    pieces = json.split("\x02")
    if "\x00" in json or len(pieces) != len(strings) + count + 1:
        return None
    gaps = [""] * (2 * len(pieces) - 1)
    gaps[0::2] = pieces
    places = [(at, index) for index, at in enumerate(strings)]
    places += [(start, len(strings) + index) for index, (start, _) in enumerate(spans)]
    places.sort()
    numbers, in_order = _getter([slice(*span) for span in spans]), _getter([i for _, i in places])
    # the size of the shape's items: the shape's own digits are numbers of the same sizes;
    # with every string "" then "a", each string must add its length (no name twice)
    sample = list(numbers(shape))
    empty = _plain_size(gaps, in_order, ['""'] * len(strings) + sample)
    ones = _plain_size(gaps, in_order, ['"a"'] * len(strings) + sample)
    plain = None
    if empty is not None and ones == empty + len(strings):
        plain = empty - 2 * len(strings)
    return gaps, numbers, in_order, plain


def _plain_size(
    gaps: list[str], in_order: Callable[[list[str]], Sequence[str]], tokens: list[str]
) -> int | None:
    """The plain size of the Item of a line of a shape with these strings and numbers."""
    json = gaps.copy()
    json[1::2] = in_order(tokens)
    try:
        value = orjson.loads("".join(json))
        item = _ion_item(value) if type(value) is dict else None
    except (orjson.JSONDecodeError, LineError):
        return None
    return None if item is None else plain_item_size(item)


def _getter(indexes: Sequence[Any]) -> Callable[[Any], Sequence[Any]]:
    """``itemgetter(*indexes)``, always answering a tuple."""
    if len(indexes) == 1:
        (only,) = indexes
        return lambda values: (values[only],)
    if not indexes:
        return lambda values: ()
    return operator.itemgetter(*indexes)


def _translate_line(body: str) -> AttributeValue | None:
    """The value of a fast-path line (``$ion_1_0`` and the outer whitespace cut off) by
    translating it to DynamoDB JSON as it is, or None: not one.

    The text between strings is checked token by token (:data:`_FAST_SKELETON`), then
    rewritten to DynamoDB JSON (:func:`_translate_skeleton`) and the strings put back as
    ``{"S":...}``; orjson parses the result. A line it cannot translate, or whose translation
    is not valid JSON, answers None.
    """
    parts = _FAST_STRING.split(body)
    skeleton = _translate_skeleton("\x00".join(parts[0::2]))
    if skeleton is None:
        return None
    parts[0::2] = skeleton.split("\x00")
    try:
        value = orjson.loads("".join(parts))
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def _translate_skeleton(skeleton: str) -> str | None:
    """A line's text between its strings (each string \\x00) as DynamoDB JSON, each string
    ``{"S":\\x00}``, or None: not the fast path's."""
    if _FAST_SKELETON.fullmatch(skeleton) is None:
        return None
    skeleton = skeleton.replace("{}", "\x01")  # an empty struct: no field name follows
    lists = "[" in skeleton
    if lists:  # a comma in a list is followed by a value, not a name
        skeleton = _FAST_NAME_START.sub('"', skeleton).replace(":", '":')
    elif _FAST_NOT_NAME.search(skeleton):  # "{]a:1}": the quote below would take the "]" in
        return None
    else:  # every "{" and "," is followed by a field name
        skeleton = skeleton.replace("{", '{"').replace(",", ',"').replace(":", '":')
    skeleton = skeleton.replace("{", '{"M":{').replace("}", "}}").replace("\x01", '{"M":{}}')
    if lists:
        skeleton = skeleton.replace("[", '{"L":[').replace("]", "]}")
    skeleton = skeleton.replace("\x00", '{"S":\x00}')
    if lists:
        skeleton = _FAST_ANY_NUMBER.sub(_fast_number, skeleton)
    else:
        pieces = _FAST_FIELD_NUMBER.split(skeleton)
        if len(pieces) > 1:
            pieces[1::2] = [':{"N":"' + number + '"}' for number in pieces[1::2]]
            skeleton = "".join(pieces)
    for word, (pattern, json) in _FAST_WORDS.items():
        if word in skeleton:
            skeleton = pattern.sub(json, skeleton)
    return skeleton


def _fast_number(match: re.Match[str]) -> str:
    return match[1] + '{"N":"' + match[2] + '"}'


def _ion_item(top: AttributeValue) -> Mapping[str, Any]:
    item = top.get("M")
    if not isinstance(item, dict) or len(item) != 1 or "M" not in item.get("Item", ()):
        if isinstance(item, dict) and "Keys" in item:
            raise LineError(_INCREMENTAL_LINE)
        raise LineError("Ion: the line is not a struct with one field, Item")
    return item["Item"]["M"]  # type: ignore[no-any-return]


# -------------------------------------------------------------------------------- sources


def list_objects(bucket_dir: Path, prefix: str) -> list[tuple[str, Path]]:
    """Return (key, path) of every file in a bucket folder whose key starts with ``prefix``.

    Raises:
        ImportError_: there is none.
    """
    found: list[tuple[str, Path]] = []
    if bucket_dir.is_dir():
        found = _walk(bucket_dir, prefix)
    if not found:
        raise ImportError_(f"no objects in s3://{bucket_dir.name}/{prefix} ({bucket_dir / prefix})")
    return found


def _walk(bucket_dir: Path, prefix: str) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(bucket_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            key = path.relative_to(bucket_dir).as_posix()
            if key.startswith(prefix):
                found.append((key, path))
    return found


def open_source(path: Path, compression: str) -> IO[bytes]:
    if compression == "GZIP":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    if compression == "ZSTD":
        zstd = zstd_module()
        if zstd is None:
            raise ImportError_("ZSTD needs the zstd module: pip install 'streamkit[zstd]'")
        opened: IO[bytes] = zstd.open(path, "rb")
        return opened
    return open(path, "rb")


@dataclass
class Record:
    """One record of a source: a raw item (not validated) or the reason it is not one."""

    key: str  # the object's key
    index: int  # 1-based record number in the object
    size: int  # bytes read
    item: Mapping[str, Any] | None
    error: str | None = None


def iter_source_records(
    objects: list[tuple[str, Path]],
    fmt: str,
    compression: str,
    csv_options: Mapping[str, Any] | None,
    key_types: Mapping[str, str],
) -> Iterator[Record]:
    """Yield every record of every object, as an item or an error (never raising on bad data).

    ``key_types``: attribute name -> S/N/B of every key attribute of the table and its GSIs,
    the only CSV columns not read as strings (as DynamoDB does).

    Raises:
        ImportError_: an object cannot be read at all (it is not gzip, zstd missing, ...).
    """
    for key, path in objects:
        try:
            with open_source(path, compression) as raw:
                if fmt == "CSV":
                    yield from _csv_records(key, raw, csv_options or {}, key_types)
                else:
                    yield from _line_records(key, raw, fmt)
        except (OSError, EOFError, ValueError) as exc:  # gzip/zstd errors, unreadable files
            if isinstance(exc, LineError):
                raise
            name = type(exc).__name__
            yield Record(key, 0, 0, None, f"cannot read the object ({name}: {exc})")


def _line_records(key: str, raw: IO[bytes], fmt: str) -> Iterator[Record]:
    for index, line in enumerate(raw, 1):
        if not line.strip():
            continue
        try:
            if fmt == "ION":
                item: Mapping[str, Any] = decode_ion_line(line.decode("utf-8"))
            else:
                item = decode_json_line(line)
        except (LineError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            yield Record(key, index, len(line), None, str(exc))
        except StreamkitError as exc:  # bad base64
            yield Record(key, index, len(line), None, getattr(exc, "message", str(exc)))
        else:
            yield Record(key, index, len(line), item)


_INCREMENTAL_LINE = (
    "a line of an incremental export (Metadata, Keys, NewImage, OldImage): ImportTable reads "
    "full exports only, as DynamoDB's does"
)


def decode_json_line(line: bytes) -> Mapping[str, Any]:
    """Return the Item of a DYNAMODB_JSON line, binaries decoded, not yet validated.

    Raises:
        LineError: the line is not ``{"Item": {...}}``.
        orjson.JSONDecodeError: it is not JSON.
        SerializationException: a binary is not base64.
    """
    return _json_item(line, b'"B' in line or b"\\u" in line)  # maybe a B or BS (or escaped)


def _json_item(line: bytes, binary: bool) -> Mapping[str, Any]:
    """:func:`decode_json_line`, its binaries decoded when ``binary`` (else none can be)."""
    document = orjson.loads(line)
    if type(document) is not dict or len(document) != 1 or "Item" not in document:
        if isinstance(document, dict) and "Keys" in document:
            raise LineError(_INCREMENTAL_LINE)
        raise LineError('a DynamoDB JSON line must be {"Item": {...}}')
    item = document["Item"]
    if binary:
        item = decode_binary(item)
    if not isinstance(item, dict):
        raise LineError("Item is not a map")
    return item


def read_json_line(line: bytes) -> tuple[Mapping[str, Any], int | None, bytes | None]:
    """:func:`decode_json_line`'s Item and, when the line is of a known shape whose items are
    plain, the Item's size (:func:`~streamkit.model.attributes.plain_item_size`'s) and, when
    the line holds it, the Item's JSON text as
    :func:`~streamkit.storage.codec.dump_item_json` writes it; else None for either.

    A line's *skeleton* is the line with the text of every string value ``{"S":"..."}`` cut
    out (:data:`_JSON_STRING`), and its *shape* the skeleton with every digit 1-9 made a 1.
    Of a line with no backslash, every quote is in its skeleton, so all such lines of a shape
    have the skeleton's JSON structure: the same names, tags, nesting and numbers but for
    their digits 1-9, and whether a number is canonical, and its size, depends only on which
    of its digits are 0. So, when every digit 1-9 of the shape is in a number
    (``{"N":"..."}``: a digit in a name could make two names one), the shape's plain items
    have one size but for their strings, each of which adds its length when the line is
    ASCII; and when the skeleton's Item is the JSON orjson writes for it, so is each such
    line's (orjson writes ASCII strings without quotes, backslashes or control characters as
    they are). A shape's size is worked out on its second line (:func:`_json_shape`, by
    :func:`plain_item_size` of the skeleton read as a line) and kept (at most
    :data:`_MAX_SHAPES` shapes): an ASCII line with no backslash, of a shape with a size, is
    parsed by orjson and sized by a subtraction, without :func:`plain_item_size`'s walk of
    the item, and its Item's text is a slice of it. Any other line is
    :func:`decode_json_line`'s, with neither.

    Raises:
        LineError, orjson.JSONDecodeError, SerializationException: as
        :func:`decode_json_line`.
    """
    skeleton = _JSON_STRING.sub(b'{"S":""}', line)
    shape = skeleton.translate(_NONZERO)
    known = _JSON_SHAPES.get(shape, _UNKNOWN)
    if known is _UNKNOWN:
        known = None
        if shape not in _JSON_SEEN:  # the size is worked out on a shape's second line
            if len(_JSON_SEEN) >= _MAX_SHAPES:
                _JSON_SEEN.clear()
            _JSON_SEEN.add(shape)
        elif len(_JSON_SHAPES) < _MAX_SHAPES:
            known = _JSON_SHAPES[shape] = _json_shape(skeleton, shape)
    if known is None or not line.isascii() or line.find(b"\\") >= 0:
        return decode_json_line(line), None, None
    plain, start, stop = known
    # a plain item has no B or BS value: decode_binary would give an equal copy of it
    item = _json_item(line, False)
    size = plain + len(line) - len(skeleton)
    if size > MAX_ITEM_SIZE:
        return item, None, None
    return item, size, line[start:stop] if start else None


#: a string value's text (cut out of a line's skeleton): ``[^"]`` is several times faster
#: to match than ``[^"\\]``, so a backslash (an escaped quote would end the match early)
#: sends its line the full way instead
_JSON_STRING = re.compile(rb'\{"S":"[^"]*+"\}')
#: a number of a shape (its digits 1-9 made 1)
_JSON_SHAPE_NUMBER = re.compile(rb'\{"N":"[-.01]*"\}')
_JSON_ITEM = b'{"Item":'
#: shape -> the size of its plain items less their strings' lengths, and where a line's
#: Item's JSON text lies in it (start, stop; start 0: it does not); None: neither
_JSON_SHAPES: dict[bytes, tuple[int, int, int] | None] = {}
_JSON_SEEN: set[bytes] = set()  # shapes seen once (see _SEEN)


def _json_shape(skeleton: bytes, shape: bytes) -> tuple[int, int, int] | None:
    """What a line of this shape is known by (see :data:`_JSON_SHAPES`), or None: the shape
    does not give its items' size (see :func:`read_json_line`)."""
    if b"1" in _JSON_SHAPE_NUMBER.sub(b"", shape) or not skeleton.isascii():
        return None  # a digit 1-9 not in a number: the shape does not say which
    try:
        item = decode_json_line(skeleton)
    except (StreamkitError, ValueError):  # LineError, orjson.JSONDecodeError, bad base64
        return None
    # every string "" then every string "a": each must add exactly its length (it is an
    # attribute's S value, kept: not the first of a name given twice)
    empty = plain_item_size(item)
    ones = _plain_json(skeleton.replace(b'{"S":""}', b'{"S":"a"}'))
    if empty is None or ones != empty + skeleton.count(b'{"S":""}'):
        return None
    text = orjson.dumps(item, option=JSON_OPTIONS)
    start = len(_JSON_ITEM)
    stop = start + len(text) - len(skeleton)  # < 0: the document's "}" is after it
    if not skeleton.startswith(_JSON_ITEM) or skeleton[start:stop] != text:
        return empty, 0, 0
    return empty, start, stop


def _plain_json(line: bytes) -> int | None:
    """:func:`plain_item_size` of a DYNAMODB_JSON line's Item, or None (not one, not plain)."""
    try:
        return plain_item_size(decode_json_line(line))
    except (StreamkitError, ValueError):  # LineError, orjson.JSONDecodeError, bad base64
        return None


def _csv_records(
    key: str, raw: IO[bytes], options: Mapping[str, Any], key_types: Mapping[str, str]
) -> Iterator[Record]:
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield from _csv_rows(
            key, csv.reader(text, delimiter=options.get("Delimiter", ",")), options, key_types
        )


def _csv_rows(
    key: str, rows: Iterator[list[str]], options: Mapping[str, Any], key_types: Mapping[str, str]
) -> Iterator[Record]:
    header: list[str] | None = list(options["HeaderList"]) if options.get("HeaderList") else None
    index = 0
    for row in rows:
        index += 1
        size = sum(len(c) for c in row) + len(row)
        if header is None:
            header = row
            continue
        if not any(row):
            continue
        if len(row) > len(header):
            yield Record(key, index, size, None, "the row has more cells than the header")
            continue
        item: dict[str, Any] = {}
        problem = None
        for name, cell in zip(header, row, strict=False):
            kind = key_types.get(name)
            if kind is None:
                if cell != "":
                    item[name] = {"S": cell}
            elif kind == "B":
                try:
                    item[name] = {"B": decode_b64(cell)}
                except StreamkitError:
                    problem = f"the key {name} is not base64"
            else:
                item[name] = {kind: cell}
        if problem:
            yield Record(key, index, size, None, problem)
        else:
            yield Record(key, index, size, item)


def encode_json_item(item: Item) -> bytes:
    """Return the DYNAMODB_JSON data line of an item held in memory."""
    return json_line(orjson.dumps(item, default=json_default))
