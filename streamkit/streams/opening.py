"""``open_engine``: the one way to open an engine, composed of the engine layer's store and
catalog and this layer's Streams client (the engine layer cannot import it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from streamkit.backoff import Backoff
from streamkit.clock import Clock, SystemClock
from streamkit.engine import Engine, load_catalog, open_engine_store
from streamkit.engine.throttle import Throttle
from streamkit.storage import history
from streamkit.storage.changes import ChangeLog, StreamSettings
from streamkit.storage.sqlite import Durability
from streamkit.streams.client import StreamsClient

__all__ = ["open_engine"]


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
    pitr_lag_seconds: float = 0.0,
    throttling: bool = False,
    max_attempts: int = 3,
    read_only: bool = False,
    owner_role: str = "script",
    owner_url: str | None = None,
    s3_dir: str | os.PathLike[str] | None = None,
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
        pitr_lag_seconds: how far LatestRestorableDateTime is behind now (default 0: a table
            with point-in-time recovery on can be restored to the present; AWS: ~5 minutes).
        throttling: enforce provisioned throughput with DynamoDB's token buckets (see
            :mod:`streamkit.engine.throttle`); per table with ``engine.throttle.set_table``.
        max_attempts: tries per call for throttled, conflicted and failed calls, with
            exponential back-off and jitter as the AWS SDKs do (1: no retries).
        read_only: read an existing file beside the process that owns it: no lock, no
            migration, every write refused (see :mod:`streamkit.storage.readonly`).
        owner_role: who this process is, written beside the database for others' error
            messages (``"script"``; the CLI says ``"serve"``, ``"run"``, ...).
        owner_url: the endpoint that serves this database, if any (others are told to use it).
        s3_dir: the folder of the buckets exports write and imports read, one folder per
            bucket (default: ``s3`` beside the database file; in memory, a temporary folder
            removed at close).

    Raises:
        DatabaseInUseError: another process, or another ``open_engine`` in this one, has the
            file open for writing (see :mod:`streamkit.storage.owner`). In memory: never.
    """
    settings = StreamSettings(
        shards=stream_shards,
        rollover_seconds=shard_rollover_seconds,
        retention_seconds=stream_retention_seconds,
    )
    async with open_engine_store(path, durability, read_only, owner_role, owner_url) as store:
        specs, ttl = await load_catalog(store, path)
        pitr = await store.read(history.load_settings)
        clock = clock or SystemClock()
        changes = ChangeLog(settings)
        engine = Engine(
            store,
            specs,
            region=region,
            account=account,
            clock=clock,
            changes=changes,
            throttle=Throttle(clock, enabled=throttling),
            retry_policy=Backoff(max_attempts=max_attempts, clock=clock),
            ttl=ttl,
            ttl_delay_seconds=ttl_delay_seconds,
            ttl_cooldown_seconds=ttl_cooldown_seconds,
            streams=StreamsClient,
            s3_dir=s3_dir,
            database=path,
            pitr=pitr,
            pitr_lag_seconds=pitr_lag_seconds,
        )
        store.add_commit_hook(changes.flush)
        store.set_batch_hooks(changes)  # a batch's records go in as one block per shard
        try:
            yield engine
        finally:
            await engine.close_transfers()
