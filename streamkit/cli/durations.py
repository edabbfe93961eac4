"""Durations on the command line: ``800ms``, ``1.5s``, or plain seconds (``2``).

A module of its own, importing nothing heavy: ``streamkit serve`` parses
``--replication-delay`` with it before the server loads.
"""

from __future__ import annotations

import math
import re
from typing import Final

from streamkit.cli.usage import UsageError

__all__ = ["parse_duration"]

_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*", re.ASCII)
#: a day: a longer delay is a typo, not a simulation
_MAX_DELAY: Final = 86400.0


def parse_duration(text: str) -> float:
    """Return the seconds in ``800ms``, ``1.5s`` or ``2`` (plain seconds).

    Raises:
        UsageError: not such a duration, or longer than a day.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise UsageError(f"expected a duration like 800ms, 1.5s or 2 (seconds), got {text!r}")
    number = float(match.group(1))
    seconds = number / 1000 if match.group(2) == "ms" else number
    if not math.isfinite(seconds) or seconds > _MAX_DELAY:
        raise UsageError(f"a duration of at most a day ({_MAX_DELAY:g}s), got {text!r}")
    return seconds
