"""The throttling simulator: DynamoDB's token buckets per table, per GSI and per partition.

Off unless asked for (``open_engine(throttling=True)``, or per table with
:meth:`Throttle.set_table`). When on, a PROVISIONED table or GSI gets a bucket per capacity
kind that refills at its provisioned rate and banks up to 300 seconds of unused capacity
(DynamoDB's burst credit). The table is split into as many partitions as DynamoDB would give
its throughput (one per 3,000 RCU plus one per 1,000 WCU), each with its share of the rate,
so a hot key throttles while the table as a whole has room. A PAY_PER_REQUEST table
that is switched on has only the per-partition ceilings (3,000 RCU / 1,000 WCU per second).

A request is refused before it runs when any bucket it needs is empty, and the units it
actually consumed are charged after it ran, so a large request may take a bucket below zero
(and the following ones wait), as with DynamoDB. Time comes from the engine's clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streamkit.clock import Clock
from streamkit.errors import ProvisionedThroughputExceededException, ThrottlingException
from streamkit.model.schema import TableSpec

__all__ = ["BURST_SECONDS", "Throttle"]

BURST_SECONDS = 300.0
PARTITION_READ = 3000.0
PARTITION_WRITE = 1000.0
PARTITION_BYTES = 10 * 1024**3


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(
                self.rate * BURST_SECONDS, self.tokens + (now - self.updated) * self.rate
            )
        self.updated = now


def partition_count(spec: TableSpec, size_bytes: int = 0) -> int:
    """Return how many partitions DynamoDB would give a table of this throughput and size."""
    by_throughput = math.ceil(
        spec.read_capacity / PARTITION_READ + spec.write_capacity / PARTITION_WRITE
    )
    by_size = math.ceil(size_bytes / PARTITION_BYTES)
    return max(1, by_throughput, by_size)


def partition_of(hk: bytes, partitions: int) -> int:
    """Return the partition of an encoded partition key (its hash prefix, range-partitioned)."""
    return int.from_bytes(hk[:4], "big") * partitions >> 32


class Throttle:
    """Token buckets for every table and GSI of one engine."""

    def __init__(self, clock: Clock, *, enabled: bool = False) -> None:
        self._clock = clock
        self._enabled = enabled
        self._tables: dict[str, bool] = {}
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    def set_table(self, table: str, enabled: bool) -> None:
        """Switch throttling on or off for one table, whatever the engine default is."""
        self._tables[table] = enabled
        self.forget_table(table)

    def forget_table(self, table: str) -> None:
        """Drop a deleted table's buckets: a table re-created under its name starts full.

        A :meth:`set_table` switch is the caller's setting for the name and stays.
        """
        self._buckets = {k: v for k, v in self._buckets.items() if k[0] != table}

    def active(self, spec: TableSpec) -> bool:
        return self._tables.get(spec.name, self._enabled)

    def _bucket(self, key: tuple[str, ...], rate: float) -> _Bucket:
        bucket = self._buckets.get(key)
        now = self._clock.now()
        if bucket is None or bucket.rate != rate:
            bucket = _Bucket(rate, rate * BURST_SECONDS, now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def _targets(
        self, spec: TableSpec, *, read: bool, hk: bytes | None, indexes: Iterable[str]
    ) -> list[tuple[tuple[str, ...], float, str, str]]:
        """Return (bucket key, rate, reason, resource) for every bucket a request needs."""
        kind = "Read" if read else "Write"
        provisioned = spec.billing_mode == "PROVISIONED"
        targets: list[tuple[tuple[str, ...], float, str, str]] = []
        table_rate = float(spec.read_capacity if read else spec.write_capacity)
        partitions = partition_count(spec)
        if provisioned:
            targets.append(
                (
                    (spec.name, kind),
                    table_rate,
                    f"Table{kind}ProvisionedThroughputExceeded",
                    spec.name,
                )
            )
            share = table_rate / partitions
        else:
            share = PARTITION_READ if read else PARTITION_WRITE
        if hk is not None:
            part = str(partition_of(hk, partitions))
            targets.append(
                (
                    (spec.name, kind, part),
                    share,
                    f"Table{kind}KeyRangeThroughputExceeded",
                    spec.name,
                )
            )
        if provisioned:
            for name in indexes:
                idx = spec.index(name)
                if idx is not None and idx.is_global:
                    rate = float(idx.read_capacity if read else idx.write_capacity)
                    targets.append(
                        (
                            (spec.name, kind, "index", name),
                            rate,
                            f"Index{kind}ProvisionedThroughputExceeded",
                            f"{spec.name}/index/{name}",
                        )
                    )
        return targets

    def check(
        self,
        spec: TableSpec,
        *,
        read: bool,
        hk: bytes | None = None,
        indexes: Iterable[str] = (),
    ) -> None:
        """Refuse the request if a bucket it needs is empty.

        Raises:
            ProvisionedThroughputExceededException: A provisioned table, GSI or partition has
                no capacity left (a GSI short of write capacity throttles the table write).
            ThrottlingException: An on-demand table's partition is over its ceiling.
        """
        if not self.active(spec):
            return
        empty = [
            (reason, resource)
            for key, rate, reason, resource in self._targets(
                spec, read=read, hk=hk, indexes=indexes
            )
            if self._bucket(key, rate).tokens <= 0
        ]
        if not empty:
            return
        reasons = [{"reason": r, "resource": res} for r, res in empty]
        if spec.billing_mode == "PROVISIONED":
            raise ProvisionedThroughputExceededException(reasons=reasons)
        raise ThrottlingException(
            "Throughput exceeds the current capacity for one or more global secondary indexes "
            "or partitions of your table. DynamoDB is automatically scaling your table or "
            "indexes so please try again shortly.",
        )

    def charge(
        self,
        spec: TableSpec,
        units: float,
        *,
        read: bool,
        hk: bytes | None = None,
        index_units: Mapping[str, float] | None = None,
    ) -> None:
        """Take the units a request consumed from its buckets."""
        if not self.active(spec):
            return
        per_index = dict(index_units or {})
        targets = self._targets(spec, read=read, hk=hk, indexes=per_index)
        for key, rate, _, _ in targets:
            cost = per_index.get(key[3], 0.0) if len(key) == 4 else units
            self._bucket(key, rate).tokens -= cost
