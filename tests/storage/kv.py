"""A one-table key/value schema for store tests: setup, a put and a full read."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def setup_kv(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")


def put_kv(k: str, v: int) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, v))
        return v

    return run


def all_kv(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT k, v FROM kv").fetchall())
