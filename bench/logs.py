"""Logging cost per call: what one handler invocation's log line costs, on and off.

Usage: python bench/logs.py [--calls 20000] [--repeats 5]

- baseline: structlog's filtering bound logger with the event's level off (the library's
  loggers before they went through the standard logging module).
- off, unguarded: a streamkit logger (streamkit.logs.get_logger) with the level off.
- off, guarded: the same behind ``log.isEnabledFor(level)``, as the shard processor does for
  its per-invocation line.
- on, JSON: the line enabled and rendered by the CLI's JSON formatter into a discarded stream.
Figures are microseconds per call, medians over the repeats (best of 3 timings each).
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import timeit
from collections.abc import Callable

import structlog

from streamkit.cli.logs import formatter
from streamkit.logs import get_logger

FIELDS = {
    "mapping": "audit",
    "shard_id": "shardId-00000001700000000000-1a2b3c4d",
    "batch_size": 1,
    "first_sequence_number": "100000000000000000001",
    "last_sequence_number": "100000000000000000001",
    "attempt": 1,
    "duration_ms": 0.125,
    "request_id": "8c9d3f62-5d4e-4f0a-9a57-3c1f1b6a2d11",
}


def _measure(fn: Callable[[], None], calls: int, repeats: int) -> float:
    runs = [min(timeit.repeat(fn, number=calls, repeat=3)) / calls * 1e6 for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    old = structlog.wrap_logger(
        None, wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )
    off = get_logger("streamkit.bench.off")
    logging.getLogger("streamkit.bench.off").setLevel(logging.WARNING)
    on = get_logger("streamkit.bench.on")
    target = logging.getLogger("streamkit.bench.on")
    target.setLevel(logging.INFO)
    target.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(formatter("json"))
    target.addHandler(handler)

    def baseline() -> None:
        old.info("batch_invoked", **FIELDS, outcome="ok")

    def unguarded() -> None:
        off.info("batch_invoked", **FIELDS, outcome="ok")

    def guarded() -> None:
        if off.isEnabledFor(logging.INFO):
            off.info("batch_invoked", **FIELDS, outcome="ok")

    def enabled() -> None:
        handler.stream.seek(0)
        on.info("batch_invoked", **FIELDS, outcome="ok")

    for name, fn in [
        ("baseline (structlog filtering, off)", baseline),
        ("off, unguarded", unguarded),
        ("off, guarded", guarded),
        ("on, JSON line", enabled),
    ]:
        print(f"{name:38} {_measure(fn, args.calls, args.repeats):7.2f} us/call")


if __name__ == "__main__":
    main()
