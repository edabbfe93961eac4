"""The Lambda-like context object a handler receives as its second argument."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import final

from streamkit.clock import Clock

__all__ = ["CognitoIdentity", "LambdaContext", "new_log_stream_name"]


def new_log_stream_name(start: float, function_version: str = "$LATEST") -> str:
    """Return a log stream name as Lambda makes one for an execution environment started at
    ``start`` (epoch seconds): ``YYYY/MM/DD/[<version>]<32 hex digits>``."""
    day = datetime.fromtimestamp(start, UTC).strftime("%Y/%m/%d")
    return f"{day}/[{function_version}]{uuid.uuid4().hex}"


@final
class CognitoIdentity:
    """``context.identity``: Lambda's runtime gives stream invocations one with ``None`` members."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


@final
class LambdaContext:
    """What AWS Lambda's Python runtime passes as ``context``, with time read from a ``Clock``.

    Attributes mirror the runtime's (``awslambdaric``): ``function_name``,
    ``function_version`` (``"$LATEST"``), ``invoked_function_arn``, ``memory_limit_in_mb``
    (a string, as the runtime reads it from the environment), ``aws_request_id`` (a fresh
    UUID per invocation), ``log_group_name``, ``log_stream_name``, ``identity`` and
    ``client_context`` (``None`` for event-source invocations).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        timeout: float,
        function_name: str,
        region: str = "us-east-1",
        account: str = "123456789012",
        memory_limit_in_mb: int | str = 128,
        function_version: str = "$LATEST",
        aws_request_id: str | None = None,
        log_group_name: str | None = None,
        log_stream_name: str | None = None,
        started_at: float | None = None,
    ) -> None:
        """Create the context of one invocation.

        Args:
            clock: Where "now" comes from; the deadline is ``started_at + timeout``.
            timeout: The function's timeout in seconds.
            function_name: The function's name (for streamkit, usually the mapping name).
            region: Used in the function ARN.
            account: Used in the function ARN.
            memory_limit_in_mb: Reported as a string, like the real runtime.
            function_version: ``"$LATEST"`` unless you say otherwise.
            aws_request_id: Defaults to a new UUID4.
            log_group_name: Defaults to ``/aws/lambda/<function_name>``.
            log_stream_name: Defaults to ``YYYY/MM/DD/[<version>]<32 hex digits>``.
            started_at: Epoch seconds the invocation started; defaults to ``clock.now()``.
        """
        self._clock = clock
        start = clock.now() if started_at is None else started_at
        self.deadline: float = start + timeout
        self.function_name: str = function_name
        self.function_version: str = function_version
        self.invoked_function_arn: str = (
            f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        )
        self.memory_limit_in_mb: str = str(memory_limit_in_mb)
        self._request_id = aws_request_id  # made when first read (most are never read)
        self.log_group_name: str = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name: str = log_stream_name or new_log_stream_name(start, function_version)
        self.identity: CognitoIdentity = CognitoIdentity()
        self.client_context: object | None = None

    @property
    def aws_request_id(self) -> str:
        """This invocation's request id (a UUID4 unless given)."""
        if not self._request_id:
            self._request_id = str(uuid.uuid4())
        return self._request_id

    @aws_request_id.setter
    def aws_request_id(self, value: str) -> None:
        self._request_id = value

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the timeout (never negative)."""
        return max(0, int((self.deadline - self._clock.now()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )
