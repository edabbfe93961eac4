"""Fixtures shared by the whole suite: a manual clock and a real engine on SQLite."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, settings

import streamkit
from streamkit import pytest_plugin
from streamkit.testing import ManualClock

pytest_plugins = ["pytester"]  # tests/plugin run pytest on small projects of their own

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_configure(config: pytest.Config) -> None:
    """Load streamkit's pytest plugin unless its entry point (or ``-p``) already did.

    An install made before the plugin existed has no ``pytest11`` entry point; registering the
    module a second time would fail, hence the check.
    """
    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "streamkit")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Start from structlog's defaults; undo what an in-process ``main()`` did to ``logging``."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("aiosqlite").level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    logging.getLogger("aiosqlite").setLevel(saved[2])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def engine(tmp_path: Path, clock: ManualClock) -> AsyncIterator[streamkit.Engine]:
    async with streamkit.open_engine(tmp_path / "db.sqlite3", clock=clock) as db:
        yield db


@pytest.fixture
async def memory_engine(clock: ManualClock) -> AsyncIterator[streamkit.Engine]:
    async with streamkit.open_engine(None, clock=clock) as db:
        yield db


def key_schema(
    hash_key: str = "pk", range_key: str | None = None, kind: str = "S", range_kind: str = ""
) -> dict[str, Any]:
    """Return CreateTable members for a simple table (the sort key of type ``range_kind``,
    ``kind`` when not given)."""
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    defs = [{"AttributeName": hash_key, "AttributeType": kind}]
    if range_key is not None:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
        defs.append({"AttributeName": range_key, "AttributeType": range_kind or kind})
    return {"KeySchema": keys, "AttributeDefinitions": defs, "BillingMode": "PAY_PER_REQUEST"}
