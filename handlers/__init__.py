"""Ready-made stream handlers, built only on streamkit's public API.

Each module offers a handler factory, a ``make_app(...)`` that registers it on a table with
sensible mapping options, and a module-level ``app`` configured from environment variables, so
``streamkit run handlers.<module>:app`` works as it is (see docs/handlers-catalog.md):

- :mod:`handlers.archive`: append expired (TTL-deleted) items to a JSON Lines file.
- :mod:`handlers.totals`: keep per-customer totals of an orders table in a derived table.
- :mod:`handlers.search`: keep a SQLite FTS5 full-text index of one attribute, with ``search()``.
- :mod:`handlers.notify`: send a notification for every new item, through a pluggable sender.

The modules are imported on demand (``handlers.totals``), so importing this package configures
nothing.
"""

from __future__ import annotations

__all__: list[str] = []
