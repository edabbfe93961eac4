"""The DynamoDB-compatible HTTP endpoint: ``open_server()`` and the socket-free ``Dispatcher``.

Names load on first use (PEP 562 ``__getattr__``): ``streamkit serve`` does not import the
in-process test endpoints (:mod:`streamkit.server.local`, which needs :mod:`streamkit.testing`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamkit.server.app import (
        DEFAULT_DATA_DIR as DEFAULT_DATA_DIR,
        Server as Server,
        open_listener as open_listener,
        open_server as open_server,
    )
    from streamkit.server.http import Limits as Limits
    from streamkit.server.local import (
        open_harness_endpoint as open_harness_endpoint,
        open_sync_endpoint as open_sync_endpoint,
    )
    from streamkit.server.protocol import Dispatcher as Dispatcher

__all__ = [
    "DEFAULT_DATA_DIR",
    "Dispatcher",
    "Limits",
    "Server",
    "open_harness_endpoint",
    "open_listener",
    "open_server",
    "open_sync_endpoint",
]

_LAZY = {
    "DEFAULT_DATA_DIR": "streamkit.server.app",
    "Dispatcher": "streamkit.server.protocol",
    "Limits": "streamkit.server.http",
    "Server": "streamkit.server.app",
    "open_harness_endpoint": "streamkit.server.local",
    "open_listener": "streamkit.server.app",
    "open_server": "streamkit.server.app",
    "open_sync_endpoint": "streamkit.server.local",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'streamkit.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
