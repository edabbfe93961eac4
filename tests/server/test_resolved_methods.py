"""The dispatcher keeps each (region, target)'s method, and uses it only while the group
still has that engine open for the region: a region's new engine gets the next request."""

from __future__ import annotations

from typing import Any

import orjson

import streamkit
from streamkit.server import Dispatcher
from tests.server.conftest import PREFIX, TABLE


class Group:
    """An EngineSource with a live ``engines`` view, as streamkit's region groups have."""

    def __init__(self, engines: dict[str, Any]) -> None:
        self.engines = engines
        self.asked: list[str] = []

    async def engine(self, region: str) -> Any:
        self.asked.append(region)
        return self.engines[region]


async def _put(dispatcher: Dispatcher, pk: str) -> int:
    body = orjson.dumps({"TableName": "things", "Item": {"pk": {"S": pk}}})
    status, _, _ = await dispatcher.dispatch("us-east-1", PREFIX + "PutItem", body)
    return status


async def _has(engine: streamkit.Engine, pk: str) -> bool:
    return "Item" in await engine.get_item(TableName="things", Key={"pk": {"S": pk}})


async def test_a_regions_new_engine_gets_the_next_request(
    engine: streamkit.Engine, memory_engine: streamkit.Engine
) -> None:
    for each in (engine, memory_engine):
        await each.create_table(**TABLE)
    group = Group({"us-east-1": engine})
    dispatcher = Dispatcher(group)
    assert await _put(dispatcher, "a") == 200
    assert await _put(dispatcher, "b") == 200
    assert group.asked == ["us-east-1"]  # the second request found its method kept
    group.engines["us-east-1"] = memory_engine  # the region closed and opened again
    assert await _put(dispatcher, "c") == 200
    assert group.asked == ["us-east-1", "us-east-1"]
    assert await _has(engine, "b")
    assert not await _has(engine, "c")
    assert await _has(memory_engine, "c")


async def test_a_source_without_engines_is_asked_every_time(engine: streamkit.Engine) -> None:
    await engine.create_table(**TABLE)

    class Source:
        asked = 0

        async def engine(self, region: str) -> Any:
            Source.asked += 1
            return engine

    dispatcher = Dispatcher(Source())
    for pk in ("a", "b"):
        assert await _put(dispatcher, pk) == 200
    assert Source.asked == 2
