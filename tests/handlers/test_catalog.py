"""The module-level apps load the way ``streamkit run handlers.<module>:app`` loads them."""

from __future__ import annotations

from streamkit.cli.apps import load_apps

SPECS = [
    "streamkit_handlers.archive:app",
    "streamkit_handlers.totals:app",
    "streamkit_handlers.search:app",
    "streamkit_handlers.notify:app",
]


def test_every_module_app_loads_and_they_combine() -> None:
    app = load_apps(SPECS)
    assert app is not None
    assert [(m.name, m.table) for m in app.mappings] == [
        ("archive_expired", "sessions"),
        ("customer_totals", "orders"),
        ("search_index", "articles"),
        ("notify_new_items", "users"),
    ]
    assert all(m.deserialize for m in app.mappings)


def test_importing_the_package_configures_nothing() -> None:
    import streamkit_handlers

    assert streamkit_handlers.__all__ == []
