"""SQL for items: the many-key read agrees with one read per key."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings, strategies as st

from streamkit.model.schema import KeySpec, TableSpec
from streamkit.storage import tables as sql

SPEC = TableSpec(
    name="t",
    table_id="0f",
    key=KeySpec.of("pk", "S", "sk", "N"),
    attribute_types={"pk": "S", "sk": "N"},
    created=0.0,
)
STORED = 40  # keys 0..39 hold items; 40..79 hold none


def _key(n: int) -> tuple[bytes, bytes]:
    return (n.to_bytes(2, "big"), b"" if n % 3 else b"\x01")


def _connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    sql.migrate(conn)
    sql.create_table(conn, SPEC)
    for n in range(STORED):
        item = {"pk": {"S": str(n)}, "sk": {"N": "1"}, "x": {"S": "y" * n}}
        sql.put_row(conn, SPEC, *_key(n), item, 10 + n)
    return conn


CONN = _connection()


@settings(max_examples=200)
@given(st.lists(st.integers(0, 2 * STORED - 1), unique=True, max_size=120))
def test_many_key_read_matches_point_reads(numbers: list[int]) -> None:
    keys = [_key(n) for n in numbers]
    found = sql.get_sized_rows(CONN, SPEC, keys)
    expected = {}
    for key in keys:
        item, size = sql.get_sized_row(CONN, SPEC, *key)
        if item is not None:
            expected[key] = (item, size)
    assert found == expected
    assert len(found) == sum(1 for n in numbers if n < STORED)


def test_no_keys() -> None:
    assert sql.get_sized_rows(CONN, SPEC, []) == {}
