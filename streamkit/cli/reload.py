"""``--reload`` for ``streamkit run`` and ``serve``: restart the process when Python code changes.

The watching is watchfiles' (an optional dependency: ``pip install 'streamkit[reload]'``): this
process watches, and runs the same command line without ``--reload`` as a child, which gets
SIGINT (a clean shutdown: in-flight batches finish or are retried) and is started again after
a ``.py`` file under the watched folders changes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from streamkit.cli.inputs import UsageError

__all__ = ["run_with_reload"]


def run_with_reload(args: argparse.Namespace) -> int:
    """Run the command without ``--reload`` until Ctrl-C or SIGTERM, restarting it on changes.

    Raises:
        UsageError: watchfiles is not installed.
    """
    try:
        import watchfiles
    except ImportError:
        raise UsageError("--reload needs watchfiles: pip install 'streamkit[reload]'") from None
    argv = _without_reload(args.argv)
    folders = [str(Path(d).resolve()) for d in (args.reload_dir or [os.getcwd()])]
    command = shlex.join([sys.executable, "-m", "streamkit", *argv])
    print(f"streamkit: watching {', '.join(folders)} for changes to .py files", flush=True)

    def changed(changes: set[tuple[Any, str]]) -> None:
        names = ", ".join(sorted({os.path.relpath(path, folders[0]) for _, path in changes}))
        print(f"streamkit: {names} changed; restarting", file=sys.stderr, flush=True)

    watchfiles.run_process(
        *folders,
        target=command,
        target_type="command",
        callback=changed,
        watch_filter=watchfiles.PythonFilter(),
    )
    return 0


def _without_reload(argv: list[str]) -> list[str]:
    result: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--reload":
            continue
        elif arg == "--reload-dir":
            skip = True
        elif not arg.startswith("--reload-dir="):
            result.append(arg)
    return result
