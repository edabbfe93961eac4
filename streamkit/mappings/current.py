"""The engine a running handler belongs to: ``streamkit.current_engine()`` inside a handler."""

from __future__ import annotations

from contextvars import ContextVar

from streamkit.engine import Engine
from streamkit.errors import ConfigurationError

__all__ = ["current_engine", "engine_var"]

#: Set by the runtime (and replay) for every task that invokes handlers; anyio copies it into
#: child tasks and into the worker threads of sync handlers.
engine_var: ContextVar[Engine] = ContextVar("streamkit_engine")


def current_engine() -> Engine:
    """Return the engine whose stream the running handler is processing.

    A handler reads and writes that engine's tables with it (a derived table, an outbox), the
    way a Lambda function would use a boto3 client. A sync handler runs in a worker thread,
    where ``anyio.from_thread.run(functools.partial(engine.put_item, ...))`` calls the engine;
    an ``async`` handler simply awaits it.

    Raises:
        ConfigurationError: not called from a handler run by streamkit.
    """
    try:
        return engine_var.get()
    except LookupError:
        raise ConfigurationError("current_engine() is only available inside a handler") from None
