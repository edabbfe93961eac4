"""streamkit: Amazon DynamoDB's event-driven stack as an asyncio library, CLI and local server."""

from __future__ import annotations

from streamkit import errors as errors
from streamkit.clock import Clock as Clock, SystemClock as SystemClock
from streamkit.engine import Engine as Engine, Table as Table
from streamkit.mappings.app import App as App
from streamkit.mappings.current import current_engine as current_engine
from streamkit.runtime import Runtime as Runtime, open_runtime as open_runtime
from streamkit.streams import open_engine as open_engine

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
    "open_runtime",
]
