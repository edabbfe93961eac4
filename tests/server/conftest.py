"""Server fixtures: a Dispatcher over the suite's real engine."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import streamkit
from streamkit.server import Dispatcher

PREFIX = "DynamoDB_20120810."


class SingleEngine:
    """An EngineSource that answers every region with one engine."""

    def __init__(self, engine: streamkit.Engine) -> None:
        self._engine = engine
        self.regions: list[str] = []

    async def engine(self, region: str) -> Any:
        self.regions.append(region)
        return self._engine


@pytest.fixture
def dispatcher(engine: streamkit.Engine) -> Dispatcher:
    return Dispatcher(SingleEngine(engine))


async def call(
    dispatcher: Dispatcher, operation: str, body: Any
) -> tuple[int, dict[str, str], Any]:
    """Dispatch one request; return status, headers (as a dict) and the parsed body."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    status, headers, payload = await dispatcher.dispatch("us-east-1", PREFIX + operation, raw)
    return status, dict(headers), orjson.loads(payload)


TABLE = {
    "TableName": "things",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}
