"""Exception groups, seen through: the errors a task group (or nested ones) wraps.

anyio's task groups wrap what their tasks raise in :class:`BaseExceptionGroup`, nested once per
task group crossed; whoever reports or acts on the error wants the errors themselves.
"""

from __future__ import annotations

__all__ = ["leaves"]


def leaves(exc: BaseException) -> list[BaseException]:
    """Return the exceptions inside ``exc``, however deeply grouped, in order (``[exc]`` if it
    is no group)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]
