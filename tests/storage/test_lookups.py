"""Many-key reads: the UNION ALL lookups agree with one read per key, in few statements."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from streamkit.storage.lookups import CHUNK_SIZES, lookup_rows

STORED = 60  # keys 0..59 have rows; 60..119 have none


def _key(n: int) -> tuple[bytes, bytes]:
    return (n.to_bytes(2, "big"), b"" if n % 3 else b"\x01")


def _connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(
        'CREATE TABLE "t" (hk BLOB NOT NULL, rk BLOB NOT NULL, a INTEGER, b TEXT, '
        "PRIMARY KEY (hk, rk)) WITHOUT ROWID"
    )
    conn.executemany(
        'INSERT INTO "t" VALUES (?, ?, ?, ?)', [(*_key(n), n, f"b{n}") for n in range(STORED)]
    )
    return conn


CONN = _connection()


@settings(max_examples=200)
@given(st.lists(st.integers(0, 2 * STORED - 1), max_size=260))
def test_lookups_match_point_reads_in_key_order(numbers: list[int]) -> None:
    keys = [_key(n) for n in numbers]
    expected: list[tuple[bytes, bytes, int, str]] = []
    for hk, rk in keys:
        row = CONN.execute('SELECT hk, rk, a, b FROM "t" WHERE hk = ? AND rk = ?', (hk, rk))
        expected.extend(row)
    assert lookup_rows(CONN, '"t"', "a, b", keys) == expected
    assert len(expected) == sum(1 for n in numbers if n < STORED)


@pytest.mark.parametrize(
    ("count", "statements"), [(0, 0), (1, 1), (3, 2), (26, 2), (99, 6), (100, 1), (257, 5)]
)
def test_keys_go_in_the_largest_chunks_that_fit(count: int, statements: int) -> None:
    seen: list[str] = []
    CONN.set_trace_callback(seen.append)
    try:
        rows = lookup_rows(CONN, '"t"', "a", [_key(n % STORED) for n in range(count)])
    finally:
        CONN.set_trace_callback(None)
    assert len(rows) == count
    assert len(seen) == statements
    assert {s.count("UNION ALL") + 1 for s in seen} <= set(CHUNK_SIZES)


def test_sqlite_errors_reach_the_caller() -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        lookup_rows(CONN, '"missing"', "a", [_key(1)])
