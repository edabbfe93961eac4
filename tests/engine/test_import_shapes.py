"""DYNAMODB_JSON lines sized by their shape (s3files.read_json_line) against the full path.

read_json_line may answer no size for any line (the worker then runs plain_item_size and,
if need be, validate_sized_item), but its Item, or its error, must be exactly
decode_json_line's, and a size it answers must be plain_item_size's of that Item. A shape's
size is worked out on its second line, so every line is read three times: the first time
(noted), the second (the size worked out from it) and the third (sized by the shape kept).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from streamkit.engine import s3files
from streamkit.engine.importworker import BadRecord, Row, prepare_item, prepare_lines
from streamkit.engine.s3files import (
    LineError,
    decode_json_line,
    encode_json_item,
    read_json_line,
)
from streamkit.errors import DynamoDBError, StreamkitError
from streamkit.model.attributes import MAX_ITEM_SIZE, plain_item_size
from streamkit.model.schema import KeySpec, TableSpec
from streamkit.storage.codec import dump_item, dump_item_json, load_item
from tests.strategies import items

_BENCH_LINE = (
    b'{"Item":{"pk":{"S":"p0005352"},"sk":{"N":"0"},"payload":{"S":"' + b"x" * 120 + b'"},'
    b'"n":{"N":"3746400"},"m":{"M":{"a":{"S":"b"},"c":{"N":"1.5"}}}}}\n'
)


def _full(line: bytes) -> tuple[Any, int | None] | str:
    """The full path: decode_json_line's Item and plain_item_size, or the error."""
    try:
        item = decode_json_line(line)
    except (StreamkitError, ValueError) as exc:  # LineError, JSONDecodeError, bad base64
        return f"{type(exc).__name__}: {exc}"
    return item, plain_item_size(item)


def _sized(line: bytes) -> tuple[Any, int | None, bytes | None] | str:
    try:
        read = read_json_line(line)
    except (StreamkitError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return read


def _agrees(line: bytes) -> int | None:
    """Check read_json_line against the full path on ``line`` read three times; return
    the size it gave the third time (None: none)."""
    full = _full(line)
    size = None
    for _ in range(3):
        sized = _sized(line)
        if isinstance(full, str) or isinstance(sized, str):
            assert sized == full, line
            continue
        item, size, text = sized
        assert type(item) is dict
        assert item == full[0], line
        assert list(item) == list(full[0]), line  # the names' order too
        if size is not None:
            assert size == full[1], line
        if text is not None:  # the stored JSON, taken from the line
            assert size is not None
            assert text == dump_item_json(item), line
    return size


def test_the_bench_line_is_sized_by_its_shape() -> None:
    assert _agrees(_BENCH_LINE) == 157
    assert read_json_line(_BENCH_LINE)[2] == _BENCH_LINE[8:-2]  # the Item's text
    other = _BENCH_LINE.replace(b"p0005352", b"p0009999").replace(b"3746400", b"9999900")
    assert read_json_line(other)[1] == 157  # same zeros: the same shape, sized at once
    longer = _BENCH_LINE.replace(b"x" * 120, b"y" * 300)
    assert read_json_line(longer)[1] == 157 + 180


@pytest.mark.parametrize(
    "line",
    [
        b'{"Item":{"a":{"S":"x"},"a":{"S":"yz"}}}',  # a name twice: the first value dropped
        b'{"Item":{"a":{"M":{"b":{"S":"x"},"b":{"N":"1"}}}}}',
        b'{"Item":{"a1":{"S":"x"},"a2":{"S":"y"}}}',  # a digit in a name: no size by shape
        b'{"Item":{"a1":{"S":"x"},"a1":{"S":"y"}}}',  # ... which is this line's shape too
        b'{"Item":{"a":{"S":"x\\"y"}}}',  # an escape: the string is part of the skeleton
        b'{"Item":{"a":{"S":"x\\u0041"},"b":{"N":"12"}}}',
        b'{"Item":{"\\u0061":{"S":"x"}}}',  # an escaped name
        '{"Item":{"a":{"S":"é"}}}'.encode(),  # not ASCII: the full path
        '{"Item":{"é":{"S":"x"}}}'.encode(),
        b'{"Item":{"a":{"S":"x\x01y"}}}',  # a control character: not JSON
        b'{"Item":{"a":{"S":"\xff"}}}',  # not UTF-8
        b'{"Item":{"a":{"B":"aGk="},"b":{"S":"B"}}}',  # a binary: not plain
        b'{"Item":{"a":{"B":"a"}}}',  # bad base64
        b'{"Item":{"a":{"S":"Bx"}}}',  # "B (decode_binary runs on the full path)
        b'{"Item":{"a":{"SS":["1","2"]}}}',
        b'{"Item":{"a":{"N":"10"},"b":{"N":"100"},"c":{"N":"0.5"},"d":{"N":"-0.05"}}}',
        b'{"Item":{"a":{"N":"1.50"}}}',  # not canonical
        b'{"Item":{"a":{"N":"-0"}}}',
        b'{"Item":{"a":{"N":"01"}}}',
        b'{"Item":{"a":{"N":"1e5"}}}',
        b'{"Item":{"a":{"N":12}}}',  # a JSON number
        b'{"Item":{"a":{"N":"' + b"1" * 38 + b'"}}}',
        b'{"Item":{"a":{"N":"' + b"1" * 39 + b'"}}}',  # too many digits
        b'{"Item":{"a":{"L":[{"S":"x"},{"N":"5"},{"BOOL":true},{"NULL":true}]}}}',
        b'{"Item":{"a":{"S":"x"},"":{"S":"y"}}}',  # an empty name
        b'{"Item":{"S":"x"}}',  # an item that is a string value
        b'{"Item":{"a":{"S":"x"}},"Item":{"b":{"S":"y"}}}',  # Item twice
        b'{"Item":{"a":{"S":"x"}},"Other":{"S":"y"}}',
        b'{"Keys":{"a":{"S":"x"}},"NewImage":{"a":{"S":"x"}}}',
        b'{"Item":[{"S":"x"}]}',
        b'[{"S":"x"}]',
        b'{"Item":{"a":{"S":"x"}}',  # cut short
        b"",
        b'{"Item":{"a":{"S":"x"}}}\r\n',
        b'{"Item":{"a":{"S":"x\\\\"}}}',  # an escaped backslash
        b'{"Item":{"a":{"S":"x\\"},"b":{"S":"y"}}}',  # ... and one that escapes a quote
        b'{"Item":{"a":{"S":"x\x7f"}}}',  # DEL: not escaped by orjson
        b'{"Item": {"a":{"S":"x"}}}',  # not as orjson writes it: sized, the text not taken
        b'{"Item":{"a": {"S":"x"}}}',
        b'{"Item":{"a":{"S":"x"}} }\n',
        b' {"Item":{"a":{"S":"x"}}} ',
        b'{"Item":{"a":{"S" : "x"}}}',  # spaces: the string is part of the skeleton
        b'{"Item":{"a":{"M":{"S":"x"}}}}',  # a map whose member S is not a value
        b'{"Item":{"a":{"M":{}},"b":{"L":[]}}}',
    ],
)
def test_lines_agree_with_the_full_path(line: bytes) -> None:
    _agrees(line)


def test_the_item_text_is_taken_when_orjson_writes_it_so() -> None:
    for line in (b'{"Item":{"a":{"S":"x"}} }\n', b'{"Item":{"a":{"S":"x"}}}'):
        for _ in range(2):
            read_json_line(line)
        assert read_json_line(line) == ({"a": {"S": "x"}}, 2, b'{"a":{"S":"x"}}')
    spaced = b'{"Item":{"a": {"S":"x"}}}'
    for _ in range(2):
        read_json_line(spaced)
    assert read_json_line(spaced) == ({"a": {"S": "x"}}, 2, None)


def test_a_size_past_the_limit_takes_the_full_path() -> None:
    line = b'{"Item":{"a":{"S":"' + b"x" * (MAX_ITEM_SIZE - 1) + b'"}}}'
    assert _agrees(line) == MAX_ITEM_SIZE
    longer = line.replace(b'"x', b'"xx')
    assert _agrees(longer) is None
    assert read_json_line(longer)[1] is None
    assert _full(longer) == (decode_json_line(longer), None)


def test_digits_in_names_of_one_shape_are_not_sized_by_it() -> None:
    """ "a1" and "a2" are the shape of "a1" and "a1": the shape gives no size."""
    for _ in range(3):
        assert read_json_line(b'{"Item":{"a1":{"S":"x"},"a2":{"S":"y"}}}')[1] is None
    assert _full(b'{"Item":{"a1":{"S":"x"},"a1":{"S":"y"}}}') == ({"a1": {"S": "y"}}, 3)


def test_the_shapes_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A size is worked out on a shape's second line, for at most _MAX_SHAPES shapes."""
    monkeypatch.setattr(s3files, "_JSON_SHAPES", {})
    monkeypatch.setattr(s3files, "_JSON_SEEN", set())
    monkeypatch.setattr(s3files, "_MAX_SHAPES", 3)
    for width in range(1, 12):
        line = '{"Item":{' + ",".join(f'"{"a" * (i + 1)}":{{"S":"x"}}' for i in range(width))
        _agrees((line + "}}").encode())
        assert len(s3files._JSON_SHAPES) <= 3
        assert len(s3files._JSON_SEEN) <= 3
    # full: the first shapes are kept (their lines sized), new ones are not
    assert read_json_line(b'{"Item":{"a":{"S":"yy"}}}')[1] == 1 + 2
    for _ in range(3):
        assert read_json_line(b'{"Item":{"b":{"S":"x"}}}')[:2] == ({"b": {"S": "x"}}, None)
    assert len(s3files._JSON_SHAPES) == 3


#: what a line's characters may become: digits (0 or not), quotes, escapes, structure,
#: letters that are type tags, characters that are not ASCII or not allowed in JSON strings
_MUTATIONS = st.sampled_from([*'0159-."\\{},:SNBaé\x01 ', "\\u0030", '"a":{"S":"b"},', "}}"])


@st.composite
def _mutated(draw: st.DrawFn, line: bytes) -> bytes:
    text = line.decode()
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        text = text[:at] + draw(_MUTATIONS) + text[at + cut :]
    return text.encode()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(items(max_depth=3), st.data())
def test_random_lines_agree(item: dict[str, Any], data: st.DataObject) -> None:
    """A line, then lines of its shape (its strings' text and digits 1-9 changed) and
    mutated lines (garbage included) agree with the full path."""
    line = encode_json_item(item)
    _agrees(line)
    strings = s3files._JSON_STRING.split(line)  # the text around the strings' text
    texts = st.text(st.characters(codec="ascii", exclude_characters='"\\'), max_size=8)
    for _ in range(data.draw(st.integers(1, 3))):
        same = []
        for at, part in enumerate(strings):
            if at:
                same.append(b'{"S":"' + data.draw(texts).encode() + b'"}')
            digits = bytes(
                ord(data.draw(st.sampled_from("123456789"))) if char in b"123456789" else char
                for char in part
            )
            same.append(digits)
        _agrees(b"".join(same))
    _agrees(data.draw(_mutated(line)))


_SPEC = TableSpec("tab", "id", KeySpec.of("pk", "S", "sk", "N"), {"pk": "S", "sk": "N"}, 0.0)


def _general(lines: list[tuple[int, bytes]]) -> Any:
    """prepare_lines line by line through decode_json_line and prepare_item."""
    rows: list[Row] = []
    errors: list[BadRecord] = []
    for index, line in lines:
        try:
            (hk, rk), item, size = prepare_item(_SPEC, decode_json_line(line))
        except (LineError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            errors.append(("k", index, len(line), str(exc)))
        except StreamkitError as exc:
            message = exc.message if isinstance(exc, DynamoDBError) else str(exc)
            errors.append(("k", index, len(line), message))
        else:
            rows.append((hk, rk, dump_item(item), size))
    return rows, errors, len(lines), sum(len(line) for _, line in lines)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_blocks_of_one_shape_agree(data: st.DataObject) -> None:
    """prepare_lines over blocks of bench-like lines (a few shapes, repeated), some mutated:
    the rows (sizes included) and errors of the full path."""
    lines = []
    for _ in range(data.draw(st.integers(1, 30))):
        pk = data.draw(st.sampled_from(["p1", "p2", "", "p0005352", "é"]))
        sk = data.draw(st.sampled_from(["0", "7", "10", "1.5", "01", "-3", "x"]))
        text = data.draw(st.text(st.characters(codec="utf-8"), max_size=6))
        line = (
            f'{{"Item":{{"pk":{{"S":"{pk}"}},"sk":{{"N":"{sk}"}},'
            f'"t":{{"S":{orjson.dumps(text).decode()}}},"m":{{"M":{{"a":{{"S":"b"}}}}}}}}}}\n'
        ).encode()
        if data.draw(st.integers(0, 5)) == 0:
            line = data.draw(_mutated(line))
        lines.append(line)
    numbered = list(enumerate(lines, 1))
    fast, general = prepare_lines(_SPEC, "DYNAMODB_JSON", "k", numbered), _general(numbered)
    assert _comparable(fast) == _comparable(general)


def _comparable(prepared: Any) -> Any:
    """Rows with an item stored with marshal (binary values) as the item it loads: marshal's
    bytes depend on its objects' reference counts (the same on 6674033, found by the test
    above); JSON rows, which a shape's line may take from its text, byte for byte."""
    rows, *rest = prepared
    rows = [
        (*row[:2], load_item(row[2]) if row[2][:1] == b"\x01" else row[2], row[3]) for row in rows
    ]
    return [rows, *rest]
