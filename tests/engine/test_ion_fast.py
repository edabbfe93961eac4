"""The fast Ion line reader (s3files.fast_ion_value) against the full one (slow_ion_value).

The fast reader may decline any line (None: the full reader then reads it), but a value it
returns must be exactly the full reader's, and it must never return one for a line the full
reader refuses.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streamkit.engine import s3files
from streamkit.engine.s3files import (
    LineError,
    decode_ion_line,
    decode_ion_sized,
    encode_ion_item,
    fast_ion_value,
    slow_ion_value,
)
from streamkit.model.attributes import AttributeValue, plain_item_size
from tests.strategies import items

_BENCH_LINE = '$ion_1_0 {Item:{pk:"p0000848",sk:0.,payload:"xxx",n:593600.,m:{a:"b",c:1.5}}}\n'


def _agrees(line: str) -> AttributeValue | None:
    """Check the fast reader against the full one on ``line``; return the fast answer."""
    fast = fast_ion_value(line)
    assert fast_ion_value(line) == fast  # a shape's second line: by its template
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
    "line",
    ["$ion_1_0 {]Item:{}}", "{Item:{a:1.,]b:2.}}", "{Item:{,a:1.}}", "{Item:{a:1.,}}",
     "$ion_1_0 {Item:{true}Item:true}}", "{Item:{a:1,null}b:2}}"],
)  # fmt: skip
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


def test_lines_of_one_shape_each_read_their_own_values() -> None:
    """A shape's template is made once; each line's strings and numbers go into it."""
    first = fast_ion_value('$ion_1_0 {Item:{pk:"a",n:12.,l:[3,"x",-4.5],m:{b:"c",d:9}}}')
    second = fast_ion_value('$ion_1_0 {Item:{pk:"zz",n:98.,l:[7,"yy",-6.5],m:{b:"",d:1}}}')
    assert first == {"M": {"Item": {"M": {
        "pk": {"S": "a"}, "n": {"N": "12"},
        "l": {"L": [{"N": "3"}, {"S": "x"}, {"N": "-4.5"}]},
        "m": {"M": {"b": {"S": "c"}, "d": {"N": "9"}}},
    }}}}  # fmt: skip
    assert second == {"M": {"Item": {"M": {
        "pk": {"S": "zz"}, "n": {"N": "98"},
        "l": {"L": [{"N": "7"}, {"S": "yy"}, {"N": "-6.5"}]},
        "m": {"M": {"b": {"S": ""}, "d": {"N": "1"}}},
    }}}}  # fmt: skip


@pytest.mark.parametrize(
    ("canonical", "other"),
    [("{Item:{a:10.}}", "{Item:{a:01.}}"), ("{Item:{a:1.5}}", "{Item:{a:1.0}}"),
     ("{Item:{a:[0,1]}}", "{Item:{a:[0,01]}}"), ("{Item:{a:-20}}", "{Item:{a:-02}}")],
)  # fmt: skip
def test_a_number_that_is_not_canonical_is_another_shape(canonical: str, other: str) -> None:
    assert _agrees(canonical) is not None
    assert fast_ion_value(other) is None
    _agrees(other)


def test_the_shapes_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template is made on a shape's second line, and for at most _MAX_SHAPES shapes."""
    monkeypatch.setattr(s3files, "_SHAPES", {})
    monkeypatch.setattr(s3files, "_SEEN", set())
    monkeypatch.setattr(s3files, "_MAX_SHAPES", 3)
    for width in range(1, 12):
        line = "{Item:{" + ",".join("a" * (i + 1) + f":{i + 1}" for i in range(width)) + "}}"
        assert _agrees(line) is not None
        assert len(s3files._SHAPES) <= 3
    # full: the first shapes are kept (their lines sized), new ones translated line by line
    assert decode_ion_sized("{Item:{a:7}}")[1] == 1 + 2
    for _ in range(2):
        assert decode_ion_sized("{Item:{b:7}}") == ({"b": {"N": "7"}}, None)
    assert len(s3files._SHAPES) == 3


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=3), st.data())
def test_lines_with_other_digits_agree(item: dict[str, Any], data: st.DataObject) -> None:
    """A line read (its shape kept), then the same line with digits changed: the same shape
    when no digit becomes or stops being 0, another one otherwise."""
    line = encode_ion_item(item).decode()
    _agrees(line)
    digits = [at for at, char in enumerate(line) if char.isdigit()]
    chars = list(line)
    for at in data.draw(st.lists(st.sampled_from(digits), max_size=4)) if digits else ():
        chars[at] = data.draw(st.sampled_from("0123456789"))
    _agrees("".join(chars))


def test_a_field_name_with_digits_is_read_as_it_is() -> None:
    # found by test_mutated_lines_agree: the shape of "I9tem" is that of "I1tem"
    assert _agrees("{Item:{a1:1,b0:2}}") == {
        "M": {"Item": {"M": {"a1": {"N": "1"}, "b0": {"N": "2"}}}}
    }
    assert _agrees("{Item:{a9:1,b0:2}}") == {
        "M": {"Item": {"M": {"a9": {"N": "1"}, "b0": {"N": "2"}}}}
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=3), st.data())
def test_a_size_from_the_shape_is_plain_item_size(
    item: dict[str, Any], data: st.DataObject
) -> None:
    line = encode_ion_item(item).decode()
    chars = list(line)
    digits = [at for at, char in enumerate(line) if char.isdigit()]
    for at in data.draw(st.lists(st.sampled_from(digits), max_size=3)) if digits else ():
        chars[at] = data.draw(st.sampled_from("0123456789"))
    for text in (line, line, "".join(chars), line):  # the second line on: a known shape
        try:
            read, size = decode_ion_sized(text)
        except LineError:
            continue
        if size is not None:
            assert size == plain_item_size(dict(read))
