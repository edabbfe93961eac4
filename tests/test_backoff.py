"""The one back-off policy, and the errors it retries (botocore's standard mode)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streamkit import errors
from streamkit.backoff import Backoff, retryable
from streamkit.testing import ManualClock


class SleepLog:
    """A clock whose sleeps return at once and are written down."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_schedule_without_jitter_doubles_up_to_the_cap() -> None:
    policy = Backoff(base=1.0, cap=10.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_a_mapping_retrying_for_ever_stays_at_the_cap() -> None:
    # A stream mapping with unlimited retries counts failures without end; 2.0 ** 1024
    # overflows, which must not crash the worker after its thousandth failure.
    policy = Backoff(base=1.0, cap=10.0, jitter=False)
    assert [policy.delay(n) for n in (1024, 1025, 10**6)] == [10, 10, 10]


def test_full_jitter_is_a_fraction_of_the_ceiling_from_the_injected_rng() -> None:
    policy = Backoff(base=0.1, cap=0.3, rng=random.Random(7))
    expected = random.Random(7)
    for failures, ceiling in [(1, 0.1), (2, 0.2), (3, 0.3), (9, 0.3)]:
        assert policy.delay(failures) == expected.random() * ceiling


def test_engine_defaults_match_the_sdks_standard_mode() -> None:
    policy = Backoff()
    assert (policy.max_attempts, policy.base, policy.cap, policy.jitter) == (3, 0.1, 20.0, True)


# botocore 1.43, retries/standard.py: the throttling codes, the 5xx status codes; DynamoDB's
# service model marks no error retryable. TransactionConflictException is in neither.
BOTOCORE_RETRIES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
    "InternalServerError",
}


WIRE_ERRORS = [
    cls
    for cls in (getattr(errors, name) for name in errors.__all__)
    if isinstance(cls, type)
    and issubclass(cls, errors.DynamoDBError)
    and cls is not errors.DynamoDBError
]


@pytest.mark.parametrize("cls", WIRE_ERRORS, ids=lambda cls: cls.code)
def test_retryable_follows_botocore(cls: type[errors.DynamoDBError]) -> None:
    assert cls.retryable is (cls.code in BOTOCORE_RETRIES)
    assert retryable(cls.__new__(cls)) is cls.retryable


def test_only_streamkits_wire_errors_are_retryable() -> None:
    assert not retryable(errors.ClosedError("closed"))
    assert not retryable(TimeoutError())


async def test_call_retries_retryable_errors_with_backoff_then_returns() -> None:
    clock = SleepLog()
    replies: list[Any] = [errors.ThrottlingException(), errors.InternalServerError(), {"ok": 1}]

    async def fn(**params: Any) -> dict[str, Any]:
        assert params == {"TableName": "t"}
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return dict(reply)

    policy = Backoff(clock=clock, rng=random.Random(3))
    assert await policy.call(fn, TableName="t") == {"ok": 1}
    expected = random.Random(3)
    assert clock.sleeps == [expected.random() * 0.1, expected.random() * 0.2]


@pytest.mark.parametrize(
    "error", [errors.TransactionConflictException(), errors.ValidationException("no")]
)
async def test_call_does_not_retry_other_errors(error: Exception) -> None:
    clock = SleepLog()
    calls: list[int] = []

    async def fn() -> dict[str, Any]:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        await Backoff(clock=clock).call(fn)
    assert (calls, clock.sleeps) == ([1], [])


async def test_call_gives_up_after_max_attempts_on_the_injected_clock() -> None:
    clock = ManualClock(autojump=True)
    calls: list[float] = []

    async def fn() -> dict[str, Any]:
        calls.append(clock.now())
        raise errors.ProvisionedThroughputExceededException()

    policy = Backoff(max_attempts=4, base=1.0, jitter=False, clock=clock)
    with pytest.raises(errors.ProvisionedThroughputExceededException):
        await policy.call(fn)
    start = calls[0]
    assert [t - start for t in calls] == [0, 1, 3, 7]
    assert policy.exhausted(4)
    assert not policy.exhausted(3)
