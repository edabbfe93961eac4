"""The table engine: DynamoDB's API over the SQLite store."""

from __future__ import annotations

from streamkit.engine.engine import Engine as Engine, open_engine as open_engine
from streamkit.engine.resource import Table as Table

__all__ = ["Engine", "Table", "open_engine"]
