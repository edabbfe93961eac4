"""``python -P .../streamkit/engine/import_main.py``: one of ImportTable's worker processes.

Run as a script by its path, not with ``-m``: ``-m streamkit.engine.import_main`` would first
import the package ``streamkit.engine``, whose ``__init__`` imports the whole engine (about
0.2 s of CPU in each worker, 0.2 us an item of a 1,000,000-item import with two workers).
A worker needs only a few of its modules (:mod:`streamkit.engine.importworker` and what it
imports), so the package is registered here as a bare package of the same folder, its
``__init__`` not run, before importing them. ``-P`` keeps this folder off ``sys.path``; the
engine puts the folder holding this streamkit first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys
import types


def _bare_engine_package() -> None:
    """Register ``streamkit.engine`` without running its ``__init__`` (if not imported)."""
    import streamkit

    if "streamkit.engine" in sys.modules:
        return
    package = types.ModuleType("streamkit.engine")
    package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
    package.__package__ = "streamkit.engine"
    sys.modules["streamkit.engine"] = package
    streamkit.engine = package


if __name__ == "__main__":
    _bare_engine_package()
    from streamkit.engine.importworker import main

    main()
