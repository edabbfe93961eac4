"""The Engine: DynamoDB's API over the SQLite store. Passive: it owns connections, never tasks."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast

import anyio

from streamkit.backoff import Backoff
from streamkit.clock import Clock
from streamkit.engine.backend import StreamBackend
from streamkit.engine.backups import BackupsMixin
from streamkit.engine.batch import BatchMixin
from streamkit.engine.control import ControlMixin
from streamkit.engine.endpoints import EndpointsMixin
from streamkit.engine.exports import ExportsMixin
from streamkit.engine.globaltables import GlobalTablesMixin
from streamkit.engine.items import ItemsMixin
from streamkit.engine.partiql import PartiqlMixin
from streamkit.engine.pitr import PitrMixin
from streamkit.engine.policies import PoliciesMixin
from streamkit.engine.query import QueryMixin
from streamkit.engine.replication import ReplicationMixin
from streamkit.engine.resource import Table
from streamkit.engine.tags import TagsMixin
from streamkit.engine.throttle import Throttle
from streamkit.engine.transactions import TransactionsMixin
from streamkit.engine.ttl import TtlMixin
from streamkit.engine.typed import StreamsApi, TypedOperations
from streamkit.errors import DatabaseFileError, DynamoDBError
from streamkit.model.schema import TableSpec
from streamkit.storage import tables as storage_tables, ttl as ttl_sql
from streamkit.storage.changes import ChangeLog
from streamkit.storage.owner import acquire_owner
from streamkit.storage.readonly import open_read_only_store
from streamkit.storage.sqlite import Durability, Store, check_database_file, open_store
from streamkit.storage.ttl import TtlSetting

__all__ = [
    "Engine",
    "StreamsApi",
    "StreamsFactory",
    "load_catalog",
    "open_engine_store",
    "open_only",
]


#: Builds an engine's Streams client (``engine.streams``) from the engine, in its constructor.
StreamsFactory = Callable[["Engine"], StreamsApi]


class _Closable(Protocol):
    def check_open(self) -> None: ...


#: A coroutine method: ``open_only`` and ``_retrying`` return it with its own signature.
M = TypeVar("M", bound=Callable[..., Coroutine[Any, Any, Any]])
Op = TypeVar("Op", bound=Callable[..., Coroutine[Any, Any, dict[str, Any]]])


def open_only(method: M) -> M:
    """Make a coroutine method call ``self.check_open()`` before anything else, so it refuses
    with ClosedError once the engine is closed (the engine's methods that are not operations,
    and the Streams client's)."""

    @functools.wraps(method)
    async def call(self: _Closable, /, *args: Any, **kwargs: Any) -> Any:
        self.check_open()
        return await method(self, *args, **kwargs)

    return cast(M, call)


def _retrying(method: Op) -> Op:
    """Wrap a DynamoDB operation: refuse once closed, retry per the engine's retry policy,
    and name the operation on its errors (botocore's ``ClientError.operation_name``)."""
    operation = "".join(w.title() for w in method.__name__.removesuffix("_encoded").split("_"))

    @functools.wraps(method)
    async def call(self: Engine, **params: Any) -> dict[str, Any]:
        self.check_open()  # even the calls answered from memory (ListTables) refuse
        policy = self.retry_policy
        try:
            if policy.max_attempts <= 1 and type(policy) is Backoff:
                return await method(self, **params)  # no retries (the server): skip the wrapper
            return await policy.call(functools.partial(method, self), **params)
        except DynamoDBError as exc:  # free until raised
            exc.operation_name = operation
            raise

    return cast(Op, call)


# TypedOperations comes first so type checkers see its typed signatures, which narrow the
# mixins' ``**params: Any`` on purpose (mypy calls the narrowing incompatible: [misc]).
class Engine(  # type: ignore[misc]
    TypedOperations,
    QueryMixin,
    ItemsMixin,
    BatchMixin,
    TransactionsMixin,
    ControlMixin,
    TtlMixin,
    ExportsMixin,
    PartiqlMixin,
    PitrMixin,
    TagsMixin,
    PoliciesMixin,
    EndpointsMixin,
    BackupsMixin,
    GlobalTablesMixin,
    ReplicationMixin,
):
    """DynamoDB's data plane and control plane, with boto3's method names and dict shapes.

    Every method takes the request's members as keyword arguments (``TableName=...``,
    ``Item={"pk": {"S": "a"}}``) and returns the response dict, as ``boto3.client("dynamodb")``
    does, without ``ResponseMetadata``. Binary values are ``bytes``. Errors are the
    :mod:`streamkit.errors` classes named after DynamoDB's error codes.

    Each group of operations is a mixin in its own module (``control``, ``items``, ...);
    :attr:`OPERATIONS` maps every DynamoDB operation name to its method. Open one with
    :func:`streamkit.open_engine`.
    """

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        **ControlMixin.OPERATIONS,
        **ItemsMixin.OPERATIONS,
        **BatchMixin.OPERATIONS,
        **TransactionsMixin.OPERATIONS,
        **QueryMixin.OPERATIONS,
        **TtlMixin.OPERATIONS,
        **ExportsMixin.OPERATIONS,
        **PartiqlMixin.OPERATIONS,
        **PitrMixin.OPERATIONS,
        **TagsMixin.OPERATIONS,
        **PoliciesMixin.OPERATIONS,
        **EndpointsMixin.OPERATIONS,
        **BackupsMixin.OPERATIONS,
        **GlobalTablesMixin.OPERATIONS,
    }
    #: Operations with a variant for callers that serialise with orjson (see QueryMixin).
    ENCODED_OPERATIONS: ClassVar[Mapping[str, str]] = QueryMixin.ENCODED_OPERATIONS

    # Every operation, wrapped once here (tests/test_composition.py checks none is
    # missing): it refuses once the engine is closed and retries per ``retry_policy``.
    if not TYPE_CHECKING:  # type checkers see TypedOperations' signatures (engine/typed.py)
        create_table = _retrying(ControlMixin.create_table)
        describe_table = _retrying(ControlMixin.describe_table)
        list_tables = _retrying(ControlMixin.list_tables)
        update_table = _retrying(ControlMixin.update_table)
        delete_table = _retrying(ControlMixin.delete_table)
        put_item = _retrying(ItemsMixin.put_item)
        get_item = _retrying(ItemsMixin.get_item)
        update_item = _retrying(ItemsMixin.update_item)
        delete_item = _retrying(ItemsMixin.delete_item)
        batch_get_item = _retrying(BatchMixin.batch_get_item)
        batch_write_item = _retrying(BatchMixin.batch_write_item)
        transact_write_items = _retrying(TransactionsMixin.transact_write_items)
        transact_get_items = _retrying(TransactionsMixin.transact_get_items)
        query = _retrying(QueryMixin.query)
        scan = _retrying(QueryMixin.scan)
        update_time_to_live = _retrying(TtlMixin.update_time_to_live)
        describe_time_to_live = _retrying(TtlMixin.describe_time_to_live)
        update_continuous_backups = _retrying(PitrMixin.update_continuous_backups)
        describe_continuous_backups = _retrying(PitrMixin.describe_continuous_backups)
        restore_table_to_point_in_time = _retrying(PitrMixin.restore_table_to_point_in_time)
        export_table_to_point_in_time = _retrying(ExportsMixin.export_table_to_point_in_time)
        describe_export = _retrying(ExportsMixin.describe_export)
        list_exports = _retrying(ExportsMixin.list_exports)
        import_table = _retrying(ExportsMixin.import_table)
        describe_import = _retrying(ExportsMixin.describe_import)
        list_imports = _retrying(ExportsMixin.list_imports)
        tag_resource = _retrying(TagsMixin.tag_resource)
        untag_resource = _retrying(TagsMixin.untag_resource)
        list_tags_of_resource = _retrying(TagsMixin.list_tags_of_resource)
        put_resource_policy = _retrying(PoliciesMixin.put_resource_policy)
        get_resource_policy = _retrying(PoliciesMixin.get_resource_policy)
        delete_resource_policy = _retrying(PoliciesMixin.delete_resource_policy)
        describe_endpoints = _retrying(EndpointsMixin.describe_endpoints)
        describe_limits = _retrying(EndpointsMixin.describe_limits)
        create_backup = _retrying(BackupsMixin.create_backup)
        describe_backup = _retrying(BackupsMixin.describe_backup)
        list_backups = _retrying(BackupsMixin.list_backups)
        delete_backup = _retrying(BackupsMixin.delete_backup)
        restore_table_from_backup = _retrying(BackupsMixin.restore_table_from_backup)
    query_encoded = _retrying(QueryMixin.query_encoded)
    scan_encoded = _retrying(QueryMixin.scan_encoded)
    execute_statement = _retrying(PartiqlMixin.execute_statement)
    batch_execute_statement = _retrying(PartiqlMixin.batch_execute_statement)
    execute_transaction = _retrying(PartiqlMixin.execute_transaction)
    # Not an operation (the TTL sweeper's delete): refuses once closed, never retried.
    expire_items = open_only(TtlMixin.expire_items)
    # Not an operation (open_engine's exit: cancel exports and imports under way): the same.
    close_transfers = open_only(ExportsMixin.close_transfers)
    # Not an operation (PITR's trimming): refuses once closed, never retried.
    trim_point_in_time_history = open_only(PitrMixin.trim_point_in_time_history)
    # Not an operation (DeleteTable's SYSTEM backup of a PITR table): the same.
    create_deleted_table_backup = open_only(BackupsMixin.create_deleted_table_backup)
    create_global_table = _retrying(GlobalTablesMixin.create_global_table)
    describe_global_table = _retrying(GlobalTablesMixin.describe_global_table)
    update_global_table = _retrying(GlobalTablesMixin.update_global_table)
    describe_global_table_settings = _retrying(GlobalTablesMixin.describe_global_table_settings)
    update_global_table_settings = _retrying(GlobalTablesMixin.update_global_table_settings)
    list_global_tables = _retrying(GlobalTablesMixin.list_global_tables)
    # Not an operation (the replication side, once a new replica is filled): the same.
    replica_ready = open_only(ControlMixin.replica_ready)
    # Not operations (global tables' replication links, engine/replication.py): the same.
    replication_state = open_only(ReplicationMixin.replication_state)
    replication_changes = open_only(ReplicationMixin.replication_changes)
    apply_replicated = open_only(ReplicationMixin.apply_replicated)
    replicated_items = open_only(ReplicationMixin.replicated_items)
    replicated_tombstones = open_only(ReplicationMixin.replicated_tombstones)

    def __init__(
        self,
        store: Store,
        specs: list[TableSpec],
        *,
        region: str,
        account: str,
        clock: Clock,
        changes: ChangeLog,
        throttle: Throttle,
        retry_policy: Backoff,
        ttl: Mapping[str, TtlSetting],
        ttl_delay_seconds: float,
        ttl_cooldown_seconds: float,
        streams: StreamsFactory,
        s3_dir: str | os.PathLike[str] | None = None,
        database: str | os.PathLike[str] | None = None,
        pitr: Mapping[str, tuple[str, float, int, bool]] | None = None,
        pitr_lag_seconds: float = 0.0,
    ) -> None:
        self._store = store
        self._tables = {s.name: s for s in specs}
        self.region = region
        self.account = account
        self.clock = clock
        self._changes = changes
        self._stream_arns = {}
        self.throttle = throttle
        self.retry_policy = retry_policy
        self._ttl_attributes = {}
        self._configure_ttl(ttl, delay=ttl_delay_seconds, cooldown=ttl_cooldown_seconds)
        self._configure_s3(s3_dir, database)  # buckets of exports and imports
        self._pitr = {}
        self._configure_pitr(pitr or {}, lag=pitr_lag_seconds)
        self._load_backups()
        #: The change log, checkpoints and catalog as the layers above use them.
        self.backend = StreamBackend(store, changes, self._tables)
        #: DynamoDB Streams (ListStreams, DescribeStream, GetShardIterator, GetRecords).
        self.streams: StreamsApi = streams(self)

    @property
    def store(self) -> Store:
        """The SQLite store (statistics, tests); the layers above use :attr:`backend`."""
        return self._store

    def table(self, name: str) -> Table:
        """Return a boto3-resource-style Table that takes and returns native Python values."""
        return Table(self, name)


@asynccontextmanager
async def open_engine_store(
    path: str | os.PathLike[str] | None,
    durability: Durability,
    read_only: bool,
    owner_role: str,
    owner_url: str | None,
) -> AsyncIterator[Store]:
    """Open an engine's store: read-only, or written by this process alone (the lock first).

    The first half of :func:`streamkit.open_engine`; :func:`load_catalog` is the second.
    """
    if durability not in ("normal", "full"):
        raise ValueError(f"durability must be 'normal' or 'full', not {durability!r}")
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


async def load_catalog(
    store: Store, path: str | os.PathLike[str] | None
) -> tuple[list[TableSpec], dict[str, TtlSetting]]:
    """Read the table catalog and TTL settings an :class:`Engine` is built with.

    Raises:
        DatabaseFileError: the catalog is corrupt (nothing is changed).
    """
    try:
        return await store.read(storage_tables.load_specs), await store.read(ttl_sql.load_settings)
    except sqlite3.DatabaseError as exc:
        raise DatabaseFileError(f"cannot use the database file {path}: {exc}") from None
