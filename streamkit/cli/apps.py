"""Loading users' apps named as ``MODULE:APP`` on the command line."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streamkit.cli.usage import UsageError
from streamkit.errors import ConfigurationError

if TYPE_CHECKING:
    from streamkit.mappings.app import App

__all__ = ["load_apps"]


def load_apps(specs: Sequence[str]) -> App | None:
    """Import each ``MODULE:APP`` and merge them into one App; None when none are named.

    The working directory is importable, as with ``python -m``.

    Raises:
        UsageError: a spec is malformed, its module cannot be imported, or it names no App.
    """
    if not specs:
        return None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from streamkit.cli.logs import configure_structlog
    from streamkit.mappings.app import App  # loaded only when apps are named

    configure_structlog()  # an app's own structlog loggers log as the command's do

    merged = App()
    for spec in specs:
        module_name, sep, attribute = spec.partition(":")
        if not sep or not module_name or not attribute:
            raise UsageError(f"expected MODULE:APP, got {spec!r}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"cannot import {module_name}: {exc}") from None
        app = getattr(module, attribute, None)
        if not isinstance(app, App):
            raise UsageError(f"{spec} is not a streamkit.App")
        try:
            merged.include(app)
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from None
    return merged
