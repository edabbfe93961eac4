"""The DynamoDB-compatible HTTP endpoint: ``open_server()`` and the socket-free ``Dispatcher``."""

from __future__ import annotations

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
