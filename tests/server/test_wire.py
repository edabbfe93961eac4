"""Tests for streamkit.server.wire.loads: the walk for binary values is skipped only when no
binary value can be in the body."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, strategies as st

from streamkit.errors import SerializationException
from streamkit.model.json import decode_binary, json_default
from streamkit.server import wire
from tests.strategies import items

# Request-like JSON: members named like attribute types (BOOL's "B..." among them).
_NAMES = st.sampled_from(["B", "BS", "BOOL", "S", "SS", "M", "L", "Item", "x"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_NAMES, children, max_size=3),
    max_leaves=20,
)


def _walked(body: bytes) -> Any:
    """What loads must return: the parsed body with every binary value decoded."""
    return decode_binary(orjson.loads(body))


def _same(body: bytes) -> None:
    try:
        expected = _walked(body)
    except SerializationException:
        with pytest.raises(SerializationException):
            wire.loads(body)
        return
    assert wire.loads(body) == expected


@given(st.dictionaries(_NAMES, json_values, max_size=4), st.booleans())
def test_loads_matches_the_full_walk(value: dict[str, Any], escaped: bool) -> None:
    # json.dumps(ensure_ascii=True) spells every non-ASCII character as a backslash-u escape
    body = json.dumps(value).encode() if escaped else orjson.dumps(value)
    _same(body)


@given(items())
def test_loads_of_items_matches_the_full_walk(item: dict[str, Any]) -> None:
    body = orjson.dumps({"TableName": "t", "Item": item}, default=json_default)
    _same(body)
    assert wire.loads(body) == {"TableName": "t", "Item": item}


@pytest.mark.parametrize(
    "body",
    [
        b'{"Item":{"b":{"B":"AQ=="},"f":{"BOOL":true}}}',
        b'{"Item":{"b":{"BS":["AQ==","Ag=="]},"f":{"BOOL":false}}}',
        b'{"Item":{"b":{"\\u0042":"AQ=="}}}',  # "B" spelt as an escape
        b'{"Item":{"b":{"\\u0042S":["AQ=="]}}}',
        b'{"Item":{"b":{"B" : "AQ=="}}}',
    ],
)
def test_binary_values_are_decoded_beside_bools(body: bytes) -> None:
    decoded = wire.loads(body)
    assert decoded == _walked(body)
    assert isinstance(next(iter(decoded["Item"]["b"].values())), bytes | list)
    assert decoded != orjson.loads(body)


def test_a_bool_alone_needs_no_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_walk(value: Any) -> Any:
        raise AssertionError("walked a body with no binary value")

    monkeypatch.setattr(wire, "decode_binary", no_walk)
    body = b'{"Item":{"f":{"BOOL":true},"s":{"S":"Bob"},"l":{"L":[{"BOOL":false}]}}}'
    assert wire.loads(body) == orjson.loads(body)


def test_bad_base64_beside_a_bool_is_refused() -> None:
    with pytest.raises(SerializationException):
        wire.loads(b'{"Item":{"f":{"BOOL":true},"b":{"B":"!"}}}')
