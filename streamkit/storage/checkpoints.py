"""Mapping checkpoints: how far each event-source mapping has processed each shard.

One row per (mapping, stream, shard): the sequence number of the last record that is done
(invoked successfully, filtered out, or sent to the failure destination), and whether the
shard is finished (closed and read to its end). Written in the store's transactions like every
other change, so after a crash a mapping resumes where its last commit left it.
"""

from __future__ import annotations

import sqlite3

from streamkit.storage import changes

__all__ = [
    "all_rows",
    "ensure_schema",
    "load",
    "mark_done",
    "pending",
    "replace",
    "save",
    "shard_head",
]


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the checkpoints table if this database has none yet."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS sk_checkpoints ("
        "mapping TEXT NOT NULL, stream_arn TEXT NOT NULL, shard_id TEXT NOT NULL, "
        "seq TEXT, done INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (mapping, stream_arn, shard_id)) WITHOUT ROWID"
    )


def load(
    conn: sqlite3.Connection, mapping: str, stream_arn: str
) -> dict[str, tuple[str | None, bool]]:
    """Return shard id -> (checkpointed sequence number, finished) for one mapping's stream."""
    rows = conn.execute(
        "SELECT shard_id, seq, done FROM sk_checkpoints WHERE mapping = ? AND stream_arn = ?",
        (mapping, stream_arn),
    )
    return {shard: (seq, bool(done)) for shard, seq, done in rows}


def save(
    conn: sqlite3.Connection, mapping: str, stream_arn: str, shard_id: str, seq: str | None
) -> None:
    """Record that ``mapping`` has processed ``shard_id`` up to and including ``seq``."""
    conn.execute(
        "INSERT INTO sk_checkpoints (mapping, stream_arn, shard_id, seq) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (mapping, stream_arn, shard_id) DO UPDATE SET seq = excluded.seq",
        (mapping, stream_arn, shard_id, seq),
    )


def mark_done(conn: sqlite3.Connection, mapping: str, stream_arn: str, shard_id: str) -> None:
    """Record that ``mapping`` has read ``shard_id`` to the end of the closed shard."""
    conn.execute(
        "INSERT INTO sk_checkpoints (mapping, stream_arn, shard_id, done) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (mapping, stream_arn, shard_id) DO UPDATE SET done = 1",
        (mapping, stream_arn, shard_id),
    )


def shard_head(conn: sqlite3.Connection, stream_arn: str, shard_id: str) -> int | None:
    """Return the sequence number (as stored) of a shard's newest record, or None if none."""
    row = conn.execute(
        "SELECT sh.sid FROM sk_shards sh JOIN sk_streams st ON st.stid = sh.stid "
        "WHERE st.arn = ? AND sh.shard_id = ?",
        (stream_arn, shard_id),
    ).fetchone()
    return None if row is None else changes.last_seq(conn, row[0])


def all_rows(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None, bool]]:
    """Return every checkpoint as (mapping, stream ARN, shard id, sequence number, finished)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sk_checkpoints'"
    ).fetchone()
    if exists is None:  # no mapping has run on this database
        return []
    rows = conn.execute(
        "SELECT mapping, stream_arn, shard_id, seq, done FROM sk_checkpoints "
        "ORDER BY mapping, stream_arn, shard_id"
    )
    return [(m, a, s, q, bool(d)) for m, a, s, q, d in rows]


def pending(conn: sqlite3.Connection, stream_arn: str, shard_id: str, after: int | None) -> int:
    """Return how many of a shard's records come after ``after`` (stored form; None: all)."""
    row = conn.execute(
        "SELECT sh.sid, sh.trimmed_to FROM sk_shards sh JOIN sk_streams st ON st.stid = sh.stid "
        "WHERE st.arn = ? AND sh.shard_id = ?",
        (stream_arn, shard_id),
    ).fetchone()
    if row is None:
        return 0
    sid, trimmed_to = row  # records up to trimmed_to are trimmed, even inside a kept block
    return changes.count_after(conn, sid, max(-1 if after is None else after, trimmed_to))


def replace(
    conn: sqlite3.Connection,
    mapping: str,
    stream_arn: str,
    positions: dict[str, tuple[str | None, bool]],
) -> None:
    """Set one mapping's checkpoints on a stream to ``positions`` (shard -> (seq, finished)),
    dropping its other shards' rows there."""
    ensure_schema(conn)
    conn.execute(
        "DELETE FROM sk_checkpoints WHERE mapping = ? AND stream_arn = ?", (mapping, stream_arn)
    )
    conn.executemany(
        "INSERT INTO sk_checkpoints (mapping, stream_arn, shard_id, seq, done) "
        "VALUES (?, ?, ?, ?, ?)",
        [(mapping, stream_arn, sid, seq, int(done)) for sid, (seq, done) in positions.items()],
    )
