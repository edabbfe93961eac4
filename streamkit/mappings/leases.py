"""Leases: many workers share a stream's shards through one DynamoDB table, as the KCL does.

The lease table holds one item per (mapping, stream, shard): who owns it (``leaseOwner``, absent
when free), a counter every write bumps (``leaseCounter``), the mapping's checkpoint in that shard
(a sequence number, or ``SHARD_END`` once the closed shard is read to its end), the shard's
parents, and how many times the lease changed hands since the last checkpoint. Every change is
a conditional write on the counter (and on the owner where one is expected), so of two workers
racing for a lease one wins and the other learns it lost.

The rules, each worker applying them on its own clock (:class:`LeaseCoordinator`):

- **renew** every ``lease_timeout / 3``: bump the counter of each held lease, on condition
  that this worker still owns it at the counter it last wrote. A lease is valid for
  ``lease_timeout`` after the *start* of its last successful write; a worker stops using a
  lease as soon as a renewal is refused or that time has passed, whichever is first.
- **take** every ``take_interval``: scan the table; a lease whose counter this worker has seen
  unchanged for ``lease_timeout`` (timed from *after* the scan that first saw the value) is
  expired: its owner's own validity ended before (its last write started before that scan
  read it). A free lease (no owner: released, finished or new) may be taken at once, unless
  its hand-over is still open (below): then it is taken as an expired one.
- **balance**: the target is ``ceil(leases / workers)``, over the leases that may be processed
  now (not finished, parents finished) and the workers owning an unexpired lease (this one
  included). Below target, a worker takes expired or free leases; when there are none, it
  steals one lease per pass from the most loaded worker, only if that worker is over the target
  (or at it, when this one needs more than one): never from a worker under the target.
- **never two owners at once**: a stolen lease is not used by its thief until ``lease_timeout``
  after the steal, by when the victim's validity (counted from a write that started before the
  steal) has run out.
- **hand-over**: a steal names its victim in the lease (``handoverFrom``); until the thief
  starts, the victim, whose own checkpoints are refused from the steal on, may still write its
  last checkpoint there (conditional on being named; the counter is left alone), and the thief
  starts by closing the hand-over in a write that reads the checkpoint back. So a steal does
  not make the victim's last batch come again.
- **parents first**: a child shard's lease is not taken until its parents' leases are finished
  (``SHARD_END``) or gone from the table.
- **clean shutdown**: a worker checkpoints and releases its leases (owner removed) at once,
  so others take them on their next pass (a just-stolen one, its hand-over still open, after
  ``lease_timeout``: its victim may still be using it).
- **no write half-known**: a conditional write, once sent, runs to its answer (shielded, for
  at most ``lease_timeout``) even if the worker is cancelled meanwhile, so every lease the table
  gives this worker is one it knows it holds (and releases on a clean shutdown).

Time comes from the injected clock (default :class:`~streamkit.clock.MonotonicClock`: the
rules measure durations on one worker and never compare clocks between workers). The client is
anything with boto3's DynamoDB client methods as coroutines (:class:`LeaseClient`): a streamkit
:class:`~streamkit.engine.Engine`, or an aiobotocore client for a remote endpoint.
"""

from __future__ import annotations

import math
import os
import random
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from streamkit.clock import Clock, MonotonicClock, Signal, background_task
from streamkit.errors import LeaseLostError
from streamkit.logs import get_logger
from streamkit.mappings.source import Checkpoint, CheckpointStore

__all__ = [
    "DEFAULT_LEASE_TABLE",
    "DEFAULT_LEASE_TIMEOUT",
    "SHARD_END",
    "Checkpoint",
    "CheckpointStore",
    "HeldLease",
    "Lease",
    "LeaseClient",
    "LeaseCoordinator",
    "LeasePlan",
    "LeaseReader",
    "LeaseScan",
    "ShardInfo",
    "default_worker_id",
    "lease_key",
    "open_leases",
    "read_leases",
]

log = get_logger(__name__)

DEFAULT_LEASE_TABLE = "streamkit-leases"
DEFAULT_LEASE_TIMEOUT = 10.0  # seconds, the KCL's default failover time
#: The checkpoint of a shard read to its end (the KCL's sentinel of the same name).
SHARD_END = "SHARD_END"

_CONDITION_FAILED = "ConditionalCheckFailedException"
_NOT_FOUND = "ResourceNotFoundException"
_IN_USE = "ResourceInUseException"
_SEPARATOR = "|"  # in neither a mapping's name, a stream ARN nor a shard id


class LeaseReader(Protocol):
    """What reading the lease table takes (:func:`read_leases`): boto3's ``scan``, awaited."""

    @property
    def scan(self) -> Callable[..., Awaitable[Any]]: ...


class LeaseClient(LeaseReader, Protocol):
    """The DynamoDB calls leases make, shaped as boto3's client methods but awaited.

    A streamkit ``Engine`` and an aiobotocore DynamoDB client both fit; errors are read by
    their wire code (``err.response["Error"]["Code"]``), which both carry.
    """

    @property
    def create_table(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def describe_table(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def get_item(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def put_item(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def update_item(self) -> Callable[..., Awaitable[Any]]: ...

    @property
    def delete_item(self) -> Callable[..., Awaitable[Any]]: ...


@dataclass(frozen=True)
class ShardInfo:
    """A shard as DescribeStream lists it: its id and its parents' ids (zero, one or two)."""

    shard_id: str
    parent_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lease:
    """One lease item as read from the table."""

    key: str
    mapping: str
    stream_arn: str
    shard_id: str
    owner: str | None
    counter: int
    checkpoint: str | None
    parent_ids: tuple[str, ...]
    owner_switches: int
    #: the worker a steal took the lease from, until the thief starts (the hand-over is open)
    handover_from: str | None = None

    @property
    def done(self) -> bool:
        return self.checkpoint == SHARD_END

    def parent_keys(self) -> list[str]:
        return [lease_key(self.mapping, self.stream_arn, p) for p in self.parent_ids]


@dataclass(eq=False)
class HeldLease:
    """A lease this worker holds: use it only while :meth:`valid` (``lost`` is set once not)."""

    key: str
    mapping: str
    stream_arn: str
    shard_id: str
    counter: int  # as this worker last wrote it
    valid_from: float  # a stolen lease waits out its victim's validity first
    valid_until: float
    checkpoint: str | None
    #: False for a stolen lease until its hand-over is closed (:meth:`LeaseCoordinator.renew_pass`
    #: after ``valid_from``), which reads the checkpoint the victim may have handed over
    opened: bool = True
    lost: anyio.Event = field(default_factory=anyio.Event)
    lock: anyio.Lock = field(default_factory=anyio.Lock)  # one conditional write at a time

    def valid(self, now: float) -> bool:
        """Whether this worker may process the shard at ``now`` (its own clock)."""
        return not self.lost.is_set() and self.opened and self.valid_from <= now < self.valid_until


@dataclass
class LeaseScan:
    """One reading of the whole lease table, and when it ended on the reader's clock."""

    leases: dict[str, Lease]
    at: float


@dataclass
class LeasePlan:
    """What one take pass tries: up to ``needed`` of ``take`` (expired or free, in order),
    or else one lease to ``steal``."""

    needed: int
    take: list[Lease]
    steal: Lease | None


@dataclass
class _Seen:
    counter: int
    owner: str | None
    since: float  # when this worker first saw this counter (after the scan that read it)


def lease_key(mapping: str, stream_arn: str, shard_id: str) -> str:
    """The lease table's hash key of one mapping's lease on one shard."""
    return _SEPARATOR.join((mapping, stream_arn, shard_id))


def default_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in ``streamkit leases``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            code = error.get("Code")
            return str(code) if code is not None else None
    return None


def _parse(item: Mapping[str, Any]) -> Lease:
    parents = tuple(str(p["S"]) for p in item.get("parentShardIds", {}).get("L", []))
    return Lease(
        key=item["leaseKey"]["S"],
        mapping=item["mapping"]["S"],
        stream_arn=item["streamArn"]["S"],
        shard_id=item["shardId"]["S"],
        owner=item["leaseOwner"]["S"] if "leaseOwner" in item else None,
        counter=int(item["leaseCounter"]["N"]),
        checkpoint=item["checkpoint"]["S"] if "checkpoint" in item else None,
        parent_ids=parents,
        owner_switches=int(item.get("ownerSwitchesSinceCheckpoint", {"N": "0"})["N"]),
        handover_from=item["handoverFrom"]["S"] if "handoverFrom" in item else None,
    )


def _fresh_checkpoint(answer: Mapping[str, Any] | None, known: str | None) -> str | None:
    """The checkpoint in an UpdateItem's ALL_NEW answer (``known`` if it has no attributes)."""
    attributes = (answer or {}).get("Attributes", answer)
    if not attributes or "leaseKey" not in attributes:
        return known
    return str(attributes["checkpoint"]["S"]) if "checkpoint" in attributes else None


async def read_leases(client: LeaseReader, table: str) -> list[Lease]:
    """Every lease in ``table`` (consistent reads, all pages), sorted by key.

    Raises:
        ResourceNotFoundException (or botocore's ClientError with that code): no such table.
    """
    leases: list[Lease] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await client.scan(**params)
        leases.extend(_parse(item) for item in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(leases, key=lambda lease: lease.key)


def _takeable(lease: Lease, leases: Mapping[str, Lease]) -> bool:
    """Not finished, and every parent finished or gone (trimmed, or its lease cleaned up)."""
    if lease.done:
        return False
    return all(parent not in leases or leases[parent].done for parent in lease.parent_keys())


class LeaseCoordinator:
    """One worker's side of the lease table: renews, takes, steals, checkpoints, releases.

    A :class:`~streamkit.mappings.source.CheckpointStore` over the lease table, each checkpoint
    in its shard's lease so that it moves with the lease. :meth:`run` is the background worker
    (renew and take passes on the clock, release on exit); tests drive :meth:`renew_pass`,
    :meth:`scan` and :meth:`take` themselves.
    """

    def __init__(
        self,
        client: LeaseClient,
        *,
        clock: Clock | None = None,
        table: str = DEFAULT_LEASE_TABLE,
        worker_id: str | None = None,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
        take_interval: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if lease_timeout <= 0:
            raise ValueError("lease_timeout must be positive")
        if take_interval is not None and take_interval <= 0:
            raise ValueError("take_interval must be positive")
        self.client = client
        #: Durations only, on this worker: never compared with another worker's clock.
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self.table = table
        self.worker_id = worker_id or default_worker_id()
        self.lease_timeout = lease_timeout
        self.renew_interval = lease_timeout / 3
        self.take_interval = lease_timeout if take_interval is None else take_interval
        self._rng = rng or random.Random()
        self._held: dict[str, HeldLease] = {}
        #: leases another worker's write took from this one (refused here): this worker may
        #: still hand its last checkpoint over in them until the thief closes the hand-over
        self._handing: dict[str, HeldLease] = {}
        self._seen: dict[str, _Seen] = {}
        #: Fired whenever the set of held leases changes (taken, lost, released).
        self.changed = Signal()
        #: Fired at the end of each pass of :meth:`run` (renewals, and takes when due).
        self.passed = Signal()

    # -- the table ---------------------------------------------------------------------------

    async def ensure_table(self) -> None:
        """Create the lease table (on demand billing) unless it exists; wait until ACTIVE."""
        try:
            await self.client.create_table(
                TableName=self.table,
                KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            log.info("lease_table_created", table=self.table)
        except Exception as exc:
            if _code(exc) != _IN_USE:
                raise
        while True:
            described = await self.client.describe_table(TableName=self.table)
            if described["Table"]["TableStatus"] == "ACTIVE":
                return
            await self.clock.sleep(1.0)

    async def sync_shards(
        self, mapping: str, stream_arn: str, shards: Iterable[ShardInfo], *, prune: bool = False
    ) -> int:
        """Create a free lease for each shard that has none; return how many were created.

        Any worker may call it after DescribeStream: creation is conditional on the key being
        absent, so workers racing to create the same lease end with one. With ``prune``, the
        mapping's finished leases on shards no longer listed (trimmed away) are deleted, on
        condition that they are still finished: a missing parent counts as finished, so their
        children are not held back.
        """
        shards = list(shards)
        created = 0
        if prune:
            listed = {shard.shard_id for shard in shards}
            for lease in await read_leases(self.client, self.table):
                if (
                    lease.mapping == mapping
                    and lease.stream_arn == stream_arn
                    and lease.done
                    and lease.shard_id not in listed
                ):
                    try:
                        await self.client.delete_item(
                            TableName=self.table,
                            Key={"leaseKey": {"S": lease.key}},
                            ConditionExpression="#k = :end",
                            ExpressionAttributeNames={"#k": "checkpoint"},
                            ExpressionAttributeValues={":end": {"S": SHARD_END}},
                        )
                    except Exception as exc:
                        if _code(exc) != _CONDITION_FAILED:
                            raise
        for shard in shards:
            item: dict[str, Any] = {
                "leaseKey": {"S": lease_key(mapping, stream_arn, shard.shard_id)},
                "mapping": {"S": mapping},
                "streamArn": {"S": stream_arn},
                "shardId": {"S": shard.shard_id},
                "leaseCounter": {"N": "0"},
                "ownerSwitchesSinceCheckpoint": {"N": "0"},
                "parentShardIds": {"L": [{"S": p} for p in shard.parent_ids]},
            }
            try:
                await self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(leaseKey)",
                )
            except Exception as exc:
                if _code(exc) != _CONDITION_FAILED:
                    raise
            else:
                created += 1
        return created

    # -- what this worker holds --------------------------------------------------------------

    def held(self) -> list[HeldLease]:
        """The leases this worker holds, valid now or waiting out a steal."""
        return [self._held[key] for key in sorted(self._held)]

    def valid_leases(self) -> list[HeldLease]:
        """The leases this worker may process now."""
        now = self.clock.now()
        return [lease for lease in self.held() if lease.valid(now)]

    def lease(self, mapping: str, stream_arn: str, shard_id: str) -> HeldLease | None:
        """This worker's lease on a shard if it may process it now, else None."""
        held = self._held.get(lease_key(mapping, stream_arn, shard_id))
        if held is None or not held.valid(self.clock.now()):
            return None
        return held

    def _drop(self, key: str, reason: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            if reason == "refused":
                self._handing[key] = held
            held.lost.set()
            log.info("lease_lost", lease=key, reason=reason, worker=self.worker_id)
            self.changed.fire()

    def expire(self) -> None:
        """Drop every lease whose validity ran out on this worker's clock."""
        now = self.clock.now()
        for key, held in list(self._held.items()):
            if now >= held.valid_until:
                self._drop(key, "expired")

    async def _write(
        self,
        held: HeldLease,
        expression: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        releasing: bool = False,
        answer: dict[str, Any] | None = None,
    ) -> bool:
        """One conditional write on a held lease, bumping its counter; False if refused.

        The lease stays valid for ``lease_timeout`` after the write's start. A refusal means
        another worker took the lease: it is dropped at once. Any other failure leaves it to
        expire on the clock (raised).
        """
        async with held.lock:
            if held.lost.is_set() and not releasing:
                return False
            await anyio.lowlevel.checkpoint_if_cancelled()  # not once the request is sent:
            with anyio.move_on_after(self.lease_timeout, shield=True) as bound:
                written = await self._write_shielded(held, expression, names, values, answer)
            if bound.cancelled_caught:  # no answer: the lease may have changed; it expires
                self._drop(held.key, "unanswered")
                return False
            return written

    async def _write_shielded(
        self,
        held: HeldLease,
        expression: str,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
        answer: dict[str, Any] | None,
    ) -> bool:
        """:meth:`_write`'s request and what it learns, run to the end (shielded): a write
        cancelled once sent would leave the table's counter unknown to this worker."""
        started = self.clock.now()
        extra: dict[str, Any] = {} if answer is None else {"ReturnValues": "ALL_NEW"}
        try:
            response = await self.client.update_item(
                TableName=self.table,
                Key={"leaseKey": {"S": held.key}},
                UpdateExpression=expression,
                ConditionExpression="#o = :me AND #c = :c",
                ExpressionAttributeNames={
                    "#o": "leaseOwner",
                    "#c": "leaseCounter",
                    **(names or {}),
                },
                ExpressionAttributeValues={
                    ":me": {"S": self.worker_id},
                    ":c": {"N": str(held.counter)},
                    ":next": {"N": str(held.counter + 1)},
                    **(values or {}),
                },
                **extra,
            )
        except Exception as exc:
            if _code(exc) in (_CONDITION_FAILED, _NOT_FOUND):
                self._drop(held.key, "refused")
                held.lost.set()
                return False
            raise
        held.counter += 1
        held.valid_until = started + self.lease_timeout
        if answer is not None:
            answer.update(response.get("Attributes") or {})
        return True

    # -- renew -------------------------------------------------------------------------------

    async def renew_pass(self) -> None:
        """Renew every held lease; drop those refused or expired on this worker's clock."""
        self.expire()
        for held in self.held():
            try:
                if not held.opened and self.clock.now() >= held.valid_from:
                    await self._open(held)
                else:
                    await self._write(held, "SET #c = :next")
            except Exception as exc:  # noqa: BLE001  the endpoint failed: keep it until it expires
                log.warning("lease_renew_failed", lease=held.key, error=repr(exc))
        self.expire()

    async def _open(self, held: HeldLease) -> None:
        """Close a stolen lease's hand-over (its victim's validity has run out) and read the
        checkpoint it holds now: the victim's last one, if it handed it over meanwhile."""
        answer: dict[str, Any] = {}
        if await self._write(
            held, "SET #c = :next REMOVE #h", names={"#h": "handoverFrom"}, answer=answer
        ):
            held.checkpoint = _fresh_checkpoint(answer, held.checkpoint)
            held.opened = True
            log.info("lease_opened", lease=held.key, checkpoint=held.checkpoint)
            self.changed.fire()

    # -- take --------------------------------------------------------------------------------

    async def scan(self) -> LeaseScan:
        """Read the table and update when this worker last saw each lease's counter move."""
        leases = {lease.key: lease for lease in await read_leases(self.client, self.table)}
        at = self.clock.now()  # after the read: a renewal it saw started before this
        for key, lease in leases.items():
            seen = self._seen.get(key)
            if seen is None or seen.counter != lease.counter or seen.owner != lease.owner:
                self._seen[key] = _Seen(lease.counter, lease.owner, at)
        for key in set(self._seen) - set(leases):
            del self._seen[key]
        return LeaseScan(leases, at)

    def _expired(self, lease: Lease, now: float) -> bool:
        if lease.owner is None and lease.handover_from is None:
            return True  # free: its last owner stopped using it before freeing it
        seen = self._seen.get(lease.key)
        return (
            seen is not None
            and seen.counter == lease.counter
            and (now - seen.since >= self.lease_timeout)
        )

    def plan(self, scan: LeaseScan) -> LeasePlan:
        """Decide what to take and steal from ``scan`` by the balancing rules."""
        now = self.clock.now()
        candidates = {k: v for k, v in scan.leases.items() if _takeable(v, scan.leases)}
        mine = {k for k in self._held if k in candidates}
        expired = [
            lease
            for key, lease in candidates.items()
            if key not in self._held and self._expired(lease, now)
        ]
        counts: dict[str, int] = {}
        for key, lease in candidates.items():
            if key in self._held or lease.owner in (None, self.worker_id):
                continue
            if not self._expired(lease, now):
                counts[lease.owner] = counts.get(lease.owner, 0) + 1
        workers = len(counts) + 1
        target = math.ceil(len(candidates) / workers)
        needed = target - len(mine)
        if needed <= 0:
            return LeasePlan(0, [], None)
        if expired:
            self._rng.shuffle(expired)
            # free ones first: taking them cannot race a live owner
            expired.sort(key=lambda lease: lease.owner is not None)
            return LeasePlan(needed, expired, None)
        if not counts:
            return LeasePlan(needed, [], None)
        most = max(sorted(counts), key=lambda owner: counts[owner])
        if counts[most] > target or (counts[most] == target and needed > 1):
            theirs = sorted(
                key
                for key, lease in candidates.items()
                if lease.owner == most and key not in self._held
            )
            return LeasePlan(needed, [], candidates[self._rng.choice(theirs)])
        return LeasePlan(needed, [], None)

    async def take(self, scan: LeaseScan) -> list[HeldLease]:
        """Take what :meth:`plan` chose; return the leases won.

        Expired and free leases are tried in the plan's order until ``needed`` are won (one
        another worker got first costs no pass); a steal is tried once.
        """
        plan = self.plan(scan)
        won: list[HeldLease] = []
        for lease in plan.take:
            if len(won) >= plan.needed:
                break
            held = await self._take_one(lease, stolen=False)
            if held is not None:
                won.append(held)
        if plan.steal is not None:
            held = await self._take_one(plan.steal, stolen=True)
            if held is not None:
                won.append(held)
        return won

    async def take_pass(self) -> list[HeldLease]:
        """Scan the table, then take and steal by the rules."""
        return await self.take(await self.scan())

    async def _take_one(self, lease: Lease, *, stolen: bool) -> HeldLease | None:
        values: dict[str, Any] = {
            ":me": {"S": self.worker_id},
            ":c": {"N": str(lease.counter)},
            ":next": {"N": str(lease.counter + 1)},
            ":one": {"N": "1"},
            ":zero": {"N": "0"},
        }
        if lease.owner is None:
            condition = "#c = :c AND attribute_not_exists(#o)"
        else:
            condition = "#c = :c AND #o = :old"
            values[":old"] = {"S": lease.owner}
        await anyio.lowlevel.checkpoint_if_cancelled()  # not once the request is sent:
        with anyio.move_on_after(self.lease_timeout, shield=True) as bound:
            held = await self._take_shielded(lease, values, condition, stolen=stolen)
        if bound.cancelled_caught:  # no answer: if it was taken, it expires unrenewed
            log.warning("lease_take_unanswered", lease=lease.key, worker=self.worker_id)
            return None
        return held

    async def _take_shielded(
        self, lease: Lease, values: dict[str, Any], condition: str, *, stolen: bool
    ) -> HeldLease | None:
        """:meth:`_take_one`'s request and the bookkeeping of its answer, run to the end
        (shielded): a take cancelled once sent could leave the lease owned by this worker
        without its knowing, so nobody would renew or release it."""
        started = self.clock.now()
        # a steal opens a hand-over (the victim may still write its last checkpoint until the
        # thief closes it); any other take closes one left open
        try:
            answer = await self.client.update_item(
                TableName=self.table,
                Key={"leaseKey": {"S": lease.key}},
                UpdateExpression=(
                    "SET #o = :me, #c = :next, #s = if_not_exists(#s, :zero) + :one"
                    + (", #h = :old" if stolen else " REMOVE #h")
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#o": "leaseOwner",
                    "#c": "leaseCounter",
                    "#s": "ownerSwitchesSinceCheckpoint",
                    "#h": "handoverFrom",
                },
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) in (_CONDITION_FAILED, _NOT_FOUND):
                return None
            raise
        done = self.clock.now()
        held = HeldLease(
            key=lease.key,
            mapping=lease.mapping,
            stream_arn=lease.stream_arn,
            shard_id=lease.shard_id,
            counter=lease.counter + 1,
            # the victim's last write started before our write ended: wait out its validity
            valid_from=done + self.lease_timeout if stolen else started,
            valid_until=started + self.lease_timeout,
            checkpoint=_fresh_checkpoint(answer, lease.checkpoint),
            opened=not stolen,
        )
        if stolen:
            held.valid_until = held.valid_from  # renewals extend it from their own start
        self._held[lease.key] = held
        self._handing.pop(lease.key, None)
        log.info(
            "lease_taken",
            lease=lease.key,
            worker=self.worker_id,
            previous_owner=lease.owner,
            stolen=stolen,
        )
        self.changed.fire()
        return held

    # -- checkpoints (the CheckpointStore) ---------------------------------------------------

    def _require(self, mapping: str, stream_arn: str, shard_id: str) -> HeldLease:
        key = lease_key(mapping, stream_arn, shard_id)
        held = self._held.get(key)
        if held is None or not held.valid(self.clock.now()):
            raise LeaseLostError(f"worker {self.worker_id} does not hold the lease {key}")
        return held

    async def load(self, mapping: str, stream_arn: str) -> dict[str, Checkpoint]:
        """Every checkpoint of one mapping's stream in the lease table, held or not."""
        found: dict[str, Checkpoint] = {}
        for lease in await read_leases(self.client, self.table):
            if lease.mapping == mapping and lease.stream_arn == stream_arn:
                found[lease.shard_id] = (None, True) if lease.done else (lease.checkpoint, False)
        return found

    async def load_shard(self, mapping: str, stream_arn: str, shard_id: str) -> Checkpoint:
        """One shard's checkpoint, read afresh ((None, False) when it has no lease)."""
        key = lease_key(mapping, stream_arn, shard_id)
        found = await self.client.get_item(
            TableName=self.table, Key={"leaseKey": {"S": key}}, ConsistentRead=True
        )
        if "Item" not in found:
            return None, False
        lease = _parse(found["Item"])
        return (None, True) if lease.done else (lease.checkpoint, False)

    async def save(self, mapping: str, stream_arn: str, shard_id: str, seq: str | None) -> None:
        """Write the checkpoint into the lease (conditional on still owning it); None removes
        it (the shard starts over from its oldest record).

        Raises:
            LeaseLostError: this worker no longer holds the lease; stop processing the shard.
        """
        key = lease_key(mapping, stream_arn, shard_id)
        if not self._holds(key):
            await self._hand_over(key, seq)
        held = self._require(mapping, stream_arn, shard_id)
        names = {"#k": "checkpoint", "#s": "ownerSwitchesSinceCheckpoint"}
        if seq is None:
            written = await self._write(
                held, "SET #c = :next, #s = :zero REMOVE #k", names, {":zero": {"N": "0"}}
            )
        else:
            written = await self._write(
                held,
                "SET #c = :next, #k = :seq, #s = :zero",
                names,
                {":seq": {"S": seq}, ":zero": {"N": "0"}},
            )
        if not written:
            await self._hand_over(held.key, seq)
            raise LeaseLostError(f"lease {held.key} was taken by another worker")
        held.checkpoint = seq

    async def mark_done(self, mapping: str, stream_arn: str, shard_id: str) -> None:
        """Checkpoint ``SHARD_END`` and give the lease up: the shard's children may start.

        Raises:
            LeaseLostError: this worker no longer holds the lease.
        """
        key = lease_key(mapping, stream_arn, shard_id)
        if not self._holds(key):
            await self._hand_over(key, SHARD_END)
        held = self._require(mapping, stream_arn, shard_id)
        written = await self._write(
            held,
            "SET #c = :next, #k = :end, #s = :zero REMOVE #o",
            names={"#k": "checkpoint", "#s": "ownerSwitchesSinceCheckpoint"},
            values={":end": {"S": SHARD_END}, ":zero": {"N": "0"}},
        )
        if not written:
            await self._hand_over(held.key, SHARD_END)
            raise LeaseLostError(f"lease {held.key} was taken by another worker")
        self._held.pop(held.key, None)
        held.lost.set()  # finished: nothing more to process under it
        self.changed.fire()

    def _holds(self, key: str) -> bool:
        held = self._held.get(key)
        return held is not None and held.valid(self.clock.now())

    async def _hand_over(self, key: str, seq: str | None) -> bool:
        """Write this worker's last checkpoint into a lease just stolen from it, if the thief
        has not started yet (the hand-over is open, naming this worker): the thief then starts
        after it instead of doing this worker's last batch again. ``SHARD_END`` also frees the
        lease (the shard is finished). Return whether it was written.

        The write leaves the counter alone, so the thief's own conditional writes still hold.
        """
        if key not in self._handing:
            return False
        names = {"#h": "handoverFrom", "#k": "checkpoint", "#s": "ownerSwitchesSinceCheckpoint"}
        values: dict[str, Any] = {":me": {"S": self.worker_id}, ":zero": {"N": "0"}}
        if seq == SHARD_END:
            expression = "SET #k = :seq, #s = :zero REMOVE #h, #o"
            names["#o"] = "leaseOwner"
        elif seq is None:
            expression = "SET #s = :zero REMOVE #k"
        else:
            expression = "SET #k = :seq, #s = :zero"
        if seq is not None:
            values[":seq"] = {"S": seq}
        await anyio.lowlevel.checkpoint_if_cancelled()
        with anyio.move_on_after(self.lease_timeout, shield=True):
            try:
                await self.client.update_item(
                    TableName=self.table,
                    Key={"leaseKey": {"S": key}},
                    UpdateExpression=expression,
                    ConditionExpression="#h = :me",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            except Exception as exc:
                if _code(exc) not in (_CONDITION_FAILED, _NOT_FOUND):
                    raise
                self._handing.pop(key, None)  # the thief has started: it redoes from its own
                return False
            self._handing.pop(key, None)
            log.info("checkpoint_handed_over", lease=key, checkpoint=seq, worker=self.worker_id)
            return True
        return False

    # -- shutdown ----------------------------------------------------------------------------

    async def release(self, held: HeldLease) -> None:
        """Give one lease up (owner removed): stop using it first, then free it for others.

        A stolen lease still waiting out its victim's validity is freed with its hand-over
        left open: the victim may still be using it (and may still hand its checkpoint over),
        so the others take it only once they have seen it unchanged for ``lease_timeout``, as
        an expired one, not at once.
        """
        if self._held.get(held.key) is not held:
            return
        held.lost.set()  # no longer used from here on, whatever the write's outcome
        self.changed.fire()
        # kept among the held until the write is done: a release cancelled before it is sent
        # leaves the lease known, to be released again (run's shielded release_all)
        try:
            written = await self._write(held, "SET #c = :next REMOVE #o", releasing=True)
        except Exception as exc:  # noqa: BLE001  it expires on the others' clocks instead
            log.warning("lease_release_failed", lease=held.key, error=repr(exc))
            written = False
        if self._held.get(held.key) is held:
            del self._held[held.key]
        if written:
            log.info(
                "lease_released",
                lease=held.key,
                worker=self.worker_id,
                handover_open=not held.opened,
            )

    async def release_all(self) -> None:
        """Release every held lease (a clean shutdown, after the last checkpoints)."""
        for held in self.held():
            await self.release(held)

    # -- the background worker ---------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Renew every ``lease_timeout / 3`` and take every ``take_interval`` until cancelled;
        then release every lease still held (the caller checkpoints before cancelling).

        Started (``task_status``) once the table exists and the first pass is done.
        """
        await self.ensure_table()
        next_take = self.clock.now()
        starting = True
        try:
            while True:
                await self.renew_pass()
                if self.clock.now() >= next_take:
                    try:
                        await self.take_pass()
                    except Exception as exc:  # noqa: BLE001  the next pass tries again
                        log.warning("lease_take_failed", error=repr(exc))
                    next_take = self.clock.now() + self.take_interval
                self.passed.fire()
                if starting:
                    task_status.started()
                    starting = False
                now = self.clock.now()
                # a stolen lease is opened as soon as it may be; one whose opening failed
                # (valid_from passed) waits for the next renewal like any other write
                opening = [
                    h.valid_from - now for h in self.held() if not h.opened and h.valid_from > now
                ]
                await self.clock.sleep(
                    max(0.0, min(self.renew_interval, next_take - now, *opening))
                )
        finally:
            with anyio.CancelScope(shield=True):
                await self.release_all()


@asynccontextmanager
async def open_leases(
    client: LeaseClient,
    *,
    clock: Clock | None = None,
    table: str = DEFAULT_LEASE_TABLE,
    worker_id: str | None = None,
    lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
    take_interval: float | None = None,
) -> AsyncIterator[LeaseCoordinator]:
    """Run a worker's :class:`LeaseCoordinator` in the background for the block.

    The table exists and the first take pass is done when the block starts; when it ends the
    worker's leases are released (write the last checkpoints inside the block).
    """
    coordinator = LeaseCoordinator(
        client,
        clock=clock,
        table=table,
        worker_id=worker_id,
        lease_timeout=lease_timeout,
        take_interval=take_interval,
    )

    async def background(*, task_status: TaskStatus[None]) -> None:
        background_task.set(True)  # its sleeps wait for a manual clock's advance
        await coordinator.run(task_status=task_status)

    async with anyio.create_task_group() as tg:
        await tg.start(background)
        try:
            yield coordinator
        finally:
            tg.cancel_scope.cancel()
