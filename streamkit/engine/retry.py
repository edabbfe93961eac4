"""Client-side retries, as the AWS SDKs do them: exponential back-off with full jitter."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamkit.clock import Clock
from streamkit.errors import DynamoDBError

__all__ = ["RETRYABLE_CODES", "RetryPolicy"]

#: The error codes the SDKs retry: throttling, conflicts and server faults.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try a call, and how long to back off between tries.

    The defaults are the AWS SDKs' "standard" mode: 3 attempts in all, the n-th retry waiting
    a random time up to ``min(max_delay, base_delay * 2**n)``.
    """

    max_attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 20.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    async def call(
        self,
        clock: Clock,
        fn: Callable[..., Awaitable[dict[str, Any]]],
        params: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Call ``fn(**params)``, retrying retryable DynamoDB errors with back-off."""
        attempt = 1
        while True:
            try:
                return await fn(**params)
            except DynamoDBError as exc:
                if exc.code not in RETRYABLE_CODES or attempt >= self.max_attempts:
                    raise
            delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
            attempt += 1
            await clock.sleep(delay)
