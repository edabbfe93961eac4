"""Ready-made stream handlers, built only on streamkit's public API.

Each module offers a handler factory, a ``make_app(...)`` that registers it on a table with
sensible mapping options, and a module-level ``app`` configured from environment variables, so
``streamkit run streamkit_handlers.<module>:app`` works as it is (see docs/handlers-catalog.md).
The package is installed with streamkit, under a name that cannot collide with a project's own
``handlers``:

- :mod:`streamkit_handlers.archive`: append expired (TTL-deleted) items to a JSON Lines file.
- :mod:`streamkit_handlers.totals`: keep per-customer totals of an orders table in a table.
- :mod:`streamkit_handlers.search`: keep a SQLite FTS5 full-text index of one attribute.
- :mod:`streamkit_handlers.notify`: send a notification for every new item (pluggable sender).

The modules are imported on demand (``streamkit_handlers.totals``), so importing this package
configures nothing.
"""

from __future__ import annotations

__all__: list[str] = []
