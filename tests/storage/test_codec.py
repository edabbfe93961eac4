"""Tests for streamkit.storage.codec: order-preserving key encoding and the item blob."""

from __future__ import annotations

import marshal
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, strategies as st

from streamkit.errors import InternalServerError
from streamkit.model.attributes import Item
from streamkit.storage.changes import items_equal, stored_items_equal
from streamkit.storage.codec import (
    decode_key,
    dump_item,
    dump_item_json,
    encode_key,
    item_fragment,
    item_json,
    items_differ,
    load_item,
)
from tests.strategies import items, key_values, numbers, reordered, texts

EDGE_NUMBERS = [
    "-" + "9" * 38 + "0" * 88,
    "-1" + "0" * 125,
    "-1000",
    "-999",
    "-100",
    "-12.5",
    "-12.25",
    "-12",
    "-1.01",
    "-1",
    "-0.99",
    "-0.1",
    "-0." + "0" * 129 + "1",
    "0",
    "0." + "0" * 129 + "1",
    "0." + "0" * 128 + "11",
    "0.1",
    "0.10000000000000000000000000000000000001",
    "0.99",
    "1",
    "1.01",
    "9",
    "10",
    "11",
    "12",
    "12.25",
    "12.5",
    "100",
    "101",
    "12345678901234567890123456789012345678",
    "1" + "0" * 125,
    "9" * 38 + "0" * 88,
]


class TestKeyEncoding:
    def test_edge_numbers_sort_in_order(self) -> None:
        assert sorted(EDGE_NUMBERS, key=Decimal) == EDGE_NUMBERS
        encoded = [encode_key({"N": n}) for n in EDGE_NUMBERS]
        assert sorted(encoded) == encoded
        assert len(set(encoded)) == len(encoded)
        assert [decode_key(e, "N") for e in encoded] == [{"N": n} for n in EDGE_NUMBERS]

    def test_numbers_are_short(self) -> None:
        assert max(len(encode_key({"N": n})) for n in EDGE_NUMBERS) <= 22

    @pytest.mark.parametrize("type_", ["S", "N", "B"])
    @given(data=st.data())
    def test_round_trip(self, type_: str, data: st.DataObject) -> None:
        value = data.draw(key_values(type_))
        encoded = encode_key(value)
        assert isinstance(encoded, bytes)
        assert decode_key(encoded, type_) == value

    @given(numbers(), numbers())
    def test_number_order(self, a: str, b: str) -> None:
        left, right = encode_key({"N": a}), encode_key({"N": b})
        assert (left < right) == (Decimal(a) < Decimal(b))
        assert (left == right) == (Decimal(a) == Decimal(b))

    @given(texts(), texts())
    def test_string_order(self, a: str, b: str) -> None:
        left, right = encode_key({"S": a}), encode_key({"S": b})
        assert (left < right) == (a < b)  # Python compares str by code point

    @given(st.binary(), st.binary())
    def test_binary_order(self, a: bytes, b: bytes) -> None:
        assert (encode_key({"B": a}) < encode_key({"B": b})) == (a < b)

    def test_unsupported_types(self) -> None:
        with pytest.raises(ValueError, match="S, N or B"):
            encode_key({"BOOL": True})
        with pytest.raises(ValueError, match="S, N or B"):
            decode_key(b"", "SS")

    @pytest.mark.parametrize(
        "data", [b"", b"\x02", b"\x05\x01\x02", b"\x00\x80\xdf", b"\x02\x80\xff"]
    )
    def test_corrupt_numbers(self, data: bytes) -> None:
        with pytest.raises(ValueError, match="not an encoded number"):
            decode_key(data, "N")


class TestItemBlob:
    def test_round_trip_keeps_bytes_and_sets(self) -> None:
        item: Item = {
            "b": {"B": b"\x00\xff"},
            "bs": {"BS": [b"", b"\x01"]},
            "ss": {"SS": ["b", "a"]},
            "ns": {"NS": ["2", "-1.5"]},
            "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
        }
        blob = dump_item(item)
        assert blob[0] == 1
        loaded = load_item(blob)
        assert loaded == item
        assert type(loaded["b"]["B"]) is bytes
        assert loaded["ss"]["SS"] == ["b", "a"]  # order preserved exactly

    def test_items_without_binary_are_stored_as_their_json(self) -> None:
        item: Item = {"s": {"S": "é"}, "n": {"N": "-1.5"}, "m": {"M": {"b": {"BOOL": True}}}}
        blob = dump_item(item)
        assert blob == b"\x02" + orjson.dumps(item)
        assert load_item(blob) == item
        fragment = item_fragment(blob)
        assert fragment is not None
        assert orjson.dumps([fragment]) == b"[" + orjson.dumps(item) + b"]"

    def test_values_json_would_change_are_not_stored_as_json(self) -> None:
        class Text(str):
            pass

        with pytest.raises(ValueError, match="unmarshallable"):  # marshal refuses it too
            dump_item({"s": {"S": Text("x")}})

    def test_binary_items_have_no_fragment(self) -> None:
        assert item_fragment(dump_item({"b": {"B": b"x"}})) is None

    def test_text_json_refuses_falls_back_to_marshal(self) -> None:
        item: Item = {"s": {"S": "\ud800"}}  # a lone surrogate: valid str, not valid UTF-8
        blob = dump_item(item)
        assert blob[0] == 1
        assert load_item(blob) == item

    def test_marshal_rows_written_before_json_still_load(self) -> None:
        item: Item = {"a": {"S": "x"}, "n": {"NS": ["1"]}}
        assert load_item(b"\x01" + marshal.dumps(item, 4)) == item

    @given(items(max_depth=3))
    def test_round_trip(self, item: dict[str, Any]) -> None:
        assert load_item(dump_item(item)) == item

    @pytest.mark.parametrize("item", [{"a": {"S": "x"}}, {"a": {"B": b"x"}}])
    def test_loads_from_memoryview(self, item: Item) -> None:
        assert load_item(memoryview(dump_item(item))) == item  # type: ignore[arg-type]

    @given(st.binary())
    def test_json_garbage_loads_as_a_map_or_fails_cleanly(self, data: bytes) -> None:
        try:
            loaded = load_item(b"\x02" + data)
        except InternalServerError as exc:
            message = str(exc)
        else:
            assert isinstance(loaded, dict)
            return
        assert message.startswith("Corrupt item record")

    # Marshal rows get truncations, not st.binary(): five bytes of marshal can declare a list of
    # 2**31 elements, which marshal allocates (16 GB) before it finds the data missing.
    @given(items(max_depth=2), st.data())
    def test_truncated_blobs_fail_cleanly(self, item: dict[str, Any], data: st.DataObject) -> None:
        item["b"] = {"B": b"\x00"}  # stored with marshal
        blob = dump_item(item)
        cut = data.draw(st.integers(0, len(blob) - 1))
        with pytest.raises(InternalServerError, match="Corrupt item record"):
            load_item(blob[:cut])

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x02abc",
            b"\x02[1]",
            b"\x02",
            b"\x01",
            b"\x01\xff\xff",
            b"\x01" + marshal.dumps([1, 2]),
            b"{}",
        ],
    )
    def test_corrupt_blobs(self, data: bytes) -> None:
        with pytest.raises(InternalServerError, match="Corrupt item record"):
            load_item(data)


@given(items(max_depth=3), items(max_depth=3))
def test_items_differ_only_when_they_do(a: Item, b: Item) -> None:
    same = reordered(a)
    assert not items_differ(dump_item(a), dump_item(same))
    if items_differ(dump_item(a), dump_item(b)):
        assert not items_equal(a, b)


def test_items_differ_needs_two_json_blobs() -> None:
    small, large = {"a": {"S": "x"}}, {"a": {"S": "xy"}}
    assert items_differ(dump_item(small), dump_item(large))
    assert not items_differ(b"\x01" + marshal.dumps(small, 4), dump_item(large))
    assert not items_differ(None, dump_item(large))
    assert item_json(dump_item(small)) == b'{"a":{"S":"x"}}'
    assert item_json(dump_item({"b": {"B": b"1"}})) is None


def _blob_or_none(item: Item, *, stored: bool) -> bytes | None:
    return dump_item(item) if stored else None


@given(items(max_depth=3), items(max_depth=3), st.booleans(), st.booleans())
def test_stored_items_equal_is_items_equal(
    a: Item, b: Item, old_stored: bool, new_stored: bool
) -> None:
    """Deciding from the stored blobs answers as items_equal does, for equal items written in
    another order (maps' members, sets' elements, the attributes), for different ones, and
    with a blob missing."""
    same = reordered(a)
    for old, new in ((a, same), (same, a), (a, a), (a, b), (b, a)):
        old_blob = _blob_or_none(old, stored=old_stored)
        new_blob = _blob_or_none(new, stored=new_stored)
        assert stored_items_equal(old, new, old_blob, new_blob) == items_equal(old, new)
    assert stored_items_equal(a, same, dump_item(a), dump_item(same))


@pytest.mark.parametrize(
    ("old", "new", "equal"),
    [
        # no list or set: Python's equality decides (maps without order)
        ({"a": {"S": "x"}, "b": {"N": "1"}}, {"b": {"N": "1"}, "a": {"S": "x"}}, True),
        (
            {"a": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}},
            {"a": {"M": {"y": {"N": "2"}, "x": {"N": "1"}}}},
            True,
        ),
        ({"a": {"S": "x"}, "b": {"N": "1"}}, {"a": {"S": "x"}, "b": {"N": "2"}}, False),
        ({"a": {"S": "x"}}, {"a": {"N": "1"}}, False),
        # sets and lists: items_equal decides (set order does not count, list order does)
        ({"a": {"SS": ["x", "y"]}}, {"a": {"SS": ["y", "x"]}}, True),
        ({"a": {"NS": ["1", "2"]}}, {"a": {"NS": ["2", "1"]}}, True),
        ({"a": {"L": [{"N": "1"}, {"N": "2"}]}}, {"a": {"L": [{"N": "2"}, {"N": "1"}]}}, False),
        ({"a": {"L": [{"SS": ["x", "y"]}]}}, {"a": {"L": [{"SS": ["y", "x"]}]}}, True),
        # binary values are stored with marshal: items_equal decides
        ({"a": {"BS": [b"1", b"2"]}}, {"a": {"BS": [b"2", b"1"]}}, True),
        ({"a": {"B": b"1"}}, {"a": {"B": b"2"}}, False),
        # a "[" in a string only sends it the long way
        ({"a": {"S": "[x]"}, "b": {"S": "y"}}, {"b": {"S": "y"}, "a": {"S": "[x]"}}, True),
    ],
)
def test_stored_items_equal_cases(old: Item, new: Item, equal: bool) -> None:
    assert stored_items_equal(old, new, dump_item(old), dump_item(new)) is equal
    assert items_equal(old, new) is equal


def test_dump_item_json_is_the_stored_json() -> None:
    item = {"a": {"S": "x"}, "n": {"N": "1"}}
    assert dump_item_json(item) == item_json(dump_item(item)) == b'{"a":{"S":"x"},"n":{"N":"1"}}'
    assert dump_item_json({"b": {"B": b"1"}}) is None
