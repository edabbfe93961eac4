"""The table engine: DynamoDB's API over the SQLite store.

:func:`streamkit.open_engine` opens one (with :func:`open_engine_store` and
:func:`load_catalog`, then builds the :class:`Engine` with its Streams client).
"""

from __future__ import annotations

from streamkit.engine.engine import (
    Engine as Engine,
    load_catalog as load_catalog,
    open_engine_store as open_engine_store,
    open_only as open_only,
)
from streamkit.engine.resource import Table as Table

__all__ = ["Engine", "Table", "load_catalog", "open_engine_store", "open_only"]
