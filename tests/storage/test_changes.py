"""The stored form of a stream record's keys, images and size."""

from __future__ import annotations

import marshal
from typing import Any

import pytest
from hypothesis import given, strategies as st

from streamkit.errors import InternalServerError
from streamkit.storage.changes import load_record_data
from tests.strategies import items

KEYS = {"pk": {"S": "a"}}
OLD = {"pk": {"S": "a"}, "n": {"N": "1"}}
NEW = {"pk": {"S": "a"}, "b": {"B": b"\x00"}}


def test_records_load() -> None:
    assert load_record_data(marshal.dumps((KEYS, OLD, NEW, 12))) == (KEYS, OLD, NEW, 12)


def test_records_written_before_sizes_were_stored() -> None:
    assert load_record_data(marshal.dumps((KEYS, None, NEW))) == (KEYS, None, NEW, None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
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
def test_truncated_records_fail_cleanly(item: dict[str, Any], data: st.DataObject) -> None:
    blob = marshal.dumps((KEYS, None, item, 1))
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(InternalServerError, match="Corrupt stream record"):
        load_record_data(blob[:cut])
