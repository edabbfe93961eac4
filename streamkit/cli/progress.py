"""A progress bar for long CLI jobs: a live line on a terminal, silence otherwise.

Log lines and the bar share stderr but never a line: the CLI's log handler wraps each write in
:func:`suspended`, which clears the bar's line first and redraws the bar below the log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Progress", "suspended"]

#: Erase the whole line and return to its start (ANSI "erase in line" 2).
_CLEAR = "\r\x1b[2K"

#: The bar on screen now, if any (a CLI command shows at most one at a time).
_shown: Progress | None = None


@contextmanager
def suspended() -> Iterator[None]:
    """Clear the bar on screen (if any) for the body, which writes a line; redraw it after."""
    bar = _shown
    if bar is None:
        yield
        return
    bar._erase()
    try:
        yield
    finally:
        bar._draw()


class Progress:
    """Shows ``<label> N records (R/s)`` on one redrawn line while the stream is a terminal; with
    a known total, a bar, ``done/total`` and the time left (ETA)."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO,
        total: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._stream = stream
        self._total = total
        self._monotonic = monotonic
        self._start = monotonic()
        self._last = float("-inf")
        self._text = ""
        self._done = 0
        self._live = stream.isatty()

    def update(self, done: int) -> None:
        """Redraw with ``done`` items finished (at most ten times a second)."""
        global _shown
        if not self._live:
            return
        self._done = done
        now = self._monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self._text = self._render(done, now - self._start)
        _shown = self
        self._draw()

    def close(self) -> None:
        """Draw the last count and end the line (it stays on screen)."""
        global _shown
        if _shown is self:
            _shown = None
            self._text = self._render(self._done, self._monotonic() - self._start)
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def _render(self, done: int, elapsed: float) -> str:
        rate = done / max(elapsed, 1e-9)
        if not self._total:
            return f"{self._label} {done:,} records ({rate:,.0f}/s)"
        width = 30
        filled = int(width * min(done, self._total) / self._total)
        bar = "#" * filled + "-" * (width - filled)
        left = max(0, self._total - done)
        eta = _duration(left / rate) if rate > 0 else "?"
        return f"{self._label} [{bar}] {done:,}/{self._total:,} ({rate:,.0f}/s, ETA {eta})"

    def _draw(self) -> None:
        self._stream.write(_CLEAR + self._text)
        self._stream.flush()

    def _erase(self) -> None:
        self._stream.write(_CLEAR)
        self._stream.flush()


def _duration(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for the ETA."""
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
