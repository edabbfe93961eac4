"""The Engine: DynamoDB's API over the SQLite store. Passive: it owns connections, never tasks."""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Protocol

import anyio

from streamkit.backoff import Backoff
from streamkit.clock import Clock, SystemClock
from streamkit.engine.batch import BatchMixin
from streamkit.engine.control import ControlMixin
from streamkit.engine.items import ItemsMixin
from streamkit.engine.query import QueryMixin
from streamkit.engine.resource import Table
from streamkit.engine.throttle import Throttle
from streamkit.engine.transactions import TransactionsMixin
from streamkit.engine.ttl import TtlMixin
from streamkit.errors import ClosedError, DatabaseFileError, DynamoDBError
from streamkit.storage import tables as storage_tables, ttl as ttl_sql
from streamkit.storage.changes import ChangeLog, StreamSettings
from streamkit.storage.owner import acquire_owner
from streamkit.storage.readonly import open_read_only_store
from streamkit.storage.sqlite import Durability, Store, check_database_file, open_store

__all__ = ["Engine", "StreamsApi", "open_engine"]


class StreamsApi(Protocol):
    """The DynamoDB Streams API an engine carries as ``engine.streams``.

    Declared here so the engine layer can name it; the implementation lives one layer up in
    :mod:`streamkit.streams` (``streamkit.open_engine`` attaches it).
    """

    OPERATIONS: ClassVar[Mapping[str, str]]

    async def list_streams(self, **params: Any) -> dict[str, Any]: ...

    async def describe_stream(self, **params: Any) -> dict[str, Any]: ...

    async def get_shard_iterator(self, **params: Any) -> dict[str, Any]: ...

    async def get_records(self, **params: Any) -> dict[str, Any]: ...

    async def wait_for_records(self, ShardIterator: str) -> None: ...  # noqa: N803


class Engine(QueryMixin, ItemsMixin, BatchMixin, TransactionsMixin, ControlMixin, TtlMixin):
    """DynamoDB's data plane and control plane, with boto3's method names and dict shapes.

    Every method takes the request's members as keyword arguments (``TableName=...``,
    ``Item={"pk": {"S": "a"}}``) and returns the response dict, as ``boto3.client("dynamodb")``
    does, without ``ResponseMetadata``. Binary values are ``bytes``. Errors are the
    :mod:`streamkit.errors` classes named after DynamoDB's error codes.

    Each group of operations is a mixin in its own module (``control``, ``items``, ...);
    :attr:`OPERATIONS` maps every DynamoDB operation name to its method.
    """

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        **ControlMixin.OPERATIONS,
        **ItemsMixin.OPERATIONS,
        **BatchMixin.OPERATIONS,
        **TransactionsMixin.OPERATIONS,
        **QueryMixin.OPERATIONS,
        **TtlMixin.OPERATIONS,
    }
    #: Operations with a variant for callers that serialise with orjson (see QueryMixin).
    ENCODED_OPERATIONS: ClassVar[Mapping[str, str]] = QueryMixin.ENCODED_OPERATIONS

    #: DynamoDB Streams (ListStreams, DescribeStream, GetShardIterator, GetRecords); set by
    #: ``streamkit.open_engine``, absent on an engine from ``streamkit.engine.open_engine``.
    streams: StreamsApi

    @property
    def store(self) -> Store:
        """The SQLite store (for the layers above: streams, TTL, runtime)."""
        return self._store

    @property
    def change_log(self) -> ChangeLog:
        """The stream change log: settings, and the post-commit notification of readers."""
        return self._changes

    def table(self, name: str) -> Table:
        """Return a boto3-resource-style Table that takes and returns native Python values."""
        return Table(self, name)


def _retrying(method: Callable[..., Awaitable[dict[str, Any]]]) -> Callable[..., Any]:
    operation = _API_NAMES[method.__name__]

    @functools.wraps(method)
    async def call(self: Engine, **params: Any) -> dict[str, Any]:
        if self._store.closed:  # even the calls answered from memory (ListTables) refuse
            raise ClosedError(_CLOSED)
        policy = self.retry_policy
        try:
            if policy.max_attempts <= 1 and type(policy) is Backoff:
                return await method(self, **params)  # no retries (the server): skip the wrapper
            return await policy.call(functools.partial(method, self), **params)
        except DynamoDBError as exc:  # botocore's ClientError.operation_name; free until raised
            exc.operation_name = operation
            raise

    return call


def _open_only(method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(self: Engine, *args: Any, **kwargs: Any) -> Any:
        if self._store.closed:
            raise ClosedError(_CLOSED)
        return await method(self, *args, **kwargs)

    return call


_CLOSED = "the engine is closed: its open_engine block has exited"
#: method name -> API operation name (put_item -> PutItem), for errors' operation_name
_API_NAMES = {
    method: name
    for operations in (Engine.OPERATIONS, Engine.ENCODED_OPERATIONS)
    for name, method in operations.items()
}
_OPERATIONS = _API_NAMES.keys()
for _name, _method in inspect.getmembers(Engine, inspect.iscoroutinefunction):
    if _name in _OPERATIONS:
        setattr(Engine, _name, _retrying(_method))
    elif not _name.startswith("_"):  # the others (expire_items): refuse once closed
        setattr(Engine, _name, _open_only(_method))


@asynccontextmanager
async def open_engine(
    path: str | os.PathLike[str] | None = None,
    *,
    region: str = "us-east-1",
    account: str = "000000000000",
    clock: Clock | None = None,
    durability: Durability = "normal",
    stream_shards: int = 1,
    shard_rollover_seconds: float = 4 * 3600.0,
    stream_retention_seconds: float = 24 * 3600.0,
    ttl_delay_seconds: float = 0.0,
    ttl_cooldown_seconds: float = 0.0,
    throttling: bool = False,
    max_attempts: int = 3,
    read_only: bool = False,
    owner_role: str = "script",
    owner_url: str | None = None,
) -> AsyncIterator[Engine]:
    """Open an engine on a SQLite file (``None`` or ``":memory:"``: in memory).

    Args:
        path: the database file, created with its folder if missing.
        region: the AWS region this engine answers for (ARNs, stream records).
        account: the account id in ARNs.
        clock: the time source for every time-dependent rule; the system clock by default.
        durability: ``"normal"`` (default) or ``"full"``; see
            :func:`streamkit.storage.sqlite.open_store`.
        stream_shards: open shards per new stream (1, as a new DynamoDB table's stream has);
            a key's changes always go to one of them.
        shard_rollover_seconds: an open shard is closed and continued by a child shard after
            this long (DynamoDB: about 4 hours).
        stream_retention_seconds: how long stream records, and disabled streams, are kept
            (DynamoDB: 24 hours); trimming is done by the runtime's retention worker.
        ttl_delay_seconds: how long after its TTL an item becomes eligible for deletion
            (default 0: the sweeper deletes it on its next pass; AWS takes minutes to days).
        ttl_cooldown_seconds: how long after an UpdateTimeToLive another one is refused
            (default 0; AWS: up to an hour).
        throttling: enforce provisioned throughput with DynamoDB's token buckets (see
            :mod:`streamkit.engine.throttle`); per table with ``engine.throttle.set_table``.
        max_attempts: tries per call for throttled, conflicted and failed calls, with
            exponential back-off and jitter as the AWS SDKs do (1: no retries).
        read_only: read an existing file beside the process that owns it: no lock, no
            migration, every write refused (see :mod:`streamkit.storage.readonly`).
        owner_role: who this process is, written beside the database for others' error
            messages (``"script"``; the CLI says ``"serve"``, ``"run"``, ...).
        owner_url: the endpoint that serves this database, if any (others are told to use it).

    Raises:
        DatabaseInUseError: another process, or another ``open_engine`` in this one, has the
            file open for writing (see :mod:`streamkit.storage.owner`). In memory: never.
    """
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
    settings = StreamSettings(
        shards=stream_shards,
        rollover_seconds=shard_rollover_seconds,
        retention_seconds=stream_retention_seconds,
    )
    async with _open_store(path, durability, read_only, owner_role, owner_url) as store:
        try:
            specs = await store.read(storage_tables.load_specs)
            ttl = await store.read(ttl_sql.load_settings)
        except sqlite3.DatabaseError as exc:  # a corrupt catalog: refuse, change nothing
            raise DatabaseFileError(f"cannot use the database file {path}: {exc}") from None
        engine = Engine(store, specs, region=region, account=account, clock=clock or SystemClock())
        engine._changes = ChangeLog(settings)
        engine.throttle = Throttle(engine.clock, enabled=throttling)
        engine.retry_policy = Backoff(max_attempts=max_attempts, clock=engine.clock)
        engine._configure_ttl(ttl, delay=ttl_delay_seconds, cooldown=ttl_cooldown_seconds)
        store.add_commit_hook(engine._changes.flush)
        yield engine


@asynccontextmanager
async def _open_store(
    path: str | os.PathLike[str] | None,
    durability: Durability,
    read_only: bool,
    owner_role: str,
    owner_url: str | None,
) -> AsyncIterator[Store]:
    """The engine's store: read-only, or written by this process alone (the lock first)."""
    if path is None or os.fspath(path) == ":memory:":
        if read_only:
            raise ValueError("read_only needs a database file, not memory")
        async with open_store(path, durability=durability, setup=storage_tables.migrate) as store:
            yield store
    elif read_only:
        async with open_read_only_store(path) as store:
            yield store
    else:
        # once, off the loop, and before the owner lock creates its file beside the database
        await anyio.to_thread.run_sync(check_database_file, path)
        with acquire_owner(path, owner_role, owner_url):
            async with open_store(
                path, durability=durability, setup=storage_tables.migrate, checked=True
            ) as store:
                yield store
