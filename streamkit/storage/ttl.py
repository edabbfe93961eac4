"""SQL for Time to Live: per-table settings, the indexed ``ttl`` column, expired-key lookups.

Every items table has a ``ttl REAL`` column with a partial index (``WHERE ttl IS NOT NULL``);
the write path fills it with the Number value of the table's TTL attribute, so finding expired
items is an index range scan, never a table scan.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from streamkit.model.schema import TableSpec
from streamkit.storage.codec import load_item
from streamkit.storage.tables import items_table, ttl_value

__all__ = [
    "TtlSetting",
    "clear_column",
    "delete_setting",
    "expired_keys",
    "fill_column",
    "load_settings",
    "save_setting",
]


@dataclass(frozen=True, slots=True)
class TtlSetting:
    """A table's TTL configuration as stored."""

    attribute: str | None
    enabled: bool
    changed_at: float


def load_settings(conn: sqlite3.Connection) -> dict[str, TtlSetting]:
    """Return every table's TTL setting, by table name."""
    return {
        name: TtlSetting(attribute, bool(enabled), changed_at)
        for name, attribute, enabled, changed_at in conn.execute(
            "SELECT name, attribute, enabled, changed_at FROM sk_ttl"
        )
    }


def save_setting(conn: sqlite3.Connection, table: str, setting: TtlSetting) -> None:
    """Insert or replace a table's TTL setting."""
    conn.execute(
        "INSERT OR REPLACE INTO sk_ttl(name, attribute, enabled, changed_at) VALUES (?, ?, ?, ?)",
        (table, setting.attribute, int(setting.enabled), setting.changed_at),
    )


def delete_setting(conn: sqlite3.Connection, table: str) -> None:
    """Forget a table's TTL setting (DeleteTable)."""
    conn.execute("DELETE FROM sk_ttl WHERE name = ?", (table,))


def fill_column(conn: sqlite3.Connection, spec: TableSpec, attribute: str) -> int:
    """Compute the ``ttl`` column of every existing item (TTL was just enabled); return count.

    This is the one full pass TTL makes, once per enable; sweeps only use the index.
    """
    table = items_table(spec)
    updates = []
    for hk, rk, blob in conn.execute(f"SELECT hk, rk, item FROM {table}"):
        value = ttl_value(load_item(blob), attribute)
        if value is not None:
            updates.append((value, hk, rk))
    conn.executemany(f"UPDATE {table} SET ttl = ? WHERE hk = ? AND rk = ?", updates)
    return len(updates)


def clear_column(conn: sqlite3.Connection, spec: TableSpec) -> None:
    """Empty the ``ttl`` column (TTL was disabled)."""
    conn.execute(f"UPDATE {items_table(spec)} SET ttl = NULL WHERE ttl IS NOT NULL")


def expired_keys(
    conn: sqlite3.Connection, spec: TableSpec, *, before: float, not_before: float, limit: int
) -> list[tuple[bytes, bytes]]:
    """Return up to ``limit`` keys whose TTL lies in ``[not_before, before)``, oldest first."""
    return conn.execute(
        f"SELECT hk, rk FROM {items_table(spec)} WHERE ttl IS NOT NULL AND ttl < ? "
        "AND ttl >= ? ORDER BY ttl LIMIT ?",
        (before, not_before, limit),
    ).fetchall()
