"""Exponential back-off: one policy for every retry loop in streamkit.

The engine's retries of throttled calls, the batch helpers' re-sending of unprocessed items and
the stream mappings' retries of a failing batch all wait by the same rule: the n-th retry (after
``n`` failures) waits up to ``min(cap, base * 2**(n-1))`` seconds. With ``jitter`` (the AWS
SDKs' "full jitter") the wait is a random fraction of that; without (Lambda's event-source
mappings) it is exactly that. The clock and the random source are injected, so tests control
both.

Which errors are worth retrying is a property of the error class alone
(:attr:`streamkit.errors.DynamoDBError.retryable`); this module keeps no list of codes.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from streamkit.clock import Clock, SystemClock
from streamkit.errors import DynamoDBError

__all__ = ["Backoff", "retryable"]

_MAX_DOUBLINGS = 64  # far past any cap: 2**64 times the smallest useful base


def retryable(exc: BaseException) -> bool:
    """Whether a retry may succeed where ``exc`` failed (throttling, server faults)."""
    return isinstance(exc, DynamoDBError) and exc.retryable


@dataclass(frozen=True, slots=True)
class Backoff:
    """How many times to try, and how long to wait before each retry.

    The defaults are the AWS SDKs' "standard" mode as the engine applies it: 3 attempts in all,
    the first retry waiting a random time up to 100 ms, doubling, at most 20 s.

    Attributes:
        max_attempts: tries in all, the first included (1: never retry).
        base: the longest wait before the first retry; it doubles with each failure.
        cap: the longest wait at all.
        jitter: wait a random fraction of the ceiling (True), or exactly the ceiling.
        clock: what the waits sleep on (the engine passes its own).
        rng: the random source of the jitter.
    """

    max_attempts: int = 3
    base: float = 0.1
    cap: float = 20.0
    jitter: bool = True
    clock: Clock = field(default_factory=SystemClock, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, failures: int) -> float:
        """Return the seconds to wait before the next attempt after ``failures`` failed ones."""
        # The exponent is bounded: a mapping that retries for ever would overflow 2.0 ** 1024.
        ceiling = min(self.cap, self.base * 2.0 ** min(max(0, failures - 1), _MAX_DOUBLINGS))
        return self.rng.random() * ceiling if self.jitter else ceiling

    async def sleep(self, failures: int) -> None:
        """Wait :meth:`delay` seconds on :attr:`clock`."""
        await self.clock.sleep(self.delay(failures))

    def exhausted(self, attempts: int) -> bool:
        """Whether ``attempts`` tries are all this policy allows."""
        return attempts >= self.max_attempts

    async def call(
        self, fn: Callable[..., Awaitable[dict[str, Any]]], /, **params: Any
    ) -> dict[str, Any]:
        """Return ``await fn(**params)``, retrying retryable DynamoDB errors with back-off."""
        attempts = 1
        while True:
            try:
                return await fn(**params)
            except DynamoDBError as exc:
                if not exc.retryable or self.exhausted(attempts):
                    raise
            await self.sleep(attempts)
            attempts += 1
