"""Settings for the long-running processes the CLI owns: ``streamkit serve`` and ``run``."""

from __future__ import annotations

import gc
import os
import sys

__all__ = [
    "GEN0_THRESHOLD",
    "exit_despite_stuck_handlers",
    "quiet_gc",
    "raise_open_files_limit",
    "tune_gc",
]

GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Run the cyclic garbage collector rarely, and never again over what startup loaded.

    A request allocates hundreds of containers at once (a BatchWriteItem's parsed body and
    validated items), so CPython's first threshold of 700 net allocations ran a collection
    every request or two. Each promoted the requests in flight into the older generations,
    whose full collections then walked the ~35,000 objects startup had loaded. Time spent in
    the collector (``gc.callbacks``) in ``streamkit serve`` over a 5 s run at 16 in flight,
    before and after: BatchWriteItem 360 to 30 ms (~80 us a request, ~5% of its CPU),
    UpdateItem 199 to 34, PutItem 92 to 38; most of what is left ran during imports. Cyclic
    garbage (an exception and its traceback) now waits for up to 10,000 net allocations.

    Startup's garbage is frozen with the rest, not collected first: a full collection of the
    ~30,000 objects startup loaded took ~15 ms of CPU, on the way to the first request, to free
    ~2,000 objects (~0.3 MB, mostly the argparse tree of the command line) once.

    Only commands that own their process call this; a library user's process keeps its own
    settings.
    """
    quiet_gc()
    gc.freeze()


def quiet_gc() -> None:
    """Set the thresholds :func:`tune_gc` keeps before a command imports what it runs: at
    CPython's 700 its imports ran ~80 young collections and a handful of older ones."""
    gc.set_threshold(GEN0_THRESHOLD, 10, 10)


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft limit on open files toward ``wanted``, as far as the hard limit allows.

    Many systems start processes at a soft limit of 1,024 with a far higher hard one;
    ``streamkit serve`` caps its connections below the soft limit (see
    ``streamkit.server.http.FD_RESERVE``), so this lets ``--max-connections`` mean what it says.
    """
    if sys.platform == "win32":
        return
    import resource  # POSIX only

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def exit_despite_stuck_handlers(status: int) -> int:
    """Return ``status``, or end the process now if a sync handler's thread never returned.

    Python cannot stop a thread, and the interpreter waits for every worker thread before it
    exits: one handler stuck in a blocking call would keep ``streamkit run`` or ``serve``
    alive for ever after SIGTERM. Everything else is shut down by now (the store is closed,
    checkpoints are written), so the process ends without waiting, naming the handlers.
    """
    # main() calls this only once handlers may have run, so the mapping machinery is loaded
    from streamkit.mappings.invoke import stuck_handler_threads

    stuck = stuck_handler_threads()
    if not stuck:
        return status
    print(
        f"streamkit: {len(stuck)} handler thread(s) still running ({', '.join(stuck)}): "
        "exiting without waiting for them",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(status)
