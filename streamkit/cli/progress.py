"""A progress bar for long CLI jobs: a live counter on a terminal, silence otherwise."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Shows ``<label> N records (R/s)`` on one redrawn line while the stream is a terminal."""

    def __init__(self, label: str, *, stream: TextIO, total: int | None = None) -> None:
        self._label = label
        self._stream = stream
        self._total = total
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False
        self._live = stream.isatty()

    def update(self, done: int) -> None:
        """Redraw with ``done`` items finished (at most ten times a second)."""
        now = time.monotonic()
        if not self._live or now - self._last < 0.1:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-9)
        if self._total:
            width = 30
            filled = int(width * min(done, self._total) / self._total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self._label} [{bar}] {done}/{self._total} ({rate:,.0f}/s)"
        else:
            text = f"{self._label} {done:,} records ({rate:,.0f}/s)"
        self._stream.write("\r" + text)
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
