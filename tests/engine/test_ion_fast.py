"""The fast Ion line reader (s3files.fast_ion_value) against the full one (slow_ion_value).

The fast reader may decline any line (None: the full reader then reads it), but a value it
returns must be exactly the full reader's, and it must never return one for a line the full
reader refuses.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streamkit.engine.s3files import (
    LineError,
    decode_ion_line,
    encode_ion_item,
    fast_ion_value,
    slow_ion_value,
)
from streamkit.model.attributes import AttributeValue
from tests.strategies import items

_BENCH_LINE = '$ion_1_0 {Item:{pk:"p0000848",sk:0.,payload:"xxx",n:593600.,m:{a:"b",c:1.5}}}\n'


def _agrees(line: str) -> AttributeValue | None:
    """Check the fast reader against the full one on ``line``; return the fast answer."""
    fast = fast_ion_value(line)
    try:
        slow: AttributeValue | None = slow_ion_value(line)
    except (ValueError, RecursionError):  # LineError is a ValueError
        slow = None
    if fast is not None:
        assert slow is not None, f"the fast reader read a line the full one refuses: {line!r}"
        assert fast == slow, line
        assert list(_names(fast)) == list(_names(slow)), line  # field order too
    return fast


def _names(value: Any) -> Any:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield name
            yield from _names(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _names(inner)


def test_the_export_shapes_take_the_fast_path() -> None:
    assert _agrees(_BENCH_LINE) is not None
    for line in (
        '$ion_1_0 {Item:{a:[1.,"x",true,null,{},[]],b:{},c:false,"d":1.}}',  # quoted name: slow
        "$ion_1_0 {Item:{a:-0.25,b:10,c:0.,d:-7.,e:[-1.5,[0.5]]}}",
        '{Item:{a:"tab\\t quote\\" slash\\/ back\\\\",b:null}}',
    ):
        _agrees(line)
    assert _agrees("$ion_1_0 {Item:{a:-0.25,b:10,c:0.,l:[-1.5,[0.5],{x:2.}]}}") is not None


@pytest.mark.parametrize(
    "line", ["$ion_1_0 {]Item:{}}", "{Item:{a:1.,]b:2.}}", "{Item:{,a:1.}}", "{Item:{a:1.,}}"]
)
def test_a_stray_character_where_a_name_goes_is_not_read(line: str) -> None:
    # found by test_mutated_lines_agree: quoting the name took the "]" into it
    assert fast_ion_value(line) is None
    _agrees(line)
    assert decode_ion_line(_BENCH_LINE)["m"] == {"M": {"a": {"S": "b"}, "c": {"N": "1.5"}}}


def test_lines_it_leaves_to_the_full_reader() -> None:
    for line in (
        "$ion_1_0 {Item:{a:1.50}}",  # not canonical
        "$ion_1_0 {Item:{a:-0.}}",  # negative zero
        '$ion_1_0 {Item:{a:"\\u0041"}}',  # \u escapes
        '$ion_1_0 {Item:{a:$dynamodb_SS::["x"]}}',  # sets
        "$ion_1_0 {Item:{a:{{aGk=}}}}",  # blobs
        "$ion_1_0 {Item: {a:1.}}",  # whitespace between tokens
        "$ion_1_0 {Item:{a:1e3}}",  # a float: the full reader's error
        "$ion_1_0 {Item:{a:1.}} trailing",
        "$ion_1_0 {Item:{a:1.,}}",
        "$ion_1_0 {Item:{a:1.a:2.}}",
        "$ion_1_0 {Item:{a:" + "1" * 40 + "}}",  # more than 38 digits
        '$ion_1_0 {Item:{a:"x\x00"}}',
    ):
        assert fast_ion_value(line) is None, line
        _agrees(line)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=3))
def test_random_items_agree(item: dict[str, Any]) -> None:
    _agrees(encode_ion_item(item).decode())


_ION_CHARS = st.sampled_from(
    [*"{}[],:\"'\\ \t\n.-+_$019aeEdtrufalsn", "true", "false", "null", "Item:", "::", "\x00"]
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ION_CHARS, max_size=40).map("".join))
def test_garbage_agrees(text: str) -> None:
    _agrees(text)
    _agrees("$ion_1_0 {Item:{" + text + "}}")
    _agrees("{Item:{a:" + text + "}}")


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=2), st.data())
def test_mutated_lines_agree(item: dict[str, Any], data: st.DataObject) -> None:
    """A valid line with a few characters changed, inserted or removed."""
    line = encode_ion_item(item).decode()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(line)))
        what = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        char = data.draw(_ION_CHARS)
        if what == "insert":
            line = line[:at] + char + line[at:]
        elif what == "delete":
            line = line[:at] + line[at + 1 :]
        else:
            line = line[:at] + char + line[at + 1 :]
    _agrees(line)


def test_a_blob_that_is_not_ascii_is_a_bad_line() -> None:
    """Was a ValueError the import did not count as a bad line (it ended the object)."""
    with pytest.raises(LineError, match="bad base64"):
        decode_ion_line("$ion_1_0 {Item:{a:{{é}}}}")
