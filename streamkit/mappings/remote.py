"""A remote DynamoDB Streams endpoint as a mapping's stream source (``streamkit[aws]``).

:class:`RemoteSource` reads AWS DynamoDB Streams, ``streamkit serve`` or any compatible server
through aiobotocore, the way Lambda's event-source mapping does:

- the table's newest stream from ListStreams (paged by ``ExclusiveStartStreamArn``), its
  shards from DescribeStream (paged by ``ExclusiveStartShardId``), children after their
  parents finish (the runner's lineage rule);
- one iterator per shard: GetShardIterator ``AFTER_SEQUENCE_NUMBER`` the checkpoint,
  ``TRIM_HORIZON`` without one, ``LATEST`` for ``starting_position="LATEST"``; GetRecords
  ``Limit`` the batch size; an idle shard is polled 4 times a second (``poll_interval`` on the
  injected clock);
- throttling (``LimitExceededException``, ``ProvisionedThroughputExceededException``,
  ``ThrottlingException``, ``RequestLimitExceeded``), server faults and lost connections are
  retried for ever with exponential back-off and jitter (:class:`streamkit.backoff.Backoff`,
  on the same clock); botocore's own retries are off so the back-off is this one;
- ``ExpiredIteratorException``: a new iterator after the last record read (the checkpoint, or
  the records read past it and not handed over yet);
- ``TrimmedDataAccessException``: as Lambda, read on from ``TRIM_HORIZON`` and report it (a
  warning, and :attr:`RemoteSource.trimmed`).

Records become the Lambda event's records: ``eventSourceARN``, ``awsRegion`` the endpoint's
region, ``userIdentity`` as ``type``/``principalId``, binaries as base64 text and
``ApproximateCreationDateTime`` as epoch seconds, as the local runtime delivers them.

Credentials and region come from the standard AWS chain (aiobotocore's session: environment,
shared config and credentials files, container and instance roles); ``region`` and
``endpoint_url`` override it.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from streamkit.backoff import Backoff
from streamkit.clock import Clock, SystemClock
from streamkit.errors import (
    ConfigurationError,
    ExpiredIteratorException,
    ResourceNotFoundException,
    TrimmedDataAccessException,
    for_code,
)
from streamkit.logs import get_logger
from streamkit.streams.records import base64_binaries, lambda_record

__all__ = [
    "POLL_INTERVAL",
    "REMOTE_BACKOFF",
    "RemoteMetrics",
    "RemoteShard",
    "RemoteSource",
    "open_remote_source",
    "open_tables_client",
]

log = get_logger(__name__)

#: Seconds between two GetRecords calls on a shard that had nothing new: Lambda polls each
#: shard about 4 times a second.
POLL_INTERVAL: Final = 0.25
#: Seconds between two ListStreams calls while waiting for the table's stream to change.
STREAM_POLL_INTERVAL: Final = 5.0
#: The waits after throttling or a fault: up to 50 ms after the first, doubling, at most 5 s,
#: with full jitter; never giving up (Lambda retries until the records expire).
REMOTE_BACKOFF: Final = Backoff(max_attempts=2**31, base=0.05, cap=5.0, jitter=True)

_THROTTLED = frozenset(
    {
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "InternalFailure",
    }
)


@dataclass(slots=True)
class RemoteMetrics:
    """What the remote source met (counters since it opened)."""

    calls: int = 0  #: API calls made, retries included
    throttled: int = 0  #: calls answered with throttling or a fault, then retried
    expired: int = 0  #: iterators renewed after ExpiredIteratorException
    trimmed: int = 0  #: positions lost to retention (read on from TRIM_HORIZON)


class _Poll:
    """A waiter that is a pause on the clock (the remote source's "something may be new")."""

    __slots__ = ("_clock", "_seconds")

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds

    async def wait(self) -> None:
        await self._clock.sleep(self._seconds)


@dataclass(frozen=True, slots=True)
class _Page:
    records: Sequence[dict[str, Any]]
    exhausted: bool


@dataclass(eq=False)
class RemoteSource:
    """A DynamoDB Streams endpoint read through an aiobotocore ``dynamodbstreams`` client.

    Build it with :func:`open_remote_source`, which opens (and closes) the client.

    Attributes:
        client: the aiobotocore client.
        region: the endpoint's region (records' ``awsRegion``).
        clock: what polls and back-off sleep on.
        poll_interval: seconds between polls of an idle shard.
        describe_limit: shards per DescribeStream page (None: the server's default, 100).
        backoff: the waits after throttling (its clock is replaced by ``clock``).
    """

    client: Any
    region: str
    clock: Clock = field(default_factory=SystemClock)
    poll_interval: float = POLL_INTERVAL
    describe_limit: int | None = None
    backoff: Backoff = REMOTE_BACKOFF
    account: str = "000000000000"
    latest_is_saved: bool = False
    metrics: RemoteMetrics = field(default_factory=RemoteMetrics)
    #: the streams seen by the first ListStreams of each table (they existed at start)
    _initial: dict[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backoff = Backoff(
            max_attempts=self.backoff.max_attempts,
            base=self.backoff.base,
            cap=self.backoff.cap,
            jitter=self.backoff.jitter,
            clock=self.clock,
            rng=self.backoff.rng,
        )

    @property
    def trimmed(self) -> int:
        """How many times a shard's position was lost to retention."""
        return self.metrics.trimmed

    # -- calls ------------------------------------------------------------------------------

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call a Streams operation, retrying throttling and faults for ever with back-off.

        Raises:
            DynamoDBError: the endpoint's error as streamkit's class of that code
                (``ResourceNotFoundException``, ``ExpiredIteratorException``, ...).
        """
        from botocore.exceptions import (  # the optional extra: imported when used
            ClientError,
            ConnectionError as BotoConnectionError,
            HTTPClientError,
        )

        method = getattr(self.client, operation)
        failures = 0
        while True:
            self.metrics.calls += 1
            try:
                response: dict[str, Any] = await method(**params)
                return response
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                if code not in _THROTTLED:
                    raise for_code(code)(str(error.get("Message", ""))) from exc
                reason = code
            except (BotoConnectionError, HTTPClientError) as exc:
                reason = type(exc).__name__
            failures += 1
            self.metrics.throttled += 1
            delay = self.backoff.delay(failures)
            log.info("remote_backoff", operation=operation, reason=reason, delay=delay)
            await self.clock.sleep(delay)

    # -- the StreamSource protocol ----------------------------------------------------------

    async def prepare(self) -> None:
        return None

    async def current_stream(self, table: str) -> str | None:
        params: dict[str, Any] = {"TableName": table}
        newest: tuple[str, str] | None = None
        seen: set[str] = set()
        while True:
            try:
                page = await self.call("list_streams", **params)
            except ResourceNotFoundException:
                page = {"Streams": []}
            for stream in page.get("Streams", []):
                arn = stream["StreamArn"]
                seen.add(arn)
                label = stream.get("StreamLabel", arn.rsplit("/", 1)[-1])
                if newest is None or label > newest[0]:
                    newest = (label, arn)
            last = page.get("LastEvaluatedStreamArn")
            if not last:
                break
            params["ExclusiveStartStreamArn"] = last
        self._initial.setdefault(table, frozenset(seen))
        if newest is None:
            return None
        arn = newest[1]
        parts = arn.split(":")
        if len(parts) > 4 and parts[4]:
            self.account = parts[4]
        return arn

    def changes(self) -> _Poll:
        return _Poll(self.clock, STREAM_POLL_INTERVAL)

    def stream_predates(self, stream_arn: str, started_at: float) -> bool:
        return any(stream_arn in arns for arns in self._initial.values())

    async def describe(self, stream_arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": stream_arn}
        if self.describe_limit is not None:
            params["Limit"] = self.describe_limit
        while True:
            page = (await self.call("describe_stream", **params))["StreamDescription"]
            shards.extend(page.get("Shards", []))
            last = page.get("LastEvaluatedShardId")
            if not last:
                return shards
            params["ExclusiveStartShardId"] = last

    def reader(self, stream_arn: str, shard_id: str) -> RemoteShard:
        return RemoteShard(self, stream_arn, shard_id)

    async def caught_up(self, stream_arn: str, shard_id: str, checkpoint: str | None) -> bool:
        """An idle remote worker's last poll found nothing new: caught up as of that poll."""
        return True


class RemoteShard:
    """One shard read through an iterator, with the records read past the checkpoint kept.

    The runner reads "after the checkpoint"; the iterator moves on past every page. Records
    read but not handed over (a batching window, a partial-batch failure) stay in a buffer
    and are served again from there, so the iterator is re-opened only when the runner asks
    for a position the reader does not hold (the first read, a trimmed position).
    """

    def __init__(self, source: RemoteSource, stream_arn: str, shard_id: str) -> None:
        self._source = source
        self._arn = stream_arn
        self._shard_id = shard_id
        self._opened = False
        self._latest = False  # read None as LATEST (seek_latest) until the first record
        self._base: str | None = None  # the buffer follows this position
        self._buffer: list[dict[str, Any]] = []
        self._iterator: str | None = None
        self._ended = False  # the closed shard's last page was read

    def waiter(self) -> _Poll:
        return _Poll(self._source.clock, self._source.poll_interval)

    async def gather(self) -> None:
        return None

    async def seek_latest(self) -> tuple[str | None, bool]:
        self._latest = True
        self._opened = False
        return None, False

    async def read(self, after: str | None, limit: int) -> _Page:
        if not self._opened or not self._holds(after):
            await self._open(after)
        if len(self._buffer) < limit and not self._ended:
            await self._fetch(limit - len(self._buffer))
        return _Page(self._buffer[:limit], exhausted=self._ended and not self._buffer)

    def _holds(self, after: str | None) -> bool:
        """Whether ``after`` is the buffer's base or one of its records; drop what precedes."""
        if after == self._base:
            return True
        for index, record in enumerate(self._buffer):
            if record["dynamodb"]["SequenceNumber"] == after:
                del self._buffer[: index + 1]
                self._base = after
                return True
        return False

    async def _open(self, after: str | None) -> None:
        params: dict[str, Any] = {"StreamArn": self._arn, "ShardId": self._shard_id}
        if after is not None:
            params["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            params["SequenceNumber"] = after
        elif self._latest:
            params["ShardIteratorType"] = "LATEST"
        else:
            params["ShardIteratorType"] = "TRIM_HORIZON"
        try:
            response = await self._source.call("get_shard_iterator", **params)
        except TrimmedDataAccessException:
            self._lost(after)
            raise
        except ResourceNotFoundException:
            # retention dropped the whole shard: nothing more to read (as the local source)
            log.warning("remote_shard_gone", stream_arn=self._arn, shard_id=self._shard_id)
            response = {}
        self._iterator = response.get("ShardIterator")
        self._ended = self._iterator is None
        self._opened = True
        self._base = after
        self._buffer = []

    def _lost(self, after: str | None) -> None:
        """The position is older than the stream's retention: the runner reads on from
        TRIM_HORIZON (Lambda does the same) after this report."""
        self._source.metrics.trimmed += 1
        self._opened = False
        self._latest = False
        log.warning(
            "remote_position_trimmed",
            stream_arn=self._arn,
            shard_id=self._shard_id,
            after=after,
        )

    async def _fetch(self, wanted: int) -> None:
        """One GetRecords call; records join the buffer, the iterator moves on."""
        if self._iterator is None:
            self._ended = True
            return
        try:
            response = await self._source.call(
                "get_records", ShardIterator=self._iterator, Limit=max(1, min(1000, wanted))
            )
        except ExpiredIteratorException:
            self._source.metrics.expired += 1
            position = self._buffer[-1]["dynamodb"]["SequenceNumber"] if self._buffer else None
            log.info("remote_iterator_expired", shard_id=self._shard_id, after=position)
            buffer, base = self._buffer, self._base
            await self._open(position if position is not None else base)
            self._buffer, self._base = buffer, base
            return
        except TrimmedDataAccessException:
            self._lost(self._base)
            raise
        records = response.get("Records", [])
        if records:
            self._latest = False
            region = self._source.region
            self._buffer.extend(_lambda_shaped(r, self._arn, region) for r in records)
        self._iterator = response.get("NextShardIterator")
        if self._iterator is None:
            self._ended = True


def _lambda_shaped(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A botocore-parsed GetRecords record as a Lambda function receives it."""
    out = base64_binaries(lambda_record(record, stream_arn))
    out["awsRegion"] = region
    body = out.get("dynamodb")
    if isinstance(body, dict):
        created = body.get("ApproximateCreationDateTime")
        if isinstance(created, datetime.datetime):
            body["ApproximateCreationDateTime"] = float(int(created.timestamp()))
        elif isinstance(created, int | float):
            body["ApproximateCreationDateTime"] = float(int(created))
    return out


@asynccontextmanager
async def open_remote_source(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    clock: Clock | None = None,
    poll_interval: float = POLL_INTERVAL,
    describe_limit: int | None = None,
    backoff: Backoff = REMOTE_BACKOFF,
    max_connections: int = 64,
) -> AsyncIterator[RemoteSource]:
    """Open a ``dynamodbstreams`` client and return the source reading through it.

    Args:
        endpoint_url: the endpoint (default: AWS's for the region).
        region: the region (default: the AWS chain's, ``AWS_REGION``/``AWS_DEFAULT_REGION``
            or the shared config file).
        clock: polls and back-off sleep on it (default: the system clock).
        poll_interval: seconds between polls of an idle shard (Lambda: 0.25).
        describe_limit: shards per DescribeStream page (default: the server's).
        backoff: the waits after throttling and faults.
        max_connections: the HTTP connection pool's size (one per busy shard is enough).

    Raises:
        ConfigurationError: aiobotocore is not installed (``pip install 'streamkit[aws]'``),
            or no region is given or configured.
    """
    try:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session
    except ImportError as exc:
        raise ConfigurationError(
            "the remote stream source needs aiobotocore: pip install 'streamkit[aws]'"
        ) from exc
    session = get_session()
    region = region or session.get_config_variable("region")
    if not region:
        raise ConfigurationError(
            "no AWS region: pass --region (or region=), or set AWS_REGION / AWS_DEFAULT_REGION"
        )
    config = AioConfig(
        retries={"total_max_attempts": 1},  # RemoteSource.call retries, on the injected clock
        max_pool_connections=max_connections,
    )
    async with session.create_client(
        "dynamodbstreams", region_name=region, endpoint_url=endpoint_url, config=config
    ) as client:
        yield RemoteSource(
            client,
            region,
            clock=clock or SystemClock(),
            poll_interval=poll_interval,
            describe_limit=describe_limit,
            backoff=backoff,
        )


@asynccontextmanager
async def open_tables_client(
    *, endpoint_url: str | None = None, region: str | None = None
) -> AsyncIterator[Any]:
    """Open an aiobotocore ``dynamodb`` client (the lease table's: a
    :class:`~streamkit.mappings.leases.LeaseClient`), credentials from the AWS chain.

    Raises:
        ConfigurationError: aiobotocore is not installed (``pip install 'streamkit[aws]'``).
    """
    try:
        from aiobotocore.session import get_session
    except ImportError as exc:
        raise ConfigurationError(
            "the lease table needs aiobotocore: pip install 'streamkit[aws]'"
        ) from exc
    session = get_session()
    async with session.create_client(
        "dynamodb", region_name=region, endpoint_url=endpoint_url
    ) as client:
        yield client
