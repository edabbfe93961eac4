"""ClientRequestTokens of TransactWriteItems: which tokens were used, with what request, until when.

The table is created on first use (``CREATE TABLE IF NOT EXISTS``), inside the transaction that
records the first token, so it needs no schema migration. Every function runs on the writer
thread inside the calling operation's savepoint: a transaction that is cancelled takes its
token row with it, so only completed transactions are remembered.
"""

from __future__ import annotations

import sqlite3

__all__ = ["lookup", "remember"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS sk_request_tokens ("
    "token TEXT PRIMARY KEY, digest BLOB NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
)


def lookup(conn: sqlite3.Connection, token: str, now: float) -> bytes | None:
    """Forget tokens that expired by ``now``; return the request digest stored for ``token``."""
    conn.execute(_DDL)
    conn.execute("DELETE FROM sk_request_tokens WHERE expires <= ?", (now,))
    row = conn.execute("SELECT digest FROM sk_request_tokens WHERE token = ?", (token,)).fetchone()
    return None if row is None else bytes(row[0])


def remember(conn: sqlite3.Connection, token: str, digest: bytes, expires: float) -> None:
    """Record that ``token`` completed a request with ``digest``, valid until ``expires``."""
    conn.execute(
        "INSERT OR REPLACE INTO sk_request_tokens(token, digest, expires) VALUES (?, ?, ?)",
        (token, digest, expires),
    )
