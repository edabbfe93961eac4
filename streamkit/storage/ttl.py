"""SQL for Time to Live: per-table settings, the indexed ``ttl`` column, expired-key lookups.

Every items table has a ``ttl REAL`` column with a partial index (``WHERE ttl IS NOT NULL``);
the write path fills it with the Number value of the table's TTL attribute, so finding expired
items is an index range scan, never a table scan.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass

from streamkit.model.schema import TableSpec
from streamkit.storage import select
from streamkit.storage.codec import load_item
from streamkit.storage.tables import items_table, ttl_value
from streamkit.storage.versions import versions_table

__all__ = [
    "TtlSetting",
    "clear_column",
    "delete_setting",
    "expired_keys",
    "expired_keys_owned",
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


def fill_column(
    conn: sqlite3.Connection,
    spec: TableSpec,
    attribute: str,
    *,
    after: tuple[bytes, bytes] | None,
    limit: int,
) -> tuple[bytes, bytes] | None:
    """Compute the ``ttl`` column of up to ``limit`` items past key ``after`` (None: the first).

    TTL was just enabled, so every existing item needs the pass once (later writes fill the
    column themselves). Returns the last key done, or None when the table is done. The step
    does nothing and returns None unless the stored setting still enables ``attribute``: a
    disable (or another attribute) that landed between two steps ends the pass.
    """
    row = conn.execute("SELECT attribute, enabled FROM sk_ttl WHERE name = ?", (spec.name,))
    if row.fetchone() != (attribute, 1):
        return None
    table = items_table(spec)
    rows = select.select_rows(conn, table, select.TABLE_COLUMNS, (), after=after)
    found = list(itertools.islice(rows, limit))
    updates = []
    for blob, _, hk, rk in found:
        value = ttl_value(load_item(blob), attribute)
        if value is not None:
            updates.append((value, hk, rk))
    conn.executemany(f"UPDATE {table} SET ttl = ? WHERE hk = ? AND rk = ?", updates)
    if len(found) < limit:
        return None
    _, _, last_hk, last_rk = found[-1]
    return last_hk, last_rk


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


def expired_keys_owned(
    conn: sqlite3.Connection,
    spec: TableSpec,
    *,
    before: float,
    not_before: float,
    limit: int,
    region: str,
) -> list[tuple[bytes, bytes]]:
    """:func:`expired_keys` of a global table, keeping only those ``region`` expires: the
    keys whose last write was ``region``'s (the hidden version's region). A key never
    versioned (written before the table went global: no row here, or the ``(0, source)`` a
    back-fill copied it with), or last written by a region that is no longer a replica,
    belongs to the first replica region by name. So exactly one region
    deletes each expired item, and its deletion replicates as a plain delete, as in DynamoDB.
    """
    regions = sorted(r for r, _ in spec.replicas)
    first = regions[0] if regions else region
    try:
        marks = ", ".join("?" * len(regions)) or "NULL"
        return conn.execute(
            f"SELECT i.hk, i.rk FROM {items_table(spec)} AS i "
            f"LEFT JOIN {versions_table(spec)} AS v ON v.hk = i.hk AND v.rk = i.rk "
            "WHERE i.ttl IS NOT NULL AND i.ttl < ? AND i.ttl >= ? "
            f"AND (CASE WHEN v.at_us > 0 AND v.region IN ({marks}) THEN v.region ELSE ? END) = ? "
            "ORDER BY i.ttl LIMIT ?",
            (before, not_before, *regions, first, region, limit),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc) or "sk_versions_" not in str(exc):
            raise
    # no write since the table went global: every item is unversioned, the first region's
    return (
        expired_keys(conn, spec, before=before, not_before=not_before, limit=limit)
        if region == first
        else []
    )
