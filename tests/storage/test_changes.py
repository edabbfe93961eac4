"""The stored form of a stream record's keys, images and size."""

from __future__ import annotations

import marshal
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import InternalServerError
from streamkit.storage.changes import dump_record_data, load_record_data
from streamkit.storage.codec import dump_item
from tests.strategies import items

KEYS = {"pk": {"S": "a"}}
OLD = {"pk": {"S": "a"}, "n": {"N": "1"}}
NEW: dict[str, Any] = {"pk": {"S": "a"}, "b": {"B": b"\x00"}}


def test_records_load() -> None:
    assert load_record_data(marshal.dumps((KEYS, OLD, NEW, 12))) == (KEYS, OLD, NEW, 12)


def test_records_written_before_sizes_were_stored() -> None:
    assert load_record_data(marshal.dumps((KEYS, None, NEW))) == (KEYS, None, NEW, None)


def test_records_are_json_joined_from_the_stored_images() -> None:
    old = dump_item(OLD)
    data = dump_record_data(KEYS, OLD, OLD, 20, blobs=(old, None))
    lengths = b",%d,%d]" % (len(b'{"pk":{"S":"a"}}'), len(old) - 1)  # keys', old image's
    assert data == b'[{"pk":{"S":"a"}},' + old[1:] + b"," + old[1:] + b",20" + lengths
    assert load_record_data(data) == (KEYS, OLD, OLD, 20)


def test_records_with_binary_values_stay_marshal() -> None:
    data = dump_record_data(KEYS, OLD, NEW, 12, blobs=(dump_item(OLD), dump_item(NEW)))
    assert data[:1] != b"["
    assert marshal.loads(data) == (KEYS, OLD, NEW, 12)
    binary_key = {"pk": {"B": b"\x01"}}
    assert marshal.loads(dump_record_data(binary_key, None, None, 3)) == (binary_key, None, None, 3)


@given(items(max_depth=3), items(max_depth=3), st.integers(0, 800_000), st.booleans())
def test_records_round_trip(
    old: dict[str, Any], new: dict[str, Any], size: int, blob: bool
) -> None:
    blobs: tuple[bytes | None, bytes | None] = (dump_item(old), dump_item(new))
    if not blob:
        blobs = (None, None)
    for first, second in ((old, new), (None, new), (old, None), (None, None)):
        data = dump_record_data(KEYS, first, second, size, blobs=blobs)
        assert load_record_data(data) == (KEYS, first, second, size)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[",
        b'[{"pk":{"S":"a"}},null]',
        b'[{"pk":{"S":"a"}},null,null,"12"]',
        b'[{"pk":{"S":"a"}},[],null,12]',
        b'[{"pk":{"S":"a"}},null,null,12,13]',
        b"\x00\x01",
        marshal.dumps([1, 2, 3]),
        marshal.dumps(({}, {}, {}, "x")),
        marshal.dumps(({}, None, None, 1, 2)),
        marshal.dumps("abcd"),
    ],
)
def test_corrupt_records(data: bytes) -> None:
    with pytest.raises(InternalServerError, match="Corrupt stream record"):
        load_record_data(data)


# Not st.binary(): five bytes of marshal can declare a list of 2**31 elements, which marshal
# allocates (16 GB) before it finds the data missing. Rows are only ever written by us, so the
# corruption to survive is a torn or truncated one.
@given(items(max_depth=2), st.data())
@pytest.mark.parametrize("dump", [marshal.dumps, lambda r: dump_record_data(*r)])
def test_truncated_records_fail_cleanly(
    dump: Any, item: dict[str, Any], data: st.DataObject
) -> None:
    blob = dump((KEYS, None, item, 1))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(InternalServerError, match="Corrupt stream record"):
        load_record_data(blob[:cut])
