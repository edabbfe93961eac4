"""The error of a command line that cannot be run (in its own module: ``streamkit serve``'s
start needs it, not :mod:`streamkit.cli.inputs`' JSON and Decimal parsing)."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A command line that cannot be turned into a request; the CLI exits with status 2."""
