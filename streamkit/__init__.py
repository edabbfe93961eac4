"""streamkit: Amazon DynamoDB's event-driven stack as an asyncio library, CLI and local server.

The public names load on first use (PEP 562 ``__getattr__``): ``import streamkit`` imports
nothing else, so the CLI's ``--help``, a usage error or a program that needs only
``streamkit.errors`` does not pay for the engine, the mappings or the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamkit import errors as errors
    from streamkit.clock import Clock as Clock, SystemClock as SystemClock
    from streamkit.engine import Engine as Engine, Table as Table
    from streamkit.mappings.app import App as App
    from streamkit.mappings.current import current_engine as current_engine
    from streamkit.runtime import Runtime as Runtime, open_runtime as open_runtime
    from streamkit.streams import open_engine as open_engine, open_regions as open_regions

__version__ = "0.1.0"

__all__ = [
    "App",
    "Clock",
    "Engine",
    "Runtime",
    "SystemClock",
    "Table",
    "__version__",
    "current_engine",
    "errors",
    "open_engine",
    "open_regions",
    "open_runtime",
]

#: public name -> the module that defines it (imported when the name is first read)
_LAZY = {
    "App": "streamkit.mappings.app",
    "Clock": "streamkit.clock",
    "Engine": "streamkit.engine",
    "Runtime": "streamkit.runtime",
    "SystemClock": "streamkit.clock",
    "Table": "streamkit.engine",
    "current_engine": "streamkit.mappings.current",
    "open_engine": "streamkit.streams",
    "open_regions": "streamkit.streams",
    "open_runtime": "streamkit.runtime",
}


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use; also a subpackage read as an attribute
    (``streamkit.engine`` after a bare ``import streamkit``), as when this file imported all."""
    where = _LAZY.get(name)
    if where is not None:
        value = getattr(importlib.import_module(where), name)
    elif name.startswith("_"):
        raise AttributeError(f"module 'streamkit' has no attribute {name!r}")
    else:
        try:
            value = importlib.import_module(f"streamkit.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"streamkit.{name}":
                raise
            raise AttributeError(f"module 'streamkit' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
