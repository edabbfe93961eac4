"""Time to Live: the background sweeper that deletes expired items. Imports streams and below."""

from __future__ import annotations

from streamkit.ttl.sweeper import run_ttl_sweeper as run_ttl_sweeper, sweep_once as sweep_once

__all__ = ["run_ttl_sweeper", "sweep_once"]
