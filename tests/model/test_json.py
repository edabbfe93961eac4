"""Tests for streamkit.model.json: AttributeValues <-> DynamoDB JSON (base64 binaries)."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, strategies as st

from streamkit.errors import SerializationException
from streamkit.model.attributes import validate_item, values_equal
from streamkit.model.json import (
    binaries_to_text,
    decode_b64,
    decode_binary,
    encode_b64,
    encode_binary,
    json_default,
)
from streamkit.model.native import from_attribute_value, from_item, to_item
from tests.strategies import attribute_values, items

# What the wire can carry: any JSON value (a request body, after orjson.loads).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["B", "BS", "S", "M", "L", "x"]), children, max_size=3)
    ),
    max_leaves=20,
)


class TestBase64:
    @given(st.binary(max_size=64))
    def test_round_trip(self, data: bytes) -> None:
        text = encode_b64(data)
        assert text == base64.b64encode(data).decode("ascii")
        assert decode_b64(text) == data

    def test_bytes_likes(self) -> None:
        assert encode_b64(bytearray(b"hi")) == encode_b64(memoryview(b"hi")) == "aGk="

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("abc", "Base64 encoded length is expected a multiple of 4 bytes but found: 3"),
            ("ab!=", "Invalid Base64 value for a binary attribute"),
            ("YQ==YQ==", "Invalid Base64 value for a binary attribute"),
            ("=YQ=", "Invalid Base64 value for a binary attribute"),
            ("é" * 4, "Invalid Base64 value for a binary attribute"),
        ],
    )
    def test_bad_text(self, text: str, message: str) -> None:
        with pytest.raises(SerializationException) as caught:
            decode_b64(text)
        assert caught.value.message == message

    @given(st.text(max_size=16) | st.text("AQ=+/!", max_size=16))
    def test_garbage_gives_serialization_exception(self, text: str) -> None:
        try:
            data = decode_b64(text)
        except SerializationException:
            return
        assert base64.b64decode(text, validate=True) == data


class TestWalks:
    @given(json_values)
    def test_decode_binary_garbage(self, value: Any) -> None:
        """Any JSON gives a result or SerializationException, and the input is left alone."""
        before = copy.deepcopy(value)
        with contextlib.suppress(SerializationException):
            decode_binary(value)
        assert value == before

    @given(items())
    def test_wire_round_trip(self, item: dict[str, Any]) -> None:
        body = orjson.dumps({"Item": item}, default=json_default)
        assert json.loads(body) == {"Item": encode_binary(item)}
        assert decode_binary(orjson.loads(body)) == {"Item": item}

    def test_decode_binary_of_any_depth_orjson_parses(self) -> None:
        # orjson parses 1,000 levels; a recursive walk ran out of stack at ~330 (a 500 over HTTP).
        body = b'{"b":{"B":"AA=="},"x":' + b"[" * 1000 + b'{"B":"AQ=="}' + b"]" * 1000 + b"}"
        decoded = decode_binary(orjson.loads(body))
        inner = decoded["x"]
        for _ in range(1000):
            (inner,) = inner
        assert decoded["b"] == {"B": b"\0"}
        assert inner == {"B": b"\1"}

    def test_bytes_members_are_kept(self) -> None:
        assert decode_binary({"BS": [b"a", "Yg=="]}) == {"BS": [b"a", b"b"]}

    def test_json_default_refuses_other_types(self) -> None:
        with pytest.raises(TypeError):
            json_default(object())


class TestBinariesToText:
    @given(items())
    def test_same_as_the_generic_walk(self, item: dict[str, Any]) -> None:
        expected = encode_binary(item)
        owned = copy.deepcopy(item)
        assert binaries_to_text(owned) is owned
        assert owned == expected

    def test_shared_value_is_converted_once(self) -> None:
        shared: dict[str, Any] = {"B": b"k"}
        keys: dict[str, Any] = {"pk": shared}
        image: dict[str, Any] = {"pk": shared, "bs": {"BS": [b"a"]}}
        binaries_to_text(keys)
        binaries_to_text(image)
        assert keys == {"pk": {"B": "aw=="}}
        assert image == {"pk": {"B": "aw=="}, "bs": {"BS": ["YQ=="]}}


class TestRoundTrip:
    @given(items())
    def test_native_to_wire_and_back(self, item: dict[str, Any]) -> None:
        """native -> AV -> wire JSON -> AV -> native is the identity."""
        native = from_item(item)
        wire = orjson.dumps(to_item(native), default=json_default)
        back = validate_item(decode_binary(orjson.loads(wire)))
        assert all(values_equal(back[k], v) for k, v in item.items())
        assert from_item(back) == native

    @given(attribute_values())
    def test_native_reads_base64_text_too(self, value: dict[str, Any]) -> None:
        as_json = binaries_to_text({"v": copy.deepcopy(value)})["v"]
        assert from_attribute_value(as_json) == from_attribute_value(value)

    @pytest.mark.parametrize("value", ["a", {}, {"S": "a", "N": "1"}, ["S", "a"]])
    def test_not_an_attribute_value(self, value: Any) -> None:
        with pytest.raises(TypeError, match="not an AttributeValue"):
            from_attribute_value(value)

    def test_bad_base64_in_an_image(self) -> None:
        with pytest.raises(SerializationException):
            from_attribute_value({"B": "abc"})
