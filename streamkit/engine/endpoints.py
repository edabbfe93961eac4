"""The account's small questions: DescribeEndpoints and DescribeLimits."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Final

from streamkit.engine.core import EngineCore
from streamkit.engine.params import Params

__all__ = ["LIMITS", "SERVED_HOST", "EndpointsMixin"]

#: The address the current request came to (its Host header), set by the HTTP server for
#: DescribeEndpoints; None in process.
SERVED_HOST: ContextVar[str | None] = ContextVar("streamkit_served_host", default=None)

#: How long a client may cache the endpoint, as DynamoDB answers (a day).
CACHE_PERIOD_MINUTES: Final = 1440

#: DynamoDB's default provisioned-capacity quotas of an account in a region.
LIMITS: Final[Mapping[str, int]] = {
    "AccountMaxReadCapacityUnits": 80000,
    "AccountMaxWriteCapacityUnits": 80000,
    "TableMaxReadCapacityUnits": 40000,
    "TableMaxWriteCapacityUnits": 40000,
}


class EndpointsMixin(EngineCore):
    """DescribeEndpoints and DescribeLimits."""

    OPERATIONS: ClassVar[Mapping[str, str]] = {
        "DescribeEndpoints": "describe_endpoints",
        "DescribeLimits": "describe_limits",
    }

    async def describe_endpoints(self, **params: Any) -> dict[str, Any]:
        """Return the endpoint to use (DescribeEndpoints).

        Over HTTP: the address the request was sent to (``host:port``, without a scheme, as
        DynamoDB answers); in process: DynamoDB's regional host name.
        """
        Params("DescribeEndpoints", params, ())
        address = SERVED_HOST.get() or f"dynamodb.{self.region}.amazonaws.com"
        return {"Endpoints": [{"Address": address, "CachePeriodInMinutes": CACHE_PERIOD_MINUTES}]}

    async def describe_limits(self, **params: Any) -> dict[str, Any]:
        """Return DynamoDB's default capacity quotas (DescribeLimits); none is enforced."""
        Params("DescribeLimits", params, ())
        return dict(LIMITS)
