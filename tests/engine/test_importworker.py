"""An import worker's lines (importworker.prepare_lines) against the general path.

prepare_lines reuses the last item's partition key for the next item with the same partition
value; its rows and errors must be exactly those of :func:`prepare_item` line by line, on
random items (partition values drawn from a few, so runs repeat), wrong or missing keys and
lines that are not records at all.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streamkit.engine import importworker
from streamkit.engine.importworker import (
    BadRecord,
    Row,
    block_lines,
    iter_blocks,
    prepare_item,
    prepare_lines,
)
from streamkit.engine.s3files import (
    LineError,
    decode_ion_line,
    decode_json_line,
    encode_ion_item,
    encode_json_item,
    open_source,
)
from streamkit.errors import DynamoDBError, StreamkitError
from streamkit.model.schema import IndexSpec, KeySpec, TableSpec
from streamkit.storage.codec import dump_item
from tests.strategies import attribute_values, items, key_values


def _spec(key: KeySpec, *, index: bool = False) -> TableSpec:
    indexes = (IndexSpec("byg", KeySpec.of("g", "S"), "ALL"),) if index else ()
    return TableSpec("tab", "id", key, dict(key.types()), 0.0, global_indexes=indexes)


SPECS = (
    _spec(KeySpec.of("pk", "S")),
    _spec(KeySpec.of("pk", "S", "sk", "N")),
    _spec(KeySpec.of("pk", "B", "sk", "S")),
    _spec(KeySpec.of("pk", "N", "sk", "B"), index=True),
    _spec(KeySpec((("pk", "S"), ("pk2", "N")), (("sk", "S"),))),
)


def _general(spec: TableSpec, fmt: str, key: str, lines: list[tuple[int, bytes]]) -> Any:
    """prepare_lines as it was: every line through prepare_item."""
    rows: list[Row] = []
    errors: list[BadRecord] = []
    for index, line in lines:
        try:
            ion = fmt == "ION"
            raw = decode_ion_line(line.decode("utf-8")) if ion else decode_json_line(line)
            (hk, rk), item, size = prepare_item(spec, raw)
        except (LineError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            errors.append((key, index, len(line), str(exc)))
        except StreamkitError as exc:
            message = exc.message if isinstance(exc, DynamoDBError) else str(exc)
            errors.append((key, index, len(line), message))
        else:
            rows.append((hk, rk, dump_item(item), size))
    return rows, errors, len(lines), sum(len(line) for _, line in lines)


def _agree(spec: TableSpec, fmt: str, lines: list[bytes]) -> Any:
    numbered = list(enumerate(lines, 1))
    fast = prepare_lines(spec, fmt, "data/x", numbered)
    assert fast == _general(spec, fmt, "data/x", numbered)
    return fast


def _key_value(kind: str) -> st.SearchStrategy[Any]:
    """Mostly one of a few valid values of ``kind`` (runs of a partition), sometimes any
    value at all (a wrong type, an empty string), sometimes none."""
    few = st.sampled_from([{"S": "a"}, {"S": "b"}, {"N": "1"}, {"N": "1.50"}, {"B": b"\x00"}])
    return st.one_of(few, key_values(kind), attribute_values(1), st.none())


@st.composite
def _records(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        item = draw(items(max_depth=1))
        for name in ("pk", "pk2", "sk", "g"):
            value = draw(_key_value(draw(st.sampled_from("SNB"))))
            if value is None:
                item.pop(name, None)
            else:
                item[name] = value
        # a run: the same partition value as the item before
        if out and "pk" in out[-1] and draw(st.booleans()):
            item["pk"] = out[-1]["pk"]
        out.append(item)
    return out


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=_records(),
    spec=st.sampled_from(SPECS),
    fmt=st.sampled_from(["DYNAMODB_JSON", "ION"]),
    garbage=st.lists(st.tuples(st.integers(0, 12), st.binary(max_size=30)), max_size=3),
)
def test_random_items_agree(
    records: list[dict[str, Any]], spec: TableSpec, fmt: str, garbage: list[tuple[int, bytes]]
) -> None:
    encode = encode_ion_item if fmt == "ION" else encode_json_item
    lines = [encode(item) for item in records]
    for at, junk in garbage:
        lines.insert(min(at, len(lines)), junk)
    _agree(spec, fmt, lines)


def test_runs_of_a_partition_keep_their_keys_and_errors() -> None:
    spec = SPECS[1]  # pk S, sk N
    lines = [
        b'{"Item":{"pk":{"S":"p"},"sk":{"N":"1"}}}',
        b'{"Item":{"pk":{"S":"p"},"sk":{"N":"2"},"x":{"S":"y"}}}',
        b'{"Item":{"pk":{"S":"p"}}}',  # same partition, no sort key
        b'{"Item":{"pk":{"S":"p"},"sk":{"S":"2"}}}',  # same partition, wrong sort type
        b'{"Item":{"pk":{"S":"p"},"sk":{"N":"02.0"}}}',  # normalised: sk 2 again
        b'{"Item":{"pk":{"N":"1"},"sk":{"N":"1"}}}',  # wrong partition type
        b'{"Item":{"pk":{"S":"q"},"sk":{"N":"1"}}}',
        b"not json",
    ]
    rows, errors, count, _ = _agree(spec, "DYNAMODB_JSON", lines)
    assert count == 8
    assert [index for _, index, _, _ in errors] == [3, 4, 6, 8]
    assert len({hk for hk, _, _, _ in rows}) == 2
    assert rows[1][:2] == rows[2][:2]  # sk 2 and 02.0: the same stored key


def test_stored_blobs_are_the_same_bytes_for_binary_items() -> None:
    """Items stored with marshal (binaries, sets): the reused partition value must share no
    object with the next item, or marshal's back-references, so the blob's bytes, differ."""
    spec = SPECS[2]  # pk B, sk S
    lines = [
        encode_json_item(
            {"pk": {"B": b"partition-" * 3}, "sk": {"S": f"s{i}"}, "b": {"BS": [b"x"]}}
        )
        for i in range(3)
    ]
    rows, errors, _, _ = _agree(spec, "DYNAMODB_JSON", lines)
    assert not errors
    assert len(rows) == 3
    spec = SPECS[1]  # pk S, sk N
    lines = [
        encode_json_item({"pk": {"S": "partition" * 3}, "sk": {"N": str(i)}, "s": {"SS": ["a"]}})
        for i in range(3)
    ]
    _agree(spec, "DYNAMODB_JSON", lines)


_LINE_TEXT = st.sampled_from([b"", b" ", b"\t", b"\r", b"{}", b"x", b"a b", b"\xff\xfe", b"z" * 40])


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(_LINE_TEXT, max_size=25),
    end=st.booleans(),
    size=st.integers(1, 64),
    gz=st.booleans(),
)
def test_blocks_give_the_lines_of_the_object(
    tmp_path: Path, texts: list[bytes], end: bool, size: int, gz: bool
) -> None:
    """iter_blocks + block_lines: the same numbered non-blank lines (each with its end of
    line) as iterating over the object, for any block size (lines longer than a block too)."""
    data = b"\n".join(texts) + (b"\n" if end and texts else b"")
    path = tmp_path / ("o.gz" if gz else "o")
    path.write_bytes(gzip.compress(data) if gz else data)
    compression = "GZIP" if gz else "NONE"
    with open_source(path, compression) as raw:
        expected = [(i, line) for i, line in enumerate(raw, 1) if line.strip()]
    got = []
    blocks = list(iter_blocks([("k", path)], compression, size))
    for index, (key, number, block) in enumerate(blocks):
        assert key == "k"
        assert isinstance(block, bytes)
        assert block.endswith(b"\n") or index == len(blocks) - 1  # whole lines
        got.extend(block_lines(number, block))
    assert got == expected


def test_an_unreadable_object_ends_with_its_message(tmp_path: Path) -> None:
    """A cut gzip object: the whole lines read before the fault, then the object's message;
    the next object is read as usual."""
    whole = gzip.compress(b"".join(b"line %d\n" % i for i in range(20_000)))
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "ok.gz").write_bytes(gzip.compress(b"a\n\nb"))
    objects = [("cut", tmp_path / "cut.gz"), ("ok", tmp_path / "ok.gz")]
    blocks = list(iter_blocks(objects, "GZIP", 1000))
    cut = [b for b in blocks if b[0] == "cut"]
    assert isinstance(cut[-1][2], str)
    assert cut[-1][2].startswith("cannot read the object")
    lines = [line for _, n, b in cut[:-1] if isinstance(b, bytes) for line in block_lines(n, b)]
    assert lines
    assert lines == [(i + 1, b"line %d\n" % i) for i in range(len(lines))]
    ok = [
        line
        for key, n, b in blocks
        if key == "ok" and isinstance(b, bytes)
        for line in block_lines(n, b)
    ]
    assert ok == [(1, b"a\n"), (3, b"b")]


def test_sort_values_seen_before_keep_their_encoding() -> None:
    """Sort values repeat from one partition to the next: their encodings are kept, and a
    value of another type, or none, is still refused."""
    spec = SPECS[1]  # pk S, sk N
    lines = [
        encode_json_item({"pk": {"S": f"p{p}"}, "sk": {"N": str(s)}, "n": {"SS": ["a"]}})
        for p in range(3)
        for s in (0, 1, 12, 100)
    ]
    lines += [
        b'{"Item":{"pk":{"S":"q"},"sk":{"S":"12"}}}',  # the payload of a kept N, as an S
        b'{"Item":{"pk":{"S":"q"},"sk":{"N":"12.0"}}}',  # normalised: 12 again
        b'{"Item":{"pk":{"S":"r"},"sk":{"N":"12"}}}',
        b'{"Item":{"pk":{"S":"r"}}}',
    ]
    rows, errors, _, _ = _agree(spec, "DYNAMODB_JSON", lines)
    assert [index for _, index, _, _ in errors] == [13, 16]
    assert len({rk for _, rk, _, _ in rows}) == 4
    assert rows[12][1] == rows[13][1] == rows[2][1]


def test_the_sort_values_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importworker, "_SORT_VALUES", 5)
    spec = SPECS[1]
    lines = [encode_json_item({"pk": {"S": "p"}, "sk": {"N": str(s % 13)}}) for s in range(40)]
    rows, errors, _, _ = _agree(spec, "DYNAMODB_JSON", lines)
    assert not errors
    assert len(rows) == 40


def test_the_size_a_shape_knows_is_the_items() -> None:
    """Lines of one shape: the size comes from the shape and the strings' lengths, or from
    plain_item_size where a string is escaped or not ASCII, or a name comes twice."""
    spec = SPECS[1]  # pk S, sk N
    lines = [
        f'$ion_1_0 {{Item:{{pk:"p{i}",sk:{i}.,s:"{text}",m:{{a:"b",c:1.5}},l:[1,"x"]}}}}\n'
        for i, text in enumerate(["", "abc", 'q\\"uote', "tab\\t", "é", "x" * 500, "y"])
    ]
    lines += [
        '$ion_1_0 {Item:{pk:"p",sk:1.,a:"x",a:"yy"}}\n',  # a name twice: the last value
        '$ion_1_0 {Item:{pk:"p",sk:2.,a:"xyz",a:"y"}}\n',
        '$ion_1_0 {Item:{pk:"p",sk:3.,s:"' + "z" * (400 * 1024) + '"}}\n',  # too large
    ]
    rows, errors, _, _ = _agree(spec, "ION", [line.encode() for line in lines])
    assert [index for _, index, _, _ in errors] == [10]
    assert len(rows) == 9
